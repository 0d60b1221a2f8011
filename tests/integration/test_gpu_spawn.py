"""GPU-aware spawning through a real hub and real containers, with a declared inventory.

This machine has no GPU and its Docker has no NVIDIA runtime, so the inventory is declared
in the settings (as on hosts where discovery is not possible). In `runtime-env` mode the
container gets its GPUs through NVIDIA_VISIBLE_DEVICES only, so it starts here and the test
can check which UUIDs each learner got; in `device-requests` mode the container's Docker
DeviceRequest is checked, and its start fails here for want of the NVIDIA driver, which
exercises the release of a failed start's GPU.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.hubproc import VENV_BIN, HubProcess

pytestmark = [pytest.mark.docker, pytest.mark.slow]

UUIDS = [f"GPU-0000000{i}-aaaa-bbbb-cccc-00000000000{i}" for i in range(4)]


def gpu_settings(request_mode: str) -> dict[str, Any]:
    return {
        "profiles": {
            "default": "cpu",
            "profiles": [
                {
                    "name": "cpu",
                    "label": {"ko": "CPU", "en": "CPU"},
                    "cpu_limit": 0.5,
                    "mem_limit": "512M",
                },
                {
                    "name": "gpu",
                    "label": {"ko": "GPU 1개", "en": "1 GPU"},
                    "cpu_limit": 0.5,
                    "mem_limit": "512M",
                    "gpus": 1,
                    "groups": ["cohort-a"],
                },
            ],
        },
        "gpu": {
            "inventory": [
                {"index": i, "uuid": u, "name": "NVIDIA A100-SXM4-40GB", "memory_mib": 40960}
                for i, u in enumerate(UUIDS)
            ],
            "quotas": {"cohort-a": 4},
            "request": request_mode,
        },
    }


def make_hub(tmp_path: Path, request: pytest.FixtureRequest, mode: str) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path, extra_settings=gpu_settings(mode))
    try:
        proc.start()
        yield proc
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            proc.dump_logs()
        proc.cleanup()


@pytest.fixture
def gpu_hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HubProcess]:
    yield from make_hub(tmp_path, request, "runtime-env")


@pytest.fixture
def device_request_hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HubProcess]:
    yield from make_hub(tmp_path, request, "device-requests")


def ask(hub: HubProcess, user: str, profile: str) -> tuple[int, str, float]:
    """POST a spawn with ``profile``; returns (status, message, seconds)."""
    start = time.monotonic()
    try:
        hub.api("POST", f"/users/{user}/server", {"profile": profile})
        return 201, "", time.monotonic() - start
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace"), time.monotonic() - start


def held(hub: HubProcess) -> set[str]:
    """Learners holding a GPU, from `aione gpu status --json` (none before any allocation)."""
    if not (hub.state_dir / "gpu-allocations.sqlite").exists():
        return set()
    return {g["learner"] for g in gpu_status(hub)["gpus"] if g["learner"]}


def gpu_status(hub: HubProcess) -> dict[str, Any]:
    out = subprocess.run(
        [str(VENV_BIN / "aione"), "gpu", "status", "--json", "--state-dir", str(hub.state_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


def visible_devices(hub: HubProcess, user: str) -> str:
    container = next(c for c in hub.containers() if c.labels.get("aione.user") == user)
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    return env["NVIDIA_VISIBLE_DEVICES"]


def outcome(hub: HubProcess, user: str, started: float, timeout: float = 120) -> tuple[str, float]:
    """Wait until ``user``'s spawn is ready or has failed; ("ready"|failure message, seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = hub.api("GET", f"/users/{user}")["servers"].get("")
        if server and server["ready"]:
            return "ready", time.monotonic() - started
        if not server:
            return failure_message(hub, user), time.monotonic() - started
        time.sleep(0.3)
    raise TimeoutError(f"{user}'s spawn neither ready nor failed in {timeout} s")


def failure_message(hub: HubProcess, user: str) -> str:
    """The message of the last spawn's failure, from the progress events the spawn page shows."""
    status, body = hub.request("GET", f"/hub/api/users/{user}/server/progress", hub.token)
    return body.decode(errors="replace") if status == 200 else f"HTTP {status}"


def test_forty_learners_four_gpus(gpu_hub: HubProcess) -> None:
    hub = gpu_hub
    users = [f"l{i:02d}" for i in range(40)]
    for u in users:
        hub.api("POST", f"/users/{u}")
    hub.api("POST", "/groups/cohort-a", {"users": users})

    started = time.monotonic()
    with ThreadPoolExecutor(40) as pool:
        asked = dict(zip(users, pool.map(lambda u: ask(hub, u, "gpu"), users), strict=True))
        outcomes = dict(
            zip(users, pool.map(lambda u: outcome(hub, u, started), users), strict=True)
        )
    granted = [u for u, (result, _) in outcomes.items() if result == "ready"]
    refused = [u for u in users if u not in granted]
    assert len(granted) == 4, outcomes
    assert len(refused) == 36
    for u in refused:
        code, answer, _ = asked[u]
        message = answer if code >= 300 else outcomes[u][0]
        assert "cohort-a" in message and "4" in message, message
        assert outcomes[u][1] < 45, f"{u} learnt of the refusal after {outcomes[u][1]:.1f} s"
    assert sorted(visible_devices(hub, u) for u in granted) == sorted(UUIDS)
    assert held(hub) == set(granted)

    hub.restart()
    assert held(hub) == set(granted)
    late = refused.pop()
    code, message, seconds = ask(hub, late, "gpu")
    if code < 300:
        message, seconds = outcome(hub, late, time.monotonic())
    assert "cohort-a" in message and seconds < 15, (code, message)

    for u in granted:
        hub.stop_server(u)
    assert not held(hub)
    others = refused[:4]
    for u in others:
        ask(hub, u, "gpu")
        assert outcome(hub, u, time.monotonic())[0] == "ready"
    assert sorted(visible_devices(hub, u) for u in others) == sorted(UUIDS)


def test_gpu_profile_needs_the_group(gpu_hub: HubProcess) -> None:
    hub = gpu_hub
    hub.api("POST", "/users/outsider")
    code, message, _ = ask(hub, "outsider", "gpu")
    assert code == 403 and "cohort-a" in message
    assert not held(hub)
    ask(hub, "outsider", "cpu")
    assert outcome(hub, "outsider", time.monotonic())[0] == "ready"
    assert visible_devices(hub, "outsider") == "void"


def test_device_request_and_failed_start_releases(device_request_hub: HubProcess) -> None:
    hub = device_request_hub
    hub.api("POST", "/users/gina")
    hub.api("POST", "/groups/cohort-a", {"users": ["gina"]})
    created: dict[str, Any] = {}

    def watch() -> None:
        events = hub.docker.api.events(
            decode=True,
            filters={"type": "container", "event": "create", "label": "aione.user=gina"},
        )
        for event in events:
            created.update(hub.docker.api.inspect_container(event["id"]))
            events.close()
            return

    with ThreadPoolExecutor(1) as pool:
        watcher = pool.submit(watch)
        time.sleep(0.5)
        code, message, _ = ask(hub, "gina", "gpu")
        watcher.result(timeout=60)
    # The NVIDIA driver is missing here, so Docker refuses to start the container.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and hub.api("GET", "/users/gina")["servers"]:
        time.sleep(0.5)
    assert not hub.api("GET", "/users/gina")["servers"], (code, message)
    assert "nvidia" in hub.log() and "could not select device driver" in hub.log()
    requests = created["HostConfig"]["DeviceRequests"]
    assert requests[0]["Driver"] == "nvidia"
    assert len(requests[0]["DeviceIDs"]) == 1 and requests[0]["DeviceIDs"][0] in UUIDS
    assert requests[0]["Capabilities"] == [["gpu"]]
    assert not held(hub)


@pytest.fixture
def small_hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path, extra_settings={"spawner": {"max_servers": 1}})
    try:
        proc.start()
        yield proc
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            proc.dump_logs()
        proc.cleanup()


def test_full_host_says_so_at_once(small_hub: HubProcess) -> None:
    hub = small_hub
    for u in ("first", "second"):
        hub.api("POST", f"/users/{u}")
    ask(hub, "first", "default")
    assert outcome(hub, "first", time.monotonic())[0] == "ready"
    code, message, _ = ask(hub, "second", "default")
    if code < 300:
        message, seconds = outcome(hub, "second", time.monotonic())
        assert seconds < 15
    assert "host is full" in message and "1 of 1" in message, (code, message)
