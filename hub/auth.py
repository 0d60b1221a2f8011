"""The embedded password authenticator (no open sign-up).

Accounts exist only when an admin creates them (cohort import, ``--demo``);
passwords are stored as scrypt hashes by :mod:`hub.accounts`. A new account's
password is one-time: after that first login the learner is sent to
``/hub/aione/password`` and cannot reach a server until they set their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from jupyterhub.handlers.login import LoginHandler
from tornado import web
from traitlets import Integer, Unicode

from hub.accounts import AccountStore

PASSWORD_PATH = "aione/password"


class AioneLoginHandler(LoginHandler):
    """The stock login page; after a one-time password, go to the change page."""

    def get_next_url(self, user: Any = None, default: str | None = None) -> str:
        next_url: str = super().get_next_url(user, default)
        authenticator = self.authenticator
        if user is not None and isinstance(authenticator, AioneAuthenticator):
            account = authenticator.store.get(user.name)
            if account and account.must_change:
                return self.hub.base_url + PASSWORD_PATH
        return next_url


class ChangePasswordHandler(BaseHandler):
    """GET: the form; POST: set a new password (old one required)."""

    def _store(self) -> AccountStore:
        authenticator = self.authenticator
        assert isinstance(authenticator, AioneAuthenticator)
        return authenticator.store

    async def _page(self, message: str = "", status: int = 200) -> None:
        self.set_status(status)
        html = await self.render_template(
            "aione_password.html",
            message=message,
            min_length=self.authenticator.min_password_length,
            must_change=bool(
                (acct := self._store().get(self.current_user.name)) and acct.must_change
            ),
        )
        self.finish(html)

    @web.authenticated
    async def get(self) -> None:
        await self._page()

    @web.authenticated
    async def post(self) -> None:
        user = self.current_user
        old = self.get_body_argument("old_password", "")
        new = self.get_body_argument("new_password", "")
        again = self.get_body_argument("new_password_again", "")
        store = self._store()
        minimum = self.authenticator.min_password_length
        if store.verify(user.name, old) is None:
            await self._page("현재 비밀번호가 맞지 않습니다 / The current password is wrong.", 400)
        elif len(new) < minimum:
            await self._page(
                f"새 비밀번호는 {minimum}자 이상 / The new password needs {minimum}+ characters.",
                400,
            )
        elif new != again or new == old:
            await self._page(
                "두 번 같게, 이전과 다르게 입력하세요 / Type the new password twice, "
                "different from the old one.",
                400,
            )
        else:
            store.set_password(user.name, new, must_change=False)
            self.log.info("User %s changed their password", user.name)
            self.redirect(self.hub.base_url + "home")


class AioneAuthenticator(Authenticator):
    """Sign-in with accounts created by admins; hashed, one-time first passwords."""

    accounts_file = Unicode(
        help="SQLite file holding the accounts (user names and scrypt hashes).",
    ).tag(config=True)
    min_password_length = Integer(
        10, help="Shortest password a learner may choose at first login."
    ).tag(config=True)

    _store: AccountStore | None = None

    @property
    def store(self) -> AccountStore:
        """The account store, opened on first use."""
        if self._store is None:
            if not self.accounts_file:
                raise ValueError("AioneAuthenticator.accounts_file must be set")
            self._store = AccountStore(Path(self.accounts_file))
        return self._store

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        """The user model when the password matches an unblocked account, else None."""
        username = self.normalize_username(data.get("username", ""))
        account = self.store.verify(username, data.get("password", ""))
        if account is None:
            self.log.warning("Failed login for %s", username[:32])
            return None
        return {"name": username}

    async def check_allowed(self, username: str, authentication: Any = None) -> bool:
        """Only accounts in the store may use the hub."""
        account = self.store.get(username)
        return account is not None and not account.blocked

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        return [("/login", AioneLoginHandler), (f"/{PASSWORD_PATH}", ChangePasswordHandler)]
