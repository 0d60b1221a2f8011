"""A scheduled session against a real hub: the aione-sessions service starts the
cohort's servers before the class, and stops them after it."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub import cli
from hub.sessions import SessionStore
from tests.hubproc import HubProcess

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SERVICE_STARTS = ["ann", "bob", "cy"]
OWN_SERVER = "dee"


def _aione(*args: str) -> tuple[int, str, str]:
    """``aione session ARGS`` in this process (a subprocess would spend seconds on
    imports on a loaded machine); returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["session", *args])
    return code, out.getvalue(), err.getvalue()


def _until(what: str, check: Callable[[], bool], deadline: datetime) -> None:
    while datetime.now(UTC) < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} by {deadline:%H:%M:%S}")


def _session(hub: HubProcess) -> tuple[str, dict[str, int]]:
    """State and server outcomes of the only session, read from the store."""
    store = SessionStore(hub.state_dir / "sessions.sqlite")
    (found,) = store.sessions()
    return found.state, store.counts(found.id)


def test_cohort_servers_start_before_the_session_and_stop_after(
    hub: HubProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIONE_API_TOKEN", hub.token)
    monkeypatch.setenv("AIONE_CONFIG", str(hub.config))
    monkeypatch.delenv("AIONE_HUB_URL", raising=False)
    tokens = {name: hub.create_user(name) for name in [*SERVICE_STARTS, OWN_SERVER]}
    hub.api("POST", "/groups/cohort-lab3", {"users": list(tokens)})
    # started by the learner before the session (still starting): never stopped by the service
    threading.Thread(target=hub.api, args=("POST", f"/users/{OWN_SERVER}/server")).start()
    _until(
        f"{OWN_SERVER}'s own start is under way",
        lambda: OWN_SERVER in hub.servers(),
        datetime.now(UTC) + timedelta(seconds=20),
    )

    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=55)
    ends_at = starts_at + timedelta(seconds=15)
    code, out, err = _aione(
        "schedule", "lab3", "--at", starts_at.isoformat(), "--duration", "15s", "--lead", "2m"
    )
    assert code == 0, err
    assert out.startswith("session 1: lab3") and "4 servers, " in out

    code, _, err = _aione(
        "schedule", "no-such-cohort", "--at", "2099-01-01T09:00", "--duration", "1h"
    )
    assert code == 1 and "no cohort no-such-cohort" in err
    _until(
        "the service starts every member's server before the session",
        lambda: all(hub.servers().get(u, {}).get("ready") for u in SERVICE_STARTS),
        starts_at,
    )
    _until("the session is marked started", lambda: _session(hub)[0] == "started", starts_at)
    assert _session(hub)[1] == {"started": 3, "already_running": 1}

    while datetime.now(UTC) < starts_at:
        time.sleep(0.5)
    began = time.monotonic()
    status, body = hub.request("POST", "/hub/api/users/ann/server", tokens["ann"])
    assert status == 400 and b"already running" in body, body
    status, _ = hub.request("GET", "/user/ann/api/status", tokens["ann"])
    assert status == 200
    assert time.monotonic() - began < 3, "the learner's server was ready at once"
    assert datetime.now(UTC) < ends_at, "checked during the session"

    _until(
        "the servers the service started are stopped after the session",
        lambda: set(hub.servers()) == {OWN_SERVER},
        ends_at + timedelta(seconds=45),
    )
    _until(
        "the session is marked ended",
        lambda: _session(hub)[0] == "ended",
        ends_at + timedelta(seconds=50),
    )
    (listed,) = json.loads(_aione("list", "--all", "--json")[1])
    assert (listed["state"], listed["servers"]) == ("ended", {"stopped": 3, "already_running": 1})
    assert not [c for c in hub.containers() if c.name.endswith(("-ann", "-bob", "-cy"))]
