"""Grade export: one row per student and assignment, with per-cell scores.

``aione grades export COURSE`` reads the gradebook (every assignment, every
student, submitted or not) and the grading report beside each graded copy
(``autograded/<student>/<assignment>/aione-grading.json``, for the reasons)
and writes CSV:

``assignment, duedate, student, submitted, timestamp, seconds_late, late,
score, late_penalty, final_score, max_score, reasons, cell:<notebook>/<grade_id>...``

``score`` is before the late penalty, ``final_score`` after it. A cell column
is empty for rows of assignments that do not have that cell; a student who
did not submit has 0 in each. :func:`write_csv` is pure and takes
:class:`ExportRow` objects.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from nbgrader.api import Gradebook, MissingEntry

from graders.autograde import REPORT_NAME
from graders.course import Course

log = logging.getLogger(__name__)
FIXED_COLUMNS = [
    "assignment",
    "duedate",
    "student",
    "submitted",
    "timestamp",
    "seconds_late",
    "late",
    "score",
    "late_penalty",
    "final_score",
    "max_score",
    "reasons",
]


@dataclass
class ExportRow:
    """One student's result on one assignment."""

    assignment: str
    student: str
    max_score: float
    submitted: bool = False
    duedate: str = ""
    timestamp: str = ""
    seconds_late: float = 0.0
    score: float = 0.0
    late_penalty: float = 0.0
    reasons: list[str] = field(default_factory=list)
    cells: dict[str, float | None] = field(default_factory=dict)

    @property
    def final_score(self) -> float:
        return max(0.0, self.score - self.late_penalty)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def write_csv(rows: list[ExportRow], out: TextIO) -> None:
    """Write ``rows`` as CSV: the fixed columns, then one column per grade cell.

    Cell columns are ``cell:<notebook>/<grade_id>``, in order of first appearance.
    """
    cell_columns: list[str] = []
    for row in rows:
        for name in row.cells:
            if name not in cell_columns:
                cell_columns.append(name)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIXED_COLUMNS + [f"cell:{name}" for name in cell_columns])
    for row in rows:
        writer.writerow(
            [
                row.assignment,
                row.duedate,
                row.student,
                "yes" if row.submitted else "no",
                row.timestamp,
                _number(row.seconds_late),
                "yes" if row.seconds_late > 0 else "no",
                _number(row.score),
                _number(row.late_penalty),
                _number(row.final_score),
                _number(row.max_score),
                "; ".join(row.reasons),
            ]
            + [_number(row.cells[name]) if name in row.cells else "" for name in cell_columns]
        )


def collect_rows(course: Course) -> list[ExportRow]:
    """Read every assignment x student of ``course`` from its gradebook."""
    rows = []
    with course.gradebook() as gb:
        assignments = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name))
        students = sorted(s.id for s in gb.students)
        for assignment in assignments:
            for student in students:
                rows.append(_row(gb, course, assignment, student))
    return rows


def _row(gb: Gradebook, course: Course, assignment: object, student: str) -> ExportRow:
    name = assignment.name  # type: ignore[attr-defined]
    duedate = assignment.duedate  # type: ignore[attr-defined]
    row = ExportRow(
        assignment=name,
        student=student,
        max_score=float(assignment.max_score or 0),  # type: ignore[attr-defined]
        duedate=duedate.isoformat(sep=" ") if duedate else "",
    )
    try:
        sub = gb.find_submission(name, student)
    except MissingEntry:
        for notebook in assignment.notebooks:  # type: ignore[attr-defined]
            for cell in sorted(notebook.grade_cells, key=lambda c: c.name):
                row.cells[f"{notebook.name}/{cell.name}"] = 0.0
        return row
    row.submitted = True
    row.timestamp = sub.timestamp.isoformat(sep=" ") if sub.timestamp else ""
    row.seconds_late = float(sub.total_seconds_late or 0)
    row.score = float(sub.score or 0)
    row.late_penalty = float(sub.late_submission_penalty or 0)
    for notebook in sub.notebooks:
        for grade in sorted(notebook.grades, key=lambda g: g.cell.name):
            row.cells[f"{notebook.name}/{grade.name}"] = grade.score
    row.reasons = _reasons(course, name, student)
    return row


def _reasons(course: Course, assignment: str, student: str) -> list[str]:
    coursedir = course.coursedir(assignment, student)
    path = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
    try:
        report = json.loads((path / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        f"{r['code']}: {r['detail']}" if r.get("detail") else r["code"]
        for r in report.get("reasons", [])
    ]


def export_grades(course: Course, out: TextIO, fmt: str = "csv") -> int:
    """Write the grades of ``course`` to ``out``; return the number of rows."""
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}")
    rows = collect_rows(course)
    write_csv(rows, out)
    log.info("exported %d rows of %s", len(rows), course.name)
    return len(rows)
