"""The exchange for real: a hub, its aione-exchange service, learner containers.

An instructor releases on the host; learners fetch and submit from their own
containers (through the Assignments tab's REST API and ``nbgrader`` in the
kernel); the instructor collects; plain nbgrader grades on the host; feedback
is delivered and fetched. Then what must be refused is refused.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest

from tests.hubproc import VENV_BIN, HubProcess
from tests.kernel import run_code

pytestmark = [pytest.mark.docker, pytest.mark.slow]

API = "/services/aione-exchange/api"


@pytest.fixture
def hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HubProcess]:
    """A hub with two courses, c1 and c2, and a 20 MB submission limit."""
    proc = HubProcess(
        tmp_path,
        {"courses": [{"id": "c1"}, {"id": "c2"}], "exchange": {"submission_size_limit": "20M"}},
    )
    try:
        proc.start()
        yield proc
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            proc.dump_logs()
        proc.cleanup()


def _join(hub: HubProcess, group: str, *users: str) -> None:
    hub.api("POST", f"/groups/{group}/users", {"users": list(users)})


ENV = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _aione(hub: HubProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "aione"), *args, "--config", str(hub.config)],
        capture_output=True, text=True, timeout=180, env=ENV,
    )  # fmt: skip


def _nbgrader(root: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "nbgrader"), *args, f"--CourseDirectory.root={root}",
         "--CourseDirectory.course_id=c1"],
        capture_output=True, text=True, timeout=300, cwd=root, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


def _source_notebook() -> nbformat.NotebookNode:
    def meta(**kw: Any) -> dict[str, Any]:
        base = {"schema_version": 3, "locked": False, "solution": False, "grade": False}
        return {"nbgrader": {**base, **kw}}

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# PS1"),
        nbformat.v4.new_code_cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            metadata=meta(solution=True, grade_id="answer"),
        ),
        nbformat.v4.new_code_cell(
            "assert add(1, 2) == 3",
            metadata=meta(grade=True, locked=True, points=2, grade_id="test_add"),
        ),  # fmt: skip
        nbformat.v4.new_markdown_cell(
            "YOUR ANSWER HERE",
            metadata=meta(solution=True, grade=True, points=1, grade_id="explain"),
        ),  # fmt: skip
    ]
    return nb


def _make_course(hub: HubProcess) -> Path:
    root = hub.state_dir / "courses" / "c1"
    (root / "source" / "ps1").mkdir(parents=True)
    nbformat.write(_source_notebook(), root / "source" / "ps1" / "ps1.ipynb")
    _nbgrader(root, "generate_assignment", "ps1")
    return root


async def _sh(hub: HubProcess, user: str, token: str, *cmd: str) -> tuple[int, str]:
    """Run ``cmd`` in ``user``'s container through their kernel; (exit code, output)."""
    code = (
        "import json, subprocess\n"
        f"r = subprocess.run({list(cmd)!r}, capture_output=True, text=True, cwd='/home/jovyan')\n"
        "print(json.dumps([r.returncode, (r.stdout + r.stderr)[-3000:]]))"
    )
    rc, out = json.loads(await run_code(hub, user, token, code, timeout=120))
    return int(rc), str(out)


def _tab(hub: HubProcess, user: str, token: str, action: str) -> dict[str, Any]:
    """The Assignments tab's own REST call (what its buttons send)."""
    status, body = hub.request(
        "POST", f"/user/{user}/assignments/{action}", token,
        {"course_id": "c1", "assignment_id": "ps1"},
    )  # fmt: skip
    assert status == 200, body
    return dict(json.loads(body))


def _api(hub: HubProcess, token: str, path: str, method: str = "GET") -> tuple[int, Any]:
    status, body = hub.request(method, f"{API}/{path}", token)
    return status, json.loads(body) if body else None


def _upload(
    hub: HubProcess, token: str, path: str, data: bytes, method: str = "POST"
) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"{hub.url}{API}/{path}", data=data, method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/gzip"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ANSWER = (
    "import nbformat\n"
    "p = '/home/jovyan/c1/ps1/ps1.ipynb'\n"
    "nb = nbformat.read(p, as_version=4)\n"
    "for cell in nb.cells:\n"
    "    cell.source = cell.source.replace('raise NotImplementedError()', 'return a + b')\n"
    "    cell.source = cell.source.replace('YOUR ANSWER HERE', 'Addition adds.')\n"
    "nbformat.write(nb, p)\n"
    "print('answered')"
)


async def test_release_fetch_submit_collect_grade_feedback(hub: HubProcess) -> None:
    tokens = {name: hub.create_user(name) for name in ("teach", "alice", "bob", "other")}
    _join(hub, "course-c1-instructors", "teach")
    _join(hub, "course-c1-learners", "alice", "bob")
    _join(hub, "course-c2-instructors", "other")
    root = _make_course(hub)

    due = (datetime.now(UTC) + timedelta(days=7)).isoformat(timespec="minutes")
    proc = _aione(hub, "assignment", "release", "c1", "ps1", "--due", due)
    assert proc.returncode == 0, proc.stderr
    assert "released c1/ps1" in proc.stdout and "notebooks: ps1" in proc.stdout

    # alice: the Assignments tab lists, fetches and submits, through her own server
    hub.spawn("alice")
    status, body = hub.request("GET", "/user/alice/assignments?course_id=c1", tokens["alice"])
    listed = json.loads(body)
    assert status == 200 and listed["success"], listed
    assert [(a["assignment_id"], a["status"]) for a in listed["value"]] == [("ps1", "released")]
    fetched = _tab(hub, "alice", tokens["alice"], "fetch")
    assert ("ps1", "fetched") in [(a["assignment_id"], a["status"]) for a in fetched["value"]]
    assert await run_code(hub, "alice", tokens["alice"], ANSWER) == "answered"
    submitted = _tab(hub, "alice", tokens["alice"], "submit")
    assert submitted["success"], submitted
    first = next(a for a in submitted["value"] if a["status"] == "submitted")["submissions"]
    assert len(first) == 1 and not first[0]["late"]

    # bob: nbgrader in a terminal (here: his kernel), as with stock nbgrader
    hub.spawn("bob")
    rc, out = await _sh(hub, "bob", tokens["bob"], "nbgrader", "fetch_assignment", "ps1")
    assert rc == 0 and "Fetched as: c1 ps1" in out, out
    rc, out = await _sh(hub, "bob", tokens["bob"], "nbgrader", "submit", "ps1")
    assert rc == 0 and "Submitted as: c1 ps1" in out, out

    # the due date passes (re-released with a past due date): a second attempt is late
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="minutes")
    proc = _aione(hub, "assignment", "release", "c1", "ps1", "--due", past, "--force")
    assert proc.returncode == 0, proc.stderr
    rc, out = await _sh(
        hub, "alice", tokens["alice"], "nbgrader", "submit", "ps1", "--course", "c1"
    )
    assert rc == 0 and "late by 2 h" in out, out
    rc, out = await _sh(hub, "alice", tokens["alice"], "nbgrader", "list", "--cached")
    assert rc == 0 and out.count("c1 alice ps1") == 2 and "(late by" in out, out

    status, subs = _api(hub, tokens["teach"], "courses/c1/submissions?assignment=ps1")
    assert status == 200
    attempts = [(s["student_id"], s["late"]) for s in subs["submissions"]]
    assert sorted(attempts) == [("alice", False), ("alice", True), ("bob", False)]

    # collect: the latest attempt each; every attempt stays in the exchange
    proc = _aione(hub, "assignment", "collect", "c1", "ps1")
    assert proc.returncode == 0, proc.stderr
    assert "2 collected" in proc.stdout
    alice_dir = root / "submitted" / "alice" / "ps1"
    assert "Addition adds." in (alice_dir / "ps1.ipynb").read_text()
    latest = max(s["timestamp"] for s in subs["submissions"] if s["student_id"] == "alice")
    assert (alice_dir / "timestamp.txt").read_text() == latest
    assert len(list((hub.state_dir / "exchange/c1/submissions/alice/ps1").iterdir())) == 2
    proc = _aione(hub, "assignment", "list", "c1")
    assert proc.returncode == 0 and "ps1" in proc.stdout
    assert proc.stdout.split()[-3:] == ["2", "3", "1"], proc.stdout  # learners, attempts, late

    # grade with plain nbgrader on the host, then deliver the feedback
    _nbgrader(root, "autograde", "ps1")
    _nbgrader(root, "generate_feedback", "ps1")
    proc = _aione(hub, "feedback", "deliver", "c1", "ps1")
    assert proc.returncode == 0, proc.stderr
    assert "feedback delivered to 2 learners" in proc.stdout

    # alice fetches her feedback from the Assignments tab and sees her score
    fb = _tab(hub, "alice", tokens["alice"], "fetch_feedback")
    subs_alice = next(a for a in fb["value"] if a["status"] == "submitted")["submissions"]
    last = subs_alice[-1]
    assert last["has_local_feedback"] and last["has_exchange_feedback"], last
    html_path = quote(f"c1/ps1/feedback/{last['timestamp']}/ps1.html")
    status, body = hub.request("GET", f"/user/alice/api/contents/{html_path}", tokens["alice"])
    assert status == 200
    html = json.loads(body)["content"]
    assert "Score: 2.0 / 3.0" in html or "2.0 / 3.0" in html, html[:2000]

    # --- what must be refused ---
    alice_attempt = next(s for s in subs["submissions"] if s["student_id"] == "alice")
    who = f"alice/ps1/{alice_attempt['attempt']}"
    bob = tokens["bob"]
    assert _api(hub, bob, "courses/c1/submissions?student=alice")[0] == 403
    assert _api(hub, bob, f"courses/c1/submissions/{who}/files")[0] == 403
    assert _api(hub, bob, "courses/c1/feedback?student=alice")[0] == 403
    assert _api(hub, bob, f"courses/c1/feedback/{who}/files")[0] == 403
    status, own = _api(hub, bob, "courses/c1/submissions")
    assert status == 200 and {s["student_id"] for s in own["submissions"]} == {"bob"}
    status, own_fb = _api(hub, bob, "courses/c1/feedback")
    assert status == 200 and {f["student_id"] for f in own_fb["feedback"]} == {"bob"}
    # a learner cannot act as instructor
    status, err = _upload(
        hub, bob, "courses/c1/assignments/ps1?force=1", _tarball({"x": b"1"}), "PUT"
    )
    assert status == 403 and "only instructors" in err["message"]
    assert _api(hub, bob, "courses/c1/assignments/ps1", "DELETE")[0] == 403
    # an instructor of c2 cannot collect (or even list) c1
    status, err = _api(hub, tokens["other"], "courses/c1/submissions?assignment=ps1")
    assert status == 403 and "not in course 'c1'" in err["message"]
    # someone in no course sees nothing; a bad token is refused
    status, me = _api(hub, hub.create_user("nobody"), "")
    assert status == 200 and me["courses"] == []
    assert _api(hub, "not-a-token", "")[0] == 403

    # the size limit: refused with sizes named, before and after upload
    limit = 20 * 1024**2
    bomb = _tarball({"ps1.ipynb": b"{}", "zeros.bin": bytes(limit + 1024)})
    status, err = _upload(hub, bob, "courses/c1/assignments/ps1/submissions", bomb)
    assert (
        status == 413 and "the limit" in err["message"] and "remove large files" in err["message"]
    )
    for part in range(3):  # each under nbgrader's max_file_size, together over the limit
        path = f"/home/jovyan/c1/ps1/part{part}.dat"
        rc, out = await _sh(hub, "bob", bob, "truncate", "-s", str(limit // 2 - 1), path)
        assert rc == 0, out
    rc, out = await _sh(hub, "bob", bob, "nbgrader", "submit", "ps1")
    assert rc != 0 and "ps1 is 30.0 MB; the limit is 20.0 MB" in out, out
    status, own = _api(hub, bob, "courses/c1/submissions")
    assert len(own["submissions"]) == 1  # nothing was filed


def _lower(items: Any) -> dict[str, str]:
    """Header names in lower case (the proxy sends them so)."""
    return {k.lower(): v for k, v in items}


def _get(hub: HubProcess, path: str, token: str, **headers: str) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(
        f"{hub.url}{path}", headers={"Authorization": f"token {token}", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, _lower(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers.items()), err.read().decode()


def _formgrader(hub: HubProcess, token: str, method: str, path: str, body: Any = None) -> Any:
    status, raw = hub.request(method, f"/user/teach/formgrader/api/{path}", token, body)
    assert status == 200, raw[:2000]
    return json.loads(raw)


def _disabled_lab_plugins(hub: HubProcess, user: str, token: str) -> list[str]:
    status, _, page = _get(hub, f"/user/{user}/lab", token)
    assert status == 200
    start = page.index('id="jupyter-config-data"')
    data = page[page.index(">", start) + 1 : page.index("</script>", start)]
    return list(json.loads(data)["disabledExtensions"])


async def test_instructor_server_grades_in_the_formgrader(hub: HubProcess) -> None:
    """Needs the spawner hook (graders.exchange.instructor) wired into AioneSpawner."""
    tokens = {name: hub.create_user(name) for name in ("teach", "alice")}
    _join(hub, "course-c1-instructors", "teach")
    _join(hub, "course-c1-learners", "alice")
    root = _make_course(hub)

    model = hub.spawn("teach")
    assert model["servers"][""]["ready"]
    teach = next(c for c in hub.containers() if c.name.endswith("-teach"))
    mounts = {m["Destination"]: m for m in teach.attrs["Mounts"]}
    assert "/home/jovyan/courses/c1" in mounts, "spawner hook not wired: no course mount"
    assert mounts["/home/jovyan/courses/c1"]["Source"] == str(root) and mounts[
        "/home/jovyan/courses/c1"]["RW"]  # fmt: skip
    assert "@jupyter/nbgrader:formgrader" not in _disabled_lab_plugins(
        hub, "teach", tokens["teach"]
    )

    # release and collect from the formgrader, through the exchange, with the instructor's token
    released = _formgrader(hub, tokens["teach"], "POST", "assignment/ps1/release")
    assert released["success"], released
    hub.spawn("alice")
    rc, out = await _sh(hub, "alice", tokens["alice"], "nbgrader", "fetch_assignment", "ps1")
    assert rc == 0, out
    assert await run_code(hub, "alice", tokens["alice"], ANSWER) == "answered"
    rc, out = await _sh(hub, "alice", tokens["alice"], "nbgrader", "submit", "ps1")
    assert rc == 0, out
    collected = _formgrader(hub, tokens["teach"], "POST", "assignment/ps1/collect")
    assert collected["success"], collected
    assert (root / "submitted" / "alice" / "ps1" / "ps1.ipynb").exists()

    # graded on the host; the manually graded cell is graded in the formgrader
    _nbgrader(root, "autograde", "ps1")
    status, headers, page = _get(hub, "/user/teach/formgrader/manage_assignments", tokens["teach"])
    assert status == 200 and "<title>nbgrader formgrade</title>" in page
    assert headers["content-security-policy"].startswith("frame-ancestors 'none'")
    status, headers, page = _get(hub, "/user/teach/formgrader", tokens["teach"],
                                 **{"Sec-Fetch-Dest": "iframe"})  # fmt: skip
    assert status == 200, page[:500]
    assert "sandbox allow-scripts" in headers["content-security-policy"]
    assert '\\"help:open\\"' in page and "/user/teach/formgrader/" in page

    assignments = _formgrader(hub, tokens["teach"], "GET", "assignments")
    ps1 = next(a for a in assignments if a["name"] == "ps1")
    assert ps1["releaseable"] and ps1["status"] == "released" and ps1["num_submissions"] == 1
    notebooks = _formgrader(hub, tokens["teach"], "GET", "submitted_notebooks/ps1/ps1")
    mine = next(nb for nb in notebooks if nb["student"] == "alice")
    assert mine["needs_manual_grade"]
    grades = _formgrader(hub, tokens["teach"], "GET", f"grades?submission_id={mine['id']}")
    explain = next(g for g in grades if g["name"] == "explain")
    graded = _formgrader(hub, tokens["teach"], "PUT", f"grade/{explain['id']}", {"manual_score": 1})
    assert graded["manual_score"] == 1 and not graded["needs_manual_grade"]

    # feedback generated and released from the formgrader; alice fetches it
    assert _formgrader(hub, tokens["teach"], "POST", "assignment/ps1/generate_feedback")["success"]
    fb = _formgrader(hub, tokens["teach"], "POST", "assignment/ps1/release_feedback")
    assert fb["success"], fb
    rc, out = await _sh(hub, "alice", tokens["alice"], "nbgrader", "fetch_feedback", "ps1")
    assert rc == 0 and "Fetched feedback" in out, out
    rc, out = await _sh(
        hub, "alice", tokens["alice"], "bash", "-c", "cat c1/ps1/feedback/*/ps1.html"
    )
    assert rc == 0 and "3.0 / 3.0" in out, out[-1500:]

    # learners get no formgrader and no course folder
    assert (
        hub.request("GET", "/user/alice/formgrader/manage_assignments", tokens["alice"])[0] == 404
    )
    assert "@jupyter/nbgrader:formgrader" in _disabled_lab_plugins(hub, "alice", tokens["alice"])
    alice = next(c for c in hub.containers() if c.name.endswith("-alice"))
    assert not [m for m in alice.attrs["Mounts"] if "courses" in m["Destination"]]
