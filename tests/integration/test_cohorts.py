"""``aione cohort`` against a real hub: import (twice, changed, Korean CP949,
invalid), one-time passwords, expire and purge."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hub.accounts import AccountStore
from hub.cli import main
from hub.cohorts import read_gradebook
from tests.hubproc import HubProcess, free_port, module_hub

pytestmark = [pytest.mark.docker]

HEADER = "username,display name,email,role,courses,profile,expires_at\n"
MUTATING = re.compile(r"\] \d{3} (POST|PUT|PATCH|DELETE) /hub/api/\S+ \(aione-automation@")


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[HubProcess]:
    settings = {"courses": [{"id": "mfg-2026"}, {"id": "ai-basics"}]}
    with module_hub(tmp_path_factory.mktemp("cohorts"), request.session, settings) as proc:
        yield proc


@pytest.fixture
def aione(hub: HubProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``aione cohort ...`` in-process against ``hub``; returns (rc, stdout, stderr)."""
    monkeypatch.setenv("AIONE_API_TOKEN", hub.token)
    monkeypatch.delenv("AIONE_HUB_URL", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main(["cohort", "--config", str(hub.config), *args])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def state_dir(hub: HubProcess) -> Path:
    return hub.state_dir


def mutations(hub: HubProcess) -> int:
    return len(MUTATING.findall(hub.log()))


def user_groups(hub: HubProcess, name: str) -> set[str]:
    return set(hub.api("GET", f"/users/{name}")["groups"])


def test_import_apply_repeat_and_update(hub: HubProcess, aione, tmp_path: Path) -> None:
    roster = tmp_path / "acme.csv"
    roster.write_text(
        HEADER
        + "kim.minsu,김민수,minsu@example.com,learner,mfg-2026,,2030-12-31\n"
        + "lee,이서연,seoyeon@example.com,learner,mfg-2026;ai-basics,,\n"
        + "park,박지훈,,instructor,mfg-2026,,\n",
        encoding="utf-8-sig",
    )
    passwords = tmp_path / "out" / "acme-passwords.csv"

    rc, out, _ = aione("import", str(roster), "--cohort", "acme", "--dry-run")
    assert rc == 0 and "new accounts with one-time passwords: 3" in out
    assert "dry run: nothing was changed" in out
    assert "cohort-acme" not in {g["name"] for g in hub.api("GET", "/groups")}
    assert not {"kim.minsu", "lee", "park"} & {u["name"] for u in hub.api("GET", "/users")}
    assert "kim.minsu" not in read_gradebook(state_dir(hub), "mfg-2026")
    assert not passwords.exists()

    rc, out, err = aione(
        "import", str(roster), "--cohort", "acme", "--passwords-file", str(passwords)
    )
    assert rc == 0, err
    assert "3 users created" in out and str(passwords) in out
    assert user_groups(hub, "kim.minsu") == {"cohort-acme", "course-mfg-2026-learners"}
    assert user_groups(hub, "lee") == {
        "cohort-acme",
        "course-mfg-2026-learners",
        "course-ai-basics-learners",
    }
    assert user_groups(hub, "park") == {"cohort-acme", "course-mfg-2026-instructors"}
    props = hub.api("GET", "/groups/cohort-acme")["properties"]
    assert props["members"]["kim.minsu"] == {
        "display_name": "김민수",
        "email": "minsu@example.com",
        "role": "learner",
        "courses": ["mfg-2026"],
        "profile": "",
        "expires_at": "2030-12-31",
    }
    assert read_gradebook(state_dir(hub), "mfg-2026") == {
        "kim.minsu": ("김민수", "minsu@example.com"),
        "lee": ("이서연", "seoyeon@example.com"),
    }
    assert read_gradebook(state_dir(hub), "ai-basics") == {"lee": ("이서연", "seoyeon@example.com")}

    assert passwords.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(passwords.open(encoding="utf-8")))
    assert [r["username"] for r in rows] == ["kim.minsu", "lee", "park"]
    store = AccountStore(state_dir(hub) / "accounts.sqlite")
    for row in rows:
        assert row["one_time_password"] not in out + err
        assert store.verify(row["username"], row["one_time_password"]).must_change

    before = mutations(hub)
    rc, out, _ = aione(
        "import", str(roster), "--cohort", "acme", "--passwords-file", str(tmp_path / "again.csv")
    )
    assert rc == 0 and "cohort acme: nothing to change" in out
    assert mutations(hub) == before, "a second import of the same roster changed the hub"
    assert not (tmp_path / "again.csv").exists()

    roster.write_text(
        HEADER
        + "kim.minsu,김민수,minsu@corp.example.com,learner,ai-basics,,2030-12-31\n"
        + "lee,이서연,seoyeon@example.com,learner,mfg-2026;ai-basics,,\n",
        encoding="utf-8",
    )
    rc, out, _ = aione(
        "import", str(roster), "--cohort", "acme", "--passwords-file", str(tmp_path / "p3.csv")
    )
    assert rc == 0 and "changed members: kim.minsu" in out
    assert "1 member(s) of acme are not in this roster and are kept: park" in out
    assert user_groups(hub, "kim.minsu") == {"cohort-acme", "course-ai-basics-learners"}
    assert user_groups(hub, "park") == {"cohort-acme", "course-mfg-2026-instructors"}
    assert read_gradebook(state_dir(hub), "ai-basics")["kim.minsu"] == (
        "김민수",
        "minsu@corp.example.com",
    )
    assert "kim.minsu" in read_gradebook(state_dir(hub), "mfg-2026"), "grades are never dropped"
    assert not (tmp_path / "p3.csv").exists(), "no new account, so no passwords file"

    rc, out, _ = aione("list")
    assert rc == 0 and re.search(r"^acme\s+3\s+2\s+1\s+active$", out, re.MULTILINE)
    rc, out, _ = aione("show", "acme")
    assert rc == 0 and "cohort acme: active, 3 members" in out and "김민수" in out


def test_korean_cp949_roster_imports(hub: HubProcess, aione, tmp_path: Path) -> None:
    roster = tmp_path / "korean.csv"
    roster.write_bytes(
        (
            "아이디,이름,이메일,역할,과정,만료일\n"
            "hong,홍길동,gildong@example.com,교육생,ai-basics,2030-06-30\n"
            "choi,최똠햏,,강사,ai-basics,\n"
        ).encode("cp949")
    )
    rc, out, err = aione(
        "import",
        str(roster),
        "--cohort",
        "korea-2026",
        "--passwords-file",
        str(tmp_path / "pw.csv"),
    )
    assert rc == 0, err
    members = hub.api("GET", "/groups/cohort-korea-2026")["properties"]["members"]
    assert (
        members["hong"]["display_name"] == "홍길동" and members["choi"]["display_name"] == "최똠햏"
    )
    assert members["choi"]["role"] == "instructor"
    assert read_gradebook(state_dir(hub), "ai-basics")["hong"] == ("홍길동", "gildong@example.com")


def test_a_bad_roster_changes_nothing(hub: HubProcess, aione, tmp_path: Path) -> None:
    roster = tmp_path / "bad.csv"
    roster.write_text(
        HEADER
        + "good,,,learner,ai-basics,,\n"
        + "Bad Name,,,learner,ai-basics,,\n"
        + "good,,,learner,ai-basics,,\n"
        + "other,,,learner,no-such-course,,\n"
        + "late,,,learner,ai-basics,gpu,2026-13-01\n"
    )
    users_before = {u["name"] for u in hub.api("GET", "/users")}
    groups_before = hub.api("GET", "/groups")
    before = mutations(hub)
    rc, _, err = aione(
        "import", str(roster), "--cohort", "broken", "--passwords-file", str(tmp_path / "pw.csv")
    )
    assert rc == 1
    assert "has 5 problem(s); nothing was changed" in err
    for needle in (
        "line 3: user name 'Bad Name' is not valid",
        "line 4: user name 'good' appears again (first on line 2)",
        "line 5: unknown course(s) no-such-course",
        "line 6: expires_at: '2026-13-01' is not a date",
        "line 6: unknown profile 'gpu'",
    ):
        assert needle in err
    assert {u["name"] for u in hub.api("GET", "/users")} == users_before
    assert hub.api("GET", "/groups") == groups_before
    assert mutations(hub) == before
    assert not (tmp_path / "pw.csv").exists()

    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "jose,José Müller,,learner,ai-basics,,\n").encode("latin-1"))
    rc, _, err = aione("import", str(latin), "--cohort", "broken")
    assert rc == 1 and "is neither UTF-8 nor CP949" in err
    assert mutations(hub) == before


def _login(
    hub: HubProcess, username: str, password: str
) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    resp = session.post(
        f"{hub.url}/hub/login",
        data={"username": username, "password": password, "_xsrf": session.cookies.get("_xsrf")},
        allow_redirects=False,
        timeout=30,
    )
    return session, resp


def _spawn_status(hub: HubProcess, username: str) -> tuple[int, str]:
    resp = requests.post(
        f"{hub.url}/hub/api/users/{username}/server",
        headers={"Authorization": f"token {hub.token}"},
        timeout=60,
    )
    return resp.status_code, resp.text


def test_one_time_password_then_expire_then_purge(hub: HubProcess, aione, tmp_path: Path) -> None:
    roster = tmp_path / "short.csv"
    roster.write_text(HEADER + "sun,,,learner,mfg-2026,,\nmoon,,,learner,mfg-2026,,\n")
    passwords = tmp_path / "pw.csv"
    assert (
        aione("import", str(roster), "--cohort", "short", "--passwords-file", str(passwords))[0]
        == 0
    )
    one_time = {r["username"]: r["one_time_password"] for r in csv.DictReader(passwords.open())}

    session, resp = _login(hub, "sun", one_time["sun"])
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/hub/aione/password")
    status, body = _spawn_status(hub, "sun")
    assert status == 403 and "Set your own password first" in body
    resp = session.post(
        f"{hub.url}/hub/aione/password",
        data={
            "old_password": one_time["sun"],
            "new_password": "sun-rises-in-the-east",
            "new_password_again": "sun-rises-in-the-east",
            "_xsrf": session.cookies.get("_xsrf"),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 302
    hub.spawn("sun")
    volume = f"{hub.prefix}-home-sun"
    assert hub.docker.volumes.get(volume)

    rc, out, _ = aione("expire", "short")
    assert rc == 0 and "2 members blocked, 1 servers stopped; their files are kept" in out
    assert hub.api("GET", "/users/sun")["servers"] == {}
    assert hub.api("GET", "/groups/cohort-short")["properties"]["expired_at"]
    assert _login(hub, "sun", "sun-rises-in-the-east")[1].status_code == 403
    status, body = _spawn_status(hub, "sun")
    assert status == 403 and "access to this hub has ended" in body
    assert hub.docker.volumes.get(volume), "expire keeps the learners' data"
    assert user_groups(hub, "sun") == {"cohort-short", "course-mfg-2026-learners"}

    rc, _, err = aione("expire", "short", "--purge")
    assert rc == 1 and "add --yes to confirm" in err
    assert hub.docker.volumes.get(volume)
    rc, out, _ = aione("expire", "short", "--purge", "--yes")
    assert rc == 0 and "deleted 1 home volumes" in out
    assert not [v for v in hub.docker.volumes.list() if v.name == volume]

    rc, _, err = aione("expire", "no-such-cohort")
    assert rc == 1 and "there is no cohort 'no-such-cohort'" in err


def test_without_a_token_the_fix_is_named(
    hub: HubProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIONE_API_TOKEN", raising=False)
    assert main(["cohort", "--config", str(hub.config), "list"]) == 1
    assert "set $AIONE_API_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("AIONE_API_TOKEN", "wrong")
    assert main(["cohort", "--config", str(hub.config), "list"]) == 1
    assert "403" in (err := capsys.readouterr().err) and "token the hub was started with" in err


def test_no_hub_at_the_address_names_the_fix(
    hub: HubProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIONE_API_TOKEN", hub.token)
    monkeypatch.setenv("AIONE_HUB_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["cohort", "--config", str(hub.config), "list"]) == 1
    err = capsys.readouterr().err
    assert "no hub answers at http://127.0.0.1:" in err and "AIONE_HUB_URL" in err
