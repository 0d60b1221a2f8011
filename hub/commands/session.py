"""``aione session``: schedule, list and cancel lab sessions (see :mod:`hub.sessions`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta

from hub import sessions
from hub.errors import SessionError
from hub.hubapi import TOKEN_ENV, client_from_environment
from hub.hubconfig import ensure_state_dir
from hub.rbac import cohort_group
from hub.sessions import Session, SessionStore
from hub.settings import Settings, load_settings

EPILOG = """\
examples:
  aione session schedule acme-2026 --at 2026-03-02T09:00 --duration 90m
      the servers of cohort acme-2026 start from 08:50 (the default lead, 10m), so the
      learners find them running at 09:00; they are stopped after 10:30
  aione session schedule acme-2026 --at 2026-03-02T09:00+09:00 --duration 2h --lead 20m
      a time with its offset; start the servers 20 minutes ahead (large cohorts)
  aione session list
  aione session list --all --json
      every session, ended ones included, as JSON
  aione session cancel 3
      nothing starts; servers already started for it are stopped within seconds

TIME is ISO 8601, local time unless it carries an offset (+09:00, Z).
D and --lead: 90m, 2h, 1h30m, 45s. The hub's aione-sessions service does the work:
the hub must run (aione up) at the lead time. With $AIONE_API_TOKEN set, schedule
checks that the cohort exists on the hub and warns when the lead looks too short.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    parser = sub.add_parser(
        "session",
        help="schedule lab sessions: learners' servers start before the class",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", help="settings file (default: $AIONE_CONFIG, /etc/aione/aione.yaml)"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    sch = actions.add_parser(
        "schedule",
        help="schedule a session of a cohort",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sch.add_argument("cohort", help="cohort name, e.g. acme-2026")
    sch.add_argument("--at", required=True, metavar="TIME", help="when the class begins")
    sch.add_argument("--duration", required=True, metavar="D", help="how long, e.g. 90m or 2h")
    sch.add_argument("--lead", metavar="D", help="start servers this early (default: 10m)")
    sch.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sch.set_defaults(func=_schedule)

    lst = actions.add_parser("list", help="sessions that have not ended")
    lst.add_argument("--all", action="store_true", help="also ended, missed and cancelled ones")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    lst.set_defaults(func=_list)

    can = actions.add_parser("cancel", help="cancel a session")
    can.add_argument("id", type=int, help="session id (see 'aione session list')")
    can.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    can.set_defaults(func=_cancel)


def _store(settings: Settings) -> SessionStore:
    ensure_state_dir(settings.state_dir)
    return SessionStore(sessions.db_path(settings.state_dir))


def _duration(text: str, option: str) -> timedelta:
    try:
        return sessions.parse_duration(text)
    except ValueError as err:
        raise SessionError(f"{option}: {err}") from None


def _schedule(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    cfg = sessions.sessions_settings(settings)
    try:
        starts_at = sessions.parse_when(args.at)
    except ValueError as err:
        raise SessionError(f"--at: {err}") from None
    duration = _duration(args.duration, "--duration")
    lead = _duration(args.lead, "--lead") if args.lead else timedelta(seconds=cfg.lead)
    sessions.validate_new(args.cohort, starts_at, starts_at + duration, datetime.now(UTC))
    sessions.check_lead(lead, settings)
    members = _members(settings, args.cohort)
    session = _store(settings).add(args.cohort, starts_at, starts_at + duration, lead)
    print(
        f"session {session.id}: {session.cohort} from {sessions.local(session.starts_at)} "
        f"to {sessions.local(session.ends_at)}; servers start from "
        f"{sessions.local(session.prestart_at)}"
    )
    if members is not None:
        _warn_if_short(members, lead, cfg)
        _warn_if_too_many(members, settings)
    return 0


def _members(settings: Settings, cohort: str) -> int | None:
    """How many members the cohort has on the hub (None: no token to ask with)."""
    if not os.environ.get(TOKEN_ENV):
        print(
            f"aione: warning: ${TOKEN_ENV} is unset, so cohort {cohort} was not checked on the hub",
            file=sys.stderr,
        )
        return None
    with client_from_environment(settings) as client:
        group = client.group(cohort_group(cohort))
    if group is None:
        raise SessionError(
            f"the hub has no cohort {cohort}; import its roster first "
            f"(aione cohort import ROSTER.csv --cohort {cohort}) or check the name"
        )
    return len(group.get("users") or [])


def _warn_if_short(members: int, lead: timedelta, cfg: sessions.SessionsSection) -> None:
    concurrency = cfg.concurrency or os.cpu_count() or 1
    needed = sessions.prestart_estimate(members, concurrency, cfg.start_seconds)
    print(
        f"{members} servers, {concurrency} at a time: ~{sessions.format_duration(needed)} "
        f"of the {sessions.format_duration(lead)} lead"
    )
    if needed > lead:
        print(
            f"aione: warning: starting {members} servers takes ~"
            f"{sessions.format_duration(needed)}, longer than the lead; give a longer --lead "
            "or raise sessions.concurrency",
            file=sys.stderr,
        )


def _warn_if_too_many(members: int, settings: Settings) -> None:
    capacity = settings.spawner.max_servers
    if capacity is not None and members > capacity:
        print(
            f"aione: warning: the cohort has {members} members but this host runs at most "
            f"{capacity} learner servers (spawner.max_servers); the rest are refused as "
            "'host full'",
            file=sys.stderr,
        )


def _row(session: Session, counts: dict[str, int]) -> dict[str, object]:
    return {
        "id": session.id,
        "cohort": session.cohort,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "lead_s": int(session.lead.total_seconds()),
        "state": session.state,
        "cancelled": session.cancelled_at is not None,
        "servers": counts,
        "note": session.note,
    }


def _list(args: argparse.Namespace) -> int:
    store = _store(load_settings(args.config))
    found = store.sessions(open_only=not args.all)
    if args.json:
        print(json.dumps([_row(s, store.counts(s.id)) for s in found], indent=1))
        return 0
    if not found:
        print("no sessions" if args.all else "no open sessions (--all shows ended ones)")
        return 0
    print(f"{'ID':>4}  {'COHORT':<20} {'STARTS':<22} {'ENDS':<22} {'LEAD':<6} STATE / SERVERS")
    for s in found:
        counts = store.counts(s.id)
        servers = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        print(
            f"{s.id:>4}  {s.cohort:<20} {sessions.local(s.starts_at):<22} "
            f"{sessions.local(s.ends_at):<22} {sessions.format_duration(s.lead):<6} "
            f"{s.status}{' / ' + servers if servers else ''}"
        )
    return 0


def _cancel(args: argparse.Namespace) -> int:
    session = _store(load_settings(args.config)).cancel(args.id)
    if session.state in (sessions.STARTING, sessions.STARTED):
        print(f"session {session.id} cancelled; the servers it started are stopped within seconds")
    else:
        print(f"session {session.id} cancelled; nothing will start")
    return 0
