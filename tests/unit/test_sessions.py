"""Scheduled lab sessions: parsing, settings, the service's configuration, the
schedule decisions as pure functions, the store and the CLI's refusals."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from traitlets.config import Config

from hub import cli
from hub.configure import Runtime, apply
from hub.errors import SessionError, SettingsError
from hub.sessions import (
    ENDED,
    OURS,
    PENDING,
    SCHEDULED,
    SERVICE_NAME,
    SESSIONS_SCOPES,
    STARTED,
    STARTING,
    THEIRS,
    USE_MARGIN,
    Session,
    SessionsSection,
    SessionStore,
    due_to_end,
    due_to_start,
    format_duration,
    handover_targets,
    keep_running,
    missed,
    next_check,
    parse_duration,
    parse_when,
    prestart_estimate,
    sessions_settings,
    update_sessions,
    validate_new,
)
from hub.settings import load_settings

NINE = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
RT = Runtime(hub_ip="172.30.0.1", proxy_command=["chp"], proxy_auth_token="p", python="/py")


def session(
    state: str = SCHEDULED,
    cancelled: bool = False,
    starts: datetime = NINE,
    minutes: int = 90,
    lead: int = 10,
    id: int = 1,
) -> Session:
    return Session(
        id=id,
        cohort="acme-2026",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=minutes),
        lead=timedelta(minutes=lead),
        state=state,
        cancelled_at=NINE if cancelled else None,
    )


@pytest.fixture
def seoul(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local time is UTC+9 (a POSIX TZ string: no tzdata needed)."""
    monkeypatch.setenv("TZ", "KST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("45s", 45), (" 10M ", 600), (30, 30)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["90", "", "1.5h", "two hours", "m", "-5m", -3])
def test_bad_durations_name_the_forms(text: str | int) -> None:
    with pytest.raises(ValueError, match="90m, 2h"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [45, 600, 5400, 7200, 3725])
def test_format_duration_reads_back(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta
    assert format_duration(timedelta(minutes=90)) == "1h30m"


def test_times_with_offsets() -> None:
    assert parse_when("2026-03-02T09:00+09:00") == NINE
    assert parse_when("2026-03-02T00:00Z") == NINE
    assert parse_when("2026-03-02T09:00+09:00").tzinfo == UTC


def test_time_without_offset_is_local(seoul: None) -> None:
    assert parse_when("2026-03-02T09:00") == NINE
    assert parse_when("2026-03-02 09:00") == NINE


@pytest.mark.parametrize(
    ("text", "fix"),
    [("tomorrow", "YYYY-MM-DDTHH:MM"), ("09:00", "YYYY-MM-DDTHH:MM"), ("2026-03-02", "T09:00")],
)
def test_bad_times_say_what_to_write(text: str, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        parse_when(text)


# --- settings and the hub's configuration -------------------------------------------


def test_section_defaults_and_durations() -> None:
    cfg = SessionsSection()
    assert (cfg.enabled, cfg.lead, cfg.keep_active, cfg.concurrency) == (True, 600, 900, None)
    assert SessionsSection.model_validate({"lead": "20m", "keep_active": "1h"}).lead == 1200
    assert SessionsSection.model_validate({"keep_active": "1h"}).keep_active == 3600
    for field in SessionsSection.model_fields.values():
        assert field.description


@pytest.mark.parametrize(
    "data", [{"leed": "10m"}, {"lead": "soon"}, {"concurrency": 0}, {"every": 0}]
)
def test_section_refuses_bad_values(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SessionsSection.model_validate(data)


def test_settings_without_a_sessions_section_use_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(None, state_dir=str(tmp_path))
    assert sessions_settings(SimpleNamespace()) == SessionsSection()
    assert sessions_settings(settings) == getattr(settings, "sessions", SessionsSection())


def configured(tmp_path: Path, text: str = "") -> Config:
    path = tmp_path / "aione.yaml"
    path.write_text(text)
    return apply(Config(), load_settings(path, state_dir=str(tmp_path / "state")), RT)


def test_service_and_role_are_added_to_the_others(tmp_path: Path) -> None:
    c = configured(tmp_path, "culler:\n  timeout: 3600\n")
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert "idle-culler" in services, "appended, not replacing the culler"
    command = services[SERVICE_NAME]["command"]
    assert command[:3] == ["/py", "-m", "hub.sessions"]
    assert f"--db={tmp_path / 'state' / 'sessions.sqlite'}" in command
    assert "--keep-active=900" in command and "--every=5" in command
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert "idle-culler" in roles
    assert roles[SERVICE_NAME]["services"] == [SERVICE_NAME]
    assert set(roles[SERVICE_NAME]["scopes"]) == set(SESSIONS_SCOPES)
    assert "servers" in SESSIONS_SCOPES and "read:groups" in SESSIONS_SCOPES
    assert "admin:users" not in SESSIONS_SCOPES


def _with_sessions(tmp_path: Path, culler: str, **values: object) -> SimpleNamespace:
    path = tmp_path / "aione.yaml"
    path.write_text(culler)
    settings = load_settings(path, state_dir=str(tmp_path / "state"))
    return SimpleNamespace(**{**dict(settings), "sessions": SessionsSection.model_validate(values)})


def test_service_options_come_from_the_section(tmp_path: Path) -> None:
    s = _with_sessions(tmp_path, "", concurrency=3, keep_active="0s", attempts=1, every=2)
    c = Config()
    update_sessions(c, s, RT)
    (service,) = c.JupyterHub.services
    assert {"--concurrency=3", "--keep-active=0", "--attempts=1", "--every=2"} <= set(
        service["command"]
    )
    c = Config()
    update_sessions(c, _with_sessions(tmp_path, "", enabled=False), RT)
    assert "services" not in c.JupyterHub


def test_lead_not_shorter_than_the_culler_timeout_is_refused(tmp_path: Path) -> None:
    s = _with_sessions(tmp_path, "culler:\n  timeout: 600\n", lead="10m")
    with pytest.raises(SettingsError, match=r"sessions\.lead.*culler\.timeout"):
        update_sessions(Config(), s, RT)
    off = _with_sessions(tmp_path, "culler:\n  enabled: false\n  timeout: 600\n", lead="10m")
    update_sessions(Config(), off, RT)


# --- the pure decisions -------------------------------------------------------------


def test_validate_new_refusals() -> None:
    validate_new("acme-2026", NINE, NINE + timedelta(hours=1), NINE)
    with pytest.raises(SessionError, match="not a cohort name"):
        validate_new("Acme 2026", NINE, NINE + timedelta(hours=1), NINE)
    with pytest.raises(SessionError, match="longer than 0"):
        validate_new("acme", NINE, NINE, NINE)
    with pytest.raises(SessionError, match="at most 24 h"):
        validate_new("acme", NINE, NINE + timedelta(hours=25), NINE)
    with pytest.raises(SessionError, match="has passed"):
        validate_new("acme", NINE, NINE + timedelta(hours=1), NINE + timedelta(hours=2))


def test_a_session_starts_from_its_lead_time_until_its_end() -> None:
    s = session(lead=10)
    assert due_to_start([s], NINE - timedelta(minutes=10, seconds=1)) == []
    assert due_to_start([s], NINE - timedelta(minutes=10)) == [s]
    assert due_to_start([s], NINE + timedelta(minutes=89)) == [s], "late is better than never"
    assert due_to_start([s], NINE + timedelta(minutes=90)) == []
    assert due_to_start([session(cancelled=True)], NINE) == []
    assert due_to_start([session(state=STARTING)], NINE) == []


def test_a_session_whose_end_passed_unstarted_is_missed() -> None:
    s = session()
    assert missed([s], NINE + timedelta(minutes=89)) == []
    assert missed([s], NINE + timedelta(minutes=90)) == [s]
    assert missed([session(state=STARTED)], NINE + timedelta(hours=3)) == []
    assert missed([session(cancelled=True)], NINE + timedelta(hours=3)) == []


def test_a_started_session_ends_at_its_end_or_when_cancelled() -> None:
    started = session(state=STARTED)
    assert due_to_end([started], NINE + timedelta(minutes=89)) == []
    assert due_to_end([started], NINE + timedelta(minutes=90)) == [started]
    cancelled = session(state=STARTED, cancelled=True)
    assert due_to_end([cancelled], NINE) == [cancelled]
    starting = session(state=STARTING)
    assert due_to_end([starting], NINE + timedelta(hours=2)) == [], "after its starts finish"
    assert due_to_end([session(state=ENDED)], NINE + timedelta(hours=2)) == []


def test_servers_in_use_stay_up_unused_ones_stop() -> None:
    ready = NINE - timedelta(minutes=9)
    end = NINE + timedelta(minutes=90)
    keep = timedelta(minutes=15)
    assert not keep_running(ready, ready, end, keep), "nobody came: activity is the start"
    assert not keep_running(ready, ready + USE_MARGIN, end, keep)
    assert keep_running(ready, end - timedelta(minutes=3), end, keep), "still working"
    assert not keep_running(ready, end - timedelta(minutes=30), end, keep), "left long ago"
    assert not keep_running(ready, end - timedelta(minutes=3), end, timedelta(0)), "0: stop"
    assert not keep_running(ready, None, end, keep)
    assert keep_running(None, end - timedelta(minutes=1), end, keep)


def test_servers_another_open_session_needs_are_handed_over() -> None:
    ending = session(id=1)
    claims = [(1, "ann"), (2, "ann"), (3, "ann"), (2, "bob"), (3, "cy")]
    assert handover_targets(ending, ["ann", "bob", "dee"], claims) == {"ann": 2, "bob": 2}
    assert handover_targets(ending, ["dee"], claims) == {}


def test_prestart_estimate_counts_rounds() -> None:
    assert prestart_estimate(60, 2, 6.0) == timedelta(seconds=180)
    assert prestart_estimate(61, 2, 6.0) == timedelta(seconds=186)
    assert prestart_estimate(3, 8, 6.0) == timedelta(seconds=6)


def test_next_check_wakes_for_the_next_lead_time_or_end() -> None:
    s = session(lead=10)
    assert next_check([], NINE, 5) == 5
    assert next_check([s], NINE - timedelta(minutes=10, seconds=2), 5) == 2
    assert (
        next_check([session(state=STARTED)], NINE + timedelta(minutes=90) - timedelta(seconds=1), 5)
        == 1
    )
    assert next_check([s], NINE - timedelta(minutes=10), 5) == 5, "a moment already past"


# --- the store ----------------------------------------------------------------------


def test_store_round_trip_and_file_mode(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "state" / "sessions.sqlite")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    added = store.add("acme-2026", NINE, NINE + timedelta(minutes=90), timedelta(minutes=10))
    assert store.get(added.id) == added == session(id=added.id)
    later = store.add(
        "acme-2026", NINE + timedelta(days=1), NINE + timedelta(days=1, hours=1), timedelta(0)
    )
    assert [s.id for s in store.sessions(open_only=True)] == [added.id, later.id]
    store.set_state(added.id, ENDED, "done")
    assert [s.id for s in store.sessions(open_only=True)] == [later.id]
    assert store.get(added.id).note == "done"
    with pytest.raises(SessionError, match="has ended"):
        store.cancel(added.id)
    assert store.cancel(later.id).cancelled_at is not None
    assert store.sessions(open_only=True) == [], "cancelled before starting: closed"
    with pytest.raises(SessionError, match="cancelled already"):
        store.cancel(later.id)
    with pytest.raises(SessionError, match="no session 99"):
        store.get(99)


def test_store_records_outcomes_and_claims(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.sqlite")
    one = store.add("a", NINE, NINE + timedelta(hours=1), timedelta(minutes=5))
    two = store.add("b", NINE, NINE + timedelta(hours=1), timedelta(minutes=5))
    store.record(one.id, "ann", PENDING, attempt=True)
    store.record(one.id, "ann", PENDING, attempt=True)
    store.record(one.id, "ann", OURS, ready_at=NINE)
    store.record(one.id, "ann", OURS, "again")
    store.record(one.id, "bob", THEIRS)
    store.record(two.id, "ann", THEIRS)
    (ann, bob) = store.servers(one.id)
    assert (ann.username, ann.outcome, ann.attempts, ann.ready_at) == ("ann", OURS, 2, NINE)
    assert (bob.outcome, bob.attempts, bob.ready_at) == (THEIRS, 0, None)
    assert store.counts(one.id) == {OURS: 1, THEIRS: 1}
    assert store.claims() == [], "only starting or started sessions claim servers"
    store.set_state(two.id, STARTED)
    store.set_state(one.id, STARTING)
    assert sorted(store.claims()) == [(one.id, "ann"), (one.id, "bob"), (two.id, "ann")]
    store.cancel(two.id)
    assert sorted(store.claims()) == [(one.id, "ann"), (one.id, "bob")]


# --- the command line ---------------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIONE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AIONE_CONFIG", str(tmp_path / "empty.yaml"))
    monkeypatch.delenv("AIONE_API_TOKEN", raising=False)
    (tmp_path / "empty.yaml").write_text("")
    return tmp_path / "state"


def test_cli_schedules_lists_and_cancels(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="minutes")
    assert cli.main(["session", "schedule", "acme-2026", "--at", at, "--duration", "90m"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("session 1: acme-2026") and "not checked" in err
    (stored,) = SessionStore(state / "sessions.sqlite").sessions()
    assert stored.lead == timedelta(minutes=10) and stored.ends_at - stored.starts_at == timedelta(
        minutes=90
    )
    assert cli.main(["session", "list"]) == 0
    assert "acme-2026" in capsys.readouterr().out
    assert cli.main(["session", "cancel", "1"]) == 0
    assert cli.main(["session", "list"]) == 0
    assert "no open sessions" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "tomorrow 9", "--duration", "1h"], "--at: 'tomorrow 9' is not a time"),
        (["--at", "2099-01-01T09:00", "--duration", "90"], "--duration: '90' is not a duration"),
        (["--at", "2099-01-01T09:00", "--duration", "1h", "--lead", "2h"], "culler.timeout"),
        (["--at", "2000-01-01T09:00", "--duration", "1h"], "has passed"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli.main(["session", "schedule", "acme-2026", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aione: error: ") and message in err[0]
    assert (
        not (state / "sessions.sqlite").exists()
        or not SessionStore(state / "sessions.sqlite").sessions()
    )


def test_sessions_section_in_the_settings_file(tmp_path: Path) -> None:
    c = configured(tmp_path, "sessions:\n  concurrency: 3\n  lead: 5m\n")
    (service,) = [s for s in c.JupyterHub.services if s["name"] == SERVICE_NAME]
    assert "--concurrency=3" in service["command"]
    with pytest.raises(SettingsError, match=r"sessions\.leed.*unknown"):
        configured(tmp_path, "sessions:\n  leed: 5m\n")
    c = configured(tmp_path, "sessions:\n  enabled: false\n")
    assert SERVICE_NAME not in {s["name"] for s in c.JupyterHub.services}
