"""``aione curriculum``: test and validate the AI+X course catalog.

Only formatting lives here: the work is done by :mod:`graders.curriculum`
and :mod:`graders.catalog`.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from graders.catalog import find_courses_dir, load_catalog
from graders.curriculum import AssignmentResult, CurriculumReport, CurriculumRunner, cpu_count

EPILOG = """\
examples:
  aione curriculum test                         every assignment, quick mode, one job per core
  aione curriculum test --track foundations     one track
  aione curriculum test --track finance --assignment fraud_detection
  aione curriculum test --jobs 2 --junit curriculum.xml   CI: JUnit XML report, exit 1 on failure
  aione curriculum test --gpu --track manufacturing       DEVICE="cuda" for gpu: true notebooks
  aione curriculum test --full --jobs 1                   full mode (no QUICK, no budgets)
  aione curriculum test --work-dir /tmp/cur     keep each nbgrader course folder to inspect
  aione curriculum validate                     check every course.yaml against its notebooks
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``aione curriculum`` with its ``test`` and ``validate`` subcommands."""
    parser = subparsers.add_parser(
        "curriculum",
        help="test or validate the course catalog (courses/)",
        description="Test every assignment of the course catalog with nbgrader, "
        "or validate the catalog files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="curriculum_command", metavar="ACTION")
    sub.required = True

    test = sub.add_parser(
        "test",
        help="generate, run and autograde every assignment",
        description="For every assignment: generate the student version with nbgrader, "
        "autograde the solution (must get full points) and the untouched student version "
        "(must get zero, with errors only in answer and test cells), and check each run "
        "against budget_s. Exit 1 on any failure.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_selection(test)
    test.add_argument(
        "--assignment", metavar="A", help="only this assignment (its id in course.yaml)"
    )
    test.add_argument(
        "--jobs",
        type=_positive_int,
        default=cpu_count(),
        metavar="N",
        help="assignments tested in parallel (default: CPU cores, here %(default)s)",
    )
    test.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    test.add_argument(
        "--gpu",
        action="store_true",
        help='inject DEVICE="cuda" into gpu: true notebooks; fail if CUDA is not available',
    )
    test.add_argument(
        "--full", action="store_true", help="full mode: do not inject QUICK=True, skip budgets"
    )
    test.add_argument(
        "--work-dir",
        metavar="DIR",
        help="keep each nbgrader course folder in DIR/<track>/<assignment> for inspection",
    )
    test.set_defaults(func=run_test)

    validate = sub.add_parser(
        "validate",
        help="check course.yaml files against the notebooks (no execution)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_selection(validate)
    validate.set_defaults(func=run_validate)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--track", metavar="T", help="only this track (a folder of courses/)")
    parser.add_argument(
        "--courses-dir",
        metavar="DIR",
        help="catalog folder (default: ./courses, else the repository's courses/)",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def run_validate(args: argparse.Namespace) -> int:
    """Validate the catalog; print a one-line summary. Errors raise CurriculumError."""
    courses_dir = find_courses_dir(args.courses_dir)
    courses = load_catalog(courses_dir, [args.track] if args.track else None)
    count = sum(len(c.entry.assignments) for c in courses)
    print(f"{courses_dir}: {len(courses)} tracks, {count} assignments valid")
    return 0


def run_test(args: argparse.Namespace) -> int:
    """Run the curriculum test; print progress, a table and optionally JUnit XML."""
    runner = CurriculumRunner(
        courses_dir=args.courses_dir or "",
        jobs=args.jobs,
        gpu=args.gpu,
        full=args.full,
        work_dir=args.work_dir or "",
    )
    report = runner.test(args.track, args.assignment, on_result=_progress)
    print(format_table(report))
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_bytes(junit_xml(report))
        print(f"JUnit report: {args.junit}", file=sys.stderr)
    return 0 if report.passed else 1


def _progress(result: AssignmentResult, done: int, total: int) -> None:
    status = "PASS" if result.passed else "FAIL"
    print(
        f"[{done}/{total}] {status} {result.track}/{result.assignment} ({result.seconds:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    for failure in result.failures:
        print(f"    - {failure}", file=sys.stderr, flush=True)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _score(result: AssignmentResult) -> str:
    if result.max_score is None:
        return "-"
    solution = "?" if result.solution_score is None else f"{result.solution_score:g}"
    student = "?" if result.student_score is None else f"{result.student_score:g}"
    return f"{solution}/{result.max_score:g} | {student}"


def format_table(report: CurriculumReport) -> str:
    """The summary table: one row per assignment, failures listed below, then totals."""
    header = (
        "track",
        "assignment",
        "result",
        "time s",
        "solution s",
        "student s",
        "budget s",
        "points sol | stu",
    )
    rows = [
        (
            r.track,
            r.assignment,
            "PASS" if r.passed else "FAIL",
            _seconds(r.seconds),
            _seconds(r.solution_s),
            _seconds(r.student_s),
            "-" if r.budget_s is None else f"{r.budget_s:g}",
            _score(r),
        )
        for r in report.results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for result in report.failed:
        lines.append(f"\nFAIL {result.track}/{result.assignment}")
        lines += [f"  - {failure}" for failure in result.failures]
    failed = len(report.failed)
    lines.append(
        f"\n{len(report.results)} assignments: {len(report.results) - failed} passed, "
        f"{failed} failed in {report.seconds:.1f} s"
    )
    return "\n".join(lines)


def junit_xml(report: CurriculumReport) -> bytes:
    """A JUnit XML document: one testsuite per track, one testcase per assignment."""
    root = ET.Element(
        "testsuites",
        name="aione curriculum",
        tests=str(len(report.results)),
        failures=str(len(report.failed)),
        time=f"{report.seconds:.3f}",
    )
    for track in dict.fromkeys(r.track for r in report.results):
        results = [r for r in report.results if r.track == track]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=track,
            tests=str(len(results)),
            failures=str(sum(not r.passed for r in results)),
            errors="0",
            time=f"{sum(r.seconds for r in results):.3f}",
        )
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"curriculum.{track}",
                name=result.assignment,
                time=f"{result.seconds:.3f}",
            )
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=result.failures[0][:500])
                failure.set("type", "CurriculumFailure")
                failure.text = "\n".join(result.failures)
            out = ET.SubElement(case, "system-out")
            out.text = (
                f"solution {_seconds(result.solution_s)} s, student {_seconds(result.student_s)} s, "
                f"budget {'-' if result.budget_s is None else f'{result.budget_s:g}'} s, "
                f"points {_score(result)}"
            )
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
