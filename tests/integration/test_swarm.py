"""aione on Docker Swarm, provisioned by the real Ansible playbooks on real (container) hosts.

A manager and two workers (see :mod:`tests.integration.swarmnodes`) are provisioned by
``ansible/site.yml`` over SSH: Docker engines started without systemd, the swarm, node
labels, the learner image loaded on every node, the hub with HTTPS and backups. Then
learners are spawned through the hub's REST API and placed on the workers; code runs in
one; a learner submits through the exchange from a worker; a GPU profile with no GPU node
fails at once with swarm's reason; a second playbook run changes nothing; a worker is
killed and its learner starts again on the other worker with the submission intact.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.swarmnodes import (
    Cluster,
    RemoteHub,
    build_images,
    build_wheel,
    recap,
    self_signed_cert,
    sh,
    tarball,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WORKERS = ("worker1", "worker2")
COURSE = "swarm-101"
EXCHANGE = "/services/aione-exchange/api"
GPU_UUID = "GPU-00000000-aaaa-bbbb-cccc-000000000001"


@dataclass
class Swarm:
    cluster: Cluster
    inventory: Path
    extra_vars: Path
    first_run: Any
    hub: RemoteHub
    learner_image: str
    tokens: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def playbook_vars(tmp: Path, learner: str, wheel: Path, cert: Path, key: Path, token: str) -> Path:
    cpu = {"cpu_limit": 0.5, "mem_limit": "512M"}
    data = {
        "images_list": [learner],
        "images_cache_dir": str(tmp / "image-cache"),
        "hub_wheel": str(wheel),
        "hub_pip_find_links": "/opt/wheels",
        "hub_pip_no_index": True,
        "hub_api_token": token,
        "hub_tls_cert_src": str(cert),
        "hub_tls_key_src": str(key),
        "hub_settings": {
            "spawner": {
                "image": learner,
                **cpu,
                "swarm": {"poll_interval": 3, "unschedulable_timeout": 3},
            },
            "culler": {"enabled": False},
            "courses": [{"id": COURSE, "title": "Swarm 101"}],
            "profiles": {
                "default": "cpu",
                "profiles": [
                    {"name": "cpu", "label": {"ko": "CPU", "en": "CPU"}, **cpu},
                    {
                        "name": "gpu",
                        "label": {"ko": "GPU", "en": "GPU"},
                        **cpu,
                        "gpus": 1,
                        "groups": ["gpu-cohort"],
                    },
                ],
            },
            "gpu": {
                "inventory": [
                    {
                        "host": "gpu-node-1",
                        "index": 0,
                        "uuid": GPU_UUID,
                        "name": "NVIDIA A100-SXM4-40GB",
                        "memory_mib": 40960,
                    }
                ],
                "request": "runtime-env",
            },
        },
    }
    path = tmp / "vars.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def swarm(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Swarm]:
    tmp = tmp_path_factory.mktemp("swarm")
    node_image, learner_image = build_images()
    wheel = build_wheel(tmp)
    cluster = Cluster(tmp, node_image, ("manager", *WORKERS))
    failed_before = request.session.testsfailed
    try:
        cluster.start()
        cert, key = self_signed_cert(tmp, cluster.ips["manager"], "manager")
        token = secrets.token_hex(16)
        extra = playbook_vars(tmp, learner_image, wheel, cert, key, token)
        inventory = cluster.inventory(["manager"], list(WORKERS), [])
        first = cluster.playbook(inventory, extra)
        hub = RemoteHub(f"https://{cluster.ips['manager']}:8000", cert, token)
        yield Swarm(cluster, inventory, extra, first, hub, learner_image)
    finally:
        if request.session.testsfailed > failed_before:
            cluster.dump_logs()
        cluster.cleanup()


def node_of(swarm: Swarm, user: str) -> str:
    """The node whose task runs ``user``'s server (hostname)."""
    out = swarm.cluster.docker(
        "manager", "service", "ps", "--filter", "desired-state=running",
        "--format", "{{.Node}}", f"aione-{user}",
    )  # fmt: skip
    nodes = out.split()
    assert len(nodes) == 1, out
    return nodes[0]


def learner_container(swarm: Swarm, node: str, user: str) -> str:
    out = swarm.cluster.docker(node, "ps", "-q", "--filter", f"label=aione.user={user}")
    assert out.strip(), f"no container of {user} on {node}"
    return out.split()[0]


def test_playbook_provisions_the_swarm(swarm: Swarm) -> None:
    out = swarm.first_run.stdout
    assert swarm.first_run.returncode == 0, out[-6000:] + swarm.first_run.stderr[-2000:]
    summary = recap(out)
    assert set(summary) == {"manager", *WORKERS}, summary
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in summary.values()), summary
    c = swarm.cluster

    nodes = c.docker("manager", "node", "ls", "--format", "{{.Hostname}} {{.Status}}").split("\n")
    assert sorted(n for n in nodes if n) == ["manager Ready", "worker1 Ready", "worker2 Ready"]
    for worker in WORKERS:
        spec = json.loads(c.docker("manager", "node", "inspect", "--format", "{{json .}}", worker))
        assert spec["Spec"]["Role"] == "worker"
        labels = spec["Spec"]["Labels"]
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", c.exec(worker, "cat", "/proc/meminfo"))[1])
        assert labels["gpu"] == "false"
        assert labels["memory_mib"] == str(mem_kb // 1024)
        assert int(labels["cpus"]) >= 1

    net = c.docker("manager", "network", "inspect", "--format", "{{.Driver}} {{.Attachable}}",
                   "aione-net")  # fmt: skip
    assert net.strip() == "overlay true"

    image_id = sh("docker", "image", "inspect", "--format", "{{.Id}}", swarm.learner_image).strip()
    for node in c.nodes:
        assert c.docker(node, "image", "inspect", "--format", "{{.Id}}",
                        swarm.learner_image).strip() == image_id  # fmt: skip
        pid = c.exec(node, "cat", "/run/aione-dockerd.pid").strip()
        environ = c.exec(node, "cat", f"/proc/{pid}/environ")
        assert "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1" in environ.split("\0")

    modes = c.exec("manager", "stat", "-c", "%n %a",
                   "/etc/aione/aione.yaml", "/etc/aione/hub.env", "/etc/aione/tls/hub.key",
                   "/var/lib/aione").split("\n")  # fmt: skip
    assert modes[:4] == [
        "/etc/aione/aione.yaml 640",
        "/etc/aione/hub.env 600",
        "/etc/aione/tls/hub.key 600",
        "/var/lib/aione 700",
    ]
    assert c.exec("manager", "cat", "/run/aione-hub.pid").strip().isdigit()
    status, info = swarm.hub.call("GET", "/hub/api/")
    assert status == 200 and "version" in info, "the hub answers over HTTPS with the given cert"
    assert "aione-backup" in c.exec("manager", "cat", "/etc/cron.d/aione-backup")


async def test_learners_run_on_workers_and_reach_the_exchange(swarm: Swarm) -> None:
    hub = swarm.hub
    for name in ("alice", "bob"):
        swarm.tokens[name] = hub.create_user(name)
        hub.request_server(name)
    for name in ("alice", "bob"):
        hub.wait_ready(name)
    placed = {name: node_of(swarm, name) for name in ("alice", "bob")}
    assert set(placed.values()) == set(WORKERS), f"spread over the workers: {placed}"
    swarm.facts["placed"] = placed

    assert await hub.run_code("alice", swarm.tokens["alice"], "5 * 4") == "20"

    node = placed["alice"]
    cid = learner_container(swarm, node, "alice")
    owner = swarm.cluster.docker(node, "exec", cid, "stat", "-c", "%u", "/home/jovyan")
    assert owner.strip() == "1000"

    # The exchange, on the manager, from a learner on a worker.
    hub.api("POST", f"/groups/course-{COURSE}-learners/users", {"users": ["alice"]})
    release = tarball({"ps1/ps1.ipynb": b"{}"}, swarm.cluster.tmp / "release.tar.gz")
    status, body = hub.call(
        "PUT", f"{EXCHANGE}/courses/{COURSE}/assignments/ps1", release.read_bytes()
    )
    assert status == 201, body
    submit = (
        "import io, json, os, tarfile, urllib.request\n"
        "buf = io.BytesIO()\n"
        "with tarfile.open(fileobj=buf, mode='w:gz') as t:\n"
        "    data = b'answer from a worker'\n"
        "    info = tarfile.TarInfo('ps1.ipynb'); info.size = len(data)\n"
        "    t.addfile(info, io.BytesIO(data))\n"
        f"url = os.environ['AIONE_EXCHANGE_URL'] + 'api/courses/{COURSE}/assignments/ps1/submissions'\n"
        "req = urllib.request.Request(url, data=buf.getvalue(), method='POST', headers={\n"
        "    'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN'],\n"
        "    'Content-Type': 'application/gzip'})\n"
        "print(json.dumps(json.load(urllib.request.urlopen(req, timeout=30))))\n"
    )
    out = swarm.cluster.docker(node, "exec", cid, "python3", "-c", submit)
    attempt = json.loads(out)
    assert attempt["student_id"] == "alice"
    swarm.facts["attempt"] = attempt["timestamp"]


def test_gpu_profile_without_gpu_node_fails_at_once(swarm: Swarm) -> None:
    hub = swarm.hub
    hub.api("POST", "/groups/gpu-cohort")
    hub.create_user("carol", groups=("gpu-cohort",))
    start = time.monotonic()
    # The REST call waits up to 10 s for the spawn: a quick failure is its answer.
    status, body = hub.call("POST", "/hub/api/users/carol/server", {"profile": "gpu"})
    if status >= 400:
        message = body["message"]
    else:
        hub.wait_stopped("carol", timeout=60)
        message = hub.spawn_message("carol")
    elapsed = time.monotonic() - start
    assert elapsed < 30, f"reported after {elapsed:.0f} s, not at once"
    assert "no suitable node" in message and "gpu=true" in message, message
    assert not hub.user("carol")["servers"]
    left = swarm.cluster.docker("manager", "service", "ls", "-q", "--filter", "name=aione-carol")
    assert not left.strip(), "the refused service is removed"


def test_instructor_server_runs_on_the_hubs_node(swarm: Swarm) -> None:
    hub, c = swarm.hub, swarm.cluster
    hub.create_user("teach", groups=(f"course-{COURSE}-instructors",))
    hub.request_server("teach")
    hub.wait_ready("teach")
    assert node_of(swarm, "teach") == "manager", "course folders live on the hub's node"
    cid = learner_container(swarm, "manager", "teach")
    c.docker("manager", "exec", cid, "touch", f"/home/jovyan/courses/{COURSE}/from-server")
    assert c.exec("manager", "ls", f"/var/lib/aione/courses/{COURSE}").split().count("from-server")
    hub.api("DELETE", "/users/teach/server")
    hub.wait_stopped("teach", timeout=60)


def test_second_run_changes_nothing(swarm: Swarm) -> None:
    second = swarm.cluster.playbook(swarm.inventory, swarm.extra_vars)
    assert second.returncode == 0, second.stdout[-6000:]
    summary = recap(second.stdout)
    changed = {host: r["changed"] for host, r in summary.items() if r["changed"]}
    changed_tasks = re.findall(r"TASK \[([^\]]+)\][^\n]*\n(?:[^\n]*\n)*?changed:", second.stdout)
    assert not changed, f"changed on {changed}: {changed_tasks}\n{second.stdout[-4000:]}"
    swarm.hub.wait_ready("alice", timeout=10)  # the rerun did not disturb running learners


def test_backup_of_the_running_hub(swarm: Swarm) -> None:
    c = swarm.cluster
    made = []
    for _ in range(3):
        made.append(c.exec("manager", "/usr/local/sbin/aione-backup", "create", "--keep", "2"))
        time.sleep(1.1)
    kept = c.exec("manager", "/usr/local/sbin/aione-backup", "list").split()
    assert kept == [m.strip() for m in made[1:]]
    names = c.exec("manager", "tar", "-tzf", kept[-1]).split()
    assert "./state/jupyterhub.sqlite" in names and "./config/aione.yaml" in names
    assert any(n.startswith(f"./state/exchange/{COURSE}/submissions/alice/") for n in names)


def test_nvidia_role_refuses_a_gpu_worker_without_driver(swarm: Swarm) -> None:
    inventory = swarm.cluster.inventory(["manager"], ["worker1"], ["worker2"])
    run = swarm.cluster.playbook(inventory, swarm.extra_vars, "--limit", "worker2", "site.yml")
    assert run.returncode != 0
    assert "nvidia-smi is not installed" in run.stdout and "aione_cpu_workers" in run.stdout


async def test_lost_worker_its_learner_starts_elsewhere(swarm: Swarm) -> None:
    hub, c = swarm.hub, swarm.cluster
    lost = swarm.facts["placed"]["alice"]
    other = next(w for w in WORKERS if w != lost)
    c.kill(lost)
    waited = hub.wait_stopped("alice", timeout=120)
    print(f"the hub noticed the lost worker after {waited:.0f} s")
    if swarm.facts["placed"]["bob"] == other:
        hub.wait_ready("bob", timeout=5)

    hub.request_server("alice")
    hub.wait_ready("alice")
    assert node_of(swarm, "alice") == other
    assert await hub.run_code("alice", swarm.tokens["alice"], "1 + 1") == "2"

    status, subs = hub.call("GET", f"{EXCHANGE}/courses/{COURSE}/submissions?student=alice")
    assert status == 200, subs
    assert swarm.facts["attempt"] in {s["timestamp"] for s in subs["submissions"]}
    stored = c.exec("manager", "find", f"/var/lib/aione/exchange/{COURSE}/submissions/alice",
                    "-name", "ps1.ipynb")  # fmt: skip
    assert stored.strip(), "the submitted file is still in the exchange store on the manager"
