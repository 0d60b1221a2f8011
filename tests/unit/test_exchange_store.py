"""The exchange store: immutable attempts, lateness, feedback, host-side copies."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graders.exchange import host
from graders.exchange.errors import Conflict, Invalid, NotFound
from graders.exchange.store import Attempt, ExchangeStore, nbgrader_timestamp, parse_due

DUE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _fill(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _release(store: ExchangeStore, due: datetime | None = DUE, replace: bool = False) -> None:
    with store.staging() as path:
        _fill(path, {"ps1.ipynb": "{}", "data/x.csv": "1"})
        store.release("mfg", "ps1", path, by="teach", due=due, replace=replace)


def _submit(store: ExchangeStore, student: str, when: datetime, text: str = "{}") -> Attempt:
    with store.staging() as path:
        _fill(path, {"ps1.ipynb": text, "timestamp.txt": "1999-01-01 forged"})
        return store.submit("mfg", "ps1", student, path, now=when)


def test_parse_due_needs_a_time_zone() -> None:
    assert parse_due("2026-12-01T09:00+09:00") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert parse_due("2026-12-01T00:00Z") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(Invalid, match="no time zone"):
        parse_due("2026-12-01T09:00")
    with pytest.raises(Invalid, match="not ISO 8601"):
        parse_due("next friday")


def test_release_conflict_and_replace(tmp_path: Path) -> None:
    store = ExchangeStore(tmp_path / "ex")
    _release(store)
    rel = store.get_release("mfg", "ps1")
    assert rel.notebooks == ["ps1"] and rel.due == DUE
    assert [f.path for f in rel.files] == ["data/x.csv", "ps1.ipynb"]
    with pytest.raises(Conflict, match="--force"):
        _release(store)
    _release(store, due=None, replace=True)
    assert store.get_release("mfg", "ps1").due is None
    with pytest.raises(NotFound, match="released: ps1"):
        store.get_release("mfg", "ps2")
    assert not list((tmp_path / "ex" / ".staging").iterdir())


def test_attempts_are_kept_stamped_and_read_only(tmp_path: Path) -> None:
    store = ExchangeStore(tmp_path / "ex")
    with pytest.raises(NotFound, match="not released"):
        _submit(store, "alice", DUE)
    _release(store)
    first = _submit(store, "alice", DUE - timedelta(hours=1), '{"v": 1}')
    second = _submit(store, "alice", DUE + timedelta(minutes=90), '{"v": 2}')
    _submit(store, "bob", DUE - timedelta(days=1))
    attempts = store.attempts("mfg", "ps1", "alice")
    assert [a.attempt for a in attempts] == [first.attempt, second.attempt]
    assert not first.late and second.late and second.seconds_late == 5400
    files = store.attempt_files("mfg", "alice", "ps1", first.attempt)
    assert (files / "ps1.ipynb").read_text() == '{"v": 1}'
    # the store's clock, never the learner's timestamp.txt
    assert (files / "timestamp.txt").read_text() == nbgrader_timestamp(DUE - timedelta(hours=1))
    assert first.timestamp == "2026-12-01 08:00:00.000000 UTC"
    assert (files / "ps1.ipynb").stat().st_mode & 0o777 == 0o444
    assert files.stat().st_mode & 0o777 == 0o555
    latest = store.latest_attempts("mfg", "ps1")
    assert [(a.student, a.attempt) for a in latest] == [
        ("alice", second.attempt), ("bob", latest[1].attempt),
    ]  # fmt: skip
    on_time = store.latest_attempts("mfg", "ps1", before_due=True)
    assert on_time[0].attempt == first.attempt
    assert store.attempt_by_timestamp("mfg", "alice", "ps1", second.timestamp) == second
    with pytest.raises(NotFound, match="submitted at"):
        store.attempt_by_timestamp("mfg", "alice", "ps1", "2000-01-01 00:00:00.000000 UTC")


def test_store_names_are_checked(tmp_path: Path) -> None:
    store = ExchangeStore(tmp_path / "ex")
    with pytest.raises(Invalid, match="course name"):
        store.releases("../etc")
    with pytest.raises(Invalid, match="student name"):
        store.attempts("mfg", "ps1", "../bob")
    with pytest.raises(Invalid, match="attempt name"):
        store.attempt_files("mfg", "alice", "ps1", "..")


def test_host_collect_and_deliver(tmp_path: Path) -> None:
    store = ExchangeStore(tmp_path / "ex")
    root = tmp_path / "courses" / "mfg"
    (root / "release" / "ps1").mkdir(parents=True)
    (root / "release" / "ps1" / "ps1.ipynb").write_text("{}")
    rel = host.release(store, root, "mfg", "ps1", due=DUE)
    assert rel.due == DUE
    first = _submit(store, "alice", DUE - timedelta(hours=2), '{"v": 1}')
    done = host.collect(store, root, "mfg", "ps1")
    assert [(d.attempt.student, d.action) for d in done] == [("alice", "collected")]
    assert host.collect(store, root, "mfg", "ps1")[0].action == "unchanged"
    late = _submit(store, "alice", DUE + timedelta(hours=1), '{"v": 2}')
    assert host.collect(store, root, "mfg", "ps1")[0].action == "updated"
    submitted = root / "submitted" / "alice" / "ps1"
    assert (submitted / "ps1.ipynb").read_text() == '{"v": 2}'
    assert (submitted / "timestamp.txt").read_text() == late.timestamp
    assert (submitted / "ps1.ipynb").stat().st_mode & 0o777 == 0o644
    back = host.collect(store, root, "mfg", "ps1", before_due=True)
    assert back[0].action == "updated" and back[0].attempt == first

    fb = root / "feedback" / "alice" / "ps1"
    fb.mkdir(parents=True)
    (fb / "ps1.html").write_text("<p>Score: 3 / 5</p>")
    (fb / "timestamp.txt").write_text(first.timestamp)
    delivered = host.deliver_feedback(store, root, "mfg", "ps1")
    assert [(f.student, f.attempt) for f in delivered] == [("alice", first.attempt)]
    files = store.feedback_files("mfg", "alice", "ps1", first.attempt)
    assert sorted(p.name for p in files.iterdir()) == ["ps1.html"]
    (fb / "timestamp.txt").write_text("2001-01-01 00:00:00.000000 UTC")
    with pytest.raises(NotFound, match="was the submission collected"):
        host.deliver_feedback(store, root, "mfg", "ps1")


def test_host_release_needs_generated_folder(tmp_path: Path) -> None:
    store = ExchangeStore(tmp_path / "ex")
    root = tmp_path / "courses" / "mfg"
    (root / "source" / "ps1").mkdir(parents=True)
    with pytest.raises(NotFound, match="nbgrader generate_assignment ps1"):
        host.release(store, root, "mfg", "ps1")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_ensure_course_root_hands_everything_to_jovyan(tmp_path: Path) -> None:
    root = tmp_path / "mfg"
    (root / "autograded" / "alice").mkdir(parents=True)
    (root / "gradebook.db").write_text("")
    changed = host.ensure_course_root(root)
    assert changed >= 3
    for path in [root, root / "gradebook.db", root / "autograded" / "alice", root / "source"]:
        assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000)
    assert host.ensure_course_root(root) == 0
