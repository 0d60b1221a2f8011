"""Sandboxed, parallel autograding on nbgrader's own pipeline.

:class:`SandboxAutograde` is nbgrader's :class:`~nbgrader.converters.Autograde`
with its one unsafe stage moved: instead of running the ``Execute``
preprocessor on the host, each submission's restored notebooks go to a
throwaway container (:class:`graders.sandbox.Sandbox`), several at once.

Per submission, in the host's main thread:

1. nbgrader's ``init_destination`` / ``init_assignment`` (student, timestamp,
   files from ``source/``, zero for missing notebooks);
2. ``sanitize_preprocessors`` (nbgrader's: ``ClearOutput``,
   ``DeduplicateIds``, ``OverwriteKernelspec``, ``OverwriteCells``,
   ``CheckCellMetadata``): locked and test cells, hidden tests included, come
   back from the gradebook, so an edited test cannot pass;
3. the sandbox run, in a worker thread (``jobs`` at once);
4. the outputs are copied onto the host's own restored notebook, cell by
   cell, and ``autograde_preprocessors`` run (nbgrader's list with ``Execute``
   replaced by :class:`FailUnrunCells`; ``SaveAutoGrades`` and
   ``AssignLatePenalties`` write the gradebook).

Only the main thread opens the gradebook, so there is one writer whatever
``jobs`` is, and SQLite and PostgreSQL are equally safe. A submission that
breaks (timeout, memory, dead kernel, invalid notebook, ...) gets its score
and reasons; the batch goes on.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor, ExecutePreprocessor
from nbconvert.writers import FilesWriter
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    SaveAutoGrades,
)
from sqlalchemy.exc import SAWarning, SQLAlchemyError
from traitlets import Instance, Integer, List, default, validate

from graders.course import Course
from graders.sandbox import (
    INFRASTRUCTURE,
    INVALID_NOTEBOOK,
    MISSING_NOTEBOOK,
    SANDBOX_ERROR,
    UNKNOWN_KERNEL,
    NotebookJob,
    Reason,
    Sandbox,
    SandboxResult,
    classify,
)
from graders.settings import GradingSection, check_name, grading_config
from hub.errors import GradingError
from hub.settings import parse_bytes

log = logging.getLogger(__name__)
REPORT_NAME = "aione-grading.json"
OUTPUT_FIELDS = {
    "stream": {"name", "text"},
    "display_data": {"data", "metadata"},
    "execute_result": {"data", "metadata", "execution_count"},
    "error": {"ename", "evalue", "traceback"},
}


class FailUnrunCells(NbGraderPreprocessor):
    """Give an error output to every code cell the sandbox did not run.

    nbgrader counts a test cell without an error as passed; a cell the
    kernel never reached (it died, or a cell before it would not stop) must
    fail. The reason comes from ``resources['aione']['not_run']``.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], cell_index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code" or not cell.source.strip() or cell.execution_count:
            return cell, resources
        if any(out.output_type == "error" for out in cell.outputs):
            return cell, resources
        why = resources.get("aione", {}).get("not_run", "the cell was not run")
        cell.outputs.append(
            nbformat.v4.new_output(
                "error", ename="NotRun", evalue=why, traceback=[f"NotRun: {why}"]
            )
        )
        return cell, resources


@dataclass
class SubmissionResult:
    """One graded (or skipped) submission, for progress lines and the summary."""

    student: str
    assignment: str
    status: str = "graded"  # graded | skipped | error
    score: float = 0.0
    max_score: float = 0.0
    late_penalty: float = 0.0
    seconds_late: float = 0.0
    reasons: list[Reason] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def final_score(self) -> float:
        """Score after the late penalty."""
        return max(0.0, self.score - self.late_penalty)

    @property
    def infrastructure_failed(self) -> bool:
        """Whether the grader's side (not the submission) failed."""
        return self.status == "error" or any(r.code in INFRASTRUCTURE for r in self.reasons)


@dataclass
class _Pending:
    """A prepared submission waiting for (or back from) its sandbox."""

    student: str
    assignment: str
    notebooks: dict[str, NotebookNode]
    jobs: list[NotebookJob]
    files: dict[str, bytes]
    reasons: dict[str, list[Reason]]
    began: float


def merge_outputs(nb: NotebookNode, cells: list[dict[str, Any]]) -> None:
    """Copy outputs and execution counts from the sandbox onto the host's notebook.

    Sources and metadata stay the host's. Untrusted data: unknown cell
    indexes are ignored, and each output keeps only the fields of its type
    (a malformed one becomes an error output).
    """
    for item in cells:
        index = item.get("index")
        if not isinstance(index, int) or not 0 <= index < len(nb.cells):
            continue
        cell = nb.cells[index]
        if cell.cell_type != "code":
            continue
        count = item.get("execution_count")
        cell.execution_count = count if isinstance(count, int) else None
        cell.outputs = [_clean_output(out) for out in item.get("outputs") or []]


def _clean_output(out: Any) -> NotebookNode:
    kind = out.get("output_type") if isinstance(out, dict) else None
    if kind not in OUTPUT_FIELDS:
        return nbformat.v4.new_output("error", ename="MalformedOutput", evalue="", traceback=[])
    fields = {k: out[k] for k in OUTPUT_FIELDS[kind] if k in out}
    try:
        node = nbformat.v4.new_output(kind, **fields)
        if kind == "error":
            node.traceback = [str(line) for line in node.get("traceback", [])]
        nbformat.validator.validate(node, ref=kind, version=4, version_minor=5)
    except Exception as err:  # any malformed output: show that, grade as failure
        return nbformat.v4.new_output(
            "error", ename="MalformedOutput", evalue=str(err)[:200], traceback=[]
        )
    return node


class SandboxAutograde(Autograde):
    """nbgrader's Autograde with execution in per-submission containers, in parallel."""

    jobs = Integer(help="Submissions graded at once (default: the CPU cores).").tag(config=True)

    autograde_preprocessors = List(
        [
            FailUnrunCells,
            IgnorePattern,
            ClearMetadataPreprocessor,
            LimitOutput,
            SaveAutoGrades,
            AssignLatePenalties,
            CheckCellMetadata,
        ],
        help="Run on the host after the sandbox, in order (nbgrader's list; Execute replaced).",
    ).tag(config=True)

    max_files_bytes = Integer(
        64 * 1024**2, help="Most bytes of non-notebook files sent into one sandbox."
    ).tag(config=True)

    sandbox = Instance(Sandbox)

    @default("jobs")
    def _jobs_default(self) -> int:
        return len(os.sched_getaffinity(0)) or 1

    @default("sandbox")
    def _sandbox_default(self) -> Sandbox:
        return Sandbox(parent=self)

    @validate("autograde_preprocessors", "sanitize_preprocessors")
    def _no_host_execution(self, proposal: Any) -> Any:
        for pp in proposal["value"]:
            cls = pp if isinstance(pp, type) else type(pp)
            if issubclass(cls, ExecutePreprocessor):
                raise GradingError(
                    f"{cls.__name__} would run learners' code on the host; remove it from "
                    f"{proposal['trait'].name} (SandboxAutograde runs notebooks in containers)"
                )
        return proposal["value"]

    def grade(
        self,
        progress: Callable[[SubmissionResult, int, int], None] | None = None,
        students: set[str] | None = None,
    ) -> list[SubmissionResult]:
        """Grade every submission matched by the course directory's ids (and ``students``).

        ``progress(result, done, total)`` is called in the main thread after
        each submission. Raises GradingError when grading cannot run at all
        (no Docker, no image, no submissions, gradebook unreachable).
        """
        self.sandbox.check_ready()
        submitted = Path(self.coursedir.root) / self.coursedir.submitted_directory
        try:
            self.init_notebooks()
        except NbGraderException as err:
            who = f" from {', '.join(sorted(students))}" if students else ""
            raise GradingError(
                f"no submission of {self.coursedir.assignment_id!r}{who} in {submitted}/"
            ) from err
        work = sorted(self.assignments.items())
        if students is not None:
            work = [item for item in work if self._split(item[0])[0] in students]
            found = {self._split(path)[0] for path, _ in work}
            if students - found:
                who = ", ".join(sorted(students - found))
                raise GradingError(
                    f"no submission of {self.coursedir.assignment_id!r} from {who} in {submitted}/"
                )
        self.writer = FilesWriter(parent=self, config=self.config)
        self.exporter = self.exporter_class(parent=self, config=self.config)
        results: list[SubmissionResult] = []

        def report(result: SubmissionResult) -> None:
            results.append(result)
            if progress:
                progress(result, len(results), len(work))

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sandbox") as pool:
            self._schedule(pool, iter(work), report)
        return results

    def _schedule(
        self,
        pool: ThreadPoolExecutor,
        work: Iterator[tuple[str, list[str]]],
        report: Callable[[SubmissionResult], None],
    ) -> None:
        """Keep ``jobs`` sandboxes busy; prepare and record in this thread only."""
        running: dict[Future[SandboxResult], _Pending] = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < self.jobs:
                item = next(work, None)
                if item is None:
                    exhausted = True
                    break
                pending = self._prepare_or_report(*item, report=report)
                if pending is not None:
                    future = pool.submit(self._run_sandbox, pending)
                    running[future] = pending
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                pending = running.pop(future)
                report(self._record_safely(pending, future.result()))

    def _run_sandbox(self, pending: _Pending) -> SandboxResult:
        if not pending.jobs:
            return SandboxResult()
        labels = {
            "aione.course": self.coursedir.course_id or "",
            "aione.student": pending.student,
            "aione.assignment": pending.assignment,
        }
        try:
            return self.sandbox.run(pending.jobs, pending.files, labels)
        except Exception as err:  # a worker must hand back a result, whatever broke
            log.exception("sandbox of %s failed", pending.student)
            return SandboxResult(error=f"{err.__class__.__name__}: {err}")

    def _split(self, path: str) -> tuple[str, str]:
        regexp = self._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        match = re.match(regexp, path)
        if match is None:
            raise GradingError(f"cannot tell student and assignment from {path}")
        return match.group("student_id"), match.group("assignment_id")

    def _prepare_or_report(
        self, path: str, notebooks: list[str], report: Callable[[SubmissionResult], None]
    ) -> _Pending | None:
        student, assignment = self._split(path)
        began = time.monotonic()
        try:
            pending = self._prepare(student, assignment, sorted(notebooks), began)
        except SQLAlchemyError as err:
            raise GradingError(f"the gradebook failed while preparing {student}: {err}") from err
        except GradingError as err:
            log.error("%s", err)
            report(
                SubmissionResult(
                    student, assignment, status="error", reasons=[Reason(SANDBOX_ERROR, str(err))]
                )
            )
            return None
        except NbGraderException:
            # nbgrader found none of the assignment's notebooks in the submission
            names = ", ".join(Path(n).name for n in notebooks)
            reason = Reason(MISSING_NOTEBOOK, f"none of the assignment's notebooks ({names} given)")
            report(self._summary(student, assignment, [reason], began))
            return None
        if pending is None:
            report(SubmissionResult(student, assignment, status="skipped"))
        return pending

    def _prepare(
        self, student: str, assignment: str, notebooks: list[str], began: float
    ) -> _Pending | None:
        """nbgrader's init steps and sanitize stage; None when already graded.

        Raises GradingError for a submission holding symbolic links: nbgrader's
        copy would follow them and hand a host file to the sandbox.
        """
        folder = Path(self._format_source(assignment, student))
        links = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_symlink()]
        if links:
            raise GradingError(
                f"{folder} holds symbolic links ({', '.join(sorted(links))}); not graded. "
                "Remove them; the exchange must deliver plain files only"
            )
        self.notebooks = notebooks
        if not self.init_destination(assignment, student):
            return None
        with warnings.catch_warnings():
            # nbgrader's own session use; the same warnings appear with stock autograde
            warnings.simplefilter("ignore", SAWarning)
            self.init_assignment(assignment, student)
        pending = _Pending(student, assignment, {}, [], {}, {}, began)
        for path in self.notebooks:
            name = Path(path).stem
            try:
                nb, notes = self._sanitize(path)
            except SQLAlchemyError:
                raise
            except Exception as err:  # whatever the learner's file does to the parser
                detail = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
                pending.reasons[name] = [Reason(INVALID_NOTEBOOK, detail or type(err).__name__)]
                self._zero_notebook(name, assignment, student)
                continue
            pending.notebooks[name] = nb
            pending.reasons[name] = notes
            kernel = nb.metadata.get("kernelspec", {}).get("name") or "python3"
            cells = [
                {"index": i, "source": c.source}
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code"
            ]
            pending.jobs.append(NotebookJob(name, kernel, cells))
        pending.files = self._other_files(assignment, student)
        return pending

    def _sanitize(self, path: str) -> tuple[NotebookNode, list[Reason]]:
        with open(path, encoding="utf-8") as f:
            submitted = nbformat.read(f, as_version=nbformat.NO_CONVERT)
        if submitted.get("nbformat") != 4:
            raise ValueError(f"nbformat {submitted.get('nbformat')} is not supported; save as v4")
        nbformat.validate(submitted)
        asked = submitted.metadata.get("kernelspec", {}).get("name")
        self._sanitizing = True
        self._init_preprocessors()
        resources = self.init_single_notebook_resources(path)
        output, _ = self.exporter.from_notebook_node(submitted, resources=resources)
        nb = nbformat.reads(output, as_version=4)
        used = nb.metadata.get("kernelspec", {}).get("name")
        notes = []
        if asked and used and asked != used:
            notes.append(
                Reason(UNKNOWN_KERNEL, f"kernel {asked!r} replaced by the course's {used!r}")
            )
        return nb, notes

    def _zero_notebook(self, notebook: str, assignment: str, student: str) -> None:
        """An unreadable notebook scores zero (as nbgrader scores a missing one)."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            submission = gb.find_submission_notebook(notebook, assignment, student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()

    def _other_files(self, assignment: str, student: str) -> dict[str, bytes]:
        """Non-notebook files of the graded copy (submitted ones, then source/ over them)."""
        dest = Path(self._format_dest(assignment, student))
        files: dict[str, bytes] = {}
        total = 0
        for path in sorted(dest.rglob("*")):
            if not path.is_file() or path.suffix == ".ipynb" or path.name == REPORT_NAME:
                continue
            total += path.stat().st_size
            if total > self.max_files_bytes:
                log.warning("%s: files over %d bytes were not sent", dest, self.max_files_bytes)
                break
            files[path.relative_to(dest).as_posix()] = path.read_bytes()
        return files

    def _record_safely(self, pending: _Pending, result: SandboxResult) -> SubmissionResult:
        try:
            return self._record(pending, result)
        except SQLAlchemyError as err:
            raise GradingError(
                f"the gradebook failed while recording {pending.student}: {err}"
            ) from err
        except Exception as err:  # one broken record must not stop the batch
            log.exception("recording %s failed", pending.student)
            return SubmissionResult(
                pending.student,
                pending.assignment,
                status="error",
                reasons=[Reason(SANDBOX_ERROR, f"recording failed: {err}")],
            )

    def _record(self, pending: _Pending, result: SandboxResult) -> SubmissionResult:
        """Merge outputs, run the autograde preprocessors, write the graded copy."""
        student, assignment = pending.student, pending.assignment
        dest = Path(self._format_dest(assignment, student))
        self._sanitizing = False
        self._init_preprocessors()
        try:
            for name, nb in pending.notebooks.items():
                outcome = result.notebooks.get(name)
                reasons = pending.reasons[name] + classify(outcome, result, self.sandbox.limits())
                pending.reasons[name] = reasons
                if outcome is not None:
                    merge_outputs(nb, outcome.cells)
                resources = self.init_single_notebook_resources(str(dest / f"{name}.ipynb"))
                why = "; ".join(str(r) for r in reasons) or "the cell was not run"
                resources["aione"] = {"not_run": f"not run ({why})"}
                output, resources = self.exporter.from_notebook_node(nb, resources=resources)
                self.write_single_notebook(output, resources)
        finally:
            self._sanitizing = True
        reasons = [r for name in sorted(pending.reasons) for r in pending.reasons[name]]
        summary = self._summary(student, assignment, reasons, pending.began)
        self.set_permissions(assignment, student)
        return summary

    def _summary(
        self, student: str, assignment: str, reasons: list[Reason], began: float
    ) -> SubmissionResult:
        """Read the recorded scores back, and keep the reasons beside the graded copy."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            sub = gb.find_submission(assignment, student)
            summary = SubmissionResult(
                student,
                assignment,
                score=float(sub.score or 0),
                max_score=float(sub.max_score or 0),
                late_penalty=float(sub.late_submission_penalty or 0),
                seconds_late=float(sub.total_seconds_late or 0),
                reasons=reasons,
                duration_s=time.monotonic() - began,
            )
        dest = Path(self._format_dest(assignment, student))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / REPORT_NAME).write_text(
            json.dumps(report_dict(summary), indent=1), encoding="utf-8"
        )
        return summary


def report_dict(result: SubmissionResult) -> dict[str, Any]:
    """The JSON kept beside a graded copy (read by ``aione grades export``)."""
    return {
        "student": result.student,
        "assignment": result.assignment,
        "score": result.score,
        "max_score": result.max_score,
        "late_penalty": result.late_penalty,
        "seconds_late": result.seconds_late,
        "reasons": [{"code": r.code, "detail": r.detail} for r in result.reasons],
        "duration_s": round(result.duration_s, 3),
    }


def autograde(
    course: Course,
    assignment: str,
    grading: GradingSection,
    students: list[str] | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: Callable[[SubmissionResult, int, int], None] | None = None,
) -> list[SubmissionResult]:
    """Grade ``assignment`` of ``course``: every submission, or those of ``students``.

    Raises GradingError when grading cannot run; a failing submission is a
    result, not an error.
    """
    course.require_assignment(assignment)
    for student in students or []:
        check_name(student, "student")
    _warn_if_memory_is_short(jobs or grading.effective_jobs, parse_bytes(grading.mem_limit))
    config = copy.deepcopy(course.config)
    config.merge(grading_config(grading))
    if jobs:
        config.SandboxAutograde.jobs = jobs
    config.SandboxAutograde.force = force
    single = students[0] if students and len(set(students)) == 1 else "*"
    converter = SandboxAutograde(coursedir=course.coursedir(assignment, single), config=config)
    converter.log = log
    return converter.grade(progress, students=set(students) if students else None)


def _warn_if_memory_is_short(jobs: int, mem_limit: int) -> None:
    """Log when ``jobs`` containers at their memory limit would not fit in this host."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if jobs * mem_limit > total:
        log.warning(
            "%d jobs x %d MiB is more than this host's %d MiB; lower --jobs or grading.mem_limit",
            jobs,
            mem_limit // 2**20,
            total // 2**20,
        )
