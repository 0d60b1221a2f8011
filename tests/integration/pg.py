"""A real PostgreSQL server for tests (session-scoped fixture ``postgres_server``).

Import the fixture into a test module (``from tests.integration.pg import
postgres_server``). The server runs from the Debian packages
(``/usr/lib/postgresql/<version>/bin``) in a tmp_path folder, as the system
user ``aione-test-pg`` (created if missing: PostgreSQL refuses to run as
root), on a free local port with trust authentication, and stops at the end
of the session. Tests are skipped when PostgreSQL is not installed.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

PG_USER = "aione-test-pg"
DB_USER = "aione"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: ``url(db)`` gives a SQLAlchemy URL, ``new_database()`` makes one."""

    host: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{DB_USER}@{self.host}:{self.port}/{database}"

    def new_database(self, prefix: str = "aione_test") -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = psycopg2.connect(host=self.host, port=self.port, user=DB_USER, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)


def _pg_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=False)
        return pwd.getpwnam(PG_USER)


def _let_walk(folder: Path) -> None:
    """Let the server's user walk down to ``folder`` (execute bit for others).

    Called before every pg_ctl: a pytest session starting beside this one sets
    /tmp/pytest-of-<user> back to 0700. The running server does not care.
    """
    if os.geteuid() == 0:
        for parent in [folder, *folder.parents]:
            os.chmod(parent, os.stat(parent).st_mode | 0o001)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg(cmd: list[str], log: Path | None = None) -> None:
    """Run ``cmd`` as the server's user; on failure raise with its output (and the log)."""
    prefix = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
    proc = subprocess.run(prefix + cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = log.read_text()[-2000:] if log and log.exists() else ""
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{tail}")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """Start PostgreSQL for the session; stop it afterwards."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
    base = tmp_path_factory.mktemp("postgres")
    if os.geteuid() == 0:
        user = _ensure_user()
        os.chown(base, user.pw_uid, user.pw_gid)
        _let_walk(base)
    data, sockets, port = base / "data", base / "sock", _free_port()
    _as_pg(["mkdir", str(sockets)])
    _as_pg(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            DB_USER,
            "-E",
            "UTF8",
            "--no-sync",
        ]
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = base / "server.log"
    _let_walk(base)
    _as_pg(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            "120",
            "start",
        ],
        log,
    )
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        _let_walk(base)
        _as_pg([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], log)
