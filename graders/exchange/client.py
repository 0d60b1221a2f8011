"""nbgrader exchange classes that talk to the ``aione-exchange`` service.

Selected in the learner image's ``/etc/jupyter/nbgrader_config.py`` through
``c.ExchangeFactory``, so ``nbgrader fetch_assignment``/``submit``/``list``/
``fetch_feedback`` in a terminal, JupyterLab's Assignments tab and the
formgrader's release/collect/feedback buttons all use them. They call the
service at ``$AIONE_EXCHANGE_URL`` with the server's own hub token
(``$JUPYTERHUB_API_TOKEN``): nothing is shared between learners' file
systems, and the service decides who may do what.

Differences from nbgrader's file-system exchange, all deliberate:

- the submission's timestamp comes from the hub's clock, not the learner's;
- a learner's submissions are listed from the service (not a local cache),
  so they survive a new container;
- ``path_includes_course`` defaults to True: ``~/<course>/<assignment>``,
  so two courses may use the same assignment name;
- with no ``--course`` and exactly one course, that course is used.

Imports nothing from :mod:`hub` (not installed in learner images).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from nbgrader.exchange import abc
from nbgrader.utils import parse_utc
from traitlets import Bool, Float, Unicode, default

from graders.exchange.api import ExchangeAPI, ExchangeAPIError
from graders.exchange.archive import ArchiveError, folder_size, human_size, pack
from graders.exchange.names import UnsafeName, check_name

RESERVED = frozenset({"timestamp.txt", "submission_secret.txt"})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _late_text(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"


class AioneExchange(abc.Exchange):
    """Base of the aione exchange classes: where the service is, who calls it."""

    url = Unicode(help="The exchange service's URL; default $AIONE_EXCHANGE_URL.").tag(config=True)
    token = Unicode(help="Hub token sent to the exchange; default $JUPYTERHUB_API_TOKEN.").tag(
        config=True
    )
    timeout = Float(120.0, help="Seconds one request to the exchange may take.").tag(config=True)
    path_includes_course = Bool(
        True, help="Keep assignments in <assignment_dir>/<course>/<assignment>, not <assignment>."
    ).tag(config=True)

    @default("url")
    def _default_url(self) -> str:
        return os.environ.get("AIONE_EXCHANGE_URL", "")

    @default("token")
    def _default_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    _api: ExchangeAPI | None = None
    _info: dict[str, Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._warned: set[Path] = set()

    @property
    def api(self) -> ExchangeAPI:
        if self._api is None:
            if not self.url or not self.token:
                self.fail(
                    "AIONE_EXCHANGE_URL or JUPYTERHUB_API_TOKEN is not set: this server was not "
                    "started by an aione hub, so the exchange cannot be reached"
                )
            self._api = ExchangeAPI(self.url, self.token, self.timeout)
        return self._api

    @property
    def info(self) -> dict[str, Any]:
        """The caller as the service sees them (courses, roles, limits); fetched once."""
        if self._info is None:
            self._info = self.api.info()
        return self._info

    def start(self) -> Any:
        """Run the transfer; service and archive errors become nbgrader's ExchangeError."""
        try:
            return super().start()
        except ExchangeAPIError as err:
            self.fail(str(err))
        except (ArchiveError, UnsafeName) as err:
            self.fail(str(err))

    def checked(self, value: str, what: str) -> str:
        try:
            return check_name(value, what)
        except UnsafeName as err:
            self.fail(str(err))
            raise  # pragma: no cover - fail() raises

    def course_id(self) -> str:
        """``--course``, else the caller's only course; fails naming the choices."""
        if self.coursedir.course_id:
            return self.checked(self.coursedir.course_id, "course")
        courses = [c["course_id"] for c in self.info["courses"]]
        if len(courses) == 1:
            self.coursedir.course_id = courses[0]
            return str(courses[0])
        choices = ", ".join(courses) or "none (ask your instructor to add you to a course)"
        self.fail(f"No course id specified. Re-run with --course flag; your courses: {choices}")
        raise AssertionError  # pragma: no cover - fail() raises

    def courses(self) -> list[str]:
        """``--course`` if given, else every course of the caller."""
        if self.coursedir.course_id:
            return [self.checked(self.coursedir.course_id, "course")]
        return [str(c["course_id"]) for c in self.info["courses"]]

    def local_dir(self, course: str, assignment: str) -> Path:
        """Where ``assignment`` of ``course`` lives in the caller's files."""
        parts = (course, assignment) if self.path_includes_course else (assignment,)
        return Path(self.assignment_dir, *parts).absolute()

    def skip(self, path: Path) -> bool:
        """Whether ``path`` is left out of an upload, as nbgrader's own copy
        decides: ``CourseDirectory.ignore`` globs (files and folders), then
        for files ``include`` globs and ``max_file_size`` (KB)."""
        cd = self.coursedir
        if any(fnmatch.fnmatch(path.name, p) for p in cd.ignore):
            return True
        if path.is_dir():
            return False
        if not any(fnmatch.fnmatch(path.name, p) for p in cd.include):
            return True
        if path.stat().st_size > 1000 * cd.max_file_size:
            self.log.warning(
                "Skipping %s: larger than %s KB (max_file_size)", path, cd.max_file_size
            )
            return True
        return False

    def upload_body(self, folder: Path, limit: int, what: str) -> Any:
        """A temporary file with ``folder`` packed; fails clearly over ``limit``."""
        size, _count = folder_size(folder, self.skip)
        if size > limit:
            self.fail(
                f"{what} is {human_size(size)}; the limit is {human_size(limit)}. Remove large "
                "files (data sets, outputs, checkpoints) from the folder and try again"
            )
        body = tempfile.TemporaryFile()
        pack(folder, body, ignore=self.skip, exclude=RESERVED, max_bytes=limit,
             max_files=int(self.info["max_files"]))  # fmt: skip
        body.seek(0)
        return body


class AioneFetchAssignment(AioneExchange, abc.ExchangeFetchAssignment):
    """``nbgrader fetch_assignment``: download a release into the caller's files."""

    def init_src(self) -> None:
        self.course = self.course_id()
        self.assignment = self.checked(self.coursedir.assignment_id, "assignment")
        self.release = self.api.release(self.course, self.assignment)

    def init_dest(self) -> None:
        self.dest_path = self.local_dir(self.course, self.assignment)
        if self.dest_path.is_dir() and not self.replace_missing_files:
            self.fail(
                f"You already have a copy of the assignment in this directory: {self.dest_path}"
            )

    def copy_files(self) -> None:
        self.dest_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.dest_path.parent) as tmp:
            got = Path(tmp) / "release"
            self.api.fetch_release(self.course, self.assignment, got, self.info)
            if not self.dest_path.exists():
                got.rename(self.dest_path)
            else:
                _copy_missing(got, self.dest_path, self.log)
        self.log.info("Fetched as: %s %s", self.course, self.assignment)


def _copy_missing(src: Path, dest: Path, log: Any) -> None:
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        elif not target.exists():
            log.warning("Replacing missing file '%s'", target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


class AioneSubmit(AioneExchange, abc.ExchangeSubmit):
    """``nbgrader submit``: upload a new attempt; the service stamps it."""

    def init_src(self) -> None:
        self.course = self.course_id()
        self.assignment = self.checked(self.coursedir.assignment_id, "assignment")
        self.src_path = self.local_dir(self.course, self.assignment)
        if not self.src_path.is_dir():
            self.fail(f"Assignment not found at: {self.src_path}")

    def init_dest(self) -> None:
        self.release = self.api.release(self.course, self.assignment)

    def check_filename_diff(self) -> None:
        released = {f["path"] for f in self.release["files"] if f["path"].endswith(".ipynb")}
        submitted = {
            p.relative_to(self.src_path).as_posix()
            for p in self.src_path.rglob("*.ipynb")
            if ".ipynb_checkpoints" not in p.parts
        }
        missing, extra = sorted(released - submitted), sorted(submitted - released)
        if not (missing or extra):
            return
        diff = f"missing: {', '.join(missing) or 'none'}; extra: {', '.join(extra) or 'none'}"
        if missing and self.strict:
            self.fail(f"Assignment {self.assignment} not submitted. Notebooks differ ({diff})")
        self.log.warning("Notebooks of %s differ from the release (%s)", self.assignment, diff)

    def copy_files(self) -> None:
        self.check_filename_diff()
        limit = int(self.info["submission_size_limit"])
        with self.upload_body(self.src_path, limit, self.assignment) as body:
            result = self.api.submit(self.course, self.assignment, body)
        self.timestamp = result["timestamp"]
        self.log.info("Submitted as: %s %s %s", self.course, self.assignment, self.timestamp)
        if result.get("late"):
            self.log.warning(
                "This submission is late by %s (due %s); it is kept and flagged late",
                _late_text(float(result["seconds_late"])), result.get("due"),
            )  # fmt: skip


class AioneList(AioneExchange, abc.ExchangeList):
    """``nbgrader list``: released assignments, or submissions with feedback state."""

    def init_src(self) -> None:
        pass

    def init_dest(self) -> None:
        pass

    def copy_files(self) -> None:
        pass

    def _wanted(self, assignment: str) -> bool:
        pattern = self.coursedir.assignment_id or "*"
        return fnmatch.fnmatch(assignment, pattern)

    def released(self) -> list[dict[str, Any]]:
        found = []
        for course in self.courses():
            for rel in self.api.releases(course):
                if self._wanted(rel["assignment_id"]):
                    found.append(self._released_info(course, rel))
        return found

    def _released_info(self, course: str, rel: dict[str, Any]) -> dict[str, Any]:
        assignment = rel["assignment_id"]
        local = self.local_dir(course, assignment)
        info: dict[str, Any] = {"course_id": course, "assignment_id": assignment,
                                "due": rel.get("due")}  # fmt: skip
        if local.is_dir() and not self.remove:
            info["status"], info["path"] = "fetched", str(local)
            notebooks = sorted(glob.glob(str(local / "*.ipynb")))
            info["notebooks"] = [{"notebook_id": Path(nb).stem, "path": nb} for nb in notebooks]
        else:
            info["status"] = "removed" if self.remove else "released"
            info["path"] = f"{self.api.url}api/courses/{course}/assignments/{assignment}"
            info["notebooks"] = [{"notebook_id": nb, "path": f"{info['path']}/{nb}.ipynb"}
                                 for nb in rel["notebooks"]]  # fmt: skip
        return info

    def submitted(self) -> list[dict[str, Any]]:
        student = None
        if self.inbound and self.coursedir.student_id not in ("", "*"):
            student = self.coursedir.student_id
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for course in self.courses():
            feedback = {f["attempt"]: f for f in self.api.feedback(course, None, student)}
            for attempt in self.api.submissions(course, None, student):
                if self._wanted(attempt["assignment_id"]):
                    info = self._submission_info(attempt, feedback.get(attempt["attempt"]))
                    key = (course, attempt["student_id"], attempt["assignment_id"])
                    groups.setdefault(key, []).append(info)
        result = []
        for (course, student_id, assignment), subs in sorted(groups.items()):
            subs.sort(key=lambda s: s["timestamp"])
            result.append({"course_id": course, "student_id": student_id,
                           "assignment_id": assignment, "status": "submitted",
                           "submissions": subs})  # fmt: skip
        return result

    def _submission_info(
        self, attempt: dict[str, Any], fb: dict[str, Any] | None
    ) -> dict[str, Any]:
        course, assignment = attempt["course_id"], attempt["assignment_id"]
        local_fb = self.local_dir(course, assignment) / "feedback" / attempt["timestamp"]
        remote = {f["path"]: f["sha256"] for f in (fb or {}).get("files", [])}
        notebooks = []
        for nb in attempt["notebooks"]:
            local = local_fb / f"{nb}.html"
            has_local = local.is_file()
            has_remote = f"{nb}.html" in remote
            notebooks.append({
                "notebook_id": nb,
                "path": f"{self.api.url}api/courses/{course}/submissions/{attempt['student_id']}"
                        f"/{assignment}/{attempt['attempt']}/{nb}.ipynb",
                "has_local_feedback": has_local,
                "has_exchange_feedback": has_remote,
                "local_feedback_path": str(local) if has_local else None,
                "feedback_updated": has_local and has_remote
                                    and _sha256(local) != remote[f"{nb}.html"],
            })  # fmt: skip
        info = {
            key: attempt[key]
            for key in (
                "course_id",
                "student_id",
                "assignment_id",
                "timestamp",
                "late",
                "seconds_late",
                "attempt",
            )
        }
        has_local = bool(notebooks) and all(n["has_local_feedback"] for n in notebooks)
        info.update(
            status="submitted", path=notebooks[0]["path"].rsplit("/", 1)[0] if notebooks else "",
            notebooks=notebooks, has_local_feedback=has_local,
            has_exchange_feedback=bool(notebooks) and all(n["has_exchange_feedback"] for n in notebooks),
            feedback_updated=any(n["feedback_updated"] for n in notebooks),
            local_feedback_path=str(local_fb) if has_local else None,
        )  # fmt: skip
        return info

    def list_files(self) -> list[dict[str, Any]]:
        if self.inbound or self.cached:
            found = self.submitted()
            self.log.info("Submitted assignments:")
            for group in found:
                for sub in group["submissions"]:
                    self.log.info("%s", _format_submission(sub))
            return found
        found = self.released()
        self.log.info("Released assignments:")
        for info in found:
            suffix = " (already downloaded)" if info["status"] == "fetched" else ""
            due = f" (due {info['due']})" if info.get("due") else ""
            self.log.info("%s %s%s%s", info["course_id"], info["assignment_id"], due, suffix)
        return found

    def remove_files(self) -> list[dict[str, Any]]:
        if self.inbound or self.cached:
            self.fail("Submissions are kept for good; they cannot be removed from the exchange")
        if not self.coursedir.assignment_id:
            self.fail("Name the assignment to withdraw: nbgrader list --remove --assignment=A")
        found = self.released()
        for info in found:
            self.api.unrelease(info["course_id"], info["assignment_id"])
            self.log.info("Removed release %s %s", info["course_id"], info["assignment_id"])
        return found


def _format_submission(sub: dict[str, Any]) -> str:
    text = f"{sub['course_id']} {sub['student_id']} {sub['assignment_id']} {sub['timestamp']}"
    if sub.get("late"):
        text += f" (late by {_late_text(float(sub['seconds_late']))})"
    if sub["has_local_feedback"] and not sub["feedback_updated"]:
        return text + " (feedback already fetched)"
    if sub["has_exchange_feedback"]:
        return text + " (feedback ready to be fetched)"
    return text + " (no feedback available)"


class AioneFetchFeedback(AioneExchange, abc.ExchangeFetchFeedback):
    """``nbgrader fetch_feedback``: download feedback of the caller's attempts."""

    def init_src(self) -> None:
        self.course = self.course_id()
        self.assignment = self.checked(self.coursedir.assignment_id, "assignment")
        student = self.coursedir.student_id
        self.student = None if student in ("", "*") else self.checked(student, "student")
        self.entries = self.api.feedback(self.course, self.assignment, self.student)
        if not self.entries:
            self.log.warning("No feedback available yet for %s %s", self.course, self.assignment)

    def init_dest(self) -> None:
        self.dest_path = self.local_dir(self.course, self.assignment) / "feedback"

    def copy_files(self) -> None:
        for entry in self.entries:
            target = self.dest_path / self.checked_timestamp(entry["timestamp"])
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.dest_path) as tmp:
                got = Path(tmp) / "fb"
                self.api.fetch_feedback(entry, got, self.info)
                for path in sorted(got.rglob("*")):
                    if path.is_file():
                        dest = target / path.relative_to(got)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(path, dest)
                        self.log.info("Fetched feedback: %s", dest)

    def checked_timestamp(self, timestamp: str) -> str:
        if "/" in timestamp or timestamp in ("", ".", ".."):
            self.fail(f"the exchange sent an unusable timestamp {timestamp!r}")
        return timestamp


class AioneReleaseAssignment(AioneExchange, abc.ExchangeReleaseAssignment):
    """``nbgrader release_assignment``: publish ``release/<assignment>`` (instructors)."""

    def init_src(self) -> None:
        cd = self.coursedir
        self.assignment = self.checked(cd.assignment_id, "assignment")
        self.src_path = Path(cd.format_path(cd.release_directory, ".", self.assignment))
        if not self.src_path.is_dir():
            source = Path(cd.format_path(cd.source_directory, ".", self.assignment))
            if source.is_dir():
                self.fail(
                    f"Assignment found in '{source}' but not '{self.src_path}', run "
                    "`nbgrader generate_assignment` first."
                )
            self.fail(f"Assignment not found at: {self.src_path}")

    def init_dest(self) -> None:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        self.course = self.checked(self.coursedir.course_id, "course")

    def copy_files(self) -> None:
        due = gradebook_due(self.coursedir.db_url, self.course, self.assignment)
        limit = int(self.info["release_size_limit"])
        with self.upload_body(self.src_path, limit, self.assignment) as body:
            self.api.upload_release(self.course, self.assignment, body, due, self.force)
        self.log.info("Released as: %s %s%s", self.course, self.assignment,
                      f" (due {due})" if due else "")  # fmt: skip


def gradebook_due(db_url: str, course: str, assignment: str) -> str | None:
    """The assignment's due date in an existing gradebook, ISO with ``+00:00``."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return None
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course) as gb:
        try:
            duedate = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return duedate.replace(tzinfo=dt.UTC).isoformat() if duedate else None


class AioneCollect(AioneExchange, abc.ExchangeCollect):
    """``nbgrader collect``: the latest attempt of each student into ``submitted/``."""

    def init_src(self) -> None:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        self.course = self.checked(self.coursedir.course_id, "course")
        self.assignment = self.checked(self.coursedir.assignment_id, "assignment")
        student = self.coursedir.student_id
        self.attempts = self.api.submissions(
            self.course, self.assignment, None if student in ("", "*") else student,
            latest=True, before_due=self.before_duedate,
        )  # fmt: skip

    def init_dest(self) -> None:
        pass

    def copy_files(self) -> None:
        if not self.attempts:
            self.log.warning("No submissions of '%s' for course '%s' to collect",
                             self.assignment, self.course)  # fmt: skip
            return
        self.log.info("Processing %d submissions of '%s' for course '%s'",
                      len(self.attempts), self.assignment, self.course)  # fmt: skip
        for attempt in self.attempts:
            self.collect_one(attempt)

    def collect_one(self, attempt: dict[str, Any]) -> None:
        cd = self.coursedir
        student = self.checked(attempt["student_id"], "student")
        dest = Path(cd.format_path(cd.submitted_directory, student, self.assignment))
        if dest.is_dir():
            existing = cd.get_existing_timestamp(str(dest))
            newer = existing is None or parse_utc(attempt["timestamp"]) > existing
            differs = existing != parse_utc(attempt["timestamp"])
            if not ((self.update and newer) or (self.before_duedate and differs)):
                self.log.info("Submission already up to date: %s %s", student, self.assignment)
                return
            self.log.info("Updating submission: %s %s", student, self.assignment)
        else:
            self.log.info("Collecting submission: %s %s", student, self.assignment)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            got = Path(tmp) / "attempt"
            self.api.fetch_submission(attempt, got, self.info)
            if dest.exists():
                shutil.rmtree(dest)
            got.rename(dest)


class AioneReleaseFeedback(AioneExchange, abc.ExchangeReleaseFeedback):
    """``nbgrader release_feedback``: deliver ``feedback/<student>/<assignment>``."""

    def init_src(self) -> None:
        cd = self.coursedir
        self.assignment = self.checked(cd.assignment_id, "assignment")
        student = cd.student_id if cd.student_id not in ("", None) else "*"
        pattern = cd.format_path(cd.feedback_directory, student, self.assignment)
        regexp = cd.format_path(
            cd.feedback_directory, "(?P<student_id>[^/]+)", self.assignment, escape=True
        )
        self.folders = []
        excluded = set(filter(None, cd.student_id_exclude.split(",")))
        for folder in sorted(glob.glob(pattern)):
            match = re.fullmatch(regexp, folder)
            student_id = match.group("student_id") if match else ""
            if match and student_id not in excluded:
                self.folders.append((self.checked(student_id, "student"), Path(folder)))

    def init_dest(self) -> None:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        self.course = self.checked(self.coursedir.course_id, "course")

    def copy_files(self) -> None:
        limit = int(self.info["release_size_limit"])
        for student, folder in self.folders:
            stamp_file = folder / "timestamp.txt"
            if not stamp_file.is_file():
                self.fail(f"{folder} has no timestamp.txt; run nbgrader generate_feedback again")
            with self.upload_body(folder, limit, f"feedback of {student}") as body:
                self.api.upload_feedback(
                    self.course, student, self.assignment, stamp_file.read_text().strip(), body
                )
            self.log.info("Feedback released for '%s' on '%s/%s'", student, self.course,
                          self.assignment)  # fmt: skip


__all__ = [
    "AioneCollect",
    "AioneExchange",
    "AioneFetchAssignment",
    "AioneFetchFeedback",
    "AioneList",
    "AioneReleaseAssignment",
    "AioneReleaseFeedback",
    "AioneSubmit",
]
