"""aione-backup (ansible/roles/backup/files/aione_backup.py): consistent archives of a
hub's state while it is in use, retention, and restore."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest

from tests.integration.pg import PostgresServer, postgres_server  # noqa: F401

SCRIPT = Path(__file__).resolve().parents[2] / "ansible/roles/backup/files/aione_backup.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aione_backup", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["aione_backup"] = module
    spec.loader.exec_module(module)
    return module


backup = _load()


def make_state(root: Path) -> tuple[Path, Path]:
    state, config = root / "state", root / "etc"
    (state / "courses" / "mfg-2026").mkdir(parents=True)
    (state / "exchange" / "mfg-2026" / "submissions" / "kim" / "ps1").mkdir(parents=True)
    (state / "exchange/mfg-2026/submissions/kim/ps1/ps1.ipynb").write_text('{"cells": []}')
    secret = state / "jupyterhub_cookie_secret"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    (state / "jupyterhub.pid").write_text("999999")
    for db in (state / "jupyterhub.sqlite", state / "courses/mfg-2026/gradebook.db"):
        with sqlite3.connect(db) as con:
            con.execute("CREATE TABLE t (v TEXT)")
            con.execute("INSERT INTO t VALUES ('before')")
    config.mkdir()
    (config / "aione.yaml").write_text("hub:\n  port: 8000\n")
    return state, config


def rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("SELECT v FROM t ORDER BY v")]


def test_a_backup_taken_during_a_write_is_consistent(tmp_path: Path) -> None:
    state, config = make_state(tmp_path)
    writer = sqlite3.connect(state / "jupyterhub.sqlite")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES ('uncommitted')")
    try:
        archive = backup.create(state, config, tmp_path / "backups", keep=3)
    finally:
        writer.rollback()
        writer.close()
    assert archive.stat().st_mode & 0o777 == 0o600
    out = tmp_path / "out"
    manifest = backup.unpack(archive, out)
    assert rows(out / "state/jupyterhub.sqlite") == ["before"]
    assert rows(out / "state/courses/mfg-2026/gradebook.db") == ["before"]
    files = manifest["files"]
    assert "state/exchange/mfg-2026/submissions/kim/ps1/ps1.ipynb" in files
    assert "config/aione.yaml" in files
    assert "state/jupyterhub.pid" not in files, "pid files are not state"
    assert (out / "state/jupyterhub_cookie_secret").stat().st_mode & 0o777 == 0o600


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    state, config = make_state(tmp_path)
    dest = tmp_path / "backups"
    start = dt.datetime(2026, 3, 1, 3, 17, tzinfo=dt.UTC)
    made = [
        backup.create(state, config, dest, keep=2, now=start + dt.timedelta(days=d))
        for d in range(4)
    ]
    assert backup.archives(dest) == made[2:]
    with pytest.raises(backup.BackupError, match="at least 1"):
        backup.prune(dest, 0)


def test_restore_puts_the_state_back_and_keeps_the_current_aside(tmp_path: Path) -> None:
    state, config = make_state(tmp_path)
    (state / "jupyterhub.pid").unlink()
    archive = backup.create(state, config, tmp_path / "backups", keep=5)
    with sqlite3.connect(state / "jupyterhub.sqlite") as con:
        con.execute("INSERT INTO t VALUES ('after')")
    (config / "aione.yaml").write_text("hub:\n  port: 9999\n")

    moved = backup.restore(archive, state, config)
    assert rows(state / "jupyterhub.sqlite") == ["before"]
    assert (config / "aione.yaml").read_text() == "hub:\n  port: 8000\n"
    assert state.stat().st_mode & 0o777 == 0o700
    assert len(moved) == 2 and rows(moved[0] / "jupyterhub.sqlite") == ["after", "before"]


def test_restore_refuses_while_the_hub_runs(tmp_path: Path) -> None:
    state, config = make_state(tmp_path)
    archive = backup.create(state, config, tmp_path / "backups", keep=5)
    (state / "jupyterhub.pid").write_text(str(os.getpid()))
    with pytest.raises(backup.BackupError, match="stop it first"):
        backup.restore(archive, state, config)


def test_a_damaged_archive_is_refused(tmp_path: Path) -> None:
    state, config = make_state(tmp_path)
    archive = backup.create(state, config, tmp_path / "backups", keep=5)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name.endswith("aione.yaml") and data is not None:
                content = b"tampered"
                member.size = len(content)
                dst.addfile(member, __import__("io").BytesIO(content))
            else:
                dst.addfile(member, data)
    with pytest.raises(backup.BackupError, match="missing or damaged"):
        backup.unpack(bad, tmp_path / "x")


def test_command_line(tmp_path: Path) -> None:
    state, config = make_state(tmp_path)
    dest = tmp_path / "backups"
    common = [
        sys.executable, str(SCRIPT), "--state-dir", str(state), "--config-dir", str(config),
        "--dest", str(dest),
    ]  # fmt: skip
    made = subprocess.run([*common, "create", "--keep", "1"], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([*common, "list"], capture_output=True, text=True)
    assert listed.stdout.split() == [made.stdout.strip()]
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--state-dir", str(tmp_path / "nope"), "--dest", str(dest),
         "create"], capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.startswith("aione-backup: error:") and "--state-dir" in missing.stderr


@pytest.mark.postgres
def test_a_postgresql_hub_database_is_dumped_and_restored(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    url = postgres_server.new_database("aione_hub")
    assert backup.libpq_url(url).startswith("postgresql://")
    conn = psycopg2.connect(backup.libpq_url(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE users (name TEXT)")
        cur.execute("INSERT INTO users VALUES ('kim')")
    state, config = make_state(tmp_path)
    (state / "jupyterhub.pid").unlink()
    archive = backup.create(state, config, tmp_path / "backups", keep=2, db_url=url)
    with cur_of(conn) as cur:
        cur.execute("DELETE FROM users")
    with pytest.raises(backup.BackupError, match="--db-url"):
        backup.restore(archive, state, config)
    assert not list(tmp_path.glob("*.before-restore-*")), "a refused restore changes nothing"
    backup.restore(archive, state, config, db_url=url)
    with cur_of(conn) as cur:
        cur.execute("SELECT name FROM users")
        assert cur.fetchall() == [("kim",)]
    conn.close()


def cur_of(conn: Any) -> Any:
    return conn.cursor()
