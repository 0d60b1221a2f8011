"""``aione assignment release|collect|list`` and ``aione feedback deliver``.

Host-side: these read and write the exchange store in the state directory
directly (see :mod:`graders.exchange.host`), so they work whether or not the
hub is running and need no token. Only formatting lives here.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime
from pathlib import Path

from graders.course import Course
from graders.exchange import host
from graders.exchange.archive import human_size
from graders.exchange.store import ExchangeStore, parse_due
from graders.settings import load_grading_settings

ASSIGNMENT_EPILOG = """\
examples:
  aione assignment release foundations ps1 --due 2026-12-01T09:00+09:00
        publish <courses>/foundations/release/ps1/ to the course's learners, due then
  aione assignment release foundations ps1 --force
        replace the released files (submissions so far are kept)
  aione assignment list foundations
        released assignments, due dates, submissions and late attempts
  aione assignment collect foundations ps1
        each learner's latest attempt into <courses>/foundations/submitted/<learner>/ps1/
  aione assignment collect foundations ps1 --before-due
        the latest attempt on time instead (if a learner has none on time: their latest)

Every attempt stays in the exchange (<state_dir>/exchange); collect copies.
"""

DELIVER_EPILOG = """\
examples:
  aione feedback deliver foundations ps1
        deliver <courses>/foundations/feedback/*/ps1/ to each learner's attempt
  aione feedback deliver foundations ps1 --student alice

Learners then fetch it (Assignments tab: "Fetch Feedback", or
`nbgrader fetch_feedback ps1`). Generate it first with
`aione feedback release COURSE ASSIGNMENT`.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``assignment`` and, under ``feedback`` (shared with the grading
    commands, created here if they are not registered yet), ``deliver``."""
    parser = _parser(subparsers, "assignment", "release, collect and list assignments",
                     ASSIGNMENT_EPILOG)  # fmt: skip
    sub = parser.add_subparsers(dest="assignment_command", metavar="ACTION")
    sub.required = True

    rel = _parser(sub, "release", "publish an assignment to a course's learners",
                  ASSIGNMENT_EPILOG)  # fmt: skip
    _course_assignment(rel)
    rel.add_argument("--due", metavar="WHEN",
                     help="due date with time zone, e.g. 2026-12-01T09:00+09:00")  # fmt: skip
    rel.add_argument("--force", action="store_true", help="replace an earlier release")
    rel.set_defaults(func=run_release)

    col = _parser(sub, "collect", "copy the latest attempts into submitted/", ASSIGNMENT_EPILOG)
    _course_assignment(col)
    col.add_argument("--before-due", action="store_true",
                     help="collect the latest attempt made on time")  # fmt: skip
    col.add_argument("--student", action="append", metavar="S", help="only this learner (repeat)")
    col.set_defaults(func=run_collect)

    lst = _parser(sub, "list", "released assignments and their submissions", ASSIGNMENT_EPILOG)
    lst.add_argument("course", help="course id")
    lst.set_defaults(func=run_list)

    deliver = _parser(_feedback_actions(subparsers), "deliver",
                      "deliver generated feedback to learners", DELIVER_EPILOG)  # fmt: skip
    _course_assignment(deliver)
    deliver.add_argument("--student", action="append", metavar="S",
                         help="only this learner (repeat)")  # fmt: skip
    deliver.set_defaults(func=run_deliver)


def _feedback_actions(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-commands of ``aione feedback``, creating the parser if needed."""
    existing = subparsers.choices.get("feedback")
    if existing is not None:
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                existing.epilog = (existing.epilog or "") + "\n" + DELIVER_EPILOG
                return action
    feedback = _parser(subparsers, "feedback", "feedback for graded submissions", DELIVER_EPILOG)
    actions = feedback.add_subparsers(dest="feedback_command", metavar="ACTION")
    actions.required = True
    return actions


def _parser(
    subparsers: argparse._SubParsersAction,
    name: str,
    help_text: str,
    epilog: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--config", help="settings file (default: $AIONE_CONFIG, /etc/aione/aione.yaml)"
    )
    return parser


def _course_assignment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("course", help="course id (listed under 'courses:' in the settings)")
    parser.add_argument("assignment", help="assignment id, as in nbgrader")


def _open(args: argparse.Namespace) -> tuple[ExchangeStore, Course]:
    settings, grading = load_grading_settings(args.config)
    host.require_course(settings, args.course)
    course = Course.open(settings.state_dir, grading, args.course)
    return host.store_for(settings), course


def run_release(args: argparse.Namespace) -> int:
    store, course = _open(args)
    due = parse_due(args.due) if args.due else None
    rel = host.release(store, course.root, course.name, args.assignment, due=due,
                       force=args.force, db_url=course.db_url)  # fmt: skip
    size = human_size(sum(f.size for f in rel.files))
    due_text = f", due {rel.due.isoformat()}" if rel.due else ", no due date"
    print(f"released {course.name}/{rel.assignment}: {len(rel.files)} files ({size}), "
          f"notebooks: {', '.join(rel.notebooks) or 'none'}{due_text}")  # fmt: skip
    return 0


def run_collect(args: argparse.Namespace) -> int:
    store, course = _open(args)
    done = host.collect(store, course.root, course.name, args.assignment,
                        before_due=args.before_due, students=args.student)  # fmt: skip
    for item in done:
        late = " LATE" if item.attempt.late else ""
        print(f"  {item.attempt.student:<24} {item.action:<10} {item.attempt.timestamp}{late}")
    counts = Counter(item.action for item in done)
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no submissions"
    print(f"{course.name}/{args.assignment}: {summary} in {course.root / 'submitted'}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings, _grading = load_grading_settings(args.config)
    host.require_course(settings, args.course)
    store = host.store_for(settings)
    releases = store.releases(args.course)
    attempts = store.attempts(args.course)
    if not releases and not attempts:
        print(f"{args.course}: nothing released yet")
        return 0
    print(f"{'assignment':<28} {'due':<26} {'learners':>8} {'attempts':>8} {'late':>5}")
    names = sorted({r.assignment for r in releases} | {a.assignment for a in attempts})
    due = {r.assignment: r.due for r in releases}
    for name in names:
        mine = [a for a in attempts if a.assignment == name]
        when = _due_text(due, name)
        print(f"{name:<28} {when:<26} {len({a.student for a in mine}):>8} {len(mine):>8} "
              f"{sum(a.late for a in mine):>5}")  # fmt: skip
    return 0


def _due_text(due: dict[str, datetime | None], name: str) -> str:
    if name not in due:
        return "(withdrawn)"
    when = due[name]
    return when.isoformat() if when else "-"


def run_deliver(args: argparse.Namespace) -> int:
    store, course = _open(args)
    delivered = host.deliver_feedback(store, course.root, course.name, args.assignment,
                                      students=args.student)  # fmt: skip
    for fb in delivered:
        names = ", ".join(Path(f.path).name for f in fb.files)
        print(f"  {fb.student:<24} {fb.timestamp}  {names}")
    print(f"{course.name}/{args.assignment}: feedback delivered to {len(delivered)} learners")
    return 0
