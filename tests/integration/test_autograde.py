"""``aione grade``, ``aione feedback release`` and ``aione grades export``, for real.

A tiny nbgrader course (tests/integration/hostile/course: one answer cell, a
visible and a hidden test, 5 points) is generated in tmp_path with nbgrader,
submissions are written as the exchange would write them, and the commands
run in-process through ``hub.cli.main`` against the real Docker engine and
the learner image. The hostile corpus (tests/integration/hostile/*.py and
invalid_json.json) is graded in one batch with good submissions.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import nbformat
import pytest
import yaml
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from graders.course import ensure_alembic_on_path
from graders.sandbox import ROLE, ROLE_LABEL
from hub.cli import main
from tests.integration.pg import PostgresServer, postgres_server  # noqa: F401

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile"
SOURCE = HOSTILE / "course" / "source"
IMAGE = "aione/learner:latest"
PREFIX = "aione-test-grade"
DUE = "2030-01-01 00:00:00 UTC"
ON_TIME = "2029-12-31 23:00:00.000000 UTC"
LATE_25H = "2030-01-02 01:00:00.000000 UTC"
GOOD = "from data_gen import make_numbers\n\n\ndef add(a, b):\n    return a + b\n"
WRONG = "from data_gen import make_numbers\n\n\ndef add(a, b):\n    return a + b if a < 5 else 0\n"
MARKER = "HIDDEN_TEST_MARKER_7f3a"

pytestmark = [pytest.mark.docker, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]


@pytest.fixture(scope="module")
def api() -> Iterator[docker.APIClient]:
    """The Docker engine; the image must be there. Leftover grading containers fail the test."""
    try:
        client = docker.APIClient(version="auto")
        client.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{IMAGE} is not built (aione images build)")
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker engine: {err}")
    yield client
    client.close()


@pytest.fixture(autouse=True)
def no_leftover_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "api" not in request.fixturenames:
        return
    client: docker.APIClient = request.getfixturevalue("api")
    left = [
        c
        for c in client.containers(all=True, filters={"label": f"{ROLE_LABEL}={ROLE}"})
        if any(n.lstrip("/").startswith(PREFIX) for n in c["Names"])
    ]
    for c in left:
        client.remove_container(c["Id"], force=True)
    assert not left, f"grading containers were left behind: {[c['Names'] for c in left]}"


@dataclass
class TinyCourse:
    """The tiny course in a tmp folder, with its settings file."""

    base: Path
    root: Path
    config: Path
    db_url: str

    def submit(
        self,
        student: str,
        answer: str | None,
        timestamp: str = ON_TIME,
        kernel: str | None = None,
        lock_cells_to: str | None = None,
        raw: bytes | None = None,
        filename: str = "ps1.ipynb",
    ) -> None:
        """Write a submission the way the exchange's collect does."""
        folder = self.root / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text(timestamp)
        shutil.copy(self.root / "release" / "ps1" / "data_gen.py", folder / "data_gen.py")
        if raw is not None:
            (folder / filename).write_bytes(raw)
            return
        nb = nbformat.read(self.root / "release" / "ps1" / "ps1.ipynb", as_version=4)
        if answer is not None:
            nb.cells[1].source = answer.replace("{course_root}", str(self.root))
        if kernel:
            nb.metadata.kernelspec.name = kernel
        if lock_cells_to is not None:
            nb.cells[2].source = nb.cells[3].source = lock_cells_to
        nbformat.write(nb, folder / filename)

    def cli(self, *argv: str) -> int:
        return main([*argv, "--config", str(self.config)])

    def scores(self) -> dict[str, tuple[float, float]]:
        """student -> (score, late penalty), from the gradebook."""
        with Gradebook(self.db_url, "tiny") as gb:
            return {
                s.student.id: (float(s.score), float(s.late_submission_penalty or 0))
                for s in gb.find_assignment("ps1").submissions
            }

    def graded(self, student: str) -> nbformat.NotebookNode:
        return nbformat.read(self.root / "autograded" / student / "ps1" / "ps1.ipynb", as_version=4)

    def report(self, student: str) -> dict[str, Any]:
        path = self.root / "autograded" / student / "ps1" / "aione-grading.json"
        return dict(json.loads(path.read_text()))


def make_course(base: Path, gradebook_url: str | None = None, **grading: Any) -> TinyCourse:
    """Generate the tiny assignment with nbgrader and write a settings file."""
    ensure_alembic_on_path()
    root = base / "courses" / "tiny"
    shutil.copytree(SOURCE, root / "source")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'tiny'\n"
    )
    db_url = gradebook_url or f"sqlite:///{root / 'gradebook.db'}"
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "tiny"
    c.CourseDirectory.db_url = db_url
    result = NbGraderAPI(coursedir=CourseDirectory(config=c), config=c).generate_assignment("ps1")
    assert result["success"], result.get("log")
    with Gradebook(db_url, "tiny") as gb:
        gb.update_or_create_assignment("ps1", duedate=DUE)
    settings = {
        "state_dir": str(base),
        "grading": {
            "container_prefix": PREFIX,
            "cell_timeout_s": 10,
            "mem_limit": "512M",
            "submission_timeout_s": 120,
            "output_limit_bytes": "1M",
            "late_penalty": {"percent_per_day": 10},
            **grading,
        },
    }
    if gradebook_url:
        settings["grading"]["gradebook_url"] = gradebook_url
    config = base / "aione.yaml"
    config.write_text(yaml.safe_dump(settings))
    return TinyCourse(base, root, config, db_url)


@pytest.fixture(scope="module")
def graded(
    api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TinyCourse, str]]:
    """Four submissions, graded once by ``aione grade`` (output kept for the tests)."""
    course = make_course(tmp_path_factory.mktemp("graded"))
    course.submit("correct", GOOD)
    course.submit("wrong", WRONG)
    course.submit("blank", None)
    course.submit("late", GOOD, timestamp=LATE_25H)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        code = course.cli("grade", "tiny", "ps1", "--jobs", "2")
    assert code == 0, out.getvalue()
    yield course, out.getvalue()


def test_grade_records_scores_and_late_penalties(graded: tuple[TinyCourse, str]) -> None:
    course, out = graded
    assert course.scores() == {
        "correct": (5.0, 0.0),
        "wrong": (2.0, 0.0),
        "blank": (0.0, 0.0),
        "late": (5.0, 1.0),  # 25 h late = 2 started days x 10 % of 5 points
    }
    progress = [line for line in out.splitlines() if line.startswith("[")]
    assert [line[:5] for line in progress] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert any("late: 4/5 (-1 late), late 25.0 h" in line for line in progress)
    assert "student  score/max" in out and "4 graded, 0 skipped, 0 failed" in out
    hidden_cell = course.graded("wrong").cells[3]
    assert MARKER in hidden_cell.source  # the hidden tests ran, restored from the gradebook
    assert hidden_cell.outputs[-1].output_type == "error"


def test_regrading_skips_graded_copies_unless_forced(
    graded: tuple[TinyCourse, str], capsys: pytest.CaptureFixture[str]
) -> None:
    course, _ = graded
    assert course.cli("grade", "tiny", "ps1", "--student", "wrong") == 0
    assert "wrong: already graded, skipped" in capsys.readouterr().out
    assert course.cli("grade", "tiny", "ps1", "--student", "wrong", "--force") == 0
    assert "[1/1] wrong: 2/5" in capsys.readouterr().out
    assert course.scores()["wrong"] == (2.0, 0.0)


def test_feedback_keeps_hidden_tests_hidden(
    graded: tuple[TinyCourse, str], capsys: pytest.CaptureFixture[str]
) -> None:
    course, _ = graded
    assert course.cli("feedback", "release", "tiny", "ps1") == 0
    assert "feedback for 4 notebooks" in capsys.readouterr().out
    pages = {p.parts[-3]: p.read_text() for p in (course.root / "feedback").glob("*/ps1/ps1.html")}
    assert sorted(pages) == ["blank", "correct", "late", "wrong"]
    for page in pages.values():
        assert MARKER not in page and "hidden = add(10, 5)" not in page
        assert "add must return an int" in page  # visible tests are shown
        assert "hidden tests are not shown" in page
    # The same check fails when the course reveals its hidden tests.
    settings = yaml.safe_load(course.config.read_text())
    settings["grading"]["reveal_hidden_tests_by_course"] = {"tiny": True}
    course.config.write_text(yaml.safe_dump(settings))
    try:
        assert course.cli("feedback", "release", "tiny", "ps1", "--student", "wrong") == 0
        assert MARKER in (course.root / "feedback" / "wrong" / "ps1" / "ps1.html").read_text()
    finally:
        del settings["grading"]["reveal_hidden_tests_by_course"]
        course.config.write_text(yaml.safe_dump(settings))


def test_export_writes_per_cell_scores_totals_and_penalties(
    graded: tuple[TinyCourse, str], capsys: pytest.CaptureFixture[str]
) -> None:
    course, _ = graded
    target = course.base / "grades.csv"
    assert course.cli("grades", "export", "tiny", "--output", str(target)) == 0
    rows = {row["student"]: row for row in csv.DictReader(target.open())}
    assert sorted(rows) == ["blank", "correct", "late", "wrong"]
    assert rows["wrong"]["cell:ps1/test_visible"] == "2"
    assert rows["wrong"]["cell:ps1/test_hidden"] == "0"
    assert rows["wrong"]["score"] == rows["wrong"]["final_score"] == "2"
    late = rows["late"]
    assert (
        late["late"],
        late["seconds_late"],
        late["score"],
        late["late_penalty"],
        late["final_score"],
        late["max_score"],
    ) == ("yes", "90000", "5", "1", "4", "5")
    assert late["duedate"] == "2030-01-01 00:00:00" and rows["correct"]["late"] == "no"
    assert course.cli("grades", "export", "tiny") == 0
    assert capsys.readouterr().out == target.read_text()


def test_bad_names_and_missing_things_are_clear_errors(
    graded: tuple[TinyCourse, str], capsys: pytest.CaptureFixture[str]
) -> None:
    course, _ = graded
    assert course.cli("grade", "nosuch", "ps1") == 1
    assert "course 'nosuch' has no folder" in capsys.readouterr().err
    assert course.cli("grade", "tiny", "ps9") == 1
    assert "run `nbgrader generate_assignment ps9`" in capsys.readouterr().err
    assert course.cli("grade", "../tiny", "ps1") == 1
    assert "course name '../tiny' is not valid" in capsys.readouterr().err
    assert course.cli("grade", "tiny", "ps1", "--student", "nobody") == 1
    assert "no submission of 'ps1' from nobody" in capsys.readouterr().err
    course.submit("linky", GOOD)
    folder = course.root / "submitted" / "linky" / "ps1"
    (folder / "data_gen.py").unlink()
    (folder / "data_gen.py").symlink_to(course.root / "gradebook.db")
    try:
        assert course.cli("grade", "tiny", "ps1", "--student", "linky") == 1
        out, err = capsys.readouterr()
        assert "holds symbolic links (data_gen.py); not graded" in out
        assert "grading failed for linky" in err
        assert "linky" not in course.scores()
    finally:
        shutil.rmtree(course.root / "submitted" / "linky")


# case -> (expected score, reason codes that must be reported, attack must be blocked)
HOSTILE_CASES: dict[str, tuple[float, set[str], bool]] = {
    "infinite_loop": (0, {"timeout"}, False),
    "fork_bomb": (5, {"timeout"}, False),
    "memory_hog": (0, {"out of memory"}, False),
    "network": (5, set(), True),
    "read_secrets": (5, set(), True),
    "write_outside": (5, set(), True),
    "edit_locked": (0, set(), False),
    "os_exit": (0, {"kernel died"}, False),
    "big_output": (5, {"output truncated"}, False),
    "invalid_json": (0, {"invalid notebook"}, False),
    "renamed": (0, {"missing notebook"}, False),
    "unknown_kernel": (5, {"unknown kernel"}, False),
    "always_equal": (0, set(), False),
    "hide_errors": (0, set(), False),
}


@pytest.mark.slow
def test_hostile_submissions_are_graded_with_reasons_and_the_batch_goes_on(
    api: docker.APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    course = make_course(tmp_path, cell_timeout_s=20)  # slack for 100 MB of output on a busy host
    course.submit("good1", GOOD)
    course.submit("good2", GOOD)
    course.submit("wrong", WRONG)
    for case in HOSTILE_CASES:
        if case == "invalid_json":
            course.submit(case, None, raw=(HOSTILE / "invalid_json.json").read_bytes())
            continue
        if case == "renamed":  # a correct answer in a notebook of another name
            course.submit(case, GOOD, filename="ps1-copy.ipynb")
            continue
        answer = (HOSTILE / f"{case}.py").read_text()
        course.submit(
            case,
            answer,
            kernel="no-such-kernel" if case == "unknown_kernel" else None,
            lock_cells_to="pass" if case == "edit_locked" else None,
        )
    assert course.cli("grade", "tiny", "ps1", "--jobs", "2") == 0
    out = capsys.readouterr().out
    assert f"{len(HOSTILE_CASES) + 3} graded, 0 skipped, 0 failed" in out

    scores = course.scores()
    assert scores["good1"] == scores["good2"] == (5.0, 0.0)
    assert scores["wrong"] == (2.0, 0.0)
    for case, (score, codes, attack) in HOSTILE_CASES.items():
        reported = {r["code"] for r in course.report(case)["reasons"]}
        assert scores[case][0] == score, (case, course.report(case))
        assert codes <= reported, (case, course.report(case))
        if attack:
            printed = "".join(o.get("text", "") for o in course.graded(case).cells[1].outputs)
            assert "ATTACK-RESULT: blocked" in printed, (case, printed)
    assert not (course.root / "aione-evil").exists()

    big = "".join(o.get("text", "") for o in course.graded("big_output").cells[1].outputs)
    assert len(big) < 1_100_000 and "[aione: output truncated" in big
    with sqlite3.connect(course.root / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Gradebook(course.db_url, "tiny") as gb:
        assert len(gb.students) == len(HOSTILE_CASES) + 3
        assert len(gb.find_assignment("ps1").submissions) == len(HOSTILE_CASES) + 3


@pytest.mark.postgres
def test_grade_on_a_postgresql_gradebook(
    api: docker.APIClient,
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    course = make_course(tmp_path, gradebook_url=postgres_server.new_database("gradebook"))
    for i in range(3):
        course.submit(f"good{i}", GOOD)
    course.submit("wrong", WRONG)
    course.submit("late", GOOD, timestamp=LATE_25H)
    assert course.cli("grade", "tiny", "ps1", "--jobs", "3") == 0
    assert course.scores() == {
        "good0": (5.0, 0.0),
        "good1": (5.0, 0.0),
        "good2": (5.0, 0.0),
        "wrong": (2.0, 0.0),
        "late": (5.0, 1.0),
    }
    assert not (course.root / "gradebook.db").exists()
