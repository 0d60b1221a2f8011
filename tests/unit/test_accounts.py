"""Embedded accounts: hashing, verification, blocking, file mode."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from hub.accounts import AccountStore, check_password, hash_password


def test_hash_is_salted_and_checks(tmp_path: Path) -> None:
    a, b = hash_password("secret-one"), hash_password("secret-one")
    assert a != b
    assert check_password("secret-one", a) and not check_password("secret-two", a)
    assert not check_password("x", "md5$abc$def")


def test_store_keeps_only_hashes(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "accounts.sqlite")
    store.set_password("kim", "first-pass-123", must_change=True)
    raw = sqlite3.connect(tmp_path / "accounts.sqlite").execute("SELECT * FROM accounts").fetchall()
    assert "first-pass-123" not in repr(raw)
    assert stat.S_IMODE((tmp_path / "accounts.sqlite").stat().st_mode) == 0o600
    account = store.verify("kim", "first-pass-123")
    assert account is not None and account.must_change
    assert store.verify("kim", "wrong") is None
    store.set_password("kim", "my-own-password", must_change=False)
    assert store.verify("kim", "first-pass-123") is None
    assert store.verify("kim", "my-own-password").must_change is False  # type: ignore[union-attr]


def test_blocked_account_cannot_sign_in(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "a.sqlite")
    store.set_password("lee", "pw-123456789", must_change=False)
    store.set_blocked("lee", True)
    assert store.verify("lee", "pw-123456789") is None
    store.set_blocked("lee", False)
    assert store.verify("lee", "pw-123456789") is not None
