"""Test hosts for the Ansible and swarm tests: containers that behave like small
Debian servers, provisioned over SSH by the real playbooks.

Each node is a container from the local Debian base (``aione/base:bookworm``)
with ``docker.io`` and ``openssh-server`` installed, run with the flags of
``shared/ENVIRONMENT.md`` (``--privileged`` fails on this machine) and with
only ``sshd`` started: the Ansible docker role starts its ``dockerd``. The
images are built once and tagged with a hash of their inputs, so later runs
reuse them:

- the node image (``aione-test-swarm-node:HASH``) also carries the packages the
  hub role installs (Python venv, Node.js, Debian's configurable-http-proxy),
  so the role finds them present, and a wheelhouse of aione's dependencies in
  ``/opt/wheels`` for the hub role's offline install (``hub_pip_find_links``);
- a small learner image (``aione-test-swarm-learner:HASH``: JupyterHub's
  single-user server and ipykernel, user ``jovyan`` uid 1000) stands in for the
  2 GB learner image, which would take minutes to load on every node.

Everything a :class:`Cluster` creates is named ``aione-test-swarm-<id>-*``
(network, node containers, their ``/var/lib/docker`` volumes) and removed by
:meth:`Cluster.cleanup`; whatever runs inside the nodes goes with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "ansible"
VENV_BIN = Path(sys.executable).parent
BASE_IMAGE = "aione/base:bookworm"
PREFIX = "aione-test-swarm"
NODE_FLAGS = [
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run",
]  # fmt: skip
NODE_PACKAGES = (
    "docker.io openssh-server iptables iproute2 procps python3-venv nodejs "
    "node-configurable-http-proxy"
)
NODE_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \\
    --no-install-recommends {NODE_PACKAGES}
COPY wheels /opt/wheels
RUN mkdir -p /root/.ssh && chmod 700 /root/.ssh
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"]
"""
LEARNER_DOCKERFILE = f"""\
FROM {BASE_IMAGE} AS build
COPY wheels /wheels
RUN python3 -m venv /opt/aione && /opt/aione/bin/pip install --no-index \\
    --find-links /wheels jupyterhub jupyter_server ipykernel
FROM {BASE_IMAGE}
COPY --from=build /opt/aione /opt/aione
RUN useradd --create-home --uid 1000 --shell /bin/bash jovyan
ENV PATH=/opt/aione/bin:$PATH
USER jovyan
WORKDIR /home/jovyan
CMD ["jupyterhub-singleuser"]
"""
RECAP_RE = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


def sh(*cmd: str, timeout: float = 600, check: bool = True, **kw: Any) -> str:
    """Run ``cmd``; return stdout; raise with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:6])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _dependencies() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return sorted(data["project"]["dependencies"])


def _image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def build_images() -> tuple[str, str]:
    """The node and learner images (built unless their input hash is already tagged)."""
    digest = hashlib.sha256()
    base_id = sh("docker", "image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).strip()
    # Wheels must suit the nodes' Python (Debian's 3.11.2), not the one running the tests.
    python = sh(
        "docker", "run", "--rm", BASE_IMAGE, "python3", "-c",
        "import platform; print(platform.python_version())",
    ).strip()  # fmt: skip
    constraints = Path("/etc/xdg/pip/constraints.txt")
    for part in (
        NODE_DOCKERFILE,
        LEARNER_DOCKERFILE,
        base_id,
        python,
        *_dependencies(),
        constraints.read_text() if constraints.exists() else "",
    ):
        digest.update(part.encode())
    tag = digest.hexdigest()[:16]
    node, learner = f"{PREFIX}-node:{tag}", f"{PREFIX}-learner:{tag}"
    if _image_exists(node) and _image_exists(learner):
        return node, learner
    ctx = Path(os.environ.get("TMPDIR", "/tmp")) / f"{PREFIX}-build-{tag}"
    shutil.rmtree(ctx, ignore_errors=True)
    (ctx / "wheels").mkdir(parents=True)
    try:
        sh(
            str(VENV_BIN / "pip"), "download", "-q", "--only-binary=:all:",
            "--python-version", python, "-d", str(ctx / "wheels"), *_dependencies(),
        )  # fmt: skip
        (ctx / "Dockerfile.node").write_text(NODE_DOCKERFILE)
        (ctx / "Dockerfile.learner").write_text(LEARNER_DOCKERFILE)
        for name, tagged in (("node", node), ("learner", learner)):
            sh(
                "docker",
                "build",
                "-q",
                "-f",
                str(ctx / f"Dockerfile.{name}"),
                "-t",
                tagged,
                str(ctx),
            )
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return node, learner


def build_wheel(dest: Path) -> Path:
    """The aione wheel (built from a copy of the sources, so the tree stays clean)."""
    src = dest / "src"
    for name in ("pyproject.toml", "README.md"):
        src.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    for pkg in ("hub", "graders"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    sh(
        str(VENV_BIN / "pip"), "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", str(dest / "dist"), str(src),
    )  # fmt: skip
    return next((dest / "dist").glob("aione-*.whl"))


def self_signed_cert(dest: Path, ip: str, name: str) -> tuple[Path, Path]:
    """A certificate for ``ip`` and ``name`` and its key (the operator's 'given' files)."""
    cert, key = dest / "hub.crt", dest / "hub.key"
    sh(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-addext", f"subjectAltName=IP:{ip},DNS:{name}",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def recap(output: str) -> dict[str, dict[str, int]]:
    """``{host: {ok, changed, unreachable, failed}}`` from ansible-playbook's PLAY RECAP."""
    return {
        m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
        for m in RECAP_RE.finditer(output)
    }


class Cluster:
    """A manager and workers as containers on their own network, reached over SSH."""

    def __init__(self, tmp: Path, node_image: str, nodes: tuple[str, ...]) -> None:
        self.id = uuid.uuid4().hex[:6]
        self.prefix = f"{PREFIX}-{self.id}"
        self.tmp = tmp
        self.node_image = node_image
        self.nodes = nodes
        self.network = f"{self.prefix}-net"
        self.ips: dict[str, str] = {}
        self.key = tmp / "id_ed25519"

    def container(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def start(self) -> None:
        """Start every node with sshd and this test's key; wait for SSH."""
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        pub = self.key.with_suffix(".pub").read_text()
        sh("docker", "network", "create", "--label", "aione.test=swarm", self.network)
        for node in self.nodes:
            name = self.container(node)
            sh(
                "docker", "run", "-d", "--name", name, "--hostname", node,
                "--network", self.network, "--label", "aione.test=swarm", *NODE_FLAGS,
                "-v", f"{name}:/var/lib/docker", self.node_image,
            )  # fmt: skip
            sh("docker", "exec", "-i", name, "sh", "-c", "cat > /root/.ssh/authorized_keys",
               input=pub)  # fmt: skip
            self.ips[node] = sh(
                "docker", "inspect", "--format",
                f"{{{{(index .NetworkSettings.Networks \"{self.network}\").IPAddress}}}}", name,
            ).strip()  # fmt: skip
        for node in self.nodes:
            _wait_port(self.ips[node], 22, timeout=60)

    def inventory(self, managers: list[str], cpu: list[str], gpu: list[str]) -> Path:
        """An inventory of these nodes in aione's groups (as in inventory/example)."""

        def hosts(names: list[str]) -> dict[str, Any]:
            return {"hosts": {n: {"ansible_host": self.ips[n]} for n in names}}

        data = {
            "all": {
                "vars": {
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(self.key),
                    "ansible_ssh_common_args": (
                        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                        "-o LogLevel=ERROR"
                    ),
                    "ansible_python_interpreter": "/usr/bin/python3",
                },
                "children": {
                    "aione_nodes": {
                        "children": {
                            "aione_managers": hosts(managers),
                            "aione_workers": {
                                "children": {
                                    "aione_cpu_workers": hosts(cpu),
                                    "aione_gpu_workers": hosts(gpu),
                                }
                            },
                        }
                    }
                },
            }
        }
        path = self.tmp / f"inventory-{len(list(self.tmp.glob('inventory-*')))}.yml"
        path.write_text(yaml.safe_dump(data))
        return path

    def playbook(
        self, inventory: Path, extra_vars: Path, *args: str, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """``ansible-playbook -i INVENTORY -e @VARS site.yml ARGS`` from ``ansible/``."""
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
            "ANSIBLE_HOME": str(self.tmp / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(self.tmp / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        }
        cmd = [
            str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra_vars}",
            *args,
        ]  # fmt: skip
        if not any(a.endswith(".yml") for a in args):
            cmd.append("site.yml")
        proc = subprocess.run(
            cmd, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=timeout
        )
        (self.tmp / "ansible.log").open("a").write(proc.stdout + proc.stderr)
        return proc

    def exec(self, node: str, *cmd: str, check: bool = True, timeout: float = 120) -> str:
        """Run ``cmd`` on ``node`` (``docker exec``); return stdout."""
        return sh("docker", "exec", self.container(node), *cmd, check=check, timeout=timeout)

    def docker(self, node: str, *args: str, check: bool = True) -> str:
        """``docker ARGS`` against the node's own engine."""
        return self.exec(node, "docker", *args, check=check)

    def kill(self, node: str) -> None:
        """Power a node off: its container is killed, sshd and dockerd with it."""
        sh("docker", "kill", self.container(node))

    def dump_logs(self) -> None:
        log = self.tmp / "ansible.log"
        if log.exists():
            print(f"===== ansible (last 15000 chars) =====\n{log.read_text()[-15000:]}")
        for node in self.nodes:
            for path in ("/var/log/aione/hub.log", "/var/log/aione/dockerd.log"):
                out = self.exec(node, "tail", "-n", "150", path, check=False)
                if out:
                    print(f"===== {node}:{path} =====\n{out}")

    def cleanup(self) -> None:
        """Remove the node containers, their volumes and the network."""
        for node in self.nodes:
            subprocess.run(["docker", "rm", "-f", "-v", self.container(node)], capture_output=True)
            subprocess.run(
                ["docker", "volume", "rm", "-f", self.container(node)], capture_output=True
            )
        subprocess.run(["docker", "network", "rm", self.network], capture_output=True)


def _wait_port(ip: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=2) as s:
                if s.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"nothing answers on {ip}:{port} within {timeout} s")


class RemoteHub:
    """The hub the playbook started on the manager, through its HTTPS proxy."""

    def __init__(self, url: str, cafile: Path, token: str) -> None:
        self.url = url.rstrip("/")
        self.ssl = ssl.create_default_context(cafile=str(cafile))
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, raw: bool = False
    ) -> tuple[int, Any]:
        """Any request (path from the root); returns (status, parsed JSON or bytes)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body else None
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {token or self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.ssl) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, payload = err.code, err.read()
        if raw:
            return status, payload
        return status, json.loads(payload) if payload.strip() else None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, f"/hub/api{path}", body)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data

    def user(self, name: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/users/{name}"))

    def create_user(self, name: str, groups: tuple[str, ...] = ()) -> str:
        self.api("POST", f"/users/{name}")
        for group in groups:
            self.api("POST", f"/groups/{group}/users", {"users": [name]})
        return str(self.api("POST", f"/users/{name}/tokens", {"note": "test"})["token"])

    def request_server(self, name: str, **options: Any) -> None:
        self.api("POST", f"/users/{name}/server", options or None)

    def wait_ready(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.user(name)["servers"].get("")
            if server and server["ready"]:
                return
            if not server:
                raise RuntimeError(f"{name}'s server failed: {self.spawn_message(name)}")
            time.sleep(1)
        raise TimeoutError(f"{name}'s server not ready within {timeout} s")

    def wait_stopped(self, name: str, timeout: float) -> float:
        """Seconds until the hub shows no server for ``name``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if not self.user(name)["servers"]:
                return time.monotonic() - start
            time.sleep(1)
        raise TimeoutError(f"the hub still shows {name}'s server after {timeout} s")

    def spawn_message(self, name: str) -> str:
        """The last event of the spawn progress stream (the failure message)."""
        status, body = self.call("GET", f"/hub/api/users/{name}/server/progress", raw=True)
        events = [
            json.loads(line[5:]) for line in body.decode().splitlines() if line.startswith("data:")
        ]
        return str(events[-1].get("message", "")) if events else f"(no events, {status})"

    async def run_code(self, user: str, token: str, code: str, timeout: float = 60) -> str:
        """Execute ``code`` in a new kernel of ``user``'s server (REST, then the websocket)."""
        status, body = self.call("POST", f"/user/{user}/api/kernels", {"name": "python3"}, token)
        assert status == 201, (status, body)
        kernel = body["id"]
        ws = self.url.replace("https://", "wss://")
        req = HTTPRequest(
            f"{ws}/user/{user}/api/kernels/{kernel}/channels",
            headers={"Authorization": f"token {token}"},
            request_timeout=timeout,
            ssl_options=self.ssl,
        )
        conn = await websocket_connect(req)
        msg_id = uuid.uuid4().hex
        conn.write_message(json.dumps(_execute_request(msg_id, user, code)))
        try:
            while True:
                raw = await conn.read_message()
                if raw is None:
                    raise ConnectionError("kernel websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "execute_result":
                    return str(msg["content"]["data"]["text/plain"])
                if msg["msg_type"] == "stream":
                    return str(msg["content"]["text"]).strip()
                if msg["msg_type"] == "error":
                    raise RuntimeError(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        finally:
            conn.close()
            self.call("DELETE", f"/user/{user}/api/kernels/{kernel}", token=token)


def _execute_request(msg_id: str, user: str, code: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": user,
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
    }


def tarball(files: dict[str, bytes], dest: Path) -> Path:
    """A ``.tar.gz`` of ``files`` (the exchange's upload format)."""
    with tarfile.open(dest, "w:gz") as tar:
        for name, data in files.items():
            path = dest.parent / "tar-src" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            tar.add(path, arcname=name)
    return dest
