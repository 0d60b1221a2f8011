"""The curriculum test: every assignment of the catalog, built and graded for real.

For each assignment, in its own worker process and its own temporary nbgrader
course folder (``courses/`` is only read):

1. ``nbgrader generate_assignment`` makes the student version;
2. the source notebook (the reference solution) and the untouched student
   version are submitted, with papermill's parameter injection adding
   ``QUICK = True`` (unless ``full``) and, for ``gpu: true`` assignments,
   ``DEVICE = "cuda"`` (with ``gpu``) or ``"cpu"``;
3. ``nbgrader autograde`` executes and scores both; the points are read from
   nbgrader's gradebook.

An assignment passes when the solution gets every point with no error in any
cell, the student version gets zero points and errors only in answer and test
cells, and (in quick mode) each run stays within ``budget_s``.

Kernels talk to the runner over ZeroMQ's IPC transport (Unix sockets in a
fresh folder per execution), so parallel runs never race for TCP ports.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import nbformat
from traitlets import Bool, Float, Integer, Unicode, default
from traitlets.config import Config, LoggingConfigurable

from graders.catalog import SOURCE_DIR, Course, find_courses_dir, load_course, select_tracks
from hub.errors import CurriculumError

log = logging.getLogger(__name__)

SOLUTION, STUDENT = "solution", "student"
_WORK_MARKER = ".aione-curriculum"
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 107 bytes on Linux
_IGNORE = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")


@dataclass(frozen=True)
class AssignmentTask:
    """Everything a worker process needs to test one assignment (picklable)."""

    track: str
    assignment: str
    source_dir: str
    budget_s: float
    parameters: dict[str, Any]
    check_budget: bool
    cell_timeout: int
    kernel_name: str
    threads: int
    work_dir: str | None = None


@dataclass
class AssignmentResult:
    """The outcome of one assignment; ``failures`` is empty when it passed."""

    track: str
    assignment: str
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    solution_s: float | None = None
    student_s: float | None = None
    budget_s: float | None = None
    solution_score: float | None = None
    student_score: float | None = None
    max_score: float | None = None
    work_dir: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class CurriculumReport:
    """All results of one run, in catalog order, and its wall-clock time."""

    results: list[AssignmentResult]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[AssignmentResult]:
        return [r for r in self.results if not r.passed]


ProgressCallback = Callable[[AssignmentResult, int, int], None]


class CurriculumRunner(LoggingConfigurable):
    """Run the curriculum test over the catalog.

    Override points: :meth:`plan` (which assignments, with which parameters)
    and :meth:`run` (how tasks are executed). Both raise
    :class:`~hub.errors.CurriculumError` when the run cannot start; a failing
    assignment is a result, never an exception.
    """

    courses_dir = Unicode(
        "", help="Catalog folder; empty: ./courses, else the repository's courses/."
    ).tag(config=True)
    jobs = Integer(0, help="Assignments tested in parallel; 0: one per CPU core.").tag(config=True)
    full = Bool(False, help="Run in full mode: QUICK is not injected, budgets not checked.").tag(
        config=True
    )
    gpu = Bool(
        False,
        help='Inject DEVICE="cuda" into gpu: true assignments (else "cpu"); '
        "fails when CUDA is not available.",
    ).tag(config=True)
    work_dir = Unicode(
        "",
        help="Keep each assignment's nbgrader course folder under WORK_DIR/<track>/<assignment> "
        "(replaced on the next run); empty: temporary folders, removed afterwards.",
    ).tag(config=True)
    kernel_name = Unicode("python3", help="Jupyter kernel that executes the notebooks.").tag(
        config=True
    )
    timeout_factor = Float(
        5.0, help="Per-cell timeout in quick mode, as a multiple of the assignment's budget_s."
    ).tag(config=True)
    min_cell_timeout = Integer(60, help="Lower bound of the per-cell timeout, in seconds.").tag(
        config=True
    )
    full_cell_timeout = Integer(1800, help="Per-cell timeout in full mode, in seconds.").tag(
        config=True
    )

    @default("log")
    def _log_default(self) -> logging.Logger:
        return log

    @property
    def effective_jobs(self) -> int:
        """``jobs``, with 0 meaning one per CPU core."""
        return self.jobs if self.jobs > 0 else cpu_count()

    def test(
        self,
        track: str | None = None,
        assignment: str | None = None,
        on_result: ProgressCallback | None = None,
    ) -> CurriculumReport:
        """Plan, check the GPU when asked, run; returns the report of every assignment."""
        started = time.perf_counter()
        tasks, invalid = self.plan(track, assignment)
        if self.gpu:
            check_cuda()
        total = len(tasks) + len(invalid)
        for done, result in enumerate(invalid, start=1):
            if on_result:
                on_result(result, done, total)
        results = self.run(tasks, on_result, already_done=len(invalid), total=total)
        order = {(t.track, t.assignment): i for i, t in enumerate(tasks)}
        results.sort(key=lambda r: order[(r.track, r.assignment)])
        return CurriculumReport(invalid + results, time.perf_counter() - started)

    def plan(
        self, track: str | None = None, assignment: str | None = None
    ) -> tuple[list[AssignmentTask], list[AssignmentResult]]:
        """Return the tasks to run and one failed result per invalid track.

        With ``track`` given, an invalid track raises :class:`CurriculumError`;
        with only ``assignment`` given, invalid tracks are skipped unless no
        valid track has that assignment. An empty selection raises too.
        """
        courses_dir = find_courses_dir(self.courses_dir or None)
        tasks: list[AssignmentTask] = []
        invalid: list[AssignmentResult] = []
        for path in select_tracks(courses_dir, [track] if track else None):
            try:
                course = load_course(path)
            except CurriculumError as err:
                if track:
                    raise
                invalid.append(AssignmentResult(path.name, "(course.yaml)", [str(err)]))
                continue
            ids = [a.id for a in course.entry.assignments]
            tasks += [self._task(course, aid) for aid in ids if assignment in (None, aid)]
        if assignment and tasks:
            invalid = []
        if not tasks and (assignment or not invalid):
            where = f"track {track!r}" if track else str(courses_dir)
            what = f"assignment {assignment!r}" if assignment else "any assignment"
            unread = f" (invalid tracks not searched: {', '.join(r.track for r in invalid)})"
            raise CurriculumError(
                f"no {what} in {where}{unread if invalid else ''}; check --track/--assignment"
            )
        return tasks, invalid

    def _task(self, course: Course, assignment_id: str) -> AssignmentTask:
        entry = course.assignment(assignment_id)
        parameters: dict[str, Any] = {} if self.full else {"QUICK": True}
        if entry.gpu:
            parameters["DEVICE"] = "cuda" if self.gpu else "cpu"
        if self.full:
            timeout = self.full_cell_timeout
        else:
            timeout = max(self.min_cell_timeout, math.ceil(self.timeout_factor * entry.budget_s))
        work = (
            Path(self.work_dir).resolve() / course.track / assignment_id if self.work_dir else None
        )
        return AssignmentTask(
            track=course.track,
            assignment=assignment_id,
            source_dir=str(course.assignment_dir(assignment_id)),
            budget_s=entry.budget_s,
            parameters=parameters,
            check_budget=not self.full,
            cell_timeout=timeout,
            kernel_name=self.kernel_name,
            threads=max(1, cpu_count() // self.effective_jobs),
            work_dir=str(work) if work else None,
        )

    def run(
        self,
        tasks: list[AssignmentTask],
        on_result: ProgressCallback | None = None,
        already_done: int = 0,
        total: int | None = None,
    ) -> list[AssignmentResult]:
        """Run ``tasks`` in up to ``jobs`` worker processes (one fresh process per task).

        Returns the results in completion order and calls ``on_result`` as each ends.
        """
        total = len(tasks) if total is None else total
        if not tasks:
            return []
        results: list[AssignmentResult] = []
        workers = min(self.effective_jobs, len(tasks))
        self.log.info("testing %d assignments with %d parallel jobs", len(tasks), workers)
        # Longest budgets first, so that the slowest assignment does not start last.
        ordered = sorted(tasks, key=lambda t: -t.budget_s)
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), max_tasks_per_child=1)
        try:
            futures: dict[Future[AssignmentResult], AssignmentTask] = {
                pool.submit(run_assignment, task): task for task in ordered
            }
            for future in as_completed(futures):
                result = _collect(future, futures[future])
                results.append(result)
                if on_result:
                    on_result(result, already_done + len(results), total)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return results


def _collect(future: Future[AssignmentResult], task: AssignmentTask) -> AssignmentResult:
    try:
        return future.result()
    except Exception as err:  # a worker that crashed or died is a failed assignment
        log.debug("worker for %s/%s crashed", task.track, task.assignment, exc_info=True)
        return AssignmentResult(
            task.track,
            task.assignment,
            [f"the test worker crashed: {type(err).__name__}: {err}"],
            budget_s=task.budget_s,
        )


def cpu_count() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_cuda(python: str = sys.executable) -> None:
    """Raise :class:`CurriculumError` unless the kernels' Python sees a CUDA device."""
    probe = "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)"
    try:
        proc = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CurriculumError(f"--gpu: could not ask {python} for CUDA ({err})") from err
    if proc.returncode == 3:
        raise CurriculumError(
            f"--gpu: CUDA is not available (torch.cuda.is_available() is False in {python}); "
            "run on a machine with an NVIDIA GPU and a CUDA build of torch, or drop --gpu"
        )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CurriculumError(f"--gpu: cannot import torch in {python} ({last}); install torch")


# --- worker side: everything below runs in the worker process ---------------------------


def run_assignment(task: AssignmentTask) -> AssignmentResult:
    """Test one assignment; meant to run alone in a fresh worker process.

    Changes this process's environment (PATH, thread counts, stderr), so call
    it only in a worker. Returns the result; never raises for a failing assignment.
    """
    started = time.perf_counter()
    result = AssignmentResult(task.track, task.assignment, budget_s=task.budget_s)
    try:
        with _course_root(task) as root:
            result.work_dir = str(root) if task.work_dir else None
            _isolate_process(task, root)
            _AssignmentCheck(task, root, result).run()
    except CurriculumError as err:
        result.failures.append(str(err))
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _course_root(task: AssignmentTask) -> Iterator[Path]:
    if not task.work_dir:
        root = Path(tempfile.mkdtemp(prefix=f"aione-curriculum-{task.assignment}-"))
        try:
            yield root
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    root = Path(task.work_dir)
    if root.exists():
        if not (root / _WORK_MARKER).exists():
            raise CurriculumError(
                f"{root} exists and was not made by the curriculum test; choose another --work-dir"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / _WORK_MARKER).touch()
    yield root


def _isolate_process(task: AssignmentTask, root: Path) -> None:
    """Point this worker's logs, kernel stderr and thread counts at sane values."""
    bindir = os.path.dirname(sys.executable)  # nbgrader runs `alembic` from PATH
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(task.threads))
    stream = open(root / "worker.log", "a", buffering=1, encoding="utf-8")
    os.dup2(stream.fileno(), 1)  # kernels inherit fds 1 and 2: their chatter goes to the log
    os.dup2(stream.fileno(), 2)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


class _AssignmentCheck:
    """Generate, submit, autograde and judge one assignment inside ``root``."""

    def __init__(self, task: AssignmentTask, root: Path, result: AssignmentResult) -> None:
        self.task = task
        self.root = root
        self.result = result
        self.nbgrader = NbgraderCourse(root, task.cell_timeout, task.kernel_name)

    def run(self) -> None:
        task, result = self.task, self.result
        source = self.root / SOURCE_DIR / task.assignment
        shutil.copytree(task.source_dir, source, ignore=_IGNORE)
        self.nbgrader.generate(task.assignment)
        graded: dict[str, dict[str, _Grade]] = {}
        runs = (
            (SOLUTION, source, "solution"),
            (STUDENT, self.nbgrader.release(task), "student version"),
        )
        for student, folder, who in runs:
            self.nbgrader.submit(task.assignment, student, folder, task.parameters)
            seconds, error = self.nbgrader.autograde(task.assignment, student)
            if student == SOLUTION:
                result.solution_s = seconds
            else:
                result.student_s = seconds
            if error:
                result.failures.append(f"{who}: nbgrader autograde failed: {error}")
                continue
            graded[student] = self.nbgrader.grades(task.assignment, student)
            if task.check_budget and seconds > task.budget_s:
                result.failures.append(
                    f"{who}: ran {seconds:.1f} s, over budget_s {task.budget_s:g} "
                    "(course.yaml); make QUICK mode faster or raise the budget"
                )
        if SOLUTION in graded:
            self._judge_solution(graded[SOLUTION])
        if STUDENT in graded:
            self._judge_student(graded[STUDENT])

    def _judge_solution(self, grades: dict[str, _Grade]) -> None:
        result = self.result
        errors = self.nbgrader.errors(self.task.assignment, SOLUTION)
        result.solution_score = sum(g.score for g in grades.values())
        result.max_score = sum(g.max_score for g in grades.values())
        if not result.max_score:
            result.failures.append("solution: the notebook has no points to earn")
        for gid, grade in grades.items():
            if grade.manual:
                result.failures.append(
                    f"solution: {gid} needs manual grading; curriculum notebooks "
                    "must be autograded (answer cells grade: false, test cells solution: false)"
                )
            elif grade.score < grade.max_score:
                why = errors.get(gid)
                result.failures.append(
                    f"solution: {gid} scored {grade.score:g}/{grade.max_score:g}"
                    + (f" ({why.message})" if why else "")
                )
        for err in errors.values():
            if not err.grade:
                result.failures.append(f"solution: {err.label} raised {err.message}")

    def _judge_student(self, grades: dict[str, _Grade]) -> None:
        result = self.result
        result.student_score = sum(g.score for g in grades.values())
        for gid, grade in grades.items():
            if grade.score > 0:
                result.failures.append(
                    f"student version: {gid} gives {grade.score:g}/{grade.max_score:g} "
                    "points without any answer; make the test fail on the blank version"
                )
        for err in self.nbgrader.errors(self.task.assignment, STUDENT).values():
            if not (err.grade or err.solution):
                result.failures.append(
                    f"student version: {err.label} raised {err.message} outside the answer "
                    "and test cells; guard it (e.g. `if 'model' in globals():` or try/except)"
                )


@dataclass(frozen=True)
class _Grade:
    score: float
    max_score: float
    manual: bool


@dataclass(frozen=True)
class _CellError:
    label: str
    message: str
    grade: bool
    solution: bool


class NbgraderCourse:
    """A throwaway nbgrader course folder driven through nbgrader's own converters.

    Every kernel runs over the IPC transport with its connection file and
    sockets in a fresh short temporary folder, so that concurrent courses
    never compete for TCP ports.
    """

    def __init__(self, root: Path, cell_timeout: int, kernel_name: str) -> None:
        self.root = root
        self.cell_timeout = cell_timeout
        self.kernel_name = kernel_name
        self.log = logging.getLogger(f"{__name__}.nbgrader")

    def release(self, task: AssignmentTask) -> Path:
        return self.root / "release" / task.assignment

    def _config(self, ipc_dir: str | None = None) -> Config:
        cfg = Config()
        cfg.CourseDirectory.root = str(self.root)
        cfg.Execute.timeout = self.cell_timeout
        cfg.Execute.kernel_name = self.kernel_name
        if ipc_dir:
            cfg.KernelManager.transport = "ipc"
            cfg.KernelManager.connection_file = os.path.join(ipc_dir, "kernel.json")
            cfg.KernelManager.ip = os.path.join(ipc_dir, "kernel")
        return cfg

    def _convert(self, converter_class: type, ipc_dir: str | None = None, **ids: str) -> str | None:
        """Run one nbgrader converter; return None, or the error it logged."""
        from nbgrader.converters.base import NbGraderException
        from nbgrader.coursedir import CourseDirectory

        cfg = self._config(ipc_dir)
        coursedir = CourseDirectory(config=cfg, **ids)
        collect = _ErrorCollector()
        self.log.addHandler(collect)
        try:
            app = converter_class(coursedir=coursedir, config=cfg, log=self.log)
            app.force = True
            app.start()
        except NbGraderException:
            return collect.summary() or "see worker.log in --work-dir"
        finally:
            self.log.removeHandler(collect)
        return None

    def generate(self, assignment: str) -> None:
        """``nbgrader generate_assignment``; raises :class:`CurriculumError` on failure."""
        from nbgrader.converters import GenerateAssignment

        error = self._convert(GenerateAssignment, assignment_id=assignment)
        if error:
            raise CurriculumError(f"nbgrader generate_assignment failed: {error}")

    def submit(
        self, assignment: str, student: str, folder: Path, parameters: dict[str, Any]
    ) -> None:
        """Copy ``folder`` as ``student``'s submission and inject ``parameters`` like papermill."""
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        target = self.root / "submitted" / student / assignment
        shutil.copytree(folder, target, ignore=_IGNORE)
        path = target / f"{assignment}.ipynb"
        if parameters:
            nb = load_notebook_node(str(path))
            nb = parameterize_notebook(
                nb, parameters, kernel_name=self.kernel_name, language="python"
            )
            nbformat.write(nb, path)

    def autograde(self, assignment: str, student: str) -> tuple[float, str | None]:
        """``nbgrader autograde`` of one submission; returns (seconds, error or None)."""
        from nbgrader.converters import Autograde

        ipc_dir = tempfile.mkdtemp(prefix="aione-ipc-")
        try:
            if len(os.path.join(ipc_dir, "kernel-99")) > _MAX_SOCKET_PATH:
                raise CurriculumError(
                    f"temporary folder {ipc_dir} is too long for kernel sockets; "
                    "set TMPDIR to a short path such as /tmp"
                )
            started = time.perf_counter()
            error = self._convert(Autograde, ipc_dir, assignment_id=assignment, student_id=student)
            return time.perf_counter() - started, error
        finally:
            shutil.rmtree(ipc_dir, ignore_errors=True)

    def grades(self, assignment: str, student: str) -> dict[str, _Grade]:
        """Read ``student``'s grades of ``assignment`` from the gradebook, by grade_id."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gradebook:
            submission = gradebook.find_submission(assignment, student)
            return {
                grade.name: _Grade(
                    float(grade.score or 0), float(grade.max_score), bool(grade.needs_manual_grade)
                )
                for notebook in submission.notebooks
                for grade in notebook.grades
            }

    def errors(self, assignment: str, student: str) -> dict[str, _CellError]:
        """Cells of the autograded notebook that raised, keyed by grade_id or position."""
        path = self.root / "autograded" / student / assignment / f"{assignment}.ipynb"
        nb = nbformat.read(path, as_version=4)
        found: dict[str, _CellError] = {}
        for index, cell in enumerate(nb.cells):
            error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
            if cell.cell_type != "code" or error is None:
                continue
            meta = cell.metadata.get("nbgrader", {})
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            label = meta.get("grade_id") or f"cell {index} `{first.strip()[:50]}`"
            message = f"{error.ename}: {str(error.evalue)[:200]}".rstrip(": ")
            found[meta.get("grade_id") or f"#{index}"] = _CellError(
                label, message, bool(meta.get("grade")), bool(meta.get("solution"))
            )
        return found


class _ErrorCollector(logging.Handler):
    """Keeps the last line of each ERROR record that nbgrader logs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        lines = record.getMessage().strip().splitlines()
        if lines:
            self.lines.append(lines[-1])

    def summary(self) -> str:
        generic = ("Please see the", "There was an error processing")
        useful = [ln for ln in self.lines if not ln.startswith(generic)]
        return "; ".join(dict.fromkeys(useful))[:600]
