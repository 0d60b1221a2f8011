"""The exchange's files on the hub host: releases, attempts and feedback.

Layout under ``root`` (``<state_dir>/exchange``)::

    <course>/released/<assignment>/release.json, files/...
    <course>/submissions/<student>/<assignment>/<attempt>/attempt.json, files/...
    <course>/feedback/<student>/<assignment>/<attempt>/feedback.json, files/...
    .staging/<random>/          folders being filled; moved into place atomically

Contracts:

- Every submission is a new *attempt* folder named from the hub's clock
  (``20261201T000102123456Z-1a2b3c``), written in staging, renamed into
  place, then made read-only. Attempts are never changed or removed; the
  ``timestamp.txt`` inside is written by the store, never taken from the
  learner.
- Lateness is decided at submission, against the due date the assignment had
  when it was submitted, and recorded in ``attempt.json``.
- Releases and feedback are replaced as a whole (rename), under a per-course
  lock, so a reader sees the old or the new folder, never a mix.

All names pass :func:`graders.exchange.names.check_name`; errors are
:mod:`graders.exchange.errors` exceptions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graders.exchange.archive import FileEntry, file_entries
from graders.exchange.errors import Conflict, Invalid, NotFound
from graders.exchange.names import UnsafeName, check_name

log = logging.getLogger(__name__)

#: nbgrader's default ``Exchange.timestamp_format`` (read back by ``parse_utc``).
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
RESERVED_FILES = frozenset({"timestamp.txt", "submission_secret.txt"})


def nbgrader_timestamp(when: datetime) -> str:
    """``when`` (aware) as nbgrader writes ``timestamp.txt``, in UTC."""
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_due(text: str) -> datetime:
    """An ISO 8601 due date *with* its time zone, e.g. ``2026-12-01T09:00+09:00``.

    Raises :class:`Invalid` naming the accepted form.
    """
    try:
        due = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise Invalid(
            f"due date {text!r} is not ISO 8601; write e.g. 2026-12-01T09:00+09:00"
        ) from err
    if due.tzinfo is None:
        raise Invalid(f"due date {text!r} has no time zone; add one, e.g. 2026-12-01T09:00+09:00")
    return due


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Release:
    """A released assignment: what learners fetch."""

    course: str
    assignment: str
    released_at: datetime
    released_by: str
    due: datetime | None
    files: list[FileEntry] = field(default_factory=list)

    @property
    def notebooks(self) -> list[str]:
        """Notebook ids (file stems) at the top of the release, sorted."""
        return sorted(
            f.path[:-6] for f in self.files if "/" not in f.path and f.path.endswith(".ipynb")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "course_id": self.course,
            "assignment_id": self.assignment,
            "released_at": _iso(self.released_at),
            "released_by": self.released_by,
            "due": _iso(self.due),
            "notebooks": self.notebooks,
            "files": [f.as_dict() for f in self.files],
        }


@dataclass(frozen=True)
class Attempt:
    """One submission of one student: immutable once written."""

    course: str
    assignment: str
    student: str
    attempt: str
    timestamp: str
    submitted_at: datetime
    due: datetime | None
    files: list[FileEntry] = field(default_factory=list)

    @property
    def seconds_late(self) -> float:
        """Seconds past the due date (0 when on time or without a due date)."""
        if self.due is None:
            return 0.0
        return max(0.0, (self.submitted_at - self.due).total_seconds())

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def notebooks(self) -> list[str]:
        return sorted(
            f.path[:-6] for f in self.files if "/" not in f.path and f.path.endswith(".ipynb")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "course_id": self.course,
            "assignment_id": self.assignment,
            "student_id": self.student,
            "attempt": self.attempt,
            "timestamp": self.timestamp,
            "submitted_at": _iso(self.submitted_at),
            "due": _iso(self.due),
            "late": self.late,
            "seconds_late": self.seconds_late,
            "size": self.size,
            "notebooks": self.notebooks,
            "files": [f.as_dict() for f in self.files],
        }


@dataclass(frozen=True)
class Feedback:
    """Feedback delivered for one attempt."""

    course: str
    assignment: str
    student: str
    attempt: str
    timestamp: str
    delivered_at: datetime
    delivered_by: str
    files: list[FileEntry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "course_id": self.course,
            "assignment_id": self.assignment,
            "student_id": self.student,
            "attempt": self.attempt,
            "timestamp": self.timestamp,
            "delivered_at": _iso(self.delivered_at),
            "delivered_by": self.delivered_by,
            "files": [f.as_dict() for f in self.files],
        }


def _entries(raw: list[dict[str, Any]]) -> list[FileEntry]:
    return [FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in raw]


def _names(**names: str) -> None:
    try:
        for what, value in names.items():
            check_name(value, what)
    except UnsafeName as err:
        raise Invalid(str(err)) from err


class ExchangeStore:
    """Releases, attempts and feedback under ``root``; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- helpers ------------------------------------------------------------

    def _course(self, course: str) -> Path:
        _names(course=course)
        return self.root / course

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A new empty folder on the store's file system, removed on exit if
        still there (a successful store operation moves it away)."""
        base = self.root / ".staging"
        base.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        path = base / secrets.token_hex(8)
        path.mkdir()
        try:
            yield path
        finally:
            if path.exists():
                _make_writable(path)
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def _lock(self, course: str) -> Iterator[None]:
        folder = self._course(course)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _install(self, staged: Path, target: Path, meta_name: str, meta: dict[str, Any]) -> None:
        """Move ``staged`` (files) into ``target/files`` with ``meta`` beside it."""
        box = staged.parent / (staged.name + ".box")
        box.mkdir()
        try:
            staged.rename(box / "files")
            (box / meta_name).write_text(json.dumps(meta, indent=1, ensure_ascii=False))
            target.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if target.exists():
                old = target.parent / f".old-{target.name}-{secrets.token_hex(4)}"
                target.rename(old)
            box.rename(target)
        finally:
            if box.exists():
                shutil.rmtree(box, ignore_errors=True)
        if old is not None:
            _make_writable(old)
            shutil.rmtree(old, ignore_errors=True)

    # -- releases -----------------------------------------------------------

    def release(
        self,
        course: str,
        assignment: str,
        staged: Path,
        *,
        by: str,
        due: datetime | None = None,
        replace: bool = False,
        now: datetime | None = None,
    ) -> Release:
        """Publish the files in ``staged`` (a :meth:`staging` folder) as ``assignment``.

        Raises :class:`Conflict` when it is released already and not ``replace``.
        """
        _names(assignment=assignment)
        rel = Release(course, assignment, now or datetime.now(UTC), by, due, file_entries(staged))
        if not rel.files:
            raise Invalid(f"{assignment} has no files to release")
        with self._lock(course):
            target = self._course(course) / "released" / assignment
            if target.exists() and not replace:
                raise Conflict(
                    f"{assignment} is released in {course} already; release again with "
                    "--force to replace it (submissions are kept)"
                )
            meta = rel.as_dict()
            self._install(staged, target, "release.json", meta)
        log.info("released %s/%s (%d files, due %s)", course, assignment, len(rel.files), due)
        return rel

    def unrelease(self, course: str, assignment: str) -> None:
        """Withdraw a release (submissions stay). Raises :class:`NotFound`."""
        _names(assignment=assignment)
        with self._lock(course):
            target = self._course(course) / "released" / assignment
            if not target.exists():
                raise NotFound(f"{assignment} is not released in {course}")
            trash = target.parent / f".old-{assignment}-{secrets.token_hex(4)}"
            target.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)

    def get_release(self, course: str, assignment: str) -> Release:
        """The release of ``assignment``; :class:`NotFound` naming what is released."""
        _names(assignment=assignment)
        meta = self._course(course) / "released" / assignment / "release.json"
        if not meta.exists():
            known = ", ".join(r.assignment for r in self.releases(course)) or "none"
            raise NotFound(f"{assignment} is not released in {course} (released: {known})")
        return _load_release(meta)

    def releases(self, course: str) -> list[Release]:
        """Every release of ``course``, by assignment name."""
        folder = self._course(course) / "released"
        metas = sorted(folder.glob("*/release.json")) if folder.exists() else []
        return [_load_release(m) for m in metas if not m.parent.name.startswith(".")]

    def release_files(self, course: str, assignment: str) -> Path:
        self.get_release(course, assignment)
        return self._course(course) / "released" / assignment / "files"

    # -- attempts -----------------------------------------------------------

    def submit(
        self,
        course: str,
        assignment: str,
        student: str,
        staged: Path,
        *,
        now: datetime | None = None,
    ) -> Attempt:
        """File ``staged`` as a new attempt of ``student``; returns it.

        The assignment must be released (:class:`NotFound` otherwise). Any
        ``timestamp.txt`` or ``submission_secret.txt`` at the top of
        ``staged`` is replaced by the store's own timestamp.
        """
        _names(assignment=assignment, student=student)
        release = self.get_release(course, assignment)
        when = now or datetime.now(UTC)
        attempt_id = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)
        for name in RESERVED_FILES:
            (staged / name).unlink(missing_ok=True)
        stamp = nbgrader_timestamp(when)
        (staged / "timestamp.txt").write_text(stamp)
        attempt = Attempt(
            course, assignment, student, attempt_id, stamp, when, release.due, file_entries(staged)
        )
        target = self._attempt_dir(course, student, assignment, attempt_id)
        if target.exists():  # pragma: no cover - 24 random bits plus microseconds
            raise Conflict(f"attempt {attempt_id} exists already; submit again")
        self._install(staged, target, "attempt.json", attempt.as_dict())
        _make_read_only(target)
        log.info("%s submitted %s/%s as %s (late: %s)", student, course, assignment,
                 attempt_id, attempt.late)  # fmt: skip
        return attempt

    def _attempt_dir(self, course: str, student: str, assignment: str, attempt: str) -> Path:
        _names(student=student, assignment=assignment, attempt=attempt)
        return self._course(course) / "submissions" / student / assignment / attempt

    def attempts(
        self, course: str, assignment: str | None = None, student: str | None = None
    ) -> list[Attempt]:
        """Attempts in ``course``, optionally of one assignment and/or student,
        oldest first."""
        base = self._course(course) / "submissions"
        if assignment:
            _names(assignment=assignment)
        if student:
            _names(student=student)
        pattern = f"{student or '*'}/{assignment or '*'}/*/attempt.json"
        found = [_load_attempt(m) for m in base.glob(pattern)] if base.exists() else []
        return sorted(found, key=lambda a: (a.submitted_at, a.student, a.attempt))

    def get_attempt(self, course: str, student: str, assignment: str, attempt: str) -> Attempt:
        meta = self._attempt_dir(course, student, assignment, attempt) / "attempt.json"
        if not meta.exists():
            raise NotFound(f"no attempt {attempt} of {student} for {course}/{assignment}")
        return _load_attempt(meta)

    def attempt_files(self, course: str, student: str, assignment: str, attempt: str) -> Path:
        self.get_attempt(course, student, assignment, attempt)
        return self._attempt_dir(course, student, assignment, attempt) / "files"

    def attempt_by_timestamp(
        self, course: str, student: str, assignment: str, timestamp: str
    ) -> Attempt:
        """The attempt whose ``timestamp.txt`` is ``timestamp``; :class:`NotFound`."""
        for attempt in self.attempts(course, assignment, student):
            if attempt.timestamp == timestamp.strip():
                return attempt
        raise NotFound(
            f"{student} has no attempt of {course}/{assignment} submitted at {timestamp.strip()!r}; "
            "was the submission collected from this exchange?"
        )

    def latest_attempts(
        self, course: str, assignment: str, *, before_due: bool = False
    ) -> list[Attempt]:
        """Per student, the newest attempt (with ``before_due``: the newest on
        time, else the newest), by student name."""
        per_student: dict[str, list[Attempt]] = {}
        for attempt in self.attempts(course, assignment):
            per_student.setdefault(attempt.student, []).append(attempt)
        chosen = []
        for student in sorted(per_student):
            attempts = per_student[student]
            on_time = [a for a in attempts if not a.late]
            chosen.append((on_time if before_due and on_time else attempts)[-1])
        return chosen

    # -- feedback -----------------------------------------------------------

    def put_feedback(
        self,
        course: str,
        student: str,
        assignment: str,
        timestamp: str,
        staged: Path,
        *,
        by: str,
        now: datetime | None = None,
    ) -> Feedback:
        """Deliver ``staged`` as the feedback of the attempt submitted at
        ``timestamp`` (replacing earlier feedback for it)."""
        attempt = self.attempt_by_timestamp(course, student, assignment, timestamp)
        for name in RESERVED_FILES:
            (staged / name).unlink(missing_ok=True)
        fb = Feedback(
            course, assignment, student, attempt.attempt, attempt.timestamp,
            now or datetime.now(UTC), by, file_entries(staged),
        )  # fmt: skip
        if not fb.files:
            raise Invalid(f"no feedback files for {student} in {course}/{assignment}")
        with self._lock(course):
            target = self._feedback_dir(course, student, assignment, attempt.attempt)
            self._install(staged, target, "feedback.json", fb.as_dict())
        return fb

    def _feedback_dir(self, course: str, student: str, assignment: str, attempt: str) -> Path:
        _names(student=student, assignment=assignment, attempt=attempt)
        return self._course(course) / "feedback" / student / assignment / attempt

    def feedback(
        self, course: str, assignment: str | None = None, student: str | None = None
    ) -> list[Feedback]:
        """Delivered feedback in ``course``, optionally of one assignment/student."""
        base = self._course(course) / "feedback"
        if assignment:
            _names(assignment=assignment)
        if student:
            _names(student=student)
        pattern = f"{student or '*'}/{assignment or '*'}/*/feedback.json"
        found = [_load_feedback(m) for m in base.glob(pattern)] if base.exists() else []
        return sorted(found, key=lambda f: (f.student, f.assignment, f.attempt))

    def feedback_files(self, course: str, student: str, assignment: str, attempt: str) -> Path:
        folder = self._feedback_dir(course, student, assignment, attempt)
        if not (folder / "feedback.json").exists():
            raise NotFound(
                f"no feedback for attempt {attempt} of {student} in {course}/{assignment}"
            )
        return folder / "files"


def _load_release(meta: Path) -> Release:
    d = json.loads(meta.read_text())
    return Release(
        d["course_id"], d["assignment_id"], datetime.fromisoformat(d["released_at"]),
        d["released_by"], _from_iso(d.get("due")), _entries(d["files"]),
    )  # fmt: skip


def _load_attempt(meta: Path) -> Attempt:
    d = json.loads(meta.read_text())
    return Attempt(
        d["course_id"], d["assignment_id"], d["student_id"], d["attempt"], d["timestamp"],
        datetime.fromisoformat(d["submitted_at"]), _from_iso(d.get("due")), _entries(d["files"]),
    )  # fmt: skip


def _load_feedback(meta: Path) -> Feedback:
    d = json.loads(meta.read_text())
    return Feedback(
        d["course_id"], d["assignment_id"], d["student_id"], d["attempt"], d["timestamp"],
        datetime.fromisoformat(d["delivered_at"]), d["delivered_by"], _entries(d["files"]),
    )  # fmt: skip


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)


def _make_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
