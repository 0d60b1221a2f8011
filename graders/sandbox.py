"""One submission, one throwaway container.

:class:`Sandbox` runs the notebooks of one submission in a fresh container of
the learner image, and returns their outputs. Nothing is mounted: the cells
(already restored from the gradebook by nbgrader's preprocessors on the host)
and the assignment's other files travel on the container's stdin, the outputs
come back on its stdout, signed with a key that only the runner
(:mod:`graders.sandbox_runner`, PID 1 inside) knows. ``docker cp`` cannot
write into a read-only root or a tmpfs, which is why stdin is used.

Limits of every container: no network (``network_mode=none``), memory with
swap equal to it, CPU, process count, a wall-clock limit (then it is killed),
uid 1000, read-only root with size-limited tmpfs for the work folder and
/tmp, all capabilities dropped, ``no-new-privileges``, no core dumps, no
logs. Containers carry the label ``aione.role=grader`` and are removed in a
``finally``.

:func:`classify` turns what happened into :class:`Reason` objects (timeout,
out of memory, kernel died, unknown kernel, output truncated, sandbox error).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import LogConfig, Ulimit
from docker.utils.socket import frames_iter
from traitlets import Bool, Dict, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

from hub.errors import DockerUnavailable, GradingError

RUNNER_SOURCE = Path(__file__).with_name("sandbox_runner.py")
RESULT_PREFIX = b"AIONE-RESULT "
#: Run once per image: builds matplotlib's font list in $MPLCONFIGDIR and prints
#: every file under /tmp as {path: base64} (at most 16 MiB).
WARM_SCRIPT = """\
import base64, json, os, pathlib
try:
    import matplotlib.font_manager  # noqa: F401
except Exception:
    pass
files, size = {}, 0
for path in pathlib.Path(os.environ["MPLCONFIGDIR"]).rglob("*"):
    if path.is_file() and size + path.stat().st_size < 16 * 2**20:
        size += path.stat().st_size
        files[str(path)] = base64.b64encode(path.read_bytes()).decode()
print(json.dumps(files))
"""
ROLE_LABEL = "aione.role"
ROLE = "grader"

# Reason codes, as shown in the summary and the export.
TIMEOUT = "timeout"
OUT_OF_MEMORY = "out of memory"
KERNEL_DIED = "kernel died"
INVALID_NOTEBOOK = "invalid notebook"
MISSING_NOTEBOOK = "missing notebook"
UNKNOWN_KERNEL = "unknown kernel"
OUTPUT_TRUNCATED = "output truncated"
SANDBOX_ERROR = "sandbox error"
#: Reasons the grader's side caused; anything else was the submission's doing.
INFRASTRUCTURE = frozenset({SANDBOX_ERROR})


@dataclass(frozen=True)
class Reason:
    """Why a submission did not run normally: a code and a sentence."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


@dataclass(frozen=True)
class NotebookJob:
    """One notebook to execute: its name, kernel and code cells (index, source)."""

    name: str
    kernel: str
    cells: list[dict[str, Any]]


@dataclass
class NotebookOutcome:
    """What the runner reported for one notebook (see :mod:`graders.sandbox_runner`)."""

    name: str
    status: str
    detail: str = ""
    truncated_bytes: int = 0
    timed_out_cells: list[int] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SandboxResult:
    """The end of one container: per-notebook outcomes, or why there are none."""

    notebooks: dict[str, NotebookOutcome] = field(default_factory=dict)
    oom_kills: int = 0
    oom_killed: bool = False
    timed_out: bool = False
    output_overflow: bool = False
    exit_code: int | None = None
    error: str | None = None
    duration_s: float = 0.0


def classify(
    outcome: NotebookOutcome | None, result: SandboxResult, limits: dict[str, Any]
) -> list[Reason]:
    """The reasons for one notebook, from the runner's report and the container's end.

    ``limits`` holds ``mem_limit``, ``submission_timeout`` and ``output_limit``
    for the sentences. Pure; an empty list means the notebook ran normally.
    """
    oom = result.oom_killed or result.oom_kills > 0
    memory = f"the memory limit ({_size(limits['mem_limit'])})"
    if outcome is None:
        if result.timed_out:
            return [
                Reason(
                    TIMEOUT,
                    f"the submission ran past {limits['submission_timeout']} s and was stopped",
                )
            ]
        if oom:
            return [Reason(OUT_OF_MEMORY, f"the submission went over {memory}")]
        if result.output_overflow:
            return [
                Reason(
                    OUTPUT_TRUNCATED,
                    "the submission wrote more output than the sandbox accepts and was stopped",
                )
            ]
        return [Reason(SANDBOX_ERROR, result.error or "the sandbox returned no result")]
    reasons = []
    if outcome.status in {"kernel_died", "kernel_failed"}:
        if oom:
            reasons.append(Reason(OUT_OF_MEMORY, f"{outcome.detail} after going over {memory}"))
        else:
            reasons.append(Reason(KERNEL_DIED, outcome.detail))
    elif outcome.status == "unknown_kernel":
        reasons.append(Reason(UNKNOWN_KERNEL, outcome.detail))
    elif outcome.status in {"timeout", "unresponsive"}:
        reasons.append(Reason(TIMEOUT, outcome.detail))
    elif oom:
        reasons.append(Reason(OUT_OF_MEMORY, f"a process was killed after going over {memory}"))
    if outcome.truncated_bytes:
        reasons.append(
            Reason(
                OUTPUT_TRUNCATED,
                f"{outcome.truncated_bytes} bytes over the "
                f"{_size(limits['output_limit'])} output limit "
                "were dropped",
            )
        )
    return reasons


def _size(n: int) -> str:
    for unit, factor in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n} B"


class Sandbox(LoggingConfigurable):
    """Runs one submission's notebooks in a throwaway, locked-down container.

    Thread-safe: :meth:`run` may be called from many threads at once.
    """

    image = Unicode("aione/learner:latest", help="Image the submissions run in.").tag(config=True)
    python = Unicode(
        "/opt/aione/bin/python", help="Python inside the image (with ipykernel and pyzmq)."
    ).tag(config=True)
    name_prefix = Unicode("aione-grade", help="Containers are named PREFIX-<random>.").tag(
        config=True
    )
    mem_limit = Integer(1024**3, help="Memory of one container, bytes (swap: none).").tag(
        config=True
    )
    cpu_limit = Float(1.0, help="CPU cores of one container.").tag(config=True)
    pids_limit = Integer(128, help="Most processes and threads in one container.").tag(config=True)
    work_size = Integer(256 * 1024**2, help="Size of the tmpfs work folder, bytes.").tag(
        config=True
    )
    tmp_size = Integer(64 * 1024**2, help="Size of the tmpfs /tmp, bytes.").tag(config=True)
    cell_timeout = Integer(30, help="Seconds a cell may run before it is interrupted.").tag(
        config=True
    )
    interrupt_grace = Integer(
        10, help="Seconds an interrupted cell may take to stop before the notebook is abandoned."
    ).tag(config=True)
    startup_timeout = Integer(60, help="Seconds a kernel may take to start.").tag(config=True)
    submission_timeout = Integer(
        300, help="Wall-clock seconds for one container; then it is killed."
    ).tag(config=True)
    output_limit = Integer(4 * 1024**2, help="Output bytes kept per notebook.").tag(config=True)
    workdir = Unicode("/home/jovyan/work", help="Work folder (cwd of the kernels).").tag(
        config=True
    )
    labels = Dict({}, help="Extra labels of every grading container.").tag(config=True)
    warm_caches = Bool(
        True,
        help="Once per run, build the image's caches (matplotlib's font list) in one "
        "container and copy them into every grading container, so that no submission "
        "pays seconds to build them.",
    ).tag(config=True)
    docker_host = Unicode(
        None, allow_none=True, help="Docker engine URL; default: $DOCKER_HOST or the local socket."
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api: docker.APIClient | None = None
        self._api_lock = threading.Lock()
        self._runner = RUNNER_SOURCE.read_text(encoding="utf-8")
        self._seeds: dict[str, str] | None = None
        self._seeds_lock = threading.Lock()

    @property
    def api(self) -> docker.APIClient:
        """The Docker API client (created on first use)."""
        with self._api_lock:
            if self._api is None:
                kwargs = docker.utils.kwargs_from_env()
                if self.docker_host:
                    kwargs["base_url"] = self.docker_host
                try:
                    self._api = docker.APIClient(version="auto", max_pool_size=64, **kwargs)
                except docker.errors.DockerException as err:
                    raise DockerUnavailable(
                        f"no Docker engine answers ({err}); start dockerd or set DOCKER_HOST"
                    ) from err
            return self._api

    def limits(self) -> dict[str, Any]:
        """The numbers :func:`classify` quotes."""
        return {
            "mem_limit": self.mem_limit,
            "submission_timeout": self.submission_timeout,
            "output_limit": self.output_limit,
        }

    def check_ready(self) -> None:
        """Raise DockerUnavailable or GradingError unless grading can start."""
        try:
            self.api.ping()
        except (docker.errors.DockerException, OSError) as err:
            raise DockerUnavailable(
                f"no Docker engine answers ({err}); start dockerd or set DOCKER_HOST"
            ) from err
        try:
            self.api.inspect_image(self.image)
        except docker.errors.ImageNotFound as err:
            raise GradingError(
                f"the grading image {self.image} is not here; build it with "
                "`aione images build` or set grading.image"
            ) from err

    def run(
        self, notebooks: list[NotebookJob], files: dict[str, bytes], labels: dict[str, str]
    ) -> SandboxResult:
        """Execute ``notebooks`` (in order, a fresh kernel each) in one new container.

        ``files`` (relative path -> content) are written into the work folder
        first. Never raises for what the submission does; a Docker failure
        becomes ``SandboxResult.error``.
        """
        key = secrets.token_bytes(32)
        payload = self._payload(key, notebooks, files)
        start = json.dumps(
            {
                "workdir": self.workdir,
                "runtime_dir": "/tmp",
                "kernels": [nb.kernel for nb in notebooks],
            }
        )
        began = time.monotonic()
        result = SandboxResult()
        try:
            container = self._create(start, labels)
        except docker.errors.DockerException as err:
            result.error = f"the container could not be created: {err}"
            return result
        try:
            stdout, stderr = self._converse(container, payload, result, len(notebooks))
            result.exit_code = self.api.wait(container, timeout=30).get("StatusCode")
            result.oom_killed = bool(self.api.inspect_container(container)["State"]["OOMKilled"])
            self._parse(key, stdout, stderr, result)
        except (docker.errors.DockerException, OSError) as err:
            result.error = f"the container failed: {err}"
        finally:
            self._remove(container)
            result.duration_s = time.monotonic() - began
        return result

    def _payload(self, key: bytes, notebooks: list[NotebookJob], files: dict[str, bytes]) -> bytes:
        job = {
            "key": key.hex(),
            "cell_timeout": self.cell_timeout,
            "interrupt_grace": self.interrupt_grace,
            "startup_timeout": self.startup_timeout,
            "output_limit": self.output_limit,
            "files": {name: base64.b64encode(data).decode() for name, data in files.items()},
            "seed_files": self.seed_files(),
            "notebooks": [
                {"name": nb.name, "kernel": nb.kernel, "cells": nb.cells} for nb in notebooks
            ],
        }
        return json.dumps(job).encode()

    def _create(self, start: str, labels: dict[str, str]) -> str:
        return self._create_container(["-I", "-c", self._runner, start], labels, stdin=True)

    def _create_container(self, command: list[str], labels: dict[str, str], stdin: bool) -> str:
        api = self.api
        threads = str(max(1, int(self.cpu_limit)))
        host_config = api.create_host_config(
            network_mode="none",
            mem_limit=self.mem_limit,
            memswap_limit=self.mem_limit,
            nano_cpus=int(self.cpu_limit * 1e9),
            pids_limit=self.pids_limit,
            read_only=True,
            tmpfs={
                "/home/jovyan": f"size={self.work_size},uid=1000,gid=1000,mode=0700,nosuid,nodev",
                "/tmp": f"size={self.tmp_size},mode=1777,nosuid,nodev",
            },
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            log_config=LogConfig(type="none"),
        )
        config = api.create_container_config(
            self.image,
            command=command,
            entrypoint=[self.python],
            user="1000:1000",
            working_dir="/home/jovyan",
            environment={
                "HOME": "/home/jovyan",
                "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
                "JUPYTER_PLATFORM_DIRS": "1",
                "IPYTHONDIR": "/tmp/ipython",
                "MPLCONFIGDIR": "/tmp/matplotlib",
                "XDG_CACHE_HOME": "/tmp/cache",
                "PYTHONDONTWRITEBYTECODE": "1",
                "NBGRADER_EXECUTION": "autograde",
                # BLAS and OpenMP pools the size of the CPU limit, not of the host.
                "OMP_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
            },
            labels={**self.labels, **labels, ROLE_LABEL: ROLE},
            stdin_open=stdin,
            network_disabled=True,
            host_config=host_config,
        )
        config["StdinOnce"] = stdin
        name = f"{self.name_prefix}-{uuid.uuid4().hex[:12]}"
        return str(api.create_container_from_config(config, name=name)["Id"])

    def seed_files(self) -> dict[str, str]:
        """Cache files (absolute path -> base64) every container starts with.

        Built once per Sandbox by :meth:`_warm` when ``warm_caches`` is on.
        """
        if not self.warm_caches:
            return {}
        with self._seeds_lock:
            if self._seeds is None:
                self._seeds = self._warm()
            return self._seeds

    def _warm(self) -> dict[str, str]:
        began = time.monotonic()
        try:
            container = self._create_container(["-I", "-c", WARM_SCRIPT], {}, stdin=False)
        except docker.errors.DockerException as err:
            self.log.warning("could not warm the caches of %s (%s)", self.image, err)
            return {}
        try:
            sock = self.api.attach_socket(container, params={"stdout": 1, "stream": 1})
            try:
                self.api.start(container)
                out = b"".join(data for stream, data in frames_iter(sock, tty=False) if stream == 1)
            finally:
                sock.close()
            seeds = {str(k): str(v) for k, v in json.loads(out or b"{}").items()}
        except (docker.errors.DockerException, OSError, ValueError) as err:
            self.log.warning(
                "could not warm the caches of %s (%s); going on without", self.image, err
            )
            seeds = {}
        finally:
            self._remove(container)
        self.log.info(
            "warmed %d cache files of %s in %.1f s",
            len(seeds),
            self.image,
            time.monotonic() - began,
        )
        return seeds

    def _converse(
        self, container: str, payload: bytes, result: SandboxResult, notebooks: int
    ) -> tuple[bytes, bytes]:
        """Start the container, send the job, read its output under the time limit."""
        api = self.api
        sock = api.attach_socket(
            container, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        timer = threading.Timer(
            self.submission_timeout, self._kill, (container, result, "timed_out")
        )
        try:
            api.start(container)
            timer.start()
            raw = sock._sock
            try:
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
            except OSError as err:
                self.log.debug("%s stopped reading its job: %s", container[:12], err)
            return self._read(container, sock, result, notebooks)
        finally:
            timer.cancel()
            sock.close()

    def _read(
        self, container: str, sock: Any, result: SandboxResult, notebooks: int
    ) -> tuple[bytes, bytes]:
        # What a runner can send: per notebook the kept output (UTF-8, up to 3 bytes a
        # character), results and errors (capped per cell), and the JSON around them.
        cap = notebooks * (4 * self.output_limit + 16 * 1024**2)
        out: list[bytes] = []
        err = b""
        size = 0
        for stream, data in frames_iter(sock, tty=False):
            if stream == 2:
                err = (err + data)[-16384:]
                continue
            size += len(data)
            if size > cap:
                self._kill(container, result, "output_overflow")
                break
            out.append(data)
        return b"".join(out), err

    def _kill(self, container: str, result: SandboxResult, flag: str) -> None:
        setattr(result, flag, True)
        try:
            self.api.kill(container)
        except docker.errors.DockerException as err:
            self.log.debug("kill %s: %s", container[:12], err)

    def _remove(self, container: str) -> None:
        try:
            self.api.remove_container(container, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as err:
            self.log.warning("could not remove grading container %s: %s", container[:12], err)

    def _parse(self, key: bytes, stdout: bytes, stderr: bytes, result: SandboxResult) -> None:
        line = stdout.rstrip(b"\n").rpartition(b"\n")[2]
        if result.timed_out or result.output_overflow or not line.startswith(RESULT_PREFIX):
            tail = stderr.decode("utf-8", "replace").strip()[-500:]
            result.error = f"the runner exited with code {result.exit_code} and no result" + (
                f": {tail}" if tail else ""
            )
            return
        mac, _, body = line[len(RESULT_PREFIX) :].partition(b" ")
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(mac, expected):
            result.error = "the result was not signed by the runner; it was discarded"
            return
        report = json.loads(body)
        result.oom_kills = int(report.get("oom_kills", 0))
        for item in report.get("notebooks", []):
            outcome = NotebookOutcome(
                name=str(item["name"]),
                status=str(item["status"]),
                detail=str(item.get("detail", "")),
                truncated_bytes=int(item.get("truncated_bytes", 0)),
                timed_out_cells=[int(i) for i in item.get("timed_out_cells", [])],
                cells=list(item.get("cells", [])),
            )
            result.notebooks[outcome.name] = outcome
