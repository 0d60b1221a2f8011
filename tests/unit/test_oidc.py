"""Provider groups to aione roles: matching, settings, configuration, the
authenticator's decisions on a real JupyterHub ORM, the spawn gate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub import orm
from tornado import web
from traitlets.config import Config

from hub.accounts import AccountStore
from hub.configure import Runtime, apply
from hub.errors import SettingsError
from hub.oidc import (
    GRANTED_KEY,
    AioneOidcAuthenticator,
    SignInRefused,
    claim_groups,
    group_matches,
    map_access,
    sync_groups,
)
from hub.rbac import (
    EXPIRED_KEY,
    MEMBERS_KEY,
    instructor_role,
    membership_active,
    parse_expiry,
    spawn_gate,
)
from hub.settings import OidcGroupRule, load_settings

RT = Runtime(hub_ip="172.30.0.1", proxy_command=["chp"], proxy_auth_token="p")
RULES = [
    OidcGroupRule(
        group="/companies/acme/learners", role="learner", courses=["mfg-2026"], cohort="acme-2026"
    ),
    OidcGroupRule(group="/companies/*/instructors", role="instructor", courses=["mfg-2026"]),
    OidcGroupRule(group="/aione/admins", role="admin"),
    OidcGroupRule(group="/partners/**", role="learner", courses=["ai-basics"]),
]
OIDC_YAML = """
courses: [{id: mfg-2026}, {id: ai-basics}]
auth:
  kind: oidc
  oidc:
    issuer: https://sso.example.org/realms/aione/
    client_id: aione-hub
    client_secret_file: /etc/aione/oidc-secret
    scopes: [openid, profile, groups]
    refresh_age: 120
    rules:
      - {group: /companies/acme/learners, role: learner, courses: [mfg-2026], cohort: acme-2026}
      - {group: /aione/admins, role: admin}
"""


@pytest.mark.parametrize(
    ("rule", "group", "expected"),
    [
        ("/companies/acme/learners", "/companies/acme/learners", True),
        ("/companies/acme/learners", "companies/acme/learners", True),
        ("companies/acme/learners", "/companies/acme/learners", True),
        ("/companies/acme/learners", "/companies/acme/learners/extra", False),
        ("/companies/acme/learners", "/companies/acme", False),
        ("/companies/*/instructors", "/companies/beta/instructors", True),
        ("/companies/*/instructors", "/companies/a/b/instructors", False),
        ("/partners/**", "/partners/x/y/z", True),
        ("/companies/acme.learners", "/companies/acmeXlearners", False),
    ],
)
def test_group_patterns(rule: str, group: str, expected: bool) -> None:
    assert group_matches(rule, group) is expected


def test_claims_lists_strings_nested_and_missing() -> None:
    assert claim_groups({"groups": ["/a", "/b"]}, "groups") == ["/a", "/b"]
    assert claim_groups({"groups": "/a"}, "groups") == ["/a"]
    assert claim_groups({"realm_access": {"roles": ["x"]}}, "realm_access.roles") == ["x"]
    assert claim_groups({}, "groups") == []
    assert claim_groups({"groups": 3}, "groups") == []


def test_a_user_in_several_groups_gets_the_union() -> None:
    access = map_access(
        ["/companies/acme/learners", "/companies/beta/instructors", "/other"], RULES
    )
    assert access.allowed and not access.admin
    assert access.groups == {
        "course-mfg-2026-learners",
        "cohort-acme-2026",
        "course-mfg-2026-instructors",
    }
    assert len(access.matched) == 2


def test_admin_and_no_match() -> None:
    assert map_access(["/aione/admins"], RULES).admin
    nobody = map_access(["/companies/other/staff"], RULES)
    assert not nobody.allowed and nobody.groups == frozenset()
    assert nobody.provider_groups == ("/companies/other/staff",)


# --- settings and configuration -------------------------------------------------


def configured(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "aione.yaml"
    path.write_text(text)
    return apply(Config(), load_settings(path, state_dir=str(tmp_path / "state")), RT)


def test_oidc_settings_become_authenticator_config(tmp_path: Path) -> None:
    c = configured(tmp_path, OIDC_YAML)
    assert c.JupyterHub.authenticator_class == "hub.oidc.AioneOidcAuthenticator"
    a = c.AioneOidcAuthenticator
    assert a.issuer == "https://sso.example.org/realms/aione"
    assert a.client_id == "aione-hub" and a.client_secret_file == "/etc/aione/oidc-secret"
    assert a.scope == ["openid", "profile", "groups"]
    assert a.username_claim == "preferred_username" and a.groups_claim == "groups"
    assert a.manage_groups is False and a.enable_auth_state is True
    assert a.auth_state_key_file == str(tmp_path / "state" / "auth_state_key")
    assert a.auth_refresh_age == 120 and a.refresh_pre_spawn is True
    assert a.group_rules[0] == {
        "group": "/companies/acme/learners",
        "role": "learner",
        "courses": ["mfg-2026"],
        "cohort": "acme-2026",
    }
    assert "authorize_url" not in a  # discovered from the issuer at the first sign-in


def test_password_is_the_default_and_the_gate_is_always_on(tmp_path: Path) -> None:
    c = configured(tmp_path, "")
    assert c.JupyterHub.authenticator_class == "hub.auth.AioneAuthenticator"
    assert c.Spawner.pre_spawn_hook is spawn_gate
    assert "AioneOidcAuthenticator" not in c


def test_rules_naming_unknown_courses_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not listed under 'courses:': ai-basics"):
        configured(
            tmp_path,
            OIDC_YAML.replace(
                "courses: [{id: mfg-2026}, {id: ai-basics}]", "courses: [{id: mfg-2026}]"
            ).replace("courses: [mfg-2026]", "courses: [ai-basics]"),
        )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("auth:\n  kind: oidc\n", "set issuer and client_id under auth.oidc"),
        (
            "auth:\n  kind: oidc\n  oidc: {issuer: 'https://x', client_id: a}\n",
            "add at least one rule",
        ),
        ("auth:\n  oidc: {issuer: 'https://x'}\n", "is set but auth.kind is 'password'"),
        ("auth:\n  kind: sso\n", "key 'auth.kind'"),
        ("auth:\n  kind: oidc\n  oidc: {issuer: sso.example.org}\n", "must be an http(s) URL"),
        (
            "auth:\n  kind: oidc\n  oidc:\n    issuer: https://x\n    client_id: a\n"
            "    rules: [{group: /a, role: boss}]\n",
            "auth.oidc.rules.0.role",
        ),
        (
            "auth:\n  kind: oidc\n  oidc:\n    issuer: https://x\n    client_id: a\n"
            "    rules: [{group: /a, role: learner, cohort: Acme 2026}]\n",
            "use lowercase letters, digits and dashes, e.g. acme-2026",
        ),
    ],
)
def test_bad_oidc_settings_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(SettingsError) as err:
        configured(tmp_path, text)
    assert needle in str(err.value)


def test_course_roles_and_groups_are_loaded(tmp_path: Path) -> None:
    c = configured(tmp_path, "courses: [{id: mfg-2026}, {id: ai-basics}]\n")
    assert set(c.JupyterHub.load_groups) == {
        "course-mfg-2026-learners",
        "course-mfg-2026-instructors",
        "course-ai-basics-learners",
        "course-ai-basics-instructors",
    }
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["aione-instructor-mfg-2026"] == instructor_role("mfg-2026")
    scopes = roles["aione-instructor-mfg-2026"]["scopes"]
    assert "access:services!service=grader-mfg-2026" in scopes
    assert "list:users!group=course-mfg-2026-learners" in scopes
    assert not any("ai-basics" in s for s in scopes)
    assert not any(s.startswith(("access:servers", "admin", "servers")) for s in scopes)
    assert roles["aione-instructor-mfg-2026"]["groups"] == ["course-mfg-2026-instructors"]


# --- the authenticator on a real ORM ----------------------------------------------


@pytest.fixture
def db() -> Any:
    return orm.new_session_factory("sqlite://")()


@pytest.fixture
def authenticator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AioneOidcAuthenticator:
    monkeypatch.delenv("AIONE_OIDC_CLIENT_SECRET", raising=False)
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    c = Config()
    a = c.AioneOidcAuthenticator
    a.issuer = "https://sso.example.org"
    a.client_id = "aione-hub"
    a.client_secret_file = str(secret)
    a.group_rules = [r.model_dump() for r in RULES]
    a.enable_auth_state = True
    a.auth_state_key_file = str(tmp_path / "auth_state_key")
    a.admin_users = {"boss"}
    return AioneOidcAuthenticator(config=c)


def model(name: str, *groups: str) -> dict[str, Any]:
    return {"name": name, "admin": None, "auth_state": {"oauth_user": {"groups": list(groups)}}}


def test_client_secret_from_file_or_environment(
    authenticator: AioneOidcAuthenticator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert authenticator.client_secret == "s3cret"
    assert (tmp_path / "auth_state_key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("AIONE_OIDC_CLIENT_SECRET", "from-env")
    c = Config()
    c.AioneOidcAuthenticator.client_secret_file = str(tmp_path / "missing")
    assert AioneOidcAuthenticator(config=c).client_secret == "from-env"


def test_no_client_secret_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIONE_OIDC_CLIENT_SECRET", raising=False)
    with pytest.raises(ValueError, match="no OpenID Connect client secret"):
        AioneOidcAuthenticator(config=Config())


async def test_auth_model_records_grants_and_admin(authenticator: AioneOidcAuthenticator) -> None:
    learner = await authenticator.update_auth_model(model("kim", "/companies/acme/learners"))
    assert learner["auth_state"][GRANTED_KEY] == ["cohort-acme-2026", "course-mfg-2026-learners"]
    assert learner["admin"] is False  # admin rules exist, so admin follows the provider
    admin = await authenticator.update_auth_model(model("root", "/aione/admins"))
    assert admin["admin"] is True
    listed = await authenticator.update_auth_model({**model("boss"), "admin": True})
    assert listed["admin"] is True


async def test_admit_refuses_users_in_no_group(authenticator: AioneOidcAuthenticator) -> None:
    outsider = await authenticator.update_auth_model(model("eve", "/companies/other/staff"))
    with pytest.raises(SignInRefused) as refused:
        authenticator.admit(outsider, authenticator.access_of(outsider), [])
    assert refused.value.status_code == 403 and refused.value.reason == "no matching group"
    assert refused.value.provider_groups == ["/companies/other/staff"]
    member = await authenticator.update_auth_model(model("kim", "/companies/acme/learners"))
    authenticator.admit(member, authenticator.access_of(member), [])
    admin = await authenticator.update_auth_model({**model("boss", "/nowhere"), "admin": True})
    authenticator.admit(admin, authenticator.access_of(admin), [])


async def test_admit_lets_roster_members_in_without_a_provider_group(
    authenticator: AioneOidcAuthenticator,
) -> None:
    lee = await authenticator.update_auth_model(model("lee"))
    access = authenticator.access_of(lee)
    cohort = {MEMBERS_KEY: {"lee": {"role": "learner"}}}
    authenticator.admit(lee, access, [("cohort-spring", cohort), ("course-x-learners", {})])
    with pytest.raises(SignInRefused) as refused:
        authenticator.admit(
            lee, access, [("cohort-spring", {**cohort, EXPIRED_KEY: "2026-01-01T00:00:00+00:00"})]
        )
    assert refused.value.reason == "expired"
    with pytest.raises(SignInRefused, match="no matching group"):
        authenticator.admit(lee, access, [("course-x-learners", {})])


async def test_admit_refuses_a_provider_cohort_that_expired(
    authenticator: AioneOidcAuthenticator,
) -> None:
    kim = await authenticator.update_auth_model(model("kim", "/companies/acme/learners"))
    groups = [
        ("cohort-acme-2026", {EXPIRED_KEY: "2026-01-01T00:00"}),
        ("course-mfg-2026-learners", {}),
    ]
    with pytest.raises(SignInRefused, match="expired"):
        authenticator.admit(kim, authenticator.access_of(kim), groups)


async def test_provider_changes_remove_only_the_memberships_it_added(
    authenticator: AioneOidcAuthenticator, db: Any
) -> None:
    user = orm.User(name="kim")
    roster_groups = [
        orm.Group(name="course-ai-basics-learners"),
        orm.Group(name="course-mfg-2026-learners"),
    ]
    user.groups.extend(roster_groups)
    db.add(user)
    db.commit()
    first = authenticator.access_of(model("kim", "/companies/acme/learners"))
    added, removed, owned = sync_groups(db, user, first.groups, [])
    assert added == {"cohort-acme-2026"} and not removed
    assert owned == {"cohort-acme-2026"}, "course-mfg-2026-learners came from the roster"
    assert orm.Group.find(db, "cohort-acme-2026").properties == {"aione.kind": "cohort"}

    later = authenticator.access_of(model("kim", "/companies/beta/instructors"))
    added, removed, owned = sync_groups(db, user, later.groups, owned)
    assert added == {"course-mfg-2026-instructors"} and removed == {"cohort-acme-2026"}
    assert owned == {"course-mfg-2026-instructors"}
    assert {g.name for g in user.groups} == {
        "course-ai-basics-learners",
        "course-mfg-2026-learners",
        "course-mfg-2026-instructors",
    }
    assert sync_groups(db, user, later.groups, owned) == (set(), set(), owned)
    gone = authenticator.access_of(model("kim"))
    assert sync_groups(db, user, gone.groups, owned)[1] == {"course-mfg-2026-instructors"}
    assert {g.name for g in user.groups} == {
        "course-ai-basics-learners",
        "course-mfg-2026-learners",
    }


# --- expiry and the spawn gate ---------------------------------------------------


def test_expiry_forms() -> None:
    day = parse_expiry("2026-12-31")
    assert day.date().isoformat() == "2027-01-01" and day.hour == 0 and day.tzinfo
    assert parse_expiry("2026-12-31T18:00+09:00").utcoffset().total_seconds() == 9 * 3600
    with pytest.raises(ValueError, match="write YYYY-MM-DD"):
        parse_expiry("next week")


def test_membership_is_active_while_one_cohort_is() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    live = {MEMBERS_KEY: {"kim": {"expires_at": "2026-12-31"}}}
    ended = {MEMBERS_KEY: {"kim": {"expires_at": "2026-05-31"}}}
    closed = {EXPIRED_KEY: "2026-05-01T00:00:00+00:00", MEMBERS_KEY: {"kim": {}}}
    assert membership_active("kim", [("course-x-learners", {})], now)
    assert membership_active("kim", [("cohort-a", live)], now)
    assert not membership_active("kim", [("cohort-a", ended)], now)
    assert not membership_active("kim", [("cohort-a", ended), ("cohort-b", closed)], now)
    assert membership_active("kim", [("cohort-a", ended), ("cohort-b", live)], now)
    garbled = {MEMBERS_KEY: {"kim": {"expires_at": "soon"}}}
    assert not membership_active("kim", [("cohort-a", garbled)], now)


async def test_spawn_gate(tmp_path: Path, db: Any) -> None:
    store = AccountStore(tmp_path / "accounts.sqlite")
    store.set_password("kim", "one-time-pw", must_change=True)
    user = orm.User(name="kim")
    db.add(user)
    db.commit()
    spawner = SimpleNamespace(user=user, authenticator=SimpleNamespace(store=store))
    with pytest.raises(web.HTTPError) as err:
        await spawn_gate(spawner)
    assert err.value.status_code == 403 and "/hub/aione/password" in err.value.log_message
    store.set_password("kim", "a-better-password", must_change=False)
    await spawn_gate(spawner)
    group = orm.Group(name="cohort-a", properties={EXPIRED_KEY: "2026-01-01T00:00:00+00:00"})
    user.groups.append(group)
    db.commit()
    with pytest.raises(web.HTTPError, match="access to this hub has ended"):
        await spawn_gate(spawner)
    user.admin = True
    await spawn_gate(spawner)
    await spawn_gate(SimpleNamespace(user=orm.User(name="oidc-user"), authenticator=object()))
