"""The ``grading:`` section of the operator settings, and how it becomes config.

The section is validated like every other (unknown keys are errors, sizes take
``512M``/``2G``), then :func:`grading_config` maps it onto the traitlets of the
grading classes (:class:`graders.sandbox.Sandbox`,
:class:`graders.autograde.SandboxAutograde`,
:class:`graders.late.PercentPerDayPenalty`), so that each class can also be
configured directly, in nbgrader's style.

The section is the ``grading`` field of :class:`hub.settings.Settings`;
:func:`load_grading_settings` returns it beside the whole settings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from traitlets.config import Config

from hub.errors import GradingError

#: Course and assignment names become folder names: no separators, no dot-dot.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class LatePenaltySection(BaseModel):
    """Late submissions lose ``percent_per_day`` of their score for every day
    or part of a day past the due date (after ``grace_minutes``), up to
    ``max_percent``. The default, 0, flags late work without a penalty (as
    nbgrader does)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    percent_per_day: float = Field(
        0.0, ge=0, le=100, description="Percent of the score lost per started day late."
    )
    grace_minutes: float = Field(
        0.0, ge=0, description="Minutes after the due date that still count as on time."
    )
    max_percent: float = Field(
        100.0, ge=0, le=100, description="The most a late submission can lose, in percent."
    )


class GradingSection(BaseModel):
    """Sandboxed, parallel autograding (``aione grade``), feedback and grade export."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    courses_root: Path | None = Field(
        None,
        description="Folder holding one nbgrader course folder per course; "
        "default: <state_dir>/courses.",
    )
    image: str = Field(
        "aione/learner:latest", description="Image each submission runs in (needs ipykernel)."
    )
    python: str = Field(
        "/opt/aione/bin/python", description="Python inside the image that runs the sandbox runner."
    )
    container_prefix: str = Field(
        "aione-grade", description="Grading containers are named PREFIX-<random>."
    )
    jobs: int | None = Field(
        None, ge=1, le=256, description="Submissions graded at once; default: the CPU cores."
    )
    mem_limit: str = Field("1G", description="Memory (and memory+swap) of one submission.")
    cpu_limit: float = Field(1.0, gt=0, le=64, description="CPU cores of one submission.")
    pids_limit: int = Field(128, ge=16, description="Most processes and threads of one submission.")
    work_size: str = Field(
        "256M", description="Size of the in-memory work folder (counts against mem_limit)."
    )
    cell_timeout_s: int = Field(
        30, ge=1, description="Seconds one cell may run before it is interrupted (nbgrader: 30)."
    )
    submission_timeout_s: int = Field(
        300, ge=5, description="Wall-clock seconds for one whole submission; then it is killed."
    )
    output_limit_bytes: int = Field(
        4 * 1024**2,
        ge=1024,
        description="Output kept per notebook (e.g. 4M); the rest is "
        "dropped with a note. Errors are always kept.",
    )
    reveal_hidden_tests: bool = Field(
        False, description="Show hidden tests (and their tracebacks) in feedback."
    )
    reveal_hidden_tests_by_course: dict[str, bool] = Field(
        default_factory=dict, description="Per-course override of reveal_hidden_tests."
    )
    late_penalty: LatePenaltySection = Field(default_factory=LatePenaltySection)
    gradebook_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the gradebook; '{course}' is replaced by the "
        "course name. Default: sqlite in the course folder (gradebook.db).",
    )

    @field_validator("mem_limit", "work_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if parse_bytes(value) < 64 * 1024**2:
            raise ValueError(f"{value!r} is too small; give at least 64M")
        return value

    @field_validator("output_limit_bytes", mode="before")
    @classmethod
    def _output_size(cls, value: Any) -> Any:
        return parse_bytes(value) if isinstance(value, str) else value

    @field_validator("container_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", value):
            raise ValueError("use letters, digits, '.', '_' and '-' only, e.g. aione-grade")
        return value

    @property
    def effective_jobs(self) -> int:
        """``jobs``, or the number of CPU cores this process may use."""
        if self.jobs:
            return self.jobs
        return len(os.sched_getaffinity(0)) or 1

    def course_root(self, state_dir: Path, course: str) -> Path:
        """The nbgrader course folder of ``course``; raises GradingError on a bad name."""
        check_name(course, "course")
        return (self.courses_root or state_dir / "courses") / course

    def db_url(self, course_root: Path, course: str) -> str:
        """The gradebook URL of ``course``."""
        if self.gradebook_url:
            return self.gradebook_url.replace("{course}", course)
        return f"sqlite:///{course_root.resolve() / 'gradebook.db'}"

    def reveals_hidden_tests(self, course: str) -> bool:
        """Whether feedback of ``course`` shows the hidden tests."""
        return self.reveal_hidden_tests_by_course.get(course, self.reveal_hidden_tests)


# hub.settings composes GradingSection, so it is imported only once that class exists.
from hub.settings import Settings, load_settings, parse_bytes  # noqa: E402


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a safe course, assignment or student name."""
    if not _NAME_RE.match(value):
        raise GradingError(
            f"{what} name {value!r} is not valid; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    return value


def grading_config(section: GradingSection) -> Config:
    """Map the settings section onto the traitlets of the grading classes.

    Pure: returns a new :class:`traitlets.config.Config` and reads nothing else.
    """
    c = Config()
    c.Sandbox.image = section.image
    c.Sandbox.python = section.python
    c.Sandbox.name_prefix = section.container_prefix
    c.Sandbox.mem_limit = parse_bytes(section.mem_limit)
    c.Sandbox.cpu_limit = section.cpu_limit
    c.Sandbox.pids_limit = section.pids_limit
    c.Sandbox.work_size = parse_bytes(section.work_size)
    c.Sandbox.cell_timeout = section.cell_timeout_s
    c.Sandbox.submission_timeout = section.submission_timeout_s
    c.Sandbox.output_limit = section.output_limit_bytes
    c.SandboxAutograde.jobs = section.effective_jobs
    c.AssignLatePenalties.plugin_class = "graders.late.PercentPerDayPenalty"
    c.PercentPerDayPenalty.percent_per_day = section.late_penalty.percent_per_day
    c.PercentPerDayPenalty.grace_minutes = section.late_penalty.grace_minutes
    c.PercentPerDayPenalty.max_percent = section.late_penalty.max_percent
    return c


def load_grading_settings(
    path: str | os.PathLike[str] | None = None, **overrides: Any
) -> tuple[Settings, GradingSection]:
    """Return the validated settings and their ``grading`` section.

    Reads the file :func:`hub.settings.load_settings` reads (``--config``,
    ``$AIONE_CONFIG``, ``/etc/aione/aione.yaml``); ``overrides`` are dotted
    keys as there (``{"grading.jobs": 4}``). Raises :class:`SettingsError`
    naming the key and the fix.
    """
    settings = load_settings(path, **overrides)
    return settings, settings.grading
