"""The swarm backend without a swarm: settings, traitlets, task and node interpretation,
and the service mounts the spawner builds."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config

from hub.configure import Runtime, apply
from hub.errors import SettingsError, SwarmError
from hub.settings import load_settings
from hub.swarm import (
    AioneSwarmSpawner,
    explain_unschedulable,
    learner_error,
    newest_task,
    node_address,
    published_port,
    task_problem,
    unschedulable_reason,
)

RT = Runtime(hub_ip="10.20.0.10", proxy_command=["chp"], proxy_auth_token="t")
READY = {"ID": "n1", "Description": {"Hostname": "cpu-1"}, "Status": {"State": "ready"}}


def configured(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "aione.yaml"
    path.write_text(text)
    return apply(Config(), load_settings(path, state_dir=str(tmp_path / "state")), RT)


def test_docker_backend_is_the_default(tmp_path: Path) -> None:
    c = configured(tmp_path, "")
    assert c.JupyterHub.spawner_class == "hub.spawner.AioneSpawner"
    assert "AioneSwarmSpawner" not in c


def test_swarm_backend_sets_the_swarm_spawner(tmp_path: Path) -> None:
    c = configured(
        tmp_path,
        "spawner:\n  backend: swarm\n  home_volume: 'home-{username}'\n"
        "  swarm:\n    poll_interval: 7\n    unschedulable_timeout: 2\n"
        "    home_volume_driver: local\n"
        "    home_volume_options: {type: nfs, device: ':/homes/{username}'}\n",
    )
    x = c.AioneSwarmSpawner
    assert c.JupyterHub.spawner_class == "hub.swarm.AioneSwarmSpawner"
    assert x.pull_policy == "skip"
    assert x.poll_interval == 7 and x.unschedulable_timeout == 2
    assert x.home_volume_name == "home-{username}"
    assert x.home_volume_driver == "local"
    assert x.home_volume_options == {"type": "nfs", "device": ":/homes/{username}"}
    assert x.worker_constraints == ["node.role == worker"]
    assert x.gpu_constraints == ["node.labels.gpu == true"]
    # The docker-backend values still reach the subclass through AioneSpawner's section.
    assert c.AioneSpawner.volumes["home-{username}"] == "/home/jovyan"


def test_volume_options_without_a_driver_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "aione.yaml"
    path.write_text("spawner:\n  swarm:\n    home_volume_options: {type: nfs}\n")
    with pytest.raises(SettingsError, match="home_volume_driver"):
        load_settings(path)


def test_tls_gives_the_proxy_the_files_and_https(tmp_path: Path) -> None:
    cert, key = tmp_path / "hub.crt", tmp_path / "hub.key"
    cert.write_text("cert")
    key.write_text("key")
    c = configured(
        tmp_path, f"hub:\n  ip: 0.0.0.0\n  port: 443\n  tls: {{cert: {cert}, key: {key}}}\n"
    )
    assert c.JupyterHub.ssl_cert == str(cert) and c.JupyterHub.ssl_key == str(key)
    assert c.JupyterHub.bind_url == "https://0.0.0.0:443"


def test_tls_files_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "aione.yaml"
    path.write_text(f"hub:\n  tls: {{cert: {tmp_path}/no.crt, key: {tmp_path}/no.key}}\n")
    with pytest.raises(SettingsError, match=r"hub\.tls\.cert.*not a file"):
        load_settings(path)


def task(state: str, desired: str = "running", node: str = "n1", **status: Any) -> dict[str, Any]:
    return {
        "ID": f"t-{state}",
        "CreatedAt": "2026-01-01T00:00:00Z",
        "NodeID": node,
        "DesiredState": desired,
        "Status": {"State": state, **status},
    }


def test_running_and_starting_tasks_are_no_problem() -> None:
    assert task_problem(task("running"), READY) is None
    assert task_problem(task("preparing"), READY) is None
    assert task_problem(task("pending", node=""), None) is None


def test_refused_and_failed_tasks_say_why() -> None:
    rejected = task("rejected", desired="shutdown", Err="No such image: aione/learner:latest")
    assert task_problem(rejected, READY) == (
        "the task on node cpu-1 is rejected: No such image: aione/learner:latest"
    )
    failed = task("failed", desired="shutdown", Err="task: non-zero exit (1)")
    assert "failed: task: non-zero exit (1)" in str(task_problem(failed, READY))


def test_a_lost_node_stops_the_server() -> None:
    # What swarm shows after a worker is powered off: the task still says running.
    down = {**READY, "Status": {"State": "down"}}
    assert task_problem(task("running", desired="shutdown"), down) == "node cpu-1 is down"
    assert task_problem(task("running"), None) == "node n1 has left the swarm"
    given_up = task_problem(task("running", desired="shutdown"), READY)
    assert given_up is not None and "given up" in given_up


def test_unschedulable_tasks_are_recognised_and_explained() -> None:
    waiting = task(
        "pending",
        node="",
        Err="no suitable node (scheduling constraints not satisfied on 3 nodes)",
    )
    reason = unschedulable_reason(waiting)
    assert reason is not None and unschedulable_reason(task("pending", node="")) is None
    gpu = explain_unschedulable(reason, gpu=True)
    assert "gpu=true" in gpu and "scheduling constraints" in gpu and "CPU profile" in gpu
    full = explain_unschedulable("no suitable node (insufficient resources on 2 nodes)", False)
    assert "smaller profile" in full


def test_newest_task_and_published_port() -> None:
    old = {**task("failed"), "CreatedAt": "2026-01-01T00:00:00Z"}
    new = {
        **task("running"),
        "CreatedAt": "2026-01-02T00:00:00Z",
        "Status": {
            "State": "running",
            "PortStatus": {"Ports": [{"TargetPort": 8888, "PublishedPort": 30123}]},
        },
    }
    assert newest_task([old, new]) is new and newest_task([]) is None
    assert published_port(new, 8888) == 30123
    with pytest.raises(SwarmError, match="publishes no port"):
        published_port(old, 8888)


def test_node_address_prefers_the_status_address() -> None:
    assert node_address({"Status": {"Addr": "10.20.0.21"}}) == "10.20.0.21"
    manager = {"Status": {"Addr": "0.0.0.0"}, "ManagerStatus": {"Addr": "10.20.0.10:2377"}}
    assert node_address(manager) == "10.20.0.10"
    with pytest.raises(SwarmError, match="no address"):
        node_address({"Status": {}})


def spawner(**config: Any) -> AioneSwarmSpawner:
    c = Config()
    for key, value in config.items():
        c.AioneSwarmSpawner[key] = value
    user = SimpleNamespace(name="kim.ai", groups=[], admin=False, url="/")
    return AioneSwarmSpawner(config=c, user=user, _deprecated_db_session=None)


def test_named_volumes_become_volume_mounts_with_their_drivers() -> None:
    sp = spawner(
        volumes={
            "aione-home-{username}": "/home/jovyan",
            "aione-data": {"bind": "/srv/data", "mode": "ro"},
            "/srv/shared": {"bind": "/shared", "mode": "ro"},
        },
        home_volume_name="aione-home-{username}",
        data_volume_name="aione-data",
        home_volume_driver="local",
        home_volume_options={"type": "nfs", "device": ":/homes/{username}"},
    )
    mounts = {m["Target"]: m for m in sp.service_mounts()}
    home = mounts["/home/jovyan"]
    assert home["Type"] == "volume" and home["Source"] == "aione-home-kim-2eai"
    assert home["VolumeOptions"]["DriverConfig"] == {
        "Name": "local",
        "Options": {"type": "nfs", "device": ":/homes/kim-2eai"},
    }
    data = mounts["/srv/data"]
    assert data["Type"] == "volume" and data["ReadOnly"] is True
    assert "DriverConfig" not in data.get("VolumeOptions", {})
    assert mounts["/shared"]["Type"] == "bind" and mounts["/shared"]["Source"] == "/srv/shared"


def test_the_pin_is_kept_in_the_state_across_a_stop() -> None:
    sp = spawner()
    sp.load_state({"object_id": "", "pinned_node": "node-abc"})
    assert sp.pinned_node == "node-abc"
    sp.clear_state()
    assert sp.get_state()["pinned_node"] == "node-abc"


def test_refusals_reach_the_learner_verbatim() -> None:
    err = learner_error("no node can run your server now")
    assert isinstance(err, SwarmError)
    assert err.jupyterhub_message == "no node can run your server now"  # type: ignore[attr-defined]
