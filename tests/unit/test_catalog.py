"""Catalog validation (graders.catalog) and run planning (graders.curriculum.plan).

Every test builds a small real track in tmp_path (course.yaml plus an nbgrader
notebook written with nbformat) and breaks one thing in it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from graders.catalog import find_courses_dir, load_catalog, load_course, select_tracks, track_dirs
from graders.curriculum import CurriculumRunner
from hub.errors import CurriculumError

REPO_COURSES = Path(__file__).resolve().parents[2] / "courses"

VALID: dict[str, Any] = {
    "track": "demo",
    "title": {"ko": "데모", "en": "Demo"},
    "assignments": [
        {
            "id": "intro",
            "title": {"ko": "소개", "en": "Intro"},
            "level": "beginner",
            "hours": 1,
            "gpu": False,
            "budget_s": 30,
            "skills": {"test_add": "python-basics", "test_mul": "numpy-vectorization"},
        }
    ],
}


def _nbgrader(grade_id: str, **flags: Any) -> dict[str, Any]:
    meta = {"grade": False, "solution": False, "locked": False, "grade_id": grade_id}
    meta.update(flags, schema_version=3, task=False)
    return {"nbgrader": meta}


def write_notebook(
    path: Path,
    grade_ids: tuple[str, ...] = ("test_add", "test_mul"),
    parameters: str = "QUICK = False\nSEED = 0",
    tagged: bool = True,
) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    if tagged:
        params.metadata["tags"] = ["parameters"]
    answer = nbformat.v4.new_code_cell(
        "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
    )
    answer.metadata.update(_nbgrader("add_answer", solution=True))
    nb.cells = [nbformat.v4.new_markdown_cell("# 데모 / Demo"), params, answer]
    for gid in grade_ids:
        test = nbformat.v4.new_code_cell("assert add(1, 2) == 3")
        test.metadata.update(_nbgrader(gid, grade=True, locked=True, points=1))
        nb.cells.append(test)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def make_track(root: Path, data: dict[str, Any] | None = None, name: str = "demo") -> Path:
    """A valid track named ``name`` under ``root`` (course.yaml from ``data``)."""
    data = copy.deepcopy(VALID if data is None else data)
    track = root / name
    track.mkdir(parents=True)
    if data.get("track") == VALID["track"]:
        data["track"] = name
    for item in data.get("assignments", []):
        write_notebook(track / "source" / item["id"] / f"{item['id']}.ipynb")
    (track / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return track


def with_change(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data["assignments"][0].update(changes)
    return data


def error_of(track: Path) -> str:
    with pytest.raises(CurriculumError) as info:
        load_course(track)
    return str(info.value)


def test_valid_track_loads(tmp_path: Path) -> None:
    course = load_course(make_track(tmp_path))
    item = course.assignment("intro")
    assert course.track == "demo" and item.level == "beginner" and item.budget_s == 30
    assert course.notebook("intro") == tmp_path / "demo/source/intro/intro.ipynb"


def test_unknown_level_names_file_and_key(tmp_path: Path) -> None:
    track = make_track(tmp_path, with_change(level="expert"))
    message = error_of(track)
    assert str(track / "course.yaml") in message
    assert "assignments[0](id=intro).level" in message
    assert "'beginner', 'intermediate' or 'advanced'" in message


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    message = error_of(make_track(tmp_path, with_change(difficulty=3)))
    assert "assignments[0](id=intro).difficulty: Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"hours": 5}, "hours"),
        ({"budget_s": 0}, "budget_s"),
        ({"gpu": "false"}, "gpu"),
        ({"skills": {"test_add": "Python Basics", "test_mul": "x"}}, "skills.test_add"),
        ({"id": "Intro-1"}, "id"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, change: dict[str, Any], key: str) -> None:
    message = error_of(make_track(tmp_path, with_change(**change)))
    assert "course.yaml: assignments[0](id=" in message and f").{key}: " in message


def test_missing_top_level_key(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    del data["title"]
    assert "course.yaml: title: Field required" in error_of(make_track(tmp_path, data))


def test_missing_skill_for_graded_cell(tmp_path: Path) -> None:
    track = make_track(tmp_path, with_change(skills={"test_add": "python-basics"}))
    message = error_of(track)
    assert "assignments[0](id=intro).skills: no skill for graded cell 'test_mul'" in message
    assert "add 'test_mul: <skill-tag>'" in message


def test_skill_without_graded_cell(tmp_path: Path) -> None:
    skills = {"test_add": "python-basics", "test_mul": "numpy", "test_gone": "pandas"}
    message = error_of(make_track(tmp_path, with_change(skills=skills)))
    assert "skills.test_gone: intro.ipynb has no graded cell with this grade_id" in message


def test_listed_assignment_without_notebook(tmp_path: Path) -> None:
    track = make_track(tmp_path)
    (track / "source/intro/intro.ipynb").unlink()
    assert "assignments[0].id: 'intro' has no notebook" in error_of(track)


def test_folder_not_listed(tmp_path: Path) -> None:
    track = make_track(tmp_path)
    write_notebook(track / "source/extra/extra.ipynb")
    message = error_of(track)
    assert str(track / "source/extra") in message and "not listed" in message


def test_duplicate_assignment_ids(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["assignments"].append(copy.deepcopy(data["assignments"][0]))
    assert "id 'intro' is listed more than once" in error_of(make_track(tmp_path, data))


def test_track_must_match_folder(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["track"] = "other"
    track = tmp_path / "demo"
    make_track(tmp_path, data)
    assert "track: is 'other' but the folder is 'demo'" in error_of(track)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    track = make_track(tmp_path)
    (track / "course.yaml").write_text("track: demo\nassignments: [\n", encoding="utf-8")
    message = error_of(track)
    assert str(track / "course.yaml") in message and "not valid YAML" in message


def test_missing_course_yaml(tmp_path: Path) -> None:
    track = tmp_path / "empty"
    track.mkdir()
    assert f"{track / 'course.yaml'}: missing" in error_of(track)


def test_parameters_cell_required(tmp_path: Path) -> None:
    track = make_track(tmp_path)
    write_notebook(track / "source/intro/intro.ipynb", tagged=False)
    assert "first code cell must be tagged 'parameters'" in error_of(track)


def test_gpu_assignment_needs_device_parameter(tmp_path: Path) -> None:
    track = make_track(tmp_path, with_change(gpu=True))
    message = error_of(track)
    assert "does not assign DEVICE (course.yaml says gpu: true)" in message
    write_notebook(
        track / "source/intro/intro.ipynb", parameters='QUICK = False\nSEED = 0\nDEVICE = "auto"'
    )
    assert load_course(track).assignment("intro").gpu is True


def test_catalog_reports_every_invalid_track(tmp_path: Path) -> None:
    make_track(tmp_path, with_change(level="expert"), name="alpha")
    make_track(tmp_path, with_change(hours=0), name="beta")
    make_track(tmp_path, name="gamma")
    with pytest.raises(CurriculumError) as info:
        load_catalog(tmp_path)
    assert "alpha/course.yaml" in str(info.value) and "beta/course.yaml" in str(info.value)
    assert [c.track for c in load_catalog(tmp_path, ["gamma"])] == ["gamma"]


def test_unknown_track_lists_known(tmp_path: Path) -> None:
    make_track(tmp_path, name="alpha")
    (tmp_path / ".hidden").mkdir()
    assert [p.name for p in track_dirs(tmp_path)] == ["alpha"]
    with pytest.raises(CurriculumError, match=r"no track 'beta' .*\(tracks: alpha\)"):
        select_tracks(tmp_path, ["beta"])


def test_courses_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(CurriculumError, match="--courses-dir"):
        find_courses_dir(tmp_path / "nope")
    assert find_courses_dir(tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize("track", ["foundations"])
def test_repository_track_is_valid(track: str) -> None:
    course = load_course(REPO_COURSES / track)
    assert course.entry.assignments


# --- planning: catalog entries become worker tasks ---------------------------------------


def test_plan_injects_quick_and_device(tmp_path: Path) -> None:
    make_track(tmp_path, name="alpha")
    gpu_track = make_track(tmp_path, with_change(gpu=True, budget_s=40), name="beta")
    write_notebook(
        gpu_track / "source/intro/intro.ipynb",
        parameters='QUICK = False\nSEED = 0\nDEVICE = "auto"',
    )
    tasks, invalid = CurriculumRunner(courses_dir=str(tmp_path), jobs=2).plan()
    by_track = {t.track: t for t in tasks}
    assert invalid == []
    assert by_track["alpha"].parameters == {"QUICK": True}
    assert by_track["beta"].parameters == {"QUICK": True, "DEVICE": "cpu"}
    assert by_track["beta"].cell_timeout == 200 and by_track["alpha"].cell_timeout == 150
    assert by_track["alpha"].check_budget is True

    gpu_tasks, _ = CurriculumRunner(courses_dir=str(tmp_path), gpu=True, full=True).plan("beta")
    assert gpu_tasks[0].parameters == {"DEVICE": "cuda"}
    assert gpu_tasks[0].check_budget is False and gpu_tasks[0].cell_timeout == 1800


def test_plan_reports_invalid_tracks_as_failures(tmp_path: Path) -> None:
    make_track(tmp_path, name="alpha")
    make_track(tmp_path, with_change(level="expert"), name="broken")
    runner = CurriculumRunner(courses_dir=str(tmp_path))
    tasks, invalid = runner.plan()
    assert [t.track for t in tasks] == ["alpha"]
    assert len(invalid) == 1 and invalid[0].track == "broken" and not invalid[0].passed
    assert "level" in invalid[0].failures[0]
    with pytest.raises(CurriculumError, match="level"):
        runner.plan(track="broken")


def test_plan_selects_one_assignment(tmp_path: Path) -> None:
    make_track(tmp_path, name="alpha")
    runner = CurriculumRunner(courses_dir=str(tmp_path))
    assert [t.assignment for t in runner.plan(assignment="intro")[0]] == ["intro"]
    with pytest.raises(CurriculumError, match="no assignment 'nope'"):
        runner.plan(assignment="nope")


def test_plan_assignment_skips_invalid_tracks(tmp_path: Path) -> None:
    make_track(tmp_path, name="alpha")
    make_track(tmp_path, with_change(level="expert"), name="broken")
    runner = CurriculumRunner(courses_dir=str(tmp_path))
    tasks, invalid = runner.plan(assignment="intro")
    assert [t.track for t in tasks] == ["alpha"] and invalid == []
    with pytest.raises(CurriculumError, match=r"invalid tracks not searched: broken"):
        runner.plan(assignment="other")
