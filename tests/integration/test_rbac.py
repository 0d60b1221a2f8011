"""Role boundaries through the REST API of a real hub: learner, instructor of
course A versus course B, admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.accounts import AccountStore
from hub.cli import main
from tests.hubproc import HubProcess, module_hub

pytestmark = [pytest.mark.docker]

A, B = "mfg-2026", "ai-basics"
ROSTER = (
    "username,role,courses\n"
    f"learner-a,learner,{A}\n"
    f"learner-b,learner,{B}\n"
    f"teacher-a,instructor,{A}\n"
    f"teacher-b,instructor,{B}\n"
)


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[HubProcess]:
    tmp = tmp_path_factory.mktemp("rbac")
    settings = {"courses": [{"id": A}, {"id": B}], "hub": {"admin_users": ["root"]}}
    mp = pytest.MonkeyPatch()
    try:
        with module_hub(tmp, request.session, settings) as proc:
            roster = tmp / "roster.csv"
            roster.write_text(ROSTER)
            mp.setenv("AIONE_API_TOKEN", proc.token)
            argv = [
                "cohort",
                "--config",
                str(proc.config),
                "import",
                str(roster),
                "--cohort",
                "rbac",
            ]
            assert main([*argv, "--passwords-file", str(tmp / "pw.csv")]) == 0
            # learner-a has chosen a password, so their server may start
            AccountStore(proc.state_dir / "accounts.sqlite").set_password(
                "learner-a", "a-chosen-password", must_change=False
            )
            proc.spawn("learner-a")
            yield proc
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def tokens(hub: HubProcess) -> dict[str, str]:
    names = ["learner-a", "learner-b", "teacher-a", "teacher-b", "root"]
    return {n: hub.api("POST", f"/users/{n}/tokens", {"note": "rbac test"})["token"] for n in names}


#: JupyterHub answers 404 where telling "forbidden" would reveal that a resource exists.
REFUSED = (403, 404)


def get(hub: HubProcess, token: str, path: str) -> int:
    return hub.request("GET", path, token)[0]


def names(hub: HubProcess, token: str) -> set[str]:
    return {u["name"] for u in hub.api("GET", "/users", token=token)}


def scopes(hub: HubProcess, token: str) -> set[str]:
    return set(hub.api("GET", "/user", token=token)["scopes"])


def test_learner_reaches_only_their_own_server(hub: HubProcess, tokens: dict[str, str]) -> None:
    own = tokens["learner-a"]
    assert get(hub, own, "/user/learner-a/api/contents") == 200
    assert get(hub, tokens["learner-b"], "/user/learner-a/api/contents") == 403
    assert get(hub, own, "/hub/api/users") == 403
    assert get(hub, own, "/hub/api/users/learner-b") in REFUSED
    assert get(hub, own, f"/hub/api/groups/course-{A}-learners") in REFUSED
    assert hub.request("POST", "/hub/api/users/learner-b/server", own)[0] in REFUSED
    assert not any(s.startswith(("access:services", "list:users")) for s in scopes(hub, own))


def test_instructor_reaches_their_course_only(hub: HubProcess, tokens: dict[str, str]) -> None:
    teacher_a = tokens["teacher-a"]
    assert names(hub, teacher_a) == {"learner-a"}
    assert names(hub, tokens["teacher-b"]) == {"learner-b"}
    model = hub.api("GET", "/users/learner-a", token=teacher_a)
    assert set(model["groups"]) == {"cohort-rbac", f"course-{A}-learners"}, "sees the cohort"
    assert "servers" not in model and "auth_state" not in model
    assert get(hub, teacher_a, "/hub/api/users/learner-b") in REFUSED
    assert get(hub, teacher_a, "/hub/api/users/teacher-b") in REFUSED
    group = hub.api("GET", f"/groups/course-{A}-learners", token=teacher_a)
    assert group["users"] == ["learner-a"]
    assert get(hub, teacher_a, f"/hub/api/groups/course-{B}-learners") in REFUSED
    assert get(hub, teacher_a, "/hub/api/groups/cohort-rbac") in REFUSED

    granted = scopes(hub, teacher_a)
    assert f"access:services!service=grader-{A}" in granted
    assert f"access:services!service=grader-{B}" not in granted
    assert f"access:services!service=grader-{B}" in scopes(hub, tokens["teacher-b"])

    # no learner's server, and no power over learners
    assert get(hub, teacher_a, "/user/learner-a/api/contents") == 403
    for method, path, body in [
        ("DELETE", "/hub/api/users/learner-a/server", None),
        ("POST", "/hub/api/users/learner-a/server", None),
        ("POST", "/hub/api/users/learner-a/tokens", {}),
        ("DELETE", "/hub/api/users/learner-a", None),
        ("POST", f"/hub/api/groups/course-{A}-learners/users", {"users": ["learner-b"]}),
        ("PUT", "/hub/api/groups/cohort-rbac/properties", {}),
    ]:
        assert hub.request(method, path, teacher_a, body)[0] in REFUSED, (method, path)
    assert hub.api("GET", "/users/learner-a")["servers"], "the learner's server still runs"


def test_admin_reaches_everything(hub: HubProcess, tokens: dict[str, str]) -> None:
    root = tokens["root"]
    assert names(hub, root) >= {"learner-a", "learner-b", "teacher-a", "teacher-b", "root"}
    assert get(hub, root, f"/hub/api/groups/course-{B}-learners") == 200
    assert get(hub, root, "/hub/api/groups/cohort-rbac") == 200
    assert get(hub, root, "/user/learner-a/api/contents") == 200
    assert "admin:users" in scopes(hub, root)


def test_roles_follow_group_membership(hub: HubProcess, tokens: dict[str, str]) -> None:
    """Moving an instructor between course groups moves their access at once."""
    hub.api("POST", f"/groups/course-{B}-instructors/users", {"users": ["teacher-a"]})
    try:
        assert names(hub, tokens["teacher-a"]) == {"learner-a", "learner-b"}
    finally:
        hub.api("DELETE", f"/groups/course-{B}-instructors/users", {"users": ["teacher-a"]})
    assert names(hub, tokens["teacher-a"]) == {"learner-a"}
