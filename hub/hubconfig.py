"""Prepare the host for a hub start and build its :class:`~hub.configure.Runtime`.

Idempotent ``ensure_*`` steps: the state directory (0700), the proxy token
(0600), the learner network; then the proxy command is found. Used by
``jupyterhub_config.py`` and by ``aione up``'s preflight checks.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from hub import docker_engine, swarmconfig
from hub.configure import Runtime
from hub.errors import SettingsError
from hub.settings import Settings, load_settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OVERRIDES_ENV = "AIONE_SETTINGS_OVERRIDES"


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state directory, readable by its owner only."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    return state_dir


def ensure_secret_file(path: Path, nbytes: int = 32) -> str:
    """Return the hex secret in ``path``, creating it (mode 0600) if missing."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(nbytes))
    path.chmod(0o600)
    return path.read_text().strip()


def proxy_command() -> list[str]:
    """The Node.js configurable-http-proxy: the project's ``node_modules`` first, then PATH."""
    local = PROJECT_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return [str(local)]
    found = shutil.which("configurable-http-proxy")
    if found:
        return [found]
    raise SettingsError(
        "the Node.js configurable-http-proxy is not installed; run "
        f"'npm install --prefix {PROJECT_ROOT}' (or './bootstrap up', which does it)"
    )


def settings_from_environment() -> Settings:
    """Settings from the file ($AIONE_CONFIG) plus ``aione up``'s overrides (JSON env)."""
    overrides: dict[str, Any] = json.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    return load_settings(None, **overrides)


def prepare(s: Settings) -> Runtime:
    """Run every ensure step for ``s`` and return the runtime facts."""
    ensure_state_dir(s.state_dir)
    token = ensure_secret_file(s.state_dir / "proxy_token")
    api = docker_engine.client(s.spawner.docker_host)
    if s.spawner.backend == "swarm":
        gateway = swarmconfig.ensure_swarm_network(api, s.spawner.network)
    else:
        gateway = docker_engine.ensure_network(api, s.spawner.network)
    docker_engine.ensure_volume(api, s.spawner.data_volume, {"aione.role": "data"})
    return Runtime(
        hub_ip=gateway,
        proxy_command=proxy_command(),
        proxy_auth_token=token,
        api_token=os.environ.get("AIONE_API_TOKEN") or None,
    )
