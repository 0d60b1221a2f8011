"""A real aione hub for tests: ``aione up`` in a subprocess with its own state
directory, free ports, and Docker objects named ``aione-test-<id>-...``.

Everything it creates (containers, volumes, the network) is removed by
:meth:`HubProcess.cleanup`; :meth:`HubProcess.dump_logs` prints the hub's log
and the learner containers' logs (called by fixtures when a test fails).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import yaml

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """Start, restart and stop one ``aione up``; talk to its REST API."""

    def __init__(
        self,
        tmp: Path,
        extra_settings: dict[str, Any] | None = None,
        stock_config: Path | None = None,
    ) -> None:
        """``stock_config``: run plain ``jupyterhub -f stock_config`` instead of ``aione up``
        (for comparison benchmarks); it reads its ports and names from STOCK_* variables."""
        self.id = secrets.token_hex(3)
        self.prefix = f"aione-test-{self.id}"
        self.state_dir = tmp / "state"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.config = tmp / "aione.yaml"
        self.log_path = tmp / "hub.log"
        settings: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "hub": {
                "port": self.port,
                "hub_port": free_port(),
                "proxy_api_port": free_port(),
                "exchange_port": free_port(),
            },
            "spawner": {
                "network": f"{self.prefix}-net",
                "container_prefix": self.prefix,
                "home_volume": f"{self.prefix}-home-{{username}}",
                "data_volume": f"{self.prefix}-data",
            },
        }
        for section, values in (extra_settings or {}).items():
            if isinstance(values, dict):
                settings.setdefault(section, {}).update(values)
            else:
                settings[section] = values
        self.settings = settings
        self.config.write_text(yaml.safe_dump(settings))
        self.stock_config = stock_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.docker = docker.from_env()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *args: str, timeout: float = 60) -> None:
        env = dict(os.environ, AIONE_API_TOKEN=self.token)
        cmd = [str(VENV_BIN / "aione"), "up", "--config", str(self.config), *args]
        if self.stock_config:
            env.update(self._stock_env())
            cmd = [str(VENV_BIN / "jupyterhub"), "-f", str(self.stock_config), *args]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"hub did not answer within {timeout} s:\n{self.log()}")

    def _stock_env(self) -> dict[str, str]:
        from hub import docker_engine
        from hub.hubconfig import proxy_command

        self.state_dir.mkdir(parents=True, exist_ok=True)
        net = self.settings["spawner"]["network"]
        gateway = docker_engine.ensure_network(self.docker, net)
        return {
            "STOCK_PORT": str(self.port),
            "STOCK_HUB_IP": gateway,
            "STOCK_HUB_PORT": str(self.settings["hub"]["hub_port"]),
            "STOCK_PROXY_API_PORT": str(self.settings["hub"]["proxy_api_port"]),
            "STOCK_PROXY_COMMAND": proxy_command()[0],
            "STOCK_NETWORK": net,
            "STOCK_PREFIX": self.prefix,
            "STOCK_STATE": str(self.state_dir),
            "STOCK_IMAGE": self.settings["spawner"].get("image", "aione/learner:latest"),
        }

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Call the hub REST API; returns parsed JSON (or None); raises HTTPError."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}/hub/api{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {token or self.token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def request(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, bytes]:
        """Any request through the public proxy with a token; returns (status, body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def create_user(self, name: str) -> str:
        """Create ``name`` in the hub and return an API token of theirs."""
        self.api("POST", f"/users/{name}")
        return str(self.api("POST", f"/users/{name}/tokens", {"note": "test"})["token"])

    def spawn(self, name: str, timeout: float = 90, **options: Any) -> dict[str, Any]:
        """Start ``name``'s server and wait until it is ready; returns the user model."""
        self.api("POST", f"/users/{name}/server", options or None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{name}")
            server = model["servers"].get("")
            if server and server["ready"]:
                return dict(model)
            if not server or not server.get("pending"):
                if not server:
                    raise RuntimeError(f"spawn of {name} failed:\n{self.log()[-4000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"{name}'s server not ready in {timeout} s")

    def stop_server(self, name: str, timeout: float = 60) -> None:
        self.api("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api("GET", f"/users/{name}")["servers"]:
                return
            time.sleep(0.5)
        raise TimeoutError(f"{name}'s server did not stop in {timeout} s")

    def servers(self) -> dict[str, dict[str, Any]]:
        """The default servers the hub has (running, starting or stopping), by user."""
        return {
            u["name"]: u["servers"][""]
            for u in self.api("GET", "/users?state=active")
            if u["servers"].get("")
        }

    def containers(self) -> list[Any]:
        return [c for c in self.docker.containers.list(all=True) if c.name.startswith(self.prefix)]

    def dump_logs(self) -> None:
        print(f"===== hub log ({self.log_path}) =====\n{self.log()[-20000:]}")
        for c in self.containers():
            print(f"===== container {c.name} =====")
            print(c.logs(tail=200).decode(errors="replace"))

    def cleanup(self) -> None:
        """Stop the hub; remove its containers, volumes and network. A container that
        removes itself meanwhile (DockerSpawner's ``remove``) is no error."""
        self.stop()
        for c in self.containers():
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
        for v in self.docker.volumes.list():
            if v.name.startswith(self.prefix):
                v.remove(force=True)
        for n in self.docker.networks.list(names=[f"{self.prefix}-net"]):
            n.remove()


@contextlib.contextmanager
def module_hub(
    tmp: Path, failures: Any, extra_settings: dict[str, Any] | None = None
) -> Iterator[HubProcess]:
    """A started hub shared by a module's tests: ``failures`` is pytest's session
    (``request.session``); when a test failed meanwhile, the hub's and its containers'
    logs are printed before everything is removed."""
    proc = HubProcess(tmp, extra_settings)
    failed = failures.testsfailed
    try:
        proc.start()
        yield proc
    finally:
        if failures.testsfailed > failed:
            proc.dump_logs()
        proc.cleanup()
