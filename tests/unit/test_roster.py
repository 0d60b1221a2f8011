"""Roster files: encodings, every kind of bad row, the member records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.cohorts import HubState, plan_import
from hub.errors import RosterError
from hub.roster import Member, ProfileCatalog, decode_roster, parse_roster, read_roster
from hub.settings import Settings

COURSES = {"mfg-2026", "ai-basics"}
NO_PROFILES = ProfileCatalog.from_settings(Settings())
NOW = datetime(2026, 3, 1, tzinfo=UTC)
HEADER = "username,display name,email,role,courses,profile,expires_at\n"


def parse(body: str, header: str = HEADER, catalog: ProfileCatalog = NO_PROFILES):
    return parse_roster(header + body, "r.csv", "acme-2026", COURSES, catalog, NOW)


def problems(body: str, header: str = HEADER, catalog: ProfileCatalog = NO_PROFILES) -> str:
    with pytest.raises(RosterError) as err:
        parse(body, header, catalog)
    return str(err.value)


def test_a_good_roster_gives_members_in_file_order() -> None:
    roster = parse(
        "kim.minsu,김민수,minsu@example.com,learner,mfg-2026,,2026-12-31\n"
        "park,박지훈,,강사,mfg-2026; ai-basics,default,\n"
        "\n"
        "lee,,,교육생,ai-basics,,2026-06-30T18:00+09:00\n"
    )
    assert [m.username for m in roster.members] == ["kim.minsu", "park", "lee"]
    kim, park, lee = roster.members
    assert kim == Member(
        "kim.minsu", "learner", ("mfg-2026",), "김민수", "minsu@example.com", "", "2026-12-31"
    )
    assert park.role == "instructor" and park.courses == ("mfg-2026", "ai-basics")
    assert park.profile == "default"
    assert lee.role == "learner" and lee.expires_at == "2026-06-30T18:00+09:00"
    assert roster.warnings == ()


def test_member_groups_and_record_round_trip() -> None:
    kim = Member("kim", "learner", ("mfg-2026",), "김민수", profile="gpu")
    assert kim.groups("acme") == {"cohort-acme", "course-mfg-2026-learners", "profile-gpu"}
    park = Member("park", "instructor", ("mfg-2026", "ai-basics"))
    assert park.groups("acme") == {
        "cohort-acme",
        "course-mfg-2026-instructors",
        "course-ai-basics-instructors",
    }
    assert Member.from_record("kim", kim.record()) == kim


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("Kim,,,learner,mfg-2026,,", "user name 'Kim' is not valid"),
        ("kim minsu,,,learner,mfg-2026,,", "user name 'kim minsu' is not valid"),
        ("김민수,,,learner,mfg-2026,,", "user name '김민수' is not valid"),
        (",Kim,,learner,mfg-2026,,", "the user name is empty"),
        ("kim,,,teacher,mfg-2026,,", "role 'teacher' is not learner or instructor"),
        ("kim,,,learner,,,", "no course"),
        (
            "kim,,,learner,mfg-2025,,",
            "unknown course(s) mfg-2025; the hub's courses are: ai-basics, mfg-2026",
        ),
        ("kim,,,learner,mfg-2026,gpu-a100,", "unknown profile 'gpu-a100'; use one of: default"),
        ("kim,,not-an-address,learner,mfg-2026,,", "email 'not-an-address' is not an address"),
        ("kim,,,learner,mfg-2026,,2026-02-30", "expires_at: '2026-02-30' is not a date"),
        (
            "kim,,,learner,mfg-2026,,31/12/2026",
            "expires_at: '31/12/2026' is not a date; write YYYY-MM-DD",
        ),
        ("kim,,,learner,mfg-2026,,,surplus", "8 cells but the header has 7 columns"),
    ],
)
def test_each_bad_row_is_reported_with_its_line(row: str, needle: str) -> None:
    message = problems("ok,,,learner,mfg-2026,,\n" + row + "\n")
    assert "r.csv, line 3: " + needle in message
    assert "nothing was changed" in message
    assert "line 2" not in message


def test_uppercase_user_name_suggests_the_lowercase_one() -> None:
    assert "write it as 'kim'" in problems("Kim,,,learner,mfg-2026,,\n")


def test_duplicates_name_both_lines() -> None:
    message = problems(
        "kim,,,learner,mfg-2026,,\npark,,,learner,mfg-2026,,\nkim,,,learner,ai-basics,,\n"
    )
    assert "line 4: user name 'kim' appears again (first on line 2)" in message


def test_every_problem_is_listed_not_only_the_first() -> None:
    message = problems("Kim,,,teacher,nope,,\nlee,,,learner,mfg-2026,,soon\n")
    assert "has 4 problem(s)" in message
    for needle in (
        "line 2: user name 'Kim'",
        "line 2: role",
        "line 2: unknown course",
        "line 3: expires_at",
    ):
        assert needle in message


def test_a_long_list_of_problems_is_cut() -> None:
    body = "".join(f"user{i},,,learner,bad-course,,\n" for i in range(40))
    message = problems(body)
    assert "has 40 problem(s)" in message and "... and 10 more" in message


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("username,role,courses,age\n", "unknown column(s) ['age']"),
        ("username,courses\n", "the header lacks role"),
        ("username,role,courses,email,이메일\n", "['email'] appear twice"),
    ],
)
def test_bad_headers(header: str, needle: str) -> None:
    assert needle in problems("kim,learner,mfg-2026\n", header=header)


def test_korean_headers_are_understood() -> None:
    roster = parse("kim,김민수,learner,mfg-2026\n", header="아이디,이름,역할,과정\n")
    assert roster.members[0].display_name == "김민수"


def test_an_empty_roster_is_an_error() -> None:
    assert "the roster has no rows" in problems("")


def test_a_bad_cohort_name_is_an_error() -> None:
    with pytest.raises(RosterError, match="cohort name 'Acme 2026' is not valid"):
        parse_roster(HEADER, "r.csv", "Acme 2026", COURSES, NO_PROFILES, NOW)


def test_a_passed_expiry_is_a_warning_not_an_error() -> None:
    roster = parse("kim,,,learner,mfg-2026,,2025-12-31\n")
    assert roster.warnings == (
        "line 2: expires_at 2025-12-31 has passed; kim will not be able to use the hub",
    )


def profile(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "label": {"ko": name, "en": name},
        "cpu_limit": 1,
        "mem_limit": "2G",
        **extra,
    }


def test_profiles_from_the_settings_and_their_groups() -> None:
    settings = Settings.model_validate(
        {
            "profiles": {
                "default": "cpu",
                "profiles": [
                    profile("cpu"),
                    profile(
                        "gpu", gpus=1, groups=["profile-gpu", "staff"], default_for=["profile-gpu"]
                    ),
                    profile("big", groups=["staff"]),
                    profile("lab"),
                ],
            }
        }
    )
    catalog = ProfileCatalog.from_settings(settings)
    roster = parse("kim,,,learner,mfg-2026,gpu,\nlee,,,learner,mfg-2026,cpu,\n", catalog=catalog)
    assert [m.profile for m in roster.members] == ["gpu", "cpu"]
    assert roster.warnings == ()
    message = problems("kim,,,learner,mfg-2026,big,\n", catalog=catalog)
    assert "profile 'big' is open only to the groups staff" in message
    assert "add 'profile-big' or 'cohort-acme-2026' to that profile's groups" in message
    assert "use one of: big, cpu, gpu, lab" in problems(
        "kim,,,learner,mfg-2026,default,\n", catalog=catalog
    )
    assert "settings have no profiles section" not in problems(
        "kim,,,learner,mfg-2026,default,\n", catalog=catalog
    )
    hinted = parse("kim,,,learner,mfg-2026,lab,\nlee,,,learner,mfg-2026,lab,\n", catalog=catalog)
    assert hinted.warnings == (
        "line 2: profile 'lab' is not preselected for these learners; add 'profile-lab' "
        "to its default_for in the settings to preselect it",
    )


# --- encodings -----------------------------------------------------------------

KOREAN = HEADER + "kim,김민수,,learner,mfg-2026,,\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_utf8_with_or_without_bom_and_cp949_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(KOREAN.encode(encoding))
    roster = read_roster(path, "acme", COURSES, NO_PROFILES, NOW)
    assert roster.members[0].display_name == "김민수"


def test_cp949_extension_hangul_is_read() -> None:
    # 똠 and 햏 are outside EUC-KR; Windows (CP949) encodes them in its extension.
    assert decode_roster("똠햏".encode("cp949"), "r.csv") == "똠햏"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("José,Müller".encode("latin-1"), "neither UTF-8 nor CP949 (byte 0xe9 at offset 3)"),
        (KOREAN.encode("utf-16"), "is UTF-16 text"),
        (KOREAN.encode("utf-16-le"), "is UTF-16 text"),
        (b"\xef\xbb\xbfkim,\xff\n", "starts with a UTF-8 mark but byte"),
        ("¿Qué?".encode("cp1252"), "neither UTF-8 nor CP949"),
    ],
)
def test_other_encodings_are_refused_by_name(data: bytes, needle: str) -> None:
    with pytest.raises(RosterError) as err:
        decode_roster(data, "r.csv")
    assert needle in str(err.value) and "CSV UTF-8" in str(err.value)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="cannot read the roster .*nope.csv"):
        read_roster(tmp_path / "nope.csv", "acme", COURSES, NO_PROFILES)


# --- planning an import (no hub: the hub's state as the REST API returns it) ---------


def hub_state(groups: dict[str, tuple[list[str], dict]]) -> HubState:
    models = {n: {"name": n, "users": u, "properties": p} for n, (u, p) in groups.items()}
    memberships: dict[str, set[str]] = {}
    for name, (users, _) in groups.items():
        for user in users:
            memberships.setdefault(user, set()).add(name)
    return HubState({}, models, memberships)


def test_plan_of_a_new_cohort(tmp_path: Path) -> None:
    roster = parse("kim,김민수,,learner,mfg-2026,,\npark,,,instructor,ai-basics,,\n")
    state = hub_state({"course-mfg-2026-learners": ([], {})})
    plan = plan_import(roster, state, lambda u: u == "park", tmp_path)
    assert plan.create_users == ["kim", "park"] and plan.new_members == ["kim", "park"]
    assert plan.create_groups == ["cohort-acme-2026", "course-ai-basics-instructors"]
    assert plan.add == {
        "cohort-acme-2026": ["kim", "park"],
        "course-mfg-2026-learners": ["kim"],
        "course-ai-basics-instructors": ["park"],
    }
    assert [m.username for m in plan.new_accounts] == ["kim"]
    assert [m.username for m in plan.enrol["mfg-2026"]] == ["kim"] and "ai-basics" not in plan.enrol
    members = plan.properties["cohort-acme-2026"]["members"]
    assert members["kim"]["display_name"] == "김민수"
    assert "  create hub users: 2" in plan.describe()


def test_plan_keeps_groups_another_cohort_gives(tmp_path: Path) -> None:
    old = Member("kim", "learner", ("mfg-2026", "ai-basics"))
    other = Member("kim", "learner", ("ai-basics",))
    state = hub_state(
        {
            "cohort-acme-2026": (
                ["kim", "gone"],
                {"members": {"kim": old.record(), "gone": old.record()}},
            ),
            "cohort-evening": (["kim"], {"members": {"kim": other.record()}}),
            "course-mfg-2026-learners": (["kim", "gone"], {}),
            "course-ai-basics-learners": (["kim", "gone"], {}),
        }
    )
    plan = plan_import(parse("kim,,,learner,mfg-2026,,\n"), state, None, tmp_path)
    assert plan.changed_members == ["kim"] and plan.create_users == []
    assert plan.remove == {}, "ai-basics also comes from cohort evening"
    assert plan.not_in_roster == ["gone"]
    assert set(plan.properties["cohort-acme-2026"]["members"]) == {"kim", "gone"}

    state.groups["cohort-evening"]["properties"] = {}
    plan = plan_import(parse("kim,,,learner,mfg-2026,,\n"), state, None, tmp_path)
    assert plan.remove == {"course-ai-basics-learners": ["kim"]}


def test_plan_of_an_unchanged_cohort_only_enrols_missing_students(tmp_path: Path) -> None:
    roster = parse("kim,김민수,,learner,mfg-2026,,\n")
    record = roster.members[0].record()
    state = hub_state(
        {
            "cohort-acme-2026": (
                ["kim"],
                {"aione.kind": "cohort", "cohort": "acme-2026", "members": {"kim": record}},
            ),
            "course-mfg-2026-learners": (["kim"], {}),
        }
    )
    gradebook = tmp_path / "courses" / "mfg-2026"
    assert not gradebook.exists()
    plan = plan_import(roster, state, lambda u: True, tmp_path)
    assert list(plan.enrol) == ["mfg-2026"], "the gradebook lacks kim"
    assert not gradebook.exists(), "planning creates no gradebook"
    plan.enrol.clear()
    assert plan.is_empty and plan.describe() == ["cohort acme-2026: nothing to change"]
