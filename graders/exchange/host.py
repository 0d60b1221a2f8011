"""Exchange work on the hub host, between a course folder and the store.

The ``aione assignment`` and ``aione feedback deliver`` commands call these.
They read and write :class:`~graders.exchange.store.ExchangeStore` directly:
whoever can run them on the host can read the state directory anyway, so no
token is involved and the hub need not be running. The service uses the
same store class, so both see the same releases, attempts and feedback.

A course ``C``'s folder is ``<state_dir>/courses/C`` (or
``grading.courses_root/C``): nbgrader's ``source/``, ``release/``,
``submitted/<student>/<assignment>/``, ``autograded/``, ``feedback/``,
``gradebook.db``.
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nbgrader.utils import parse_utc

from graders.course import ensure_alembic_on_path
from graders.exchange.archive import ignore_matcher, walk_files
from graders.exchange.errors import Invalid, NotFound
from graders.exchange.names import UnsafeName, check_name
from graders.exchange.store import Attempt, ExchangeStore, Feedback, Release
from hub.errors import SettingsError
from hub.settings import Settings

log = logging.getLogger(__name__)

#: nbgrader's default ``CourseDirectory.ignore``: never released or delivered.
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
#: The uid and gid of ``jovyan`` in learner images, who owns course folders.
JOVYAN = 1000
COURSE_FOLDERS = ("source", "release", "submitted", "autograded", "feedback")


def host_user() -> str:
    """Who a host-side action is recorded as (``host:<login>``)."""
    try:
        return f"host:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"host:uid{os.getuid()}"


def store_for(settings: Settings) -> ExchangeStore:
    """The exchange store of this hub: ``<state_dir>/exchange``."""
    return ExchangeStore(settings.state_dir / "exchange")


def courses_root(settings: Settings) -> Path:
    """Where course folders live: ``grading.courses_root`` once set, else
    ``<state_dir>/courses``."""
    grading = getattr(settings, "grading", None)
    configured = getattr(grading, "courses_root", None)
    return Path(configured) if configured else settings.state_dir / "courses"


def require_course(settings: Settings, course: str) -> str:
    """``course`` if it is listed under ``courses:``; SettingsError naming the fix."""
    try:
        check_name(course, "course")
    except UnsafeName as err:
        raise Invalid(str(err)) from err
    if settings.course(course) is None:
        known = ", ".join(c.id for c in settings.courses) or "none"
        raise SettingsError(
            f"course {course!r} is not on this hub (courses: {known}); add it under "
            "'courses:' in the settings file"
        )
    return course


def course_root(settings: Settings, course: str) -> Path:
    """The folder of ``course``, which must be listed under ``courses:``."""
    return courses_root(settings) / require_course(settings, course)


def ensure_course_root(root: Path, uid: int = JOVYAN, gid: int = JOVYAN) -> int:
    """Create ``root`` and nbgrader's folders in it, owned by ``uid:gid``.

    Instructors' servers run as ``jovyan`` (uid 1000) with this folder
    mounted, and the formgrader writes the gradebook there, so everything in
    it must belong to that uid. Idempotent; changes owners only when running
    as root. Returns how many entries changed owner.
    """
    for name in ("", *COURSE_FOLDERS):
        (root / name).mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return 0
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(path, uid, gid)
                changed += 1
    return changed


def _check(**names: str) -> None:
    try:
        for what, value in names.items():
            check_name(value, what)
    except UnsafeName as err:
        raise Invalid(str(err)) from err


def _copy_files(src: Path, dest: Path, ignore: list[str] | None = None) -> int:
    """Copy the regular files under ``src`` into the new folder ``dest``
    (plain modes 0644/0755, no links); returns the number of files."""
    count = 0
    dest.mkdir(parents=True)
    for rel, full in walk_files(src, ignore_matcher(ignore) if ignore else None):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(full, target)
        target.chmod(0o644)
        count += 1
    return count


def release(
    store: ExchangeStore,
    root: Path,
    course: str,
    assignment: str,
    *,
    due: datetime | None = None,
    force: bool = False,
    db_url: str | None = None,
) -> Release:
    """Publish ``<course root>/release/<assignment>`` to learners.

    ``due`` is also written to the gradebook (nbgrader flags late work from
    it when grading); without ``due`` the gradebook's due date is used, if
    any. Raises :class:`NotFound` when the release folder is missing (naming
    ``nbgrader generate_assignment`` when only the source exists),
    :class:`~graders.exchange.errors.Conflict` when released already and not ``force``.
    ``db_url`` is the gradebook (default ``sqlite:///<root>/gradebook.db``).
    """
    _check(assignment=assignment)
    src = root / "release" / assignment
    if not src.is_dir():
        if (root / "source" / assignment).is_dir():
            raise NotFound(
                f"{assignment} is in {root / 'source'} but not in {root / 'release'}; "
                f"generate the student version first: nbgrader generate_assignment {assignment} "
                f"--CourseDirectory.root={root}"
            )
        raise NotFound(f"no folder {src}; put the student version of {assignment} there")
    due = _sync_due(db_url or f"sqlite:///{root / 'gradebook.db'}", course, assignment, due)
    with store.staging() as staged:
        staged.rmdir()
        _copy_files(src, staged, IGNORE)
        rel = store.release(course, assignment, staged, by=host_user(), due=due, replace=force)
    ensure_course_root(root)
    return rel


def _sync_due(db_url: str, course: str, assignment: str, due: datetime | None) -> datetime | None:
    """Write ``due`` into the gradebook, or read the gradebook's due date."""
    from nbgrader.api import Gradebook, MissingEntry

    if due is None and db_url.startswith("sqlite:///") and not Path(db_url[10:]).exists():
        return None
    ensure_alembic_on_path()
    with Gradebook(db_url, course) as gb:
        if due is not None:
            gb.update_or_create_assignment(
                assignment, duedate=due.astimezone(UTC).replace(tzinfo=None)
            )
            return due
        try:
            stored = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return stored.replace(tzinfo=UTC) if stored else None


@dataclass(frozen=True)
class Collected:
    """What :func:`collect` did with one student's latest attempt."""

    attempt: Attempt
    action: str  # "collected", "updated" or "unchanged"


def collect(
    store: ExchangeStore,
    root: Path,
    course: str,
    assignment: str,
    *,
    before_due: bool = False,
    students: list[str] | None = None,
) -> list[Collected]:
    """Copy each student's latest attempt into ``submitted/<student>/<assignment>/``.

    Every attempt stays in the exchange; a folder already in ``submitted/``
    is replaced only by a newer attempt (with ``before_due``: by the latest
    attempt on time, else the latest). Returns one :class:`Collected` per
    student, by name.
    """
    _check(assignment=assignment)
    store.get_release(course, assignment)
    done = []
    for attempt in store.latest_attempts(course, assignment, before_due=before_due):
        if students and attempt.student not in students:
            continue
        dest = root / "submitted" / attempt.student / assignment
        action = _collect_one(store, attempt, dest, before_due)
        log.info("%s %s: %s (%s)", attempt.student, assignment, action, attempt.timestamp)
        done.append(Collected(attempt, action))
    ensure_course_root(root)
    return done


def _collect_one(store: ExchangeStore, attempt: Attempt, dest: Path, before_due: bool) -> str:
    action = "collected"
    stamp = dest / "timestamp.txt"
    if dest.exists():
        existing = parse_utc(stamp.read_text().strip()) if stamp.is_file() else None
        new = parse_utc(attempt.timestamp)
        if existing == new or (existing is not None and new < existing and not before_due):
            return "unchanged"
        action = "updated"
    src = store.attempt_files(attempt.course, attempt.student, attempt.assignment, attempt.attempt)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        _copy_files(src, Path(tmp) / "new")
        if dest.exists():
            shutil.rmtree(dest)
        (Path(tmp) / "new").rename(dest)
    return action


def deliver_feedback(
    store: ExchangeStore,
    root: Path,
    course: str,
    assignment: str,
    *,
    students: list[str] | None = None,
) -> list[Feedback]:
    """Deliver ``feedback/<student>/<assignment>/`` of every (or the given)
    student to the attempt it was generated from.

    The attempt is found by the folder's ``timestamp.txt`` (written by
    nbgrader from the collected submission). Raises :class:`NotFound` when
    there is no feedback to deliver, or it belongs to no attempt in the exchange.
    """
    _check(assignment=assignment)
    folders = sorted(p for p in (root / "feedback").glob(f"*/{assignment}") if p.is_dir())
    if students:
        folders = [p for p in folders if p.parent.name in students]
    if not folders:
        raise NotFound(
            f"no feedback in {root / 'feedback'}/*/{assignment}/; generate it first "
            f"(aione feedback release {course} {assignment})"
        )
    delivered = []
    for folder in folders:
        student = folder.parent.name
        _check(student=student)
        stamp = folder / "timestamp.txt"
        if not stamp.is_file():
            raise NotFound(f"{folder} has no timestamp.txt; generate the feedback again")
        with store.staging() as staged:
            staged.rmdir()
            _copy_files(folder, staged, IGNORE)
            delivered.append(
                store.put_feedback(
                    course, student, assignment, stamp.read_text(), staged, by=host_user()
                )  # fmt: skip
            )
    return delivered
