"""Map validated settings onto JupyterHub's traitlets.

Each ``update_*`` function is pure: it takes a traitlets ``Config``, the
:class:`hub.settings.Settings` and a :class:`Runtime` (facts discovered on the
host, such as the learner network's gateway) and only sets config values.
Unit tests feed a plain ``Config()`` through :func:`apply` and check values.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from graders.exchange.hubconfig import update_exchange
from hub import rbac
from hub.errors import SettingsError
from hub.sessions import update_sessions
from hub.settings import Settings, parse_bytes
from hub.swarmconfig import update_swarm

TEMPLATES = Path(__file__).parent / "templates"

#: Scopes of the automation service whose token comes from $AIONE_API_TOKEN.
AUTOMATION_SCOPES = [
    "admin:users",
    "admin:servers",
    "admin:groups",
    "tokens",
    "access:servers",
    "read:hub",
    "list:users",
    "list:groups",
]
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


@dataclass(frozen=True)
class Runtime:
    """Facts found on the host before configuring (see :func:`hub.hubconfig.prepare`)."""

    hub_ip: str
    proxy_command: list[str]
    proxy_auth_token: str
    api_token: str | None = None
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)


def update_hub(c: Config, s: Settings, rt: Runtime) -> None:
    """Hub addresses, database, secrets' files, timeouts and restart behaviour."""
    c.JupyterHub.bind_url = f"http://{s.hub.ip}:{s.hub.port}"
    c.JupyterHub.hub_ip = rt.hub_ip
    c.JupyterHub.hub_port = s.hub.hub_port
    c.JupyterHub.db_url = s.db_url
    c.JupyterHub.cookie_secret_file = str(s.state_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(s.state_dir / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.concurrent_spawn_limit = s.hub.concurrent_spawn_limit
    c.JupyterHub.template_paths = [str(TEMPLATES)]
    c.Spawner.start_timeout = s.hub.start_timeout
    c.Spawner.http_timeout = s.hub.http_timeout


def update_proxy(c: Config, s: Settings, rt: Runtime) -> None:
    """The Node.js configurable-http-proxy, started and owned by the hub."""
    c.JupyterHub.proxy_class = "jupyterhub.proxy.ConfigurableHTTPProxy"
    c.ConfigurableHTTPProxy.command = list(rt.proxy_command)
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.hub.proxy_api_port}"
    c.ConfigurableHTTPProxy.auth_token = rt.proxy_auth_token
    c.ConfigurableHTTPProxy.pid_file = str(s.state_dir / "proxy.pid")
    c.ConfigurableHTTPProxy.should_start = True
    if s.hub.tls:
        # JupyterHub hands these to the proxy as --ssl-cert/--ssl-key.
        c.JupyterHub.ssl_cert = str(s.hub.tls.cert)
        c.JupyterHub.ssl_key = str(s.hub.tls.key)
        c.JupyterHub.bind_url = f"https://{s.hub.ip}:{s.hub.port}"


def update_auth(c: Config, s: Settings, rt: Runtime) -> None:
    """Who signs in: embedded password accounts (default) or the organisation's
    OpenID Connect provider (``auth.kind: oidc``); admins from the settings.

    Raises :class:`SettingsError` when a group rule names a course not listed
    under ``courses:``.
    """
    c.Authenticator.admin_users = set(s.hub.admin_users)
    # Who may sign in is decided by the account store (AioneAuthenticator.check_allowed)
    # or by the group rules and cohorts (AioneOidcAuthenticator.admit).
    c.Authenticator.any_allow_config = True
    # No server before a one-time password is changed, nor after cohort access ended.
    c.Spawner.pre_spawn_hook = rbac.spawn_gate
    if s.auth.kind == "password":
        c.JupyterHub.authenticator_class = "hub.auth.AioneAuthenticator"
        c.AioneAuthenticator.accounts_file = str(s.state_dir / "accounts.sqlite")
        return
    o = s.auth.oidc
    unknown = sorted({cid for r in o.rules for cid in r.courses} - {x.id for x in s.courses})
    if unknown:
        raise SettingsError(
            f"auth.oidc.rules name courses not listed under 'courses:': {', '.join(unknown)}; "
            "add them to courses or fix the rules"
        )
    c.JupyterHub.authenticator_class = "hub.oidc.AioneOidcAuthenticator"
    a = c.AioneOidcAuthenticator
    a.issuer = o.issuer
    a.client_id = o.client_id
    for key in ("authorize_url", "token_url", "userdata_url"):
        if getattr(o, key):
            a[key] = getattr(o, key)
    if o.client_secret_file:
        a.client_secret_file = str(o.client_secret_file)
    if o.callback_url:
        a.oauth_callback_url = o.callback_url
    a.username_claim = o.username_claim
    a.groups_claim = o.groups_claim
    a.scope = list(o.scopes)
    a.login_service = o.login_service
    a.validate_server_cert = o.validate_cert
    a.group_rules = [r.model_dump() for r in o.rules]
    # Groups are synced by aione, not by OAuthenticator: the group API stays on for rosters.
    a.manage_groups = False
    a.enable_auth_state = True
    a.auth_state_key_file = str(s.state_dir / "auth_state_key")
    a.auth_refresh_age = o.refresh_age
    a.refresh_pre_spawn = True


def update_spawner(c: Config, s: Settings, rt: Runtime) -> None:
    """One container per learner, named volumes, limits of the default profile."""
    sp = s.spawner
    c.JupyterHub.spawner_class = "hub.spawner.AioneSpawner"
    c.AioneSpawner.image = sp.image
    c.AioneSpawner.pull_policy = "never"
    c.AioneSpawner.network_name = sp.network
    c.AioneSpawner.use_internal_ip = True
    c.AioneSpawner.remove = True
    c.AioneSpawner.prefix = sp.container_prefix
    c.AioneSpawner.volumes = {
        sp.home_volume: "/home/jovyan",
        sp.data_volume: {"bind": sp.data_mount, "mode": "ro"},
    }
    c.AioneSpawner.notebook_dir = "/home/jovyan"
    c.AioneSpawner.cpu_limit = sp.cpu_limit
    c.AioneSpawner.mem_limit = parse_bytes(sp.mem_limit)
    c.AioneSpawner.docker_threads = sp.docker_threads
    c.AioneSpawner.max_servers = sp.max_servers or 0
    c.AioneSpawner.aione_environment = {"AIONE_DATA_DIR": sp.data_mount, **rt.extra_env}
    c.AioneSpawner.default_url = "/lab"
    c.AioneSpawner.profiles_settings = s.resource_profiles().model_dump(mode="json")
    c.AioneSpawner.gpu_settings = s.gpu.model_dump(mode="json")
    c.AioneSpawner.gpu_state_file = str(s.gpu.state_path(s.state_dir))
    if sp.docker_host:
        c.AioneSpawner.client_kwargs = {"base_url": sp.docker_host}


def update_services(c: Config, s: Settings, rt: Runtime) -> None:
    """Managed services (idle culler) and the automation token's service."""
    services: list[dict[str, object]] = []
    roles: list[dict[str, object]] = []
    if s.culler.enabled:
        services.append(
            {
                "name": "idle-culler",
                "command": [
                    rt.python,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={s.culler.timeout}",
                    f"--cull-every={s.culler.every}",
                ],
            }
        )
        roles.append({"name": "idle-culler", "scopes": CULLER_SCOPES, "services": ["idle-culler"]})
    if rt.api_token:
        services.append({"name": "aione-automation", "api_token": rt.api_token})
        roles.append(
            {
                "name": "aione-automation",
                "scopes": AUTOMATION_SCOPES,
                "services": ["aione-automation"],
            }
        )
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles


def update_roles(c: Config, s: Settings, rt: Runtime) -> None:
    """Both groups of every course exist from the start; each course's
    instructors get its role (see :mod:`hub.rbac`). Adds to what earlier
    updates loaded."""
    courses = [x.id for x in s.courses]
    c.JupyterHub.load_groups = {
        **c.JupyterHub.get("load_groups", {}),
        **rbac.course_groups(courses),
    }
    c.JupyterHub.load_roles = [*c.JupyterHub.get("load_roles", []), *rbac.course_roles(courses)]


UPDATES = (
    update_hub, update_proxy, update_auth, update_spawner, update_services, update_roles,
    update_exchange, update_sessions, update_swarm,
)  # fmt: skip


def apply(c: Config, s: Settings, rt: Runtime) -> Config:
    """Apply every ``update_*`` in order; returns ``c``."""
    for update in UPDATES:
        update(c, s, rt)
    return c
