"""Embedded accounts: user names with scrypt password hashes, in SQLite.

Passwords are never stored or logged in clear; a new account's password is a
one-time password (``must_change``) that the learner replaces at first login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def hash_password(password: str, salt: bytes | None = None) -> str:
    """Return ``scrypt$<salt hex>$<hash hex>`` for ``password``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, salt_hex, _ = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt_hex)), stored)


def new_password() -> str:
    """A random one-time password, easy to type (12 characters)."""
    return secrets.token_urlsafe(9)


@dataclass(frozen=True)
class Account:
    username: str
    must_change: bool
    blocked: bool


class AccountStore:
    """Accounts in one SQLite file (mode 0600). Safe for several processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS accounts (username TEXT PRIMARY KEY,"
                " password TEXT NOT NULL, must_change INTEGER NOT NULL DEFAULT 1,"
                " blocked INTEGER NOT NULL DEFAULT 0)"
            )
        self.path.chmod(0o600)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def get(self, username: str) -> Account | None:
        """The account, or None when there is none."""
        with self._db() as db:
            row = db.execute(
                "SELECT username, must_change, blocked FROM accounts WHERE username=?",
                (username,),
            ).fetchone()
        return Account(row[0], bool(row[1]), bool(row[2])) if row else None

    def set_password(self, username: str, password: str, *, must_change: bool) -> None:
        """Create the account or replace its password."""
        with self._db() as db:
            db.execute(
                "INSERT INTO accounts (username, password, must_change) VALUES (?, ?, ?)"
                " ON CONFLICT(username) DO UPDATE SET password=excluded.password,"
                " must_change=excluded.must_change",
                (username, hash_password(password), int(must_change)),
            )

    def set_blocked(self, username: str, blocked: bool) -> None:
        """Block or unblock sign-in (data is kept)."""
        with self._db() as db:
            db.execute("UPDATE accounts SET blocked=? WHERE username=?", (int(blocked), username))

    def verify(self, username: str, password: str) -> Account | None:
        """The account when the password matches and it is not blocked, else None."""
        with self._db() as db:
            row = db.execute(
                "SELECT password, must_change, blocked FROM accounts WHERE username=?",
                (username,),
            ).fetchone()
        if not row or row[2] or not check_password(password, row[0]):
            return None
        return Account(username, bool(row[1]), bool(row[2]))
