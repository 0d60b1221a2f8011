"""The AI+X course catalog: ``courses/<track>/course.yaml`` checked against its notebooks.

The format is fixed by ``courses/README.md``. :func:`load_course` reads one
track, validates ``course.yaml`` with strict pydantic models (unknown keys are
errors) and then checks it against the assignment folders and notebooks:

- every assignment listed has ``source/<id>/<id>.ipynb`` and every folder in
  ``source/`` is listed;
- every graded cell (nbgrader ``grade: true``) of a notebook has a skill tag
  under its ``grade_id``, and every skill names a graded cell that exists;
- the first code cell is tagged ``parameters`` and assigns ``QUICK`` and
  ``SEED`` (and ``DEVICE`` when the assignment says ``gpu: true``, since the
  curriculum runner injects it).

Every problem becomes one line naming the file and the key, and all problems
of a track are raised together as one :class:`hub.errors.CurriculumError`.
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import nbformat
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hub.errors import CurriculumError

log = logging.getLogger(__name__)

COURSE_FILE = "course.yaml"
SOURCE_DIR = "source"

#: Names the parameters cell must assign; ``DEVICE`` too when ``gpu: true``.
REQUIRED_PARAMETERS = ("QUICK", "SEED")

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
SkillTag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LocalizedText(_Strict):
    """A title in Korean (shown first) and English."""

    ko: Text
    en: Text


class AssignmentEntry(_Strict):
    """One ``assignments[]`` item of ``course.yaml``."""

    id: Identifier = Field(description="folder and notebook name")
    title: LocalizedText
    level: Literal["beginner", "intermediate", "advanced"]
    hours: float = Field(ge=1, le=3, description="a learner's time estimate")
    gpu: bool = Field(description="whether a GPU helps")
    budget_s: float = Field(gt=0, description="wall-clock budget of the quick-mode run")
    skills: dict[Identifier, SkillTag] = Field(
        min_length=1, description="nbgrader grade_id of each graded cell -> skill tag"
    )


class CourseEntry(_Strict):
    """The whole ``course.yaml`` of one track."""

    track: Identifier
    title: LocalizedText
    assignments: list[AssignmentEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Course:
    """A validated track: its folder and its ``course.yaml`` entry."""

    path: Path
    entry: CourseEntry

    @property
    def track(self) -> str:
        return self.entry.track

    def assignment(self, assignment_id: str) -> AssignmentEntry:
        """Return the entry of ``assignment_id``; :class:`CurriculumError` if unknown."""
        for item in self.entry.assignments:
            if item.id == assignment_id:
                return item
        known = ", ".join(a.id for a in self.entry.assignments)
        raise CurriculumError(
            f"{self.path / COURSE_FILE}: no assignment {assignment_id!r} (known: {known})"
        )

    def assignment_dir(self, assignment_id: str) -> Path:
        return self.path / SOURCE_DIR / assignment_id

    def notebook(self, assignment_id: str) -> Path:
        return self.assignment_dir(assignment_id) / f"{assignment_id}.ipynb"


def find_courses_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the catalog folder: ``explicit``, else ``./courses``, else the repo's ``courses/``.

    Raises :class:`CurriculumError` when the folder does not exist.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise CurriculumError(f"courses folder {path} does not exist; check --courses-dir")
        return path.resolve()
    candidates = [Path.cwd() / "courses", Path(__file__).resolve().parent.parent / "courses"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    tried = ", ".join(str(p) for p in candidates)
    raise CurriculumError(f"no courses/ folder found (tried {tried}); pass --courses-dir DIR")


def track_dirs(courses_dir: Path) -> list[Path]:
    """Return every track folder under ``courses_dir`` (hidden and ``_``-prefixed ones skipped)."""
    return sorted(
        p for p in courses_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


def load_catalog(courses_dir: Path, tracks: Iterable[str] | None = None) -> list[Course]:
    """Load and validate every track (or only ``tracks``) of ``courses_dir``.

    Raises one :class:`CurriculumError` listing the problems of every invalid track.
    """
    courses: list[Course] = []
    problems: list[str] = []
    for path in select_tracks(courses_dir, tracks):
        try:
            courses.append(load_course(path))
        except CurriculumError as err:
            problems.append(str(err))
    if problems:
        raise CurriculumError("; ".join(problems))
    return courses


def select_tracks(courses_dir: Path, tracks: Iterable[str] | None) -> list[Path]:
    """Return the folders of ``tracks`` (all when ``None``); unknown names raise."""
    available = {p.name: p for p in track_dirs(courses_dir)}
    if tracks is None:
        return list(available.values())
    chosen = []
    for name in tracks:
        if name not in available:
            known = ", ".join(available) or "none"
            raise CurriculumError(f"no track {name!r} in {courses_dir} (tracks: {known})")
        chosen.append(available[name])
    return chosen


def load_course(track_dir: Path) -> Course:
    """Load ``track_dir/course.yaml`` and check it against the track's notebooks.

    Returns the validated :class:`Course`. Raises :class:`CurriculumError`
    whose message lists every problem as ``<file>: <key>: <what is wrong>``.
    """
    course_file = track_dir / COURSE_FILE
    entry = _parse_course_file(course_file)
    problems = []
    if entry.track != track_dir.name:
        problems.append(
            f"{course_file}: track: is {entry.track!r} but the folder is {track_dir.name!r}; "
            "make them equal"
        )
    course = Course(path=track_dir, entry=entry)
    problems += _check_folders(course)
    for index, item in enumerate(entry.assignments):
        notebook = course.notebook(item.id)
        if notebook.is_file():
            problems += _check_notebook(notebook, item, f"{course_file}: assignments[{index}]")
    if problems:
        raise CurriculumError("; ".join(problems))
    log.debug("%s: %d assignments valid", course_file, len(entry.assignments))
    return course


def _parse_course_file(course_file: Path) -> CourseEntry:
    if not course_file.is_file():
        raise CurriculumError(
            f"{course_file}: missing; every track folder needs a course.yaml "
            "(format in courses/README.md)"
        )
    try:
        data = yaml.safe_load(course_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise CurriculumError(f"{course_file}:{line}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise CurriculumError(f"{course_file}: must be a mapping with track, title, assignments")
    try:
        return CourseEntry.model_validate(data)
    except ValidationError as err:
        lines = [
            f"{course_file}: {_key_path(e['loc'], data)}: {e['msg']}{_got(e)}" for e in err.errors()
        ]
        raise CurriculumError("; ".join(lines)) from err


def _got(error: Any) -> str:
    value = error.get("input")
    if error.get("type") == "missing" or isinstance(value, dict | list):
        return ""
    return f" (got {value!r})"


def _key_path(loc: Sequence[int | str], data: Any) -> str:
    """Render a pydantic error location as ``assignments[0](rul).level``."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            if isinstance(node, list) and part < len(node):
                node = node[part]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    out += f"(id={node['id']})"
                continue
        else:
            out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _check_folders(course: Course) -> list[str]:
    course_file = course.path / COURSE_FILE
    source = course.path / SOURCE_DIR
    listed = [a.id for a in course.entry.assignments]
    problems = [
        f"{course_file}: assignments: id {aid!r} is listed more than once"
        for aid in sorted({a for a in listed if listed.count(a) > 1})
    ]
    for index, aid in enumerate(listed):
        if not course.notebook(aid).is_file():
            problems.append(
                f"{course_file}: assignments[{index}].id: {aid!r} has no notebook "
                f"{course.notebook(aid)}; add it or remove the entry"
            )
    folders = sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []
    for name in folders:
        if name.startswith((".", "_")):
            continue
        if name not in listed:
            problems.append(
                f"{source / name}: assignment folder not listed in {course_file} "
                "assignments; add an entry or remove the folder"
            )
            continue
        extra = sorted(p.name for p in (source / name).glob("*.ipynb") if p.stem != name)
        if extra:
            problems.append(
                f"{source / name}: unexpected notebooks {', '.join(extra)}; an assignment "
                f"holds exactly one notebook, {name}.ipynb"
            )
    return problems


def _check_notebook(notebook: Path, item: AssignmentEntry, where: str) -> list[str]:
    try:
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # nbformat raises several unrelated types for bad files
        return [f"{notebook}: not a valid notebook ({err}); re-save it with Jupyter"]
    problems = []
    graded: list[str] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        grade_id = meta.get("grade_id")
        if not grade_id:
            problems.append(f"{notebook}: cell {index}: graded cell without a grade_id")
            continue
        if grade_id in graded:
            problems.append(f"{notebook}: cell {index}: grade_id {grade_id!r} is used twice")
        graded.append(grade_id)
        if grade_id not in item.skills:
            problems.append(
                f"{where}(id={item.id}).skills: no skill for graded cell {grade_id!r} "
                f"of {notebook.name}; add '{grade_id}: <skill-tag>'"
            )
    for grade_id in item.skills:
        if grade_id not in graded:
            problems.append(
                f"{where}(id={item.id}).skills.{grade_id}: {notebook.name} has no graded cell "
                f"with this grade_id; fix the id or remove the skill"
            )
    return problems + _check_parameters(notebook, nb, item)


def _check_parameters(
    notebook: Path, nb: nbformat.NotebookNode, item: AssignmentEntry
) -> list[str]:
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or "parameters" not in code[0].get("metadata", {}).get("tags", []):
        return [
            f"{notebook}: the first code cell must be tagged 'parameters' "
            "(papermill) and define QUICK = False and SEED = 0"
        ]
    required = REQUIRED_PARAMETERS + (("DEVICE",) if item.gpu else ())
    try:
        tree = ast.parse(code[0].source)
    except SyntaxError as err:
        return [f"{notebook}: the parameters cell is not valid Python ({err})"]
    assigned = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    missing = [name for name in required if name not in assigned]
    if not missing:
        return []
    why = " (course.yaml says gpu: true)" if "DEVICE" in missing else ""
    return [f"{notebook}: the parameters cell does not assign {', '.join(missing)}{why}"]
