"""The ``aione-sessions`` managed service: carries out the schedule of
:mod:`hub.sessions` through the hub's REST API.

The hub runs it as ``python -m hub.sessions`` (see
:func:`hub.sessions.update_sessions`) with its own token in
``$JUPYTERHUB_API_TOKEN`` and the API's address in ``$JUPYTERHUB_API_URL``.
Every ``--every`` seconds (sooner when a lead time or an end comes first) it
reads the schedule and:

- marks sessions that ended before anything was started ``missed``;
- for a session whose lead time has come, reads the members of the group
  ``cohort-NAME`` and starts their servers on a pool of ``--concurrency``
  threads shared by all sessions (a thread holds its slot from the start
  request until the server is ready or failed, so at most that many servers
  start at once); each member is tried up to ``--attempts`` times;
- for a session that ended or was cancelled, stops the servers it started,
  :data:`STOP_THREADS` at a time (:func:`hub.sessions.keep_running` decides
  which stay up; a server another open session also needs is handed over to it).

What happened to each member is stored (:class:`hub.sessions.ServerRow`), so
a restarted service continues where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from hub.errors import AioneError, HubAPIError
from hub.hubapi import HubClient, HubRequestError
from hub.rbac import cohort_group
from hub.sessions import (
    DONE_OUTCOMES,
    ENDED,
    FAILED,
    GONE,
    HANDED_OVER,
    KEPT,
    MISSED,
    OURS,
    PENDING,
    REFUSED,
    STARTED,
    STARTING,
    STOPPED,
    THEIRS,
    Session,
    SessionStore,
    due_to_end,
    due_to_start,
    handover_targets,
    keep_running,
    local,
    missed,
    next_check,
)

log = logging.getLogger(__name__)

#: Servers stopped at once at a session's end (a stop is cheap, but the hub answers
#: only after up to 10 s).
STOP_THREADS = 8


def utcnow() -> datetime:
    """The current moment, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServiceOptions:
    """How the service works (from its command line, set by the settings)."""

    every: float = 5.0
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    keep_active: timedelta = timedelta(minutes=15)
    attempts: int = 2
    start_timeout: float = 240.0
    poll: float = 1.0


class SessionService:
    """Reads the schedule in ``store`` and starts and stops servers through the
    hub clients that ``connect`` makes (one per thread)."""

    def __init__(
        self,
        store: SessionStore,
        connect: Callable[[], HubClient],
        options: ServiceOptions,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.options = options
        self.clock = clock
        self.stopping = threading.Event()
        self._connect = connect
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(options.concurrency, thread_name_prefix="aione-prestart")
        self._jobs: dict[int, list[Future[None]]] = {}
        self._begun: dict[int, float] = {}

    def client(self) -> HubClient:
        """This thread's hub client."""
        found: HubClient | None = getattr(self._local, "client", None)
        if found is None:
            found = self._local.client = self._connect()
        return found

    # --- the loop -------------------------------------------------------------------

    def run(self) -> None:
        """Check the schedule until :attr:`stopping` is set; errors of the hub, the
        network and the store are logged and retried at the next check."""
        log.info(
            "Sessions service: %s servers at once, checks every %s s",
            self.options.concurrency,
            self.options.every,
        )
        while not self.stopping.is_set():
            try:
                wait = self.tick()
            except (AioneError, OSError, sqlite3.Error) as err:
                log.error("Sessions check failed, retrying in %s s: %s", self.options.every, err)
                wait = self.options.every
            self.stopping.wait(wait)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def tick(self) -> float:
        """One check of the schedule; returns the seconds until the next one."""
        now = self.clock()
        sessions = self.store.sessions(open_only=True)
        for s in missed(sessions, now):
            log.warning("Session %s of %s ended before it could be started", s.id, s.cohort)
            self.store.set_state(s.id, MISSED, "ended before the service could start servers")
        for s in due_to_start(sessions, now):
            self._begin(s)
        for s in self.store.sessions(open_only=True):
            if s.state == STARTING:
                self._check_started(s, now)
        for s in due_to_end(self.store.sessions(open_only=True), now):
            self._end(s, now)
        return next_check(self.store.sessions(open_only=True), self.clock(), self.options.every)

    # --- starting -------------------------------------------------------------------

    def _begin(self, session: Session) -> None:
        group = self.client().group(cohort_group(session.cohort))
        if group is None:
            log.error("Session %s: the hub has no cohort %s", session.id, session.cohort)
            self.store.set_state(
                session.id, MISSED, f"no group {cohort_group(session.cohort)} on the hub"
            )
            return
        members = sorted(group.get("users") or [])
        log.info(
            "Session %s of %s begins at %s: starting %d servers, %d at a time",
            session.id,
            session.cohort,
            local(session.starts_at),
            len(members),
            self.options.concurrency,
        )
        self.store.set_state(session.id, STARTING, f"{len(members)} members")
        self._submit(session, members)

    def _submit(self, session: Session, members: list[str]) -> None:
        done = {r.username for r in self.store.servers(session.id) if r.outcome in DONE_OUTCOMES}
        todo = [m for m in members if m not in done]
        self._begun[session.id] = time.monotonic()
        self._jobs[session.id] = [self._pool.submit(self._prestart, session, m) for m in todo]

    def _check_started(self, session: Session, now: datetime) -> None:
        jobs = self._jobs.get(session.id)
        if jobs is None:  # the service restarted while this session was starting
            group = self.client().group(cohort_group(session.cohort)) or {}
            self._submit(session, sorted(group.get("users") or []))
            return
        if not all(job.done() for job in jobs):
            return
        del self._jobs[session.id]
        took = time.monotonic() - self._begun.pop(session.id, time.monotonic())
        counts = self.store.counts(session.id)
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        log.info("Session %s: servers ready in %.0f s (%s)", session.id, took, summary)
        if now > session.starts_at:
            log.warning(
                "Session %s: the servers were ready %.0f s after the start; schedule with a "
                "longer --lead or raise sessions.concurrency",
                session.id,
                (now - session.starts_at).total_seconds(),
            )
        self.store.set_state(session.id, STARTED, f"{summary} in {took:.0f} s")

    def _prestart(self, session: Session, user: str) -> None:
        """Start ``user``'s server for ``session`` and record the outcome (never raises)."""
        try:
            for attempt in range(1, self.options.attempts + 1):
                if self.stopping.is_set() or self._cancelled(session.id):
                    return
                outcome = self._start_one(session, user)
                if outcome != FAILED:
                    return
                log.warning("Session %s: start %d of %s failed", session.id, attempt, user)
        except Exception as err:  # a job's error must not vanish in its future
            log.exception("Session %s: starting %s failed", session.id, user)
            self.store.record(session.id, user, FAILED, f"{type(err).__name__}: {err}")

    def _cancelled(self, session_id: int) -> bool:
        return self.store.get(session_id).cancelled_at is not None

    def _start_one(self, session: Session, user: str) -> str:
        path = f"/users/{quote(user, safe='')}"
        model = self.client().user(user)
        if model is None:
            self.store.record(session.id, user, REFUSED, "no such user on the hub")
            return REFUSED
        server = (model.get("servers") or {}).get("")
        mine = any(
            r.username == user and r.outcome in (PENDING, OURS)
            for r in self.store.servers(session.id)
        )
        if server and not mine:
            self.store.record(session.id, user, THEIRS, "running before the session")
            return THEIRS
        self.store.record(session.id, user, PENDING, attempt=True)
        if not server:
            refused = self._request_start(path)
            if refused is not None:
                # 403: access ended or one-time password; 404: no such user; 503: the
                # host is full (spawner capacity): trying again at once cannot help
                outcome = REFUSED if refused.status in (403, 404, 503) else FAILED
                if refused.status == 503:
                    log.warning("Session %s: %s not started: %s", session.id, user, refused.message)
                self.store.record(session.id, user, outcome, refused.message)
                return outcome
        return self._wait_ready(session, user)

    def _request_start(self, path: str) -> HubRequestError | None:
        """Ask the hub to start the server; returns the refusal, or None when it
        is starting (or already was). Waits and asks again while the hub is full (429)."""
        deadline = time.monotonic() + self.options.start_timeout
        while True:
            try:
                self.client().request("POST", f"{path}/server")
                return None
            except HubRequestError as err:
                if err.status == 400 and (
                    "already running" in err.message or "pending" in err.message
                ):
                    return None
                if err.status != 429 or time.monotonic() > deadline:
                    return err
            self.stopping.wait(5)

    def _wait_ready(self, session: Session, user: str) -> str:
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            model = self.client().user(user) or {}
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                self.store.record(session.id, user, OURS, ready_at=self.clock())
                log.info("Session %s: %s's server is ready", session.id, user)
                return OURS
            if not server or not server.get("pending"):
                self.store.record(session.id, user, FAILED, "the start failed; see the hub log")
                return FAILED
            self.stopping.wait(self.options.poll)
        self.store.record(session.id, user, FAILED, "not ready in time")
        return FAILED

    # --- ending ---------------------------------------------------------------------

    def _end(self, session: Session, now: datetime) -> None:
        """Stop the servers ``session`` started, keep those still in use, hand over
        those another open session needs; then mark it ended."""
        rows = [r for r in self.store.servers(session.id) if r.outcome == OURS]
        targets = handover_targets(session, [r.username for r in rows], self.store.claims())
        outcomes: dict[str, int] = {}
        with ThreadPoolExecutor(STOP_THREADS, thread_name_prefix="aione-stop") as pool:
            for outcome in pool.map(
                lambda r: self._end_one(session, r.username, r.ready_at, targets, now), rows
            ):
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        why = "cancelled" if session.cancelled_at else "ended"
        summary = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "no servers"
        log.info("Session %s of %s %s: %s", session.id, session.cohort, why, summary)
        self.store.set_state(session.id, ENDED, f"{why}: {summary}")

    def _end_one(
        self,
        session: Session,
        user: str,
        ready_at: datetime | None,
        targets: dict[str, int],
        now: datetime,
    ) -> str:
        if user in targets:
            self.store.record(
                targets[user], user, OURS, f"from session {session.id}", ready_at=ready_at
            )
            self.store.record(session.id, user, HANDED_OVER, f"to session {targets[user]}")
            return HANDED_OVER
        model = self.client().user(user) or {}
        server = (model.get("servers") or {}).get("")
        if not server:
            self.store.record(session.id, user, GONE, "not running at the end")
            return GONE
        activity = server.get("last_activity")
        last = datetime.fromisoformat(activity) if activity else None
        if keep_running(ready_at, last, now, self.options.keep_active):
            self.store.record(session.id, user, KEPT, f"in use (last activity {activity})")
            return KEPT
        self.client().stop_server(quote(user, safe=""))
        self.store.record(session.id, user, STOPPED)
        return STOPPED


# --- the entry point ----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hub.sessions",
        description="The aione-sessions service (run by the hub, see hub.sessions).",
    )
    parser.add_argument("--db", required=True, help="sessions file (STATE_DIR/sessions.sqlite)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between checks")
    parser.add_argument("--concurrency", type=int, help="servers started at once (default: cores)")
    parser.add_argument("--keep-active", type=int, default=900, help="seconds; see keep_running")
    parser.add_argument("--attempts", type=int, default=2, help="tries per server")
    parser.add_argument("--start-timeout", type=float, default=240.0, help="seconds per start")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM; returns the exit code (1 when not run by a hub)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="[%(levelname).1s %(asctime)s aione-sessions] %(message)s",
        stream=sys.stderr,
    )
    api_url = os.environ.get("JUPYTERHUB_API_URL", "")
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not (api_url and token):
        log.error("JUPYTERHUB_API_URL and JUPYTERHUB_API_TOKEN are unset: the hub runs this")
        return 1
    base = api_url.rstrip("/").removesuffix("/hub/api")
    options = ServiceOptions(
        every=args.every,
        concurrency=args.concurrency or os.cpu_count() or 1,
        keep_active=timedelta(seconds=args.keep_active),
        attempts=args.attempts,
        start_timeout=args.start_timeout,
    )
    service = SessionService(SessionStore(Path(args.db)), lambda: HubClient(base, token), options)

    def _stop(signum: int, frame: FrameType | None) -> None:
        service.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        service.run()
    except HubAPIError as err:
        log.error("%s", err)
        return 1
    return 0
