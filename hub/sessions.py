"""Scheduled lab sessions: learners' servers are started before a class begins.

A lab that begins at 9:00 with sixty learners cannot start sixty JupyterLab
servers when they click "start" (one start costs ~3 CPU-seconds; on two cores
sixty take at least 90 s, and the hub's timeouts fail most of them). A
*session* says when a cohort's class begins and ends; the ``aione-sessions``
service (:mod:`hub.sessions_service`, run by the hub as ``python -m
hub.sessions``) starts the servers of the cohort's members ``lead`` before the
start, a few at a time, so a learner who arrives finds a running server.

The session's life (``state``), decided by the pure functions below and
carried out by the service:

- ``scheduled``: stored by ``aione session schedule``;
- ``starting``: the lead time has come (:func:`due_to_start`); the members'
  servers are being started, ``concurrency`` at a time;
- ``started``: every member's start was tried;
- ``ended``: the session's end has come (:func:`due_to_end`) or it was
  cancelled; the servers the service started were stopped, except those the
  learner is still using (:func:`keep_running`), which are left to the idle
  culler;
- ``missed``: the session ended before the service could start anything
  (the hub was down for the whole session).

A cancelled session keeps its state and gets ``cancelled_at``; a cancelled
session that had started servers is ended at the service's next check.

Servers the service did not start (a learner who started their own before the
lead time) are never stopped by it. When a learner is in two sessions that
overlap, the server passes to the later session instead of being stopped.

Sessions live in ``<state_dir>/sessions.sqlite`` (mode 0600), written by the
CLI and by the service; every row's times are UTC ISO 8601.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from traitlets.config import Config

from hub.errors import SessionError, SettingsError
from hub.rbac import COHORT_NAME_RE

if TYPE_CHECKING:
    from hub.configure import Runtime
    from hub.settings import Settings

DB_NAME = "sessions.sqlite"
SERVICE_NAME = "aione-sessions"
#: Scopes of the sessions service: read cohort groups and users' servers, start and stop them.
SESSIONS_SCOPES = [
    "list:groups",
    "read:groups",
    "list:users",
    "read:users:name",
    "read:users:activity",
    "read:servers",
    "servers",
]
#: Activity within this long after a pre-started server became ready is the start itself.
USE_MARGIN = timedelta(seconds=60)

# States of a session (see the module docstring).
SCHEDULED, STARTING, STARTED, ENDED, MISSED = "scheduled", "starting", "started", "ended", "missed"
STATES = (SCHEDULED, STARTING, STARTED, ENDED, MISSED)
# Outcomes of one member's server in one session.
PENDING = "pending"  # the service asked the hub to start it and waits
OURS = "started"  # the service started it: it stops it when the session ends
THEIRS = "already_running"  # it ran before the service came: never stopped by the service
REFUSED = "refused"  # the hub refused the start (access ended, one-time password unchanged)
FAILED = "failed"  # the start failed or timed out
STOPPED = "stopped"  # stopped at the session's end
KEPT = "kept"  # left running at the end: the learner was still using it
HANDED_OVER = "handed_over"  # passed to another session that is still on
GONE = "gone"  # no longer running when the session ended
DONE_OUTCOMES = (OURS, THEIRS, REFUSED)

_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_FORMS = "write e.g. 90m, 2h, 1h30m or 45s"


# --- parsing ------------------------------------------------------------------------


def parse_duration(text: str | int) -> timedelta:
    """A duration from ``90m``, ``2h``, ``1h30m``, ``45s`` (or an int of seconds).

    Raises ValueError naming the accepted forms.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text} is negative; {DURATION_FORMS}")
        return timedelta(seconds=text)
    match = _DURATION_RE.match(str(text).strip().lower())
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; {DURATION_FORMS}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """``1h30m``, ``10m``, ``45s``: the inverse of :func:`parse_duration`."""
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{seconds}s" if seconds or not (hours or minutes) else "")
    return "".join(parts)


def parse_when(text: str) -> datetime:
    """A moment from ISO 8601: ``2026-03-02T09:00+09:00``, ``...Z``, or local time
    without an offset (``2026-03-02 09:00``). Returns an aware datetime in UTC.

    Raises ValueError naming the accepted forms.
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; write YYYY-MM-DDTHH:MM in local time "
            "(e.g. 2026-03-02T09:00) or with an offset (2026-03-02T09:00+09:00)"
        ) from None
    if len(text.strip()) <= 10:
        raise ValueError(f"{text!r} has no time of day; write e.g. {text.strip()}T09:00")
    return (moment if moment.tzinfo else moment.astimezone()).astimezone(UTC)


def local(moment: datetime) -> str:
    """``2026-03-02 09:00 +0900``: a moment in the host's local time, for people."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %z")


# --- settings -----------------------------------------------------------------------


class SessionsSection(BaseModel):
    """The ``sessions:`` settings section: the service that starts servers before classes."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="Run the aione-sessions service.")
    lead: int = Field(
        600,
        ge=0,
        description=(
            "Default lead time: start servers this long before a session begins "
            "(seconds, or 10m, 1h). Must be shorter than culler.timeout."
        ),
    )
    concurrency: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Servers started at once; default: the host's CPU cores.",
    )
    every: int = Field(5, ge=1, le=300, description="Check the schedule this often (seconds).")
    keep_active: int = Field(
        900,
        ge=0,
        description=(
            "At a session's end, leave running a server the learner used within this "
            "long (seconds, or 15m); the idle culler stops it later. 0: always stop."
        ),
    )
    attempts: int = Field(2, ge=1, le=5, description="Tries to start each member's server.")
    start_seconds: float = Field(
        6.0,
        gt=0,
        description=(
            "Wall seconds one server start takes on this host (measure with "
            "benchmarks/class_start.py); used to warn when a lead time is too short."
        ),
    )

    @field_validator("lead", "keep_active", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return int(parse_duration(value).total_seconds())
        return value


def sessions_settings(settings: Any) -> SessionsSection:
    """The ``sessions`` section of the operator settings, or the defaults where the
    settings have none."""
    section = getattr(settings, "sessions", None)
    return section if isinstance(section, SessionsSection) else SessionsSection()


def db_path(state_dir: Path) -> Path:
    """Where sessions are stored."""
    return Path(state_dir) / DB_NAME


def check_lead(lead: timedelta, settings: Settings) -> None:
    """Raise :class:`SessionError` when the idle culler would stop servers started
    ``lead`` before a session before the learners arrive."""
    culler = settings.culler
    if culler.enabled and lead.total_seconds() >= culler.timeout:
        raise SessionError(
            f"lead time {format_duration(lead)} is not shorter than culler.timeout "
            f"({culler.timeout} s): the idle culler would stop the servers before the "
            "learners arrive; give a shorter --lead or raise culler.timeout"
        )


def update_sessions(c: Config, s: Settings, rt: Runtime) -> None:
    """Add the ``aione-sessions`` managed service and its role to what earlier
    updates configured (appends to ``services`` and ``load_roles``).

    Raises :class:`SettingsError` when ``sessions.lead`` is not shorter than
    ``culler.timeout``.
    """
    cfg = sessions_settings(s)
    if not cfg.enabled:
        return
    try:
        check_lead(timedelta(seconds=cfg.lead), s)
    except SessionError as err:
        raise SettingsError(f"sessions.lead: {err}") from err
    command = [
        rt.python,
        "-m",
        "hub.sessions",
        f"--db={db_path(s.state_dir)}",
        f"--every={cfg.every}",
        f"--keep-active={cfg.keep_active}",
        f"--attempts={cfg.attempts}",
        f"--start-timeout={s.hub.start_timeout + s.hub.http_timeout + 60}",
    ]
    if cfg.concurrency:
        command.append(f"--concurrency={cfg.concurrency}")
    c.JupyterHub.services = [
        *c.JupyterHub.get("services", []),
        {"name": SERVICE_NAME, "command": command},
    ]
    c.JupyterHub.load_roles = [
        *c.JupyterHub.get("load_roles", []),
        {
            "name": SERVICE_NAME,
            "description": "Start cohort members' servers before scheduled sessions",
            "scopes": list(SESSIONS_SCOPES),
            "services": [SERVICE_NAME],
        },
    ]


# --- the model and the pure decisions -----------------------------------------------


@dataclass(frozen=True)
class Session:
    """One scheduled lab session of a cohort."""

    id: int
    cohort: str
    starts_at: datetime
    ends_at: datetime
    lead: timedelta
    state: str = SCHEDULED
    cancelled_at: datetime | None = None
    note: str = ""

    @property
    def prestart_at(self) -> datetime:
        """When the service begins starting the members' servers."""
        return self.starts_at - self.lead

    @property
    def status(self) -> str:
        """The state for people: ``cancelled`` wins over the others."""
        return f"cancelled ({self.state})" if self.cancelled_at else self.state


@dataclass(frozen=True)
class ServerRow:
    """What happened to one member's server in one session."""

    session_id: int
    username: str
    outcome: str
    detail: str = ""
    attempts: int = 0
    ready_at: datetime | None = None


def validate_new(cohort: str, starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """Raise :class:`SessionError` when a session cannot be scheduled as given."""
    if not COHORT_NAME_RE.match(cohort):
        raise SessionError(
            f"{cohort!r} is not a cohort name; use the name given to 'aione cohort import' "
            "(lowercase letters, digits, dashes), e.g. acme-2026"
        )
    if ends_at <= starts_at:
        raise SessionError("the duration must be longer than 0; give e.g. --duration 90m")
    if ends_at - starts_at > timedelta(hours=24):
        raise SessionError("a session lasts at most 24 h; schedule one session per day")
    if ends_at <= now:
        raise SessionError(
            f"the session would end at {local(ends_at)}, which has passed; give a later --at"
        )


def due_to_start(sessions: Iterable[Session], now: datetime) -> list[Session]:
    """Scheduled, not cancelled sessions whose lead time has come and that have not ended."""
    return [
        s
        for s in sessions
        if s.state == SCHEDULED and not s.cancelled_at and s.prestart_at <= now < s.ends_at
    ]


def missed(sessions: Iterable[Session], now: datetime) -> list[Session]:
    """Scheduled, not cancelled sessions that ended before anything was started."""
    return [s for s in sessions if s.state == SCHEDULED and not s.cancelled_at and now >= s.ends_at]


def due_to_end(sessions: Iterable[Session], now: datetime) -> list[Session]:
    """Sessions whose servers are all started and that have ended or were cancelled."""
    return [s for s in sessions if s.state == STARTED and (s.cancelled_at or now >= s.ends_at)]


def keep_running(
    ready_at: datetime | None,
    last_activity: datetime | None,
    now: datetime,
    keep_active: timedelta,
) -> bool:
    """Should a server the service started stay up at its session's end?

    Yes when the learner used it: the hub saw activity later than
    :data:`USE_MARGIN` after the server became ready (so the start itself is not
    use) and within ``keep_active`` of ``now``. ``keep_active`` of 0 always stops.
    """
    if not keep_active or last_activity is None:
        return False
    used = ready_at is None or last_activity > ready_at + USE_MARGIN
    return used and now - last_activity < keep_active


def handover_targets(
    ending: Session, users: Sequence[str], claims: Iterable[tuple[int, str]]
) -> dict[str, int]:
    """Which of ``users`` (servers ``ending`` started) another session still needs.

    ``claims`` are ``(session_id, username)`` of sessions that are starting or
    started and not cancelled. Returns username -> the session to hand over to.
    """
    wanted = set(users)
    targets: dict[str, int] = {}
    for session_id, user in sorted(claims):
        if session_id != ending.id and user in wanted and user not in targets:
            targets[user] = session_id
    return targets


def prestart_estimate(members: int, concurrency: int, start_seconds: float) -> timedelta:
    """How long starting ``members`` servers ``concurrency`` at a time takes."""
    rounds = -(-members // max(concurrency, 1))
    return timedelta(seconds=rounds * start_seconds)


def next_check(sessions: Iterable[Session], now: datetime, every: float) -> float:
    """Seconds until the service should look again: ``every``, or sooner when a
    session's lead time or end comes first (never less than 0.2 s)."""
    moments = []
    for s in sessions:
        if s.state == SCHEDULED and not s.cancelled_at:
            moments.append(s.prestart_at)
        if s.state in (STARTING, STARTED):
            moments.append(s.ends_at)
    soonest = min(((m - now).total_seconds() for m in moments if m > now), default=every)
    return max(0.2, min(every, soonest))


# --- the store ----------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " cohort TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT NOT NULL,"
    " lead_s INTEGER NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,"
    " cancelled_at TEXT, note TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS session_servers (session_id INTEGER NOT NULL"
    " REFERENCES sessions(id), username TEXT NOT NULL, outcome TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,"
    " ready_at TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (session_id, username))",
)
_COLUMNS = "id, cohort, starts_at, ends_at, lead_s, state, cancelled_at, note"


class SessionStore:
    """Sessions and their servers in one SQLite file (mode 0600); safe for the CLI
    and the service to use at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        with self._db() as db:
            for statement in _SCHEMA:
                db.execute(statement)
        self.path.chmod(0o600)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    @staticmethod
    def _session(row: Sequence[Any]) -> Session:
        return Session(
            id=row[0],
            cohort=row[1],
            starts_at=datetime.fromisoformat(row[2]),
            ends_at=datetime.fromisoformat(row[3]),
            lead=timedelta(seconds=row[4]),
            state=row[5],
            cancelled_at=_dt(row[6]),
            note=row[7],
        )

    def add(self, cohort: str, starts_at: datetime, ends_at: datetime, lead: timedelta) -> Session:
        """Store a new scheduled session and return it."""
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO sessions (cohort, starts_at, ends_at, lead_s, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cohort,
                    _iso(starts_at),
                    _iso(ends_at),
                    int(lead.total_seconds()),
                    SCHEDULED,
                    _iso(datetime.now(UTC)),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return self.get(new_id)

    def get(self, session_id: int) -> Session:
        """The session; raises :class:`SessionError` when there is none."""
        with self._db() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id=?", (session_id,)
            ).fetchone()
        if row is None:
            raise SessionError(f"there is no session {session_id}; see 'aione session list --all'")
        return self._session(row)

    def sessions(self, *, open_only: bool = False) -> list[Session]:
        """Every session by start time; ``open_only``: those not ended, missed or
        cancelled before starting anything."""
        query = f"SELECT {_COLUMNS} FROM sessions"
        if open_only:
            query += (
                f" WHERE state IN ('{SCHEDULED}', '{STARTING}', '{STARTED}')"
                f" AND NOT (cancelled_at IS NOT NULL AND state = '{SCHEDULED}')"
            )
        with self._db() as db:
            rows = db.execute(query + " ORDER BY starts_at, id").fetchall()
        return [self._session(r) for r in rows]

    def set_state(self, session_id: int, state: str, note: str | None = None) -> None:
        """Move a session to ``state`` (and replace its note when given)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._db() as db:
            db.execute(
                "UPDATE sessions SET state=?, note=COALESCE(?, note) WHERE id=?",
                (state, note, session_id),
            )

    def cancel(self, session_id: int) -> Session:
        """Mark a session cancelled. Raises :class:`SessionError` when it has ended
        or was cancelled already."""
        session = self.get(session_id)
        if session.cancelled_at:
            raise SessionError(f"session {session_id} is cancelled already")
        if session.state in (ENDED, MISSED):
            raise SessionError(f"session {session_id} has {session.state}; nothing to cancel")
        with self._db() as db:
            db.execute(
                "UPDATE sessions SET cancelled_at=? WHERE id=?",
                (_iso(datetime.now(UTC)), session_id),
            )
        return self.get(session_id)

    def record(
        self,
        session_id: int,
        username: str,
        outcome: str,
        detail: str = "",
        *,
        ready_at: datetime | None = None,
        attempt: bool = False,
    ) -> None:
        """Set what happened to ``username``'s server in the session; ``attempt``
        counts one more start attempt. A ``ready_at`` of None keeps the old one."""
        with self._db() as db:
            db.execute(
                "INSERT INTO session_servers (session_id, username, outcome, detail, attempts,"
                " ready_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(session_id, username) DO UPDATE SET outcome=excluded.outcome,"
                " detail=excluded.detail, attempts=attempts + excluded.attempts,"
                " ready_at=COALESCE(excluded.ready_at, ready_at), updated_at=excluded.updated_at",
                (
                    session_id,
                    username,
                    outcome,
                    detail,
                    int(attempt),
                    _iso(ready_at),
                    _iso(datetime.now(UTC)),
                ),
            )

    def servers(self, session_id: int) -> list[ServerRow]:
        """What happened to each member's server in the session, by user name."""
        with self._db() as db:
            rows = db.execute(
                "SELECT session_id, username, outcome, detail, attempts, ready_at"
                " FROM session_servers WHERE session_id=? ORDER BY username",
                (session_id,),
            ).fetchall()
        return [ServerRow(r[0], r[1], r[2], r[3], r[4], _dt(r[5])) for r in rows]

    def claims(self) -> list[tuple[int, str]]:
        """``(session_id, username)`` of every member of sessions that are starting
        or started and not cancelled (see :func:`handover_targets`)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT v.session_id, v.username FROM session_servers v JOIN sessions s"
                " ON s.id = v.session_id WHERE s.state IN (?, ?) AND s.cancelled_at IS NULL",
                (STARTING, STARTED),
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def counts(self, session_id: int) -> dict[str, int]:
        """Number of members per outcome in the session."""
        with self._db() as db:
            rows = db.execute(
                "SELECT outcome, COUNT(*) FROM session_servers WHERE session_id=? GROUP BY outcome",
                (session_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}


if __name__ == "__main__":  # pragma: no cover - the managed service's entry point
    from hub.sessions_service import main

    raise SystemExit(main())
