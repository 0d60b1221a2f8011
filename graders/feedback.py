"""Feedback release: nbgrader's feedback converter, with hidden tests kept hidden.

``aione feedback release COURSE ASSIGNMENT`` renders every graded copy in
``autograded/`` to HTML in the course's ``feedback/<student>/<assignment>/``
with nbgrader's :class:`~nbgrader.converters.GenerateFeedback`; the exchange
delivers it from there.

nbgrader restores hidden tests into the graded copy (that is how they run),
and its feedback shows that copy as it is (nbgrader#917). Unless the course
reveals them (``grading.reveal_hidden_tests``, per course in
``grading.reveal_hidden_tests_by_course``), :class:`HideHiddenTests` runs
first: it cuts the hidden region out of each test cell, and replaces the
outputs of those cells by the bare error name, since an IPython traceback
quotes the failing line and a printed value can give the expected answer
away.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import Bool, Unicode

from graders.course import Course
from graders.settings import GradingSection, check_name
from hub.errors import GradingError

log = logging.getLogger(__name__)


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden tests, and what their outputs would reveal, from a graded copy."""

    enforce_metadata = Bool(
        False, help="Complain about hidden tests outside grade cells (off: just hide them)."
    ).tag(config=True)

    placeholder = Unicode(
        "# (hidden tests are not shown)", help="Line put where hidden tests were."
    ).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], cell_index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if not self._remove_hidden_test_region(cell):
            return cell, resources
        cell.source = f"{cell.source.rstrip()}\n{self.placeholder}"
        if cell.cell_type == "code":
            cell.outputs = [_bare_error(out) for out in cell.outputs if out.output_type == "error"]
        return cell, resources


def _bare_error(out: NotebookNode) -> NotebookNode:
    text = f"{out.get('ename', 'Error')}: a test failed (hidden tests are not shown)"
    return nbformat.v4.new_output(
        "error", ename=out.get("ename", "Error"), evalue="", traceback=[text]
    )


def release_feedback(
    course: Course,
    assignment: str,
    grading: GradingSection,
    student: str | None = None,
) -> list[Path]:
    """Write feedback HTML for every graded submission of ``assignment``.

    Returns the HTML files written (under ``feedback/``). Raises GradingError
    when nothing of ``assignment`` has been graded.
    """
    check_name(assignment, "assignment")
    if student:
        check_name(student, "student")
    config = copy.deepcopy(course.config)
    reveal = grading.reveals_hidden_tests(course.name)
    if not reveal:
        config.GenerateFeedback.preprocessors = [
            HideHiddenTests,
            GetGrades,
            CSSHTMLHeaderPreprocessor,
        ]
    config.GenerateFeedback.force = True
    coursedir = course.coursedir(assignment, student or "*")
    converter = GenerateFeedback(coursedir=coursedir, config=config)
    converter.log = log
    try:
        converter.start()
    except NbGraderException as err:
        raise GradingError(
            f"no graded submissions of {assignment!r} in {coursedir.autograded_directory}/; "
            f"run `aione grade {course.name} {assignment}` first"
        ) from err
    root = course.root / coursedir.feedback_directory
    pattern = f"{student or '*'}/{assignment}/*.html"
    written = sorted(root.glob(pattern))
    log.info(
        "feedback for %d notebooks in %s (hidden tests %s)",
        len(written),
        root,
        "shown" if reveal else "hidden",
    )
    return written
