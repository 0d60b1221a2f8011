#!/usr/bin/env python3
"""aione-backup: consistent backups of an aione hub's state, with retention, and restore.

Installed by the Ansible backup role as /usr/local/sbin/aione-backup (standard
library only, so it runs with the system Python). What one archive holds:

- ``state/``: the state directory (``/var/lib/aione``): the hub database
  ``jupyterhub.sqlite``, the accounts, the GPU allocations, every course's
  nbgrader ``gradebook.db`` (under ``courses/``), the exchange store (releases,
  submissions, feedback) and the secrets. Every SQLite file is copied with
  SQLite's online backup API, so a backup taken while the hub runs is
  consistent; pid files, sockets and journal files are left out.
- ``config/``: the configuration directory (``/etc/aione``: settings, secrets, TLS).
- ``hub.pgdump``: with ``--db-url postgresql://...``, a ``pg_dump`` of the hub database.
- ``MANIFEST.json``: when, from where, and the SHA-256 of every file.

Archives are ``aione-backup-YYYYmmddTHHMMSSZ.tar.gz`` in the destination folder
(mode 0600); ``--keep N`` removes all but the newest N. ``restore`` checks the
manifest, refuses while the hub runs, moves the current state and configuration
aside (``*.before-restore-TIMESTAMP``) and unpacks the archive in their place.

Exit status: 0 done; 1 with one line on stderr naming the problem and the fix.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

PREFIX = "aione-backup-"
SUFFIX = ".tar.gz"
SQLITE_MAGIC = b"SQLite format 3\x00"
SKIPPED_SUFFIXES = (".pid", "-journal", "-wal", "-shm")
HUB_PIDFILE = "jupyterhub.pid"


class BackupError(Exception):
    """A backup or restore cannot be done; the message names the fix."""


def is_sqlite(path: Path) -> bool:
    """True when ``path`` starts with SQLite's file header."""
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def copy_sqlite(src: Path, dest: Path) -> None:
    """Copy a (possibly open) SQLite database with the online backup API."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=60)
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.endswith(SKIPPED_SUFFIXES):
            yield path


def copy_tree(src: Path, dest: Path) -> int:
    """Copy the regular files of ``src`` into ``dest`` (SQLite files consistently,
    modes kept); return how many."""
    count = 0
    for path in _files(src):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_sqlite(path):
            copy_sqlite(path, target)
        else:
            shutil.copyfile(path, target)
        os.chmod(target, path.stat().st_mode & 0o7777)
        count += 1
    return count


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archives(dest: Path) -> list[Path]:
    """The backups in ``dest``, oldest first."""
    return sorted(p for p in dest.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def prune(dest: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` backups; return the removed ones."""
    if keep < 1:
        raise BackupError(f"--keep must be at least 1 (got {keep})")
    old = archives(dest)[:-keep]
    for path in old:
        path.unlink()
    return old


def libpq_url(db_url: str) -> str:
    """``db_url`` as pg_dump takes it: a SQLAlchemy URL's ``+driver`` part removed
    (``postgresql+psycopg2://...`` -> ``postgresql://...``)."""
    scheme, sep, rest = db_url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def pg_dump(db_url: str, dest: Path) -> None:
    """``pg_dump --format=custom`` of ``db_url`` into ``dest``."""
    try:
        proc = subprocess.run(
            ["pg_dump", "--format=custom", "--file", str(dest), libpq_url(db_url)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError as err:
        raise BackupError("pg_dump is not installed; apt-get install postgresql-client") from err
    if proc.returncode != 0:
        raise BackupError(f"pg_dump failed: {proc.stderr.strip().splitlines()[-1:]}")


def create(
    state_dir: Path,
    config_dir: Path | None,
    dest: Path,
    keep: int,
    db_url: str = "",
    now: dt.datetime | None = None,
) -> Path:
    """Write one archive into ``dest``, then prune to ``keep``; return its path."""
    if not state_dir.is_dir():
        raise BackupError(f"state directory {state_dir} does not exist; give --state-dir")
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)
    final = dest / f"{PREFIX}{stamp}{SUFFIX}"
    if final.exists():
        raise BackupError(f"{final} exists already; wait a second and run again")
    with tempfile.TemporaryDirectory(prefix=".partial-", dir=dest) as tmp:
        stage = Path(tmp) / "backup"
        copy_tree(state_dir, stage / "state")
        if config_dir is not None and config_dir.is_dir():
            copy_tree(config_dir, stage / "config")
        if db_url.startswith(("postgresql", "postgres")):
            pg_dump(db_url, stage / "hub.pgdump")
        manifest = {
            "created": stamp,
            "state_dir": str(state_dir),
            "config_dir": str(config_dir) if config_dir else None,
            "files": {str(p.relative_to(stage)): sha256(p) for p in _files(stage)},
        }
        (stage / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        partial = Path(tmp) / "partial.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(stage, arcname=".")
        partial.chmod(0o600)
        partial.rename(final)
    prune(dest, keep)
    return final


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        name = Path(m.name)
        if not (m.isfile() or m.isdir()) or name.is_absolute() or ".." in name.parts:
            raise BackupError(f"archive member {m.name} is not a plain file or folder inside it")
        members.append(m)
    return members


def unpack(archive: Path, into: Path) -> dict[str, object]:
    """Unpack ``archive`` into ``into`` and check it against its manifest; return it."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _safe_members(tar)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, members=members, filter="data")
            else:  # Python before 3.11.4: the members are checked above
                tar.extractall(into, members=members)
    except (OSError, tarfile.TarError) as err:
        raise BackupError(f"{archive} cannot be read ({err}); pick another backup") from err
    manifest_path = into / "MANIFEST.json"
    if not manifest_path.is_file():
        raise BackupError(f"{archive} has no MANIFEST.json; it is not an aione backup")
    manifest: dict[str, object] = json.loads(manifest_path.read_text())
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BackupError(f"{archive}: MANIFEST.json lists no files; pick another backup")
    for rel, digest in files.items():
        path = into / rel
        if not path.is_file() or sha256(path) != digest:
            raise BackupError(f"{archive}: {rel} is missing or damaged; pick another backup")
    return manifest


def hub_running(state_dir: Path) -> int | None:
    """The pid of a running hub of ``state_dir`` (its pid file), else None."""
    try:
        pid = int((state_dir / HUB_PIDFILE).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def restore(
    archive: Path, state_dir: Path, config_dir: Path | None, db_url: str = ""
) -> list[Path]:
    """Put the archive's state (and configuration) in place; return the folders
    the current ones were moved to."""
    pid = hub_running(state_dir)
    if pid is not None:
        raise BackupError(
            f"the hub (pid {pid}) still runs on {state_dir}; stop it first "
            "(systemctl stop aione-hub, or start-stop-daemon --stop --pidfile /run/aione-hub.pid)"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aione-restore-", dir=state_dir.parent) as tmp:
        stage = Path(tmp)
        unpack(archive, stage)
        # The database first: if it cannot be restored, nothing on disk has changed.
        dump = stage / "hub.pgdump"
        if dump.is_file():
            _pg_restore(db_url, dump)
        pairs = [(stage / "state", state_dir)]
        if config_dir is not None and (stage / "config").is_dir():
            pairs.append((stage / "config", config_dir))
        for src, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                aside = _aside(target, stamp)
                target.rename(aside)
                moved.append(aside)
            shutil.move(str(src), str(target))
        state_dir.chmod(0o700)
    return moved


def _aside(target: Path, stamp: str) -> Path:
    """A free name next to ``target`` for the folder a restore replaces."""
    aside = target.with_name(f"{target.name}.before-restore-{stamp}")
    n = 1
    while aside.exists():
        aside = target.with_name(f"{target.name}.before-restore-{stamp}-{n}")
        n += 1
    return aside


def _pg_restore(db_url: str, dump: Path) -> None:
    if not db_url:
        raise BackupError("the backup holds a PostgreSQL dump; give --db-url to restore it")
    proc = subprocess.run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--dbname",
            libpq_url(db_url),
            str(dump),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed: {proc.stderr.strip().splitlines()[-1:]}")


EPILOG = """\
examples:
  aione-backup create --keep 14
      back up /var/lib/aione and /etc/aione into /var/backups/aione, keep the newest 14
  aione-backup list
  aione-backup restore /var/backups/aione/aione-backup-20260301T031700Z.tar.gz
      (stop the hub first; the current state is kept as /var/lib/aione.before-restore-...)
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aione-backup",
        description="Back up and restore an aione hub's state.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--state-dir", type=Path, default=Path("/var/lib/aione"))
    p.add_argument("--config-dir", type=Path, default=Path("/etc/aione"))
    p.add_argument("--dest", type=Path, default=Path("/var/backups/aione"))
    p.add_argument("--db-url", default="", help="postgresql://... when the hub uses PostgreSQL")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="write one archive and prune old ones")
    c.add_argument("--keep", type=int, default=14, help="newest archives to keep (default 14)")
    sub.add_parser("list", help="list the archives, oldest first")
    r = sub.add_parser("restore", help="restore an archive (the hub must be stopped)")
    r.add_argument("archive", type=Path)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "create":
            path = create(args.state_dir, args.config_dir, args.dest, args.keep, args.db_url)
            sys.stdout.write(f"{path}\n")
        elif args.command == "list":
            for path in archives(args.dest):
                sys.stdout.write(f"{path}\n")
        else:
            moved = restore(args.archive, args.state_dir, args.config_dir, args.db_url)
            kept = ", ".join(map(str, moved)) or "nothing"
            sys.stdout.write(f"restored {args.archive}; previous state kept in: {kept}\n")
    except BackupError as err:
        sys.stderr.write(f"aione-backup: error: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
