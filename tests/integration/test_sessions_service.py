"""The aione-sessions service (:class:`hub.sessions_service.SessionService`)
against a real hub: it starts a cohort's servers a few at a time, records
refused, host-full and failed starts, keeps the servers in use at the end and
stops the others, stops what a cancelled session started, hands a server over
to an overlapping session, and marks sessions that cannot run ``missed``.

The service runs in the test process (its clock injected, one ``tick()`` at a
time, its store in ``tmp_path``), but everything it talks to is real: a hub
started with ``aione up`` (its own managed aione-sessions service disabled, so
that only the service under test acts), real Docker containers, and the hub's
own reasons for refusing a start (an expired cohort membership, a full host, a
profile whose image does not exist). What the service asked the hub is read
back from the hub's own log.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.hubapi import HubClient
from hub.rbac import cohort_group, profile_group
from hub.sessions import (
    ENDED,
    FAILED,
    HANDED_OVER,
    KEPT,
    MISSED,
    OURS,
    REFUSED,
    SCHEDULED,
    STARTED,
    STOPPED,
    THEIRS,
    Session,
    SessionStore,
)
from hub.sessions_service import ServiceOptions, SessionService
from tests.hubproc import HubProcess, module_hub

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: The hub's spawner.max_servers: the host-full test fills it.
MAX_SERVERS = 4
#: The image of the profile "broken" (pull_policy is never, so its starts fail).
MISSING_IMAGE = "aione/no-such-image:never-built"


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[HubProcess]:
    """One hub for the module: every test uses its own users and cohort."""
    settings = {
        "sessions": {"enabled": False},
        "spawner": {"max_servers": MAX_SERVERS},
        "profiles": {
            "default": "default",
            "profiles": [
                {
                    "name": "default",
                    "label": {"ko": "기본", "en": "Standard"},
                    "cpu_limit": 1,
                    "mem_limit": "1G",
                },
                {
                    "name": "broken",
                    "label": {"ko": "고장", "en": "Broken"},
                    "cpu_limit": 1,
                    "mem_limit": "1G",
                    "image": MISSING_IMAGE,
                    "groups": [profile_group("broken")],
                    "default_for": [profile_group("broken")],
                },
            ],
        },
    }
    with module_hub(tmp_path_factory.mktemp("sessions-service"), request.session, settings) as proc:
        yield proc


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Lab:
    """A service under test. ``nine`` (a session's start) is 10 minutes after the
    real time the test began, so the service's clock starts at about real time and
    the activity the hub records fits the schedule."""

    service: SessionService
    clock: Clock
    nine: datetime

    @property
    def store(self) -> SessionStore:
        return self.service.store

    def at(self, minutes: float) -> None:
        """Set the service's clock ``minutes`` after ``nine``."""
        self.clock.now = self.nine + timedelta(minutes=minutes)

    def add(self, cohort: str, start: float = 0, minutes: float = 90, lead: float = 10) -> Session:
        """Schedule ``cohort`` from ``start`` minutes after ``nine``, for ``minutes``."""
        starts = self.nine + timedelta(minutes=start)
        return self.store.add(
            cohort, starts, starts + timedelta(minutes=minutes), timedelta(minutes=lead)
        )

    def tick_until(self, session_id: int, state: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.store.get(session_id).state != state:
            assert time.monotonic() < deadline, f"session {session_id} never became {state}"
            self.service.tick()
            time.sleep(0.1)

    def outcomes(self, session_id: int) -> dict[str, str]:
        return {r.username: r.outcome for r in self.store.servers(session_id)}


@pytest.fixture
def lab_for(hub: HubProcess, tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """Makes services that talk to ``hub`` with the token it was started with (its
    aione-automation service); afterwards stops their threads and every server on
    the hub, so the next test starts with none running."""
    made: list[SessionService] = []
    clients: list[HubClient] = []

    def connect() -> HubClient:
        client = HubClient(hub.url, hub.token)
        clients.append(client)
        return client

    def make(concurrency: int = 2, attempts: int = 2) -> Lab:
        nine = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
        clock = Clock(nine - timedelta(minutes=10))
        options = ServiceOptions(
            concurrency=concurrency, attempts=attempts, start_timeout=120, poll=0.1
        )
        store = SessionStore(tmp_path / f"sessions{len(made)}.sqlite")
        service = SessionService(store, connect, options, clock)
        made.append(service)
        return Lab(service, clock, nine)

    yield make
    for service in made:
        service.stopping.set()
        service._pool.shutdown(wait=True)
    for client in clients:
        client.close()
    for name in hub.servers():
        hub.stop_server(name)


# --- reading the real hub -------------------------------------------------------------


def _calls(hub: HubProcess, method: str, user: str) -> list[int]:
    """The hub's answers (HTTP statuses) to ``METHOD /hub/api/users/USER/server``
    so far, by anyone, from its request log."""
    # the access log's "STATUS METHOD URI (USER@IP)", not tornado's warning about it
    line = re.compile(rf"\] (\d{{3}}) {method} /hub/api/users/{re.escape(user)}/server \(\S*@")
    return [int(status) for status in line.findall(hub.log())]


def _settled_calls(hub: HubProcess, method: str, user: str, count: int) -> list[int]:
    """:func:`_calls` once there are ``count`` of them, or after 10 s (the hub logs a
    request just after it answers)."""
    deadline = time.monotonic() + 10
    while len(found := _calls(hub, method, user)) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _members(hub: HubProcess, cohort: str, users: list[str]) -> None:
    for name in users:
        hub.api("POST", f"/users/{name}")
    hub.api("POST", f"/groups/{cohort_group(cohort)}", {"users": users})


@dataclass
class Sampler:
    most: int = 0
    samples: int = 0


@contextmanager
def most_pending(hub: HubProcess, users: list[str]) -> Iterator[Sampler]:
    """Count, every 0.1 s, the servers of ``users`` the hub reports starting."""
    seen = Sampler()
    done = threading.Event()
    errors: list[BaseException] = []

    def sample() -> None:
        while not done.is_set():
            try:
                servers = hub.servers()
            except Exception as err:  # reported by the test, not lost in the thread
                errors.append(err)
                return
            pending = [u for u in users if servers.get(u, {}).get("pending") == "spawn"]
            seen.most = max(seen.most, len(pending))
            seen.samples += 1
            done.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join(30)
    assert not errors, errors


# --- the tests ------------------------------------------------------------------------


def test_service_starts_members_a_few_at_a_time_and_stops_only_its_own(
    hub: HubProcess, lab_for: Callable[..., Lab]
) -> None:
    members = ["ann", "bob", "cy", "dee"]
    _members(hub, "acme-2026", members)
    hub.spawn("dee")  # her own server, running before the lead time
    dee_started = hub.servers()["dee"]["started"]
    lab = lab_for(concurrency=2)
    s = lab.add("acme-2026", minutes=20)

    lab.at(-11)
    lab.service.tick()
    assert lab.store.get(s.id).state == SCHEDULED, "not before the lead"
    assert set(hub.servers()) == {"dee"}
    lab.at(-10)
    with most_pending(hub, members) as sampled:
        lab.tick_until(s.id, STARTED)
    assert sampled.samples > 10
    assert sampled.most == 2, "at most `concurrency` starts at once, and that many"
    assert lab.store.counts(s.id) == {OURS: 3, THEIRS: 1}
    servers = hub.servers()
    assert all(servers[u]["ready"] for u in members), servers
    for u in ("ann", "bob", "cy"):
        assert len(_settled_calls(hub, "POST", u, 1)) == 1, u
    assert len(_calls(hub, "POST", "dee")) == 1, "only the test started dee's server"

    # ann works until 5 minutes before the end (the hub's activity API, as the
    # single-user server reports it); bob and cy never came
    last = lab.nine + timedelta(minutes=15)
    hub.api(
        "POST",
        "/users/ann/activity",
        {"last_activity": _z(last), "servers": {"": {"last_activity": _z(last)}}},
    )
    lab.at(20)
    lab.service.tick()
    assert lab.store.get(s.id).state == ENDED
    _until("bob's and cy's servers stop", lambda: set(hub.servers()) == {"ann", "dee"})
    outcomes = lab.outcomes(s.id)
    assert outcomes == {"ann": KEPT, "bob": STOPPED, "cy": STOPPED, "dee": THEIRS}
    for u in ("bob", "cy"):
        assert len(_settled_calls(hub, "DELETE", u, 1)) == 1, u
    assert _calls(hub, "DELETE", "ann") == [], "ann is in use"
    assert _calls(hub, "DELETE", "dee") == [], "dee's server is her own"
    assert len(_calls(hub, "POST", "dee")) == 1
    assert hub.servers()["dee"]["started"] == dee_started, "the same server, untouched"


def test_refused_full_and_failed_starts_are_recorded(
    hub: HubProcess, lab_for: Callable[..., Lab]
) -> None:
    """One start at a time, in the members' (sorted) order: oli's start fails while
    the host has room (the spawner checks capacity before the image); by wes's
    turn pia, ria, sam and tia (her own) run, which fills the host."""
    members = ["oli", "pia", "ria", "sam", "tia", "uma", "wes"]
    _members(hub, "lab-b", members)
    # uma's access ended (her roster record's expires_at, as `aione cohort import` writes it)
    hub.api(
        "PUT",
        f"/groups/{cohort_group('lab-b')}/properties",
        {"members": {"uma": {"expires_at": "2020-01-31"}}},
    )
    # oli's profile names an image this host does not have
    hub.api("POST", f"/groups/{profile_group('broken')}", {"users": ["oli"]})
    hub.spawn("tia")
    lab = lab_for(concurrency=1, attempts=2)
    s = lab.add("lab-b", minutes=20)

    lab.tick_until(s.id, STARTED)
    assert lab.store.counts(s.id) == {OURS: 3, THEIRS: 1, REFUSED: 2, FAILED: 1}
    rows = {r.username: r for r in lab.store.servers(s.id)}
    assert "access to this hub has ended" in rows["uma"].detail, rows["uma"]
    assert "This host is full" in rows["wes"].detail and f"of {MAX_SERVERS}" in rows["wes"].detail
    assert rows["oli"].attempts == 2
    assert set(hub.servers()) == {"pia", "ria", "sam", "tia"}

    assert len(_settled_calls(hub, "POST", "oli", 2)) == 2, "a failed start is tried again"
    assert MISSING_IMAGE in hub.log()
    assert _calls(hub, "POST", "uma") == [403], "a refusal is not retried"
    assert _calls(hub, "POST", "wes") == [503], "nor is a full host"
    assert len(_calls(hub, "POST", "tia")) == 1, "only the test started tia's server"


def test_cancelled_session_stops_what_it_started(
    hub: HubProcess, lab_for: Callable[..., Lab]
) -> None:
    _members(hub, "lab-c", ["kai", "lea"])
    lab = lab_for()
    s = lab.add("lab-c")
    lab.tick_until(s.id, STARTED)
    assert set(hub.servers()) == {"kai", "lea"}
    lab.store.cancel(s.id)
    lab.service.tick()
    assert lab.store.get(s.id).state == ENDED
    assert "cancelled" in lab.store.get(s.id).note
    assert lab.outcomes(s.id) == {"kai": STOPPED, "lea": STOPPED}
    _until("the servers stop", lambda: not hub.servers())
    for u in ("kai", "lea"):
        assert len(_settled_calls(hub, "DELETE", u, 1)) == 1, u


def test_overlapping_session_takes_the_server_over(
    hub: HubProcess, lab_for: Callable[..., Lab]
) -> None:
    _members(hub, "lab-d", ["max"])
    lab = lab_for()
    first = lab.add("lab-d", start=0, minutes=90, lead=10)
    second = lab.add("lab-d", start=90, minutes=90, lead=20)
    lab.tick_until(first.id, STARTED)
    started = hub.servers()["max"]["started"]
    lab.at(75)
    lab.tick_until(second.id, STARTED)
    assert lab.store.counts(second.id) == {THEIRS: 1}

    lab.at(90)
    lab.service.tick()
    assert lab.store.get(first.id).state == ENDED
    assert lab.outcomes(first.id) == {"max": HANDED_OVER}
    assert lab.store.counts(second.id) == {OURS: 1}
    time.sleep(1)  # a stop would show in the hub's log by now
    assert _calls(hub, "DELETE", "max") == [], "handed over, not stopped"
    assert hub.servers()["max"]["started"] == started

    lab.at(180)
    lab.service.tick()
    assert lab.store.get(second.id).state == ENDED
    assert lab.outcomes(second.id) == {"max": STOPPED}
    _until("max's server stops", lambda: not hub.servers())
    assert len(_settled_calls(hub, "DELETE", "max", 1)) == 1
    assert len(_calls(hub, "POST", "max")) == 1, "started once for both sessions"


def test_sessions_that_cannot_run_are_marked_missed(
    hub: HubProcess, lab_for: Callable[..., Lab]
) -> None:
    _members(hub, "lab-e", ["ned"])
    lab = lab_for()
    gone = lab.add("lab-e", minutes=5, lead=0)
    unknown = lab.add("nobody", minutes=60, lead=10)
    lab.at(5)
    lab.service.tick()
    assert lab.store.get(gone.id).state == MISSED
    assert lab.store.get(unknown.id).state == MISSED
    assert "no group cohort-nobody" in lab.store.get(unknown.id).note
    assert lab.store.servers(gone.id) == [] and lab.store.servers(unknown.id) == []
    time.sleep(1)  # a start would show in the hub's log by now
    assert _calls(hub, "POST", "ned") == [] and not hub.servers()
