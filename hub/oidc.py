"""Sign-in through the organisation's OpenID Connect provider.

:class:`AioneOidcAuthenticator` is OAuthenticator's ``GenericOAuthenticator``
with aione's group rules (``auth.oidc.rules`` in the settings, see
:class:`hub.settings.OidcGroupRule`). The provider's group names (Keycloak
sends full paths such as ``/companies/acme/learners``) are matched against
every rule; a user in several groups gets the union of what their rules give:
course groups, a cohort group, admin.

Why not OAuthenticator's ``manage_groups``: with it on, JupyterHub hands all
group membership to the authenticator and turns the group REST API off, so
cohort imports could no longer add learners to groups. aione keeps it off and
syncs the groups itself:

- at sign-in (:class:`AioneOidcCallbackHandler`) and at every refresh
  (:meth:`AioneOidcAuthenticator.refresh_user`, every ``auth_refresh_age``
  seconds and before each spawn) it adds the user to the groups their rules
  grant now;
- it remembers in ``auth_state`` which memberships it added (the provider's
  own), and removes only those when the rules stop granting them. A
  membership that a roster (or an admin) made stays, even when the provider
  also granted it for a while. So a change at the provider applies within
  minutes, not only at the next sign-in (oauthenticator#761).

Who may sign in is decided after the provider answers (:meth:`admit`), since it
needs both the provider's groups and the hub's cohort records: a user whose
groups match a rule, or an active member of an imported cohort, or an admin.
Anyone else, and anyone whose cohort access has ended, gets the page
``aione_refused.html`` (HTTP 403), not a stack trace.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jupyterhub import orm
from jupyterhub.crypto import CryptKeeper
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLoginHandler
from tornado import web
from traitlets import Dict, List, Unicode, default

from hub.hubconfig import ensure_secret_file
from hub.rbac import KIND_KEY, cohort_group, cohort_of_group, membership_active
from hub.roles import instructor_group, learner_group
from hub.settings import OidcGroupRule

SECRET_ENV = "AIONE_OIDC_CLIENT_SECRET"
#: auth_state keys: what the rules granted at the last sign-in or refresh, the
#: memberships aione added for the provider (and may remove), the provider's groups.
GRANTED_KEY = "aione_groups"
OWNED_KEY = "aione_owned_groups"
PROVIDER_GROUPS_KEY = "aione_provider_groups"
#: Authenticator traits filled from the discovery document, and their keys there.
_DISCOVERED = {
    "authorize_url": "authorization_endpoint",
    "token_url": "token_endpoint",
    "userdata_url": "userinfo_endpoint",
}


@lru_cache(maxsize=256)
def _pattern(rule_group: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*)", rule_group.strip("/"))
    regex = "".join(".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def group_matches(rule_group: str, provider_group: str) -> bool:
    """True when ``provider_group`` matches the rule's group (leading ``/`` optional;
    ``*`` within one path segment, ``**`` across segments)."""
    return bool(_pattern(rule_group).match(provider_group.strip("/")))


def claim_groups(userinfo: Mapping[str, Any], claim: str) -> list[str]:
    """The group names in ``userinfo`` under ``claim`` (dotted for nested claims);
    a single string counts as one group, a missing claim as none."""
    value: Any = userinfo
    for key in claim.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


@dataclass(frozen=True)
class Access:
    """What a user's provider groups give them."""

    provider_groups: tuple[str, ...]
    groups: frozenset[str] = frozenset()
    admin: bool = False
    matched: tuple[OidcGroupRule, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        """True when at least one rule matched."""
        return bool(self.matched)


def map_access(provider_groups: Iterable[str], rules: Sequence[OidcGroupRule]) -> Access:
    """Apply every rule whose group matches one of ``provider_groups``."""
    names = tuple(sorted(set(provider_groups)))
    groups: set[str] = set()
    admin = False
    matched = []
    for rule in rules:
        if not any(group_matches(rule.group, g) for g in names):
            continue
        matched.append(rule)
        if rule.role == "admin":
            admin = True
        to_group = instructor_group if rule.role == "instructor" else learner_group
        groups.update(to_group(c) for c in rule.courses)
        if rule.cohort:
            groups.add(cohort_group(rule.cohort))
    return Access(names, frozenset(groups), admin, tuple(matched))


def sync_groups(
    db: Any, orm_user: orm.User, granted: Iterable[str], owned: Iterable[str]
) -> tuple[set[str], set[str], set[str]]:
    """Add ``orm_user`` to every ``granted`` group they are not in (creating
    missing groups) and remove them from the groups in ``owned`` (memberships
    added earlier for the provider) that are no longer granted; any other
    membership stays. Returns ``(added, removed, owned now)``."""
    granted, owned = set(granted), set(owned)
    current = {g.name for g in orm_user.groups}
    added = granted - current
    removed = (owned - granted) & current
    for name in sorted(added):
        group = orm.Group.find(db, name)
        if group is None:
            group = orm.Group(name=name)
            if cohort_of_group(name) is not None:
                group.properties = {KIND_KEY: "cohort"}
            db.add(group)
        orm_user.groups.append(group)
    for group in [g for g in orm_user.groups if g.name in removed]:
        orm_user.groups.remove(group)
    if added or removed:
        db.commit()
    return added, removed, (owned & granted) | added


class SignInRefused(web.HTTPError):
    """The provider knows the user, but aione does not let them in."""

    def __init__(self, username: str, provider_groups: Sequence[str], reason: str) -> None:
        super().__init__(403, f"sign-in of {username} refused: {reason}")
        self.username = username
        self.provider_groups = list(provider_groups)
        self.reason = reason


class AioneOidcLoginHandler(OAuthLoginHandler):
    """Redirect to the provider, after discovering its endpoints if needed."""

    async def get(self) -> None:
        await self.authenticator.discover()
        super().get()


class AioneOidcCallbackHandler(OAuthCallbackHandler):
    """Back from the provider: admit or refuse, then sync the provider's groups."""

    async def get(self) -> None:
        try:
            await super().get()
        except SignInRefused as refused:
            self.log.warning(
                "%s (provider groups %s)", refused.log_message, refused.provider_groups
            )
            self.set_status(403)
            html = await self.render_template(
                "aione_refused.html",
                username=refused.username,
                provider_groups=refused.provider_groups,
                expired=refused.reason == "expired",
            )
            self.finish(html)

    async def auth_to_user(self, authenticated: dict[str, Any], user: Any = None) -> Any:
        authenticator = self.authenticator
        assert isinstance(authenticator, AioneOidcAuthenticator)
        access = authenticator.access_of(authenticated)
        state = authenticated.setdefault("auth_state", {})
        existing = user or self.find_user(authenticated["name"])
        if existing is None:  # admit first: a refused user leaves nothing behind
            groups = [(g, _properties(self.db, g)) for g in sorted(access.groups)]
            authenticator.admit(authenticated, access, groups)
            state[OWNED_KEY] = sorted(access.groups)  # a new user: every grant is the provider's
            user = await super().auth_to_user(authenticated, user)
            sync_groups(self.db, user.orm_user, access.groups, ())
            return user
        previous = await existing.get_auth_state() or {}
        _, _, owned = sync_groups(
            self.db, existing.orm_user, access.groups, previous.get(OWNED_KEY, ())
        )
        state[OWNED_KEY] = sorted(owned)
        authenticator.admit(
            authenticated, access, [(g.name, g.properties) for g in existing.groups]
        )
        return await super().auth_to_user(authenticated, user)


def _properties(db: Any, name: str) -> dict[str, Any]:
    group = orm.Group.find(db, name)
    return dict(group.properties) if group is not None else {}


class AioneOidcAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator with aione's group rules, cohort checks and discovery."""

    login_handler = AioneOidcLoginHandler
    callback_handler = AioneOidcCallbackHandler

    issuer = Unicode(
        help="The provider's issuer URL; endpoints not set are read from its discovery document.",
    ).tag(config=True)
    group_rules = List(
        Dict(),
        help="Group rules as in the settings (auth.oidc.rules): group, role, courses, cohort.",
    ).tag(config=True)
    groups_claim = Unicode(
        "groups", help="Userinfo claim listing the user's groups; dotted for nested claims."
    ).tag(config=True)
    client_secret_file = Unicode(
        help=f"File holding the client secret, read when ${SECRET_ENV} is not set.",
    ).tag(config=True)
    auth_state_key_file = Unicode(
        help="File with the key encrypting auth_state (created, 0600) when "
        "$JUPYTERHUB_CRYPT_KEY is not set.",
    ).tag(config=True)

    _discovery_lock: asyncio.Lock | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = [OidcGroupRule.model_validate(r) for r in self.group_rules]
        if not self.client_secret:
            raise ValueError(
                f"no OpenID Connect client secret: set ${SECRET_ENV} or auth.oidc.client_secret_file"
            )
        keeper = CryptKeeper.instance()
        if self.enable_auth_state and not keeper.keys and self.auth_state_key_file:
            keeper.keys = [ensure_secret_file(Path(self.auth_state_key_file))]

    @default("client_secret")
    def _client_secret_from_env_or_file(self) -> str:
        secret = os.environ.get(SECRET_ENV, "")
        if not secret and self.client_secret_file:
            try:
                secret = Path(self.client_secret_file).read_text().strip()
            except OSError as err:
                raise ValueError(
                    f"cannot read auth.oidc.client_secret_file {self.client_secret_file} "
                    f"({err.strerror}); fix the path or set ${SECRET_ENV}"
                ) from err
        return secret

    @property
    def has_admin_rules(self) -> bool:
        """True when some rule makes admins (then admin status follows the provider)."""
        return any(r.role == "admin" for r in self.rules)

    async def discover(self) -> None:
        """Fill the endpoints not configured from ``ISSUER/.well-known/openid-configuration``.

        Raises HTTP 503 with a message for the user when the provider does not
        answer or its document names another issuer.
        """
        if self._endpoints_known():
            return
        if self._discovery_lock is None:
            self._discovery_lock = asyncio.Lock()
        async with self._discovery_lock:
            if self._endpoints_known():
                return
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                doc = await self.httpfetch(url, "Discovering the provider", method="GET")
            except Exception as err:
                self.log.error("OpenID Connect discovery at %s failed: %s", url, err)
                raise web.HTTPError(
                    503,
                    "로그인 서비스가 응답하지 않습니다. 잠시 후 다시 시도하세요. / "
                    "The sign-in provider does not answer; try again in a minute.",
                ) from err
            if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
                self.log.error(
                    "%s names issuer %r, not %r; fix auth.oidc.issuer",
                    url,
                    doc.get("issuer"),
                    self.issuer,
                )
                raise web.HTTPError(503, "The sign-in provider is misconfigured.")
            for trait, key in _DISCOVERED.items():
                if not getattr(self, trait):
                    setattr(self, trait, doc[key])

    def _endpoints_known(self) -> bool:
        return all(getattr(self, trait) for trait in _DISCOVERED)

    async def get_token_info(self, handler: Any, params: dict[str, Any]) -> dict[str, Any]:
        await self.discover()
        info: dict[str, Any] = await super().get_token_info(handler, params)
        return info

    async def token_to_user(self, token_info: dict[str, Any]) -> dict[str, Any]:
        await self.discover()
        userinfo: dict[str, Any] = await super().token_to_user(token_info)
        return userinfo

    def access_of(self, auth_model: Mapping[str, Any]) -> Access:
        """The :class:`Access` given by the groups in ``auth_model``'s userinfo."""
        userinfo = (auth_model.get("auth_state") or {}).get(self.user_auth_state_key) or {}
        return map_access(claim_groups(userinfo, self.groups_claim), self.rules)

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Record the mapped groups in auth_state; set admin from the rules."""
        access = self.access_of(auth_model)
        state = auth_model.setdefault("auth_state", {})
        state[GRANTED_KEY] = sorted(access.groups)
        state[PROVIDER_GROUPS_KEY] = list(access.provider_groups)
        if not auth_model.get("admin") and self.has_admin_rules:
            auth_model["admin"] = access.admin
        return auth_model

    async def check_allowed(self, username: str, auth_model: Any) -> bool:
        """Everyone the provider authenticated goes on to :meth:`admit`."""
        return True

    def admit(
        self,
        auth_model: Mapping[str, Any],
        access: Access,
        groups: Sequence[tuple[str, Mapping[str, Any] | None]],
    ) -> None:
        """Raise :class:`SignInRefused` unless the user may use the hub.

        ``groups`` are the user's groups (``(name, properties)``) after the
        provider's grants were applied. Allowed: admins, users whose provider
        groups match a rule, and members of an imported cohort; refused as
        well: users whose every cohort membership has expired.
        """
        name = auth_model["name"]
        if auth_model.get("admin"):
            return
        in_cohort = any(cohort_of_group(g) for g, _ in groups)
        if not access.allowed and not in_cohort:
            raise SignInRefused(name, access.provider_groups, "no matching group")
        if not membership_active(name, groups):
            raise SignInRefused(name, access.provider_groups, "expired")

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """OAuthenticator's refresh (userinfo again), then sync the groups and admit.

        Returns False (sign in again, and be refused) when the user may no
        longer use the hub; their provider memberships are removed first.
        """
        previous = await user.get_auth_state() or {}
        refreshed = await super().refresh_user(user, handler, **kwargs)
        if not isinstance(refreshed, dict):
            return refreshed
        access = self.access_of(refreshed)
        added, removed, owned = sync_groups(
            user.db, user.orm_user, access.groups, previous.get(OWNED_KEY, ())
        )
        if added or removed:
            self.log.info("Groups of %s from the provider: +%s -%s", user.name, added, removed)
        refreshed.setdefault("auth_state", {})[OWNED_KEY] = sorted(owned)
        try:
            self.admit(refreshed, access, [(g.name, g.properties) for g in user.groups])
        except SignInRefused as refused:
            self.log.warning("%s at refresh", refused.log_message)
            return False
        return refreshed


__all__ = [
    "Access",
    "AioneOidcAuthenticator",
    "SignInRefused",
    "claim_groups",
    "group_matches",
    "map_access",
    "sync_groups",
]
