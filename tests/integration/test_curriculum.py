"""``aione curriculum``, run for real: nbgrader generates, executes and grades.

The slow tests run the command in-process (``hub.cli.main``) on the real
foundations track, and on copies of it in tmp_path that are broken on purpose.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
import yaml

from graders.curriculum import check_cuda
from hub.cli import main
from hub.errors import CurriculumError

REPO_COURSES = Path(__file__).resolve().parents[2] / "courses"
FOUNDATIONS = "python_numpy_pandas"


def _testcases(junit: Path) -> dict[str, ET.Element]:
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    return {case.get("name", ""): case for case in root.iter("testcase")}


@pytest.mark.slow
def test_foundations_track_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "reports" / "curriculum.xml"
    argv = ["curriculum", "test", "--track", "foundations", "--jobs", "1"]
    code = main([*argv, "--courses-dir", str(REPO_COURSES), "--junit", str(junit)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert f"[1/1] PASS foundations/{FOUNDATIONS}" in err
    row = next(line for line in out.splitlines() if line.startswith("foundations"))
    assert "PASS" in row and "19/19 | 0" in row
    case = _testcases(junit)[FOUNDATIONS]
    assert case.get("classname") == "curriculum.foundations" and case.find("failure") is None


@pytest.mark.slow
def test_whole_catalog_quick_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every assignment of every track: full points for the solution, zero for the blank
    student version, within its budget (the curriculum regression CI runs)."""
    junit = tmp_path / "catalog.xml"
    code = main(["curriculum", "test", "--jobs", "2", "--courses-dir", str(REPO_COURSES),
                 "--junit", str(junit)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    cases = _testcases(junit)
    expected = {
        a["id"]
        for course in REPO_COURSES.glob("*/course.yaml")
        for a in yaml.safe_load(course.read_text(encoding="utf-8"))["assignments"]
    }
    assert set(cases) == expected and len(expected) >= 13
    assert all(case.find("failure") is None for case in cases.values())


def _copy_assignment(track: Path, new_id: str) -> nbformat.NotebookNode:
    """Copy the foundations assignment to ``track/source/new_id``; return its notebook."""
    target = track / "source" / new_id
    shutil.copytree(REPO_COURSES / "foundations" / "source" / FOUNDATIONS, target)
    (target / f"{FOUNDATIONS}.ipynb").rename(target / f"{new_id}.ipynb")
    return nbformat.read(target / f"{new_id}.ipynb", as_version=4)


def _cell(nb: nbformat.NotebookNode, grade_id: str | None = None, contains: str = "") -> dict:
    for cell in nb.cells:
        if grade_id and cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
        if contains and contains in cell.source and "nbgrader" not in cell.metadata:
            return cell
    raise AssertionError(f"no cell {grade_id or contains!r} in the foundations notebook")


def _broken_track(root: Path) -> Path:
    """A track holding four copies of the foundations assignment, each broken one way."""
    track = root / "broken"
    entry = yaml.safe_load((REPO_COURSES / "foundations" / "course.yaml").read_text())[
        "assignments"
    ][0]
    entries = []

    nb = _copy_assignment(track, "hidden_fail")  # the solution fails a hidden test only
    cell = _cell(nb, "time_split_answer")
    cell.source = cell.source.replace("        raise ValueError", "        pass  #")
    entries.append({**entry, "id": "hidden_fail"})
    nbformat.write(nb, track / "source/hidden_fail/hidden_fail.ipynb")

    nb = _copy_assignment(track, "unguarded")  # the student version errors outside answers
    cell = _cell(nb, contains="ages = [None if pd.isna(a)")
    cell.source = 'ages = [None if pd.isna(a) else float(a) for a in orders["customer_age"]]\nprint(summarize(ages))'
    entries.append({**entry, "id": "unguarded"})
    nbformat.write(nb, track / "source/unguarded/unguarded.ipynb")

    nb = _copy_assignment(track, "free_points")  # a test that passes without an answer
    free = nbformat.v4.new_code_cell("assert len(orders) > 0")
    free.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "test_free",
        "points": 1,
        "schema_version": 3,
        "task": False,
    }
    nb.cells.append(free)
    entries.append(
        {**entry, "id": "free_points", "skills": {**entry["skills"], "test_free": "none"}}
    )
    nbformat.write(nb, track / "source/free_points/free_points.ipynb")

    nb = _copy_assignment(track, "over_budget")  # far over its budget; also checks IPC kernels
    probe = nbformat.v4.new_code_cell(
        "import json\nfrom ipykernel import get_connection_info\n"
        'assert json.loads(get_connection_info())["transport"] == "ipc", "kernel not on IPC"'
    )
    nb.cells.insert(3, probe)
    entries.append({**entry, "id": "over_budget", "budget_s": 0.001})
    nbformat.write(nb, track / "source/over_budget/over_budget.ipynb")

    course = {"track": "broken", "title": {"ko": "고장", "en": "Broken"}, "assignments": entries}
    (track / "course.yaml").write_text(yaml.safe_dump(course, allow_unicode=True), encoding="utf-8")
    return track


@pytest.mark.slow
def test_broken_assignments_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    courses = tmp_path / "courses"
    _broken_track(courses)
    junit = tmp_path / "junit.xml"
    argv = ["curriculum", "test", "--courses-dir", str(courses), "--jobs", "2"]
    code = main([*argv, "--junit", str(junit)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "4 assignments: 0 passed, 4 failed" in out

    cases = _testcases(junit)
    assert sorted(cases) == ["free_points", "hidden_fail", "over_budget", "unguarded"]
    failures = {name: case.findtext("failure") or "" for name, case in cases.items()}
    assert all(case.find("failure") is not None for case in cases.values())

    assert "solution: test_time_split scored 0/2" in failures["hidden_fail"]
    assert "must raise ValueError" in failures["hidden_fail"]
    assert "student version: cell" in failures["unguarded"]
    assert "raised NotImplementedError outside the answer and test cells" in failures["unguarded"]
    assert (
        "student version: test_free gives 1/1 points without any answer" in failures["free_points"]
    )
    budget = failures["over_budget"].splitlines()
    assert len(budget) == 2 and all("over budget_s 0.001" in line for line in budget), budget
    for name in ("hidden_fail", "unguarded", "free_points"):
        assert "budget" not in failures[name], failures[name]


def test_gpu_without_cuda_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        check_cuda()
    except CurriculumError:
        pass
    else:
        pytest.skip("this machine has CUDA; the --gpu failure path cannot be exercised")
    argv = ["curriculum", "test", "--gpu", "--track", "foundations"]
    code = main([*argv, "--courses-dir", str(REPO_COURSES)])
    err = capsys.readouterr().err
    assert code == 1
    assert "aione: error: --gpu: CUDA is not available" in err


def test_validate_repository_track(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["curriculum", "validate", "--track", "foundations", "--courses-dir", str(REPO_COURSES)]
    )
    assert code == 0
    assert "1 tracks, 1 assignments valid" in capsys.readouterr().out


def test_unknown_track_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["curriculum", "test", "--track", "nope", "--courses-dir", str(REPO_COURSES)])
    assert code == 1
    assert "no track 'nope'" in capsys.readouterr().err
