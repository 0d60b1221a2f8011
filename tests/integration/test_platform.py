"""The platform foundation against a real dockerd, a real hub and real learner containers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubproc import VENV_BIN, HubProcess
from tests.kernel import run_code

pytestmark = [pytest.mark.docker]


async def test_learner_server_lifecycle(hub: HubProcess) -> None:
    """Spawn, compute through the proxy's websocket, persist across stop and hub restart."""
    token_a = hub.create_user("alice")
    hub.spawn("alice")
    assert await run_code(hub, "alice", token_a, "5 * 4") == "20"

    status, _ = hub.request(
        "PUT",
        "/user/alice/api/contents/keep.txt",
        token_a,
        {"type": "file", "format": "text", "content": "survives"},
    )
    assert status in (200, 201)
    container = next(c for c in hub.containers() if "alice" in c.name)
    assert container.exec_run("stat -c %u /home/jovyan").output.decode().strip() == "1000"
    ro = container.exec_run(["touch", "/srv/data/x"])
    assert ro.exit_code != 0 and b"Read-only" in ro.output
    host_config = container.attrs["HostConfig"]
    assert host_config["Memory"] == 2 * 1024**3
    assert host_config["CpuQuota"] / host_config["CpuPeriod"] == 1.0
    assert container.attrs["NetworkSettings"]["Networks"].keys() == {f"{hub.prefix}-net"}

    hub.stop_server("alice")
    assert not [c for c in hub.containers() if "alice" in c.name], "container removed on stop"
    assert hub.docker.volumes.get(f"{hub.prefix}-home-alice")

    hub.restart()
    hub.spawn("alice")
    status, body = hub.request("GET", "/user/alice/api/contents/keep.txt", token_a)
    assert status == 200 and b"survives" in body


async def test_servers_survive_hub_restart(hub: HubProcess) -> None:
    token = hub.create_user("bob")
    hub.spawn("bob")
    before = {c.id for c in hub.containers()}
    hub.restart()
    assert {c.id for c in hub.containers() if c.status == "running"} == before
    model = hub.api("GET", "/users/bob")
    assert model["servers"][""]["ready"]
    assert await run_code(hub, "bob", token, "print('still here')") == "still here"


def test_other_learner_is_refused(hub: HubProcess) -> None:
    token_a = hub.create_user("carol")
    token_b = hub.create_user("dave")
    hub.spawn("carol")
    status, _ = hub.request("GET", "/user/carol/api/contents", token_a)
    assert status == 200
    status, _ = hub.request("GET", "/user/carol/api/contents", token_b)
    assert status == 403
    status, _ = hub.request("GET", "/hub/api/users/carol", token_b)
    assert status in (403, 404)


def _aione(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "aione"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_bad_settings_file_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "aione.yaml"
    bad.write_text("hub:\n  prot: 8000\nspawner:\n  mem_limit: plenty\n")
    proc = _aione("up", "--config", str(bad), "--state-dir", str(tmp_path / "s"))
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert "hub.prot" in line and "unknown" in line and str(bad) in line
    assert "spawner.mem_limit" in line


def test_no_docker_engine_says_how_to_start_one(tmp_path: Path) -> None:
    proc = _aione(
        "up",
        "--state-dir",
        str(tmp_path / "s"),
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"},
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Docker engine answers" in lines[0] and "dockerd" in lines[0]


def test_python_of_tests_is_the_venv() -> None:
    assert Path(sys.executable).parent == VENV_BIN
