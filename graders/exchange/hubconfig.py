"""The exchange's place in the hub configuration: one pure ``update_*`` function.

Appended to :data:`hub.configure.UPDATES`, so it runs after
``update_services`` and adds to what that set:

- the managed service ``aione-exchange``, listening on the learner network's
  gateway (``Runtime.hub_ip``) at ``hub.exchange_port`` so learner containers
  reach it directly; the hub also proxies it at ``/services/aione-exchange/``;
- a role for that service with only ``read:users:name`` and
  ``read:users:groups``: enough to learn a caller's groups and admin flag;
- ``AIONE_EXCHANGE_URL`` in every learner server's environment.

One service, one role and no per-course token serve every course.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traitlets.config import Config

from graders.exchange.settings import SERVICE_NAME, exchange_settings
from hub.settings import Settings

if TYPE_CHECKING:  # hub.configure imports this module to list update_exchange
    from hub.configure import Runtime

SERVICE_SCOPES = ["read:users:name", "read:users:groups"]


def exchange_url(s: Settings, rt: Runtime) -> str:
    """The URL learner servers use (``exchange.url``, else the gateway's)."""
    ex = exchange_settings(s)
    return ex.url or f"http://{rt.hub_ip}:{s.hub.exchange_port}/services/{SERVICE_NAME}/"


def service_command(s: Settings, rt: Runtime) -> list[str]:
    """The service's command line (every option a traitlet of ``ExchangeService``)."""
    ex = exchange_settings(s)
    cmd = [
        rt.python, "-m", "graders.exchange.service",
        f"--ExchangeService.ip={rt.hub_ip}",
        f"--ExchangeService.port={s.hub.exchange_port}",
        f"--ExchangeService.store_root={s.state_dir / 'exchange'}",
        f"--ExchangeService.submission_limit={ex.submission_limit_bytes}",
        f"--ExchangeService.release_limit={ex.release_limit_bytes}",
        f"--ExchangeService.max_files={ex.max_files}",
        f"--ExchangeService.membership_cache_s={ex.membership_cache_s}",
    ]  # fmt: skip
    cmd += [f"--ExchangeService.courses={c.id}" for c in s.courses]
    cmd += [f"--ExchangeService.trusted_services={name}" for name in ex.trusted_services]
    return cmd


def _existing(section: Any, key: str) -> list[Any]:
    return list(section[key]) if key in section else []


def update_exchange(c: Config, s: Settings, rt: Runtime) -> None:
    """Add the exchange service, its role and ``AIONE_EXCHANGE_URL`` (merging, never replacing)."""
    if not exchange_settings(s).enabled:
        return
    services = _existing(c.JupyterHub, "services")
    services.append(
        {
            "name": SERVICE_NAME,
            "url": f"http://{rt.hub_ip}:{s.hub.exchange_port}",
            "command": service_command(s, rt),
            "display": False,
        }
    )
    c.JupyterHub.services = services
    roles = _existing(c.JupyterHub, "load_roles")
    roles.append({"name": SERVICE_NAME, "scopes": list(SERVICE_SCOPES), "services": [SERVICE_NAME]})
    c.JupyterHub.load_roles = roles
    env = dict(c.AioneSpawner.aione_environment) if "aione_environment" in c.AioneSpawner else {}
    env["AIONE_EXCHANGE_URL"] = exchange_url(s, rt)
    c.AioneSpawner.aione_environment = env
