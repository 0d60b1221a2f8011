"""``aione grade``, ``aione feedback release`` and ``aione grades export``.

Only argument parsing and formatting live here; the work is done by
:mod:`graders.autograde`, :mod:`graders.feedback` and :mod:`graders.export`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from graders.autograde import SubmissionResult, autograde
from graders.course import Course
from graders.export import export_grades
from graders.feedback import release_feedback
from graders.settings import GradingSection, load_grading_settings
from hub.errors import GradingError

GRADE_EPILOG = """\
examples:
  aione grade foundations python_numpy_pandas
        grade every submission in <courses>/foundations/submitted/*/python_numpy_pandas/
  aione grade foundations python_numpy_pandas --jobs 4
        four containers at once (default: one per CPU core)
  aione grade foundations python_numpy_pandas --student alice --student bob --force
        regrade two students (graded copies are skipped unless newer or --force)

Each submission runs in its own container: no network, memory/CPU/process/time
limits, nothing mounted. Exit 0 when every submission got a score (a timeout or
a crash is a score of the submission); 1 when grading itself failed.
"""

FEEDBACK_EPILOG = """\
examples:
  aione feedback release foundations python_numpy_pandas
        HTML feedback for every graded submission, in <course>/feedback/
  aione feedback release foundations python_numpy_pandas --student alice

Hidden tests stay hidden unless grading.reveal_hidden_tests (or
grading.reveal_hidden_tests_by_course.<course>) is true.
"""

EXPORT_EPILOG = """\
examples:
  aione grades export foundations                       CSV on stdout
  aione grades export foundations --output grades.csv   one row per student and assignment,
                                                        per-cell scores, late penalties
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``grade``, ``feedback`` (``release``) and ``grades`` (``export``)."""
    grade = _parser(
        subparsers, "grade", "autograde an assignment, sandboxed and in parallel", GRADE_EPILOG
    )
    grade.add_argument("course", help="course name (its folder under grading.courses_root)")
    grade.add_argument("assignment", help="assignment id, as in nbgrader")
    grade.add_argument(
        "--jobs",
        type=_positive,
        metavar="N",
        help="submissions at once (default: grading.jobs, else CPU cores)",
    )
    grade.add_argument(
        "--student", action="append", metavar="S", help="only this student (repeat for more)"
    )
    grade.add_argument("--force", action="store_true", help="regrade already graded submissions")
    grade.set_defaults(func=run_grade)

    feedback = _parser(subparsers, "feedback", "feedback for graded submissions", FEEDBACK_EPILOG)
    fsub = feedback.add_subparsers(dest="feedback_command", metavar="ACTION")
    fsub.required = True
    release = _parser(
        fsub, "release", "write feedback HTML into the course's feedback/ folder", FEEDBACK_EPILOG
    )
    release.add_argument("course", help="course name")
    release.add_argument("assignment", help="assignment id")
    release.add_argument("--student", metavar="S", help="only this student")
    release.set_defaults(func=run_feedback_release)

    grades = _parser(subparsers, "grades", "grade reports", EXPORT_EPILOG)
    gsub = grades.add_subparsers(dest="grades_command", metavar="ACTION")
    gsub.required = True
    export = _parser(gsub, "export", "export every grade of a course", EXPORT_EPILOG)
    export.add_argument("course", help="course name")
    export.add_argument("--format", choices=["csv"], default="csv", help="output format")
    export.add_argument("--output", type=Path, metavar="FILE", help="write here (default: stdout)")
    export.set_defaults(func=run_grades_export)


def _parser(
    subparsers: argparse._SubParsersAction, name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", help="settings file (default: $AIONE_CONFIG, /etc/aione/aione.yaml)"
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _open(args: argparse.Namespace) -> tuple[Course, GradingSection]:
    settings, grading = load_grading_settings(args.config)
    return Course.open(settings.state_dir, grading, args.course), grading


def _quiet_nbgrader(args: argparse.Namespace) -> None:
    """nbgrader's per-notebook warnings would drown the progress lines."""
    if not getattr(args, "verbose", False):
        for name in ("graders.autograde", "graders.feedback", "traitlets"):
            logging.getLogger(name).setLevel(logging.ERROR)


def run_grade(args: argparse.Namespace) -> int:
    course, grading = _open(args)
    _quiet_nbgrader(args)
    jobs = args.jobs or grading.effective_jobs
    print(
        f"grading {course.name}/{args.assignment} with {jobs} at once "
        f"(image {grading.image}, {grading.mem_limit} memory, {grading.cpu_limit:g} CPU, "
        f"{grading.cell_timeout_s} s a cell)",
        flush=True,
    )
    results = autograde(
        course,
        args.assignment,
        grading,
        students=args.student,
        jobs=jobs,
        force=args.force,
        progress=_progress,
    )
    print(summary_table(results))
    failed = [r.student for r in results if r.infrastructure_failed]
    if failed:
        raise GradingError(
            f"grading failed for {', '.join(failed)} (see the reasons above); "
            "fix the cause and run again with --student ... --force"
        )
    return 0


def _progress(result: SubmissionResult, done: int, total: int) -> None:
    width = len(str(total))
    print(f"[{done:>{width}}/{total}] {_line(result)}", flush=True)


def _line(result: SubmissionResult) -> str:
    if result.status == "skipped":
        return f"{result.student}: already graded, skipped (use --force to regrade)"
    reasons = "; ".join(str(r) for r in result.reasons)
    text = f"{result.student}: {_score(result)}"
    if result.seconds_late > 0:
        text += f", {_late(result)}"
    if reasons:
        text += f" ({reasons})"
    return text + f" in {result.duration_s:.1f} s"


def _score(result: SubmissionResult) -> str:
    if result.status == "error":
        return "not graded"
    text = f"{result.final_score:g}/{result.max_score:g}"
    if result.late_penalty:
        text += f" (-{result.late_penalty:g} late)"
    return text


def _late(result: SubmissionResult) -> str:
    hours = result.seconds_late / 3600
    return f"late {hours:.1f} h" if hours < 48 else f"late {hours / 24:.1f} d"


def summary_table(results: list[SubmissionResult]) -> str:
    """The summary: one row per submission (student, score/max, late, reason)."""
    rows = [("student", "score/max", "late", "reason")]
    for r in sorted(results, key=lambda r: r.student):
        late = _late(r) if r.seconds_late > 0 else "-"
        reason = "skipped" if r.status == "skipped" else "; ".join(r.code for r in r.reasons) or "-"
        rows.append((r.student, "-" if r.status == "skipped" else _score(r), late, reason))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    ]
    graded = [r for r in results if r.status == "graded"]
    lines.append(
        f"{len(graded)} graded, {sum(r.status == 'skipped' for r in results)} skipped, "
        f"{sum(r.status == 'error' for r in results)} failed"
    )
    return "\n".join(lines)


def run_feedback_release(args: argparse.Namespace) -> int:
    course, grading = _open(args)
    _quiet_nbgrader(args)
    written = release_feedback(course, args.assignment, grading, student=args.student)
    hidden = "shown" if grading.reveals_hidden_tests(course.name) else "hidden"
    print(
        f"feedback for {len(written)} notebooks in {course.root / 'feedback'} "
        f"(hidden tests {hidden})"
    )
    return 0


def run_grades_export(args: argparse.Namespace) -> int:
    course, _ = _open(args)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            rows = export_grades(course, out, args.format)
        print(f"{rows} rows written to {args.output}", file=sys.stderr)
    else:
        export_grades(course, sys.stdout, args.format)
    return 0
