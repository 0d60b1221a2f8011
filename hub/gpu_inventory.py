"""GPU inventory: which GPUs (and MIG slices) a host has, and the ``gpu:`` settings.

The inventory is either discovered with ``nvidia-smi`` or declared in the
settings file (for hosts where discovery is not possible, e.g. a hub that does
not run on the GPU host). Allocation lives in :mod:`hub.gpu`.

Discovery runs two commands:

* ``nvidia-smi --query-gpu=index,uuid,name,memory.total,mig.mode.current
  --format=csv,noheader,nounits``: one line per physical GPU;
* ``nvidia-smi -L``: the MIG devices under each GPU
  (``  MIG 1g.10gb     Device  0: (UUID: MIG-...)``).

A GPU in MIG mode is never handed out whole (CUDA cannot use it without a MIG
device); its MIG devices are. A GPU in MIG mode without MIG devices is left
out with a warning that says how to create them.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.errors import GpuDiscoveryError

log = logging.getLogger(__name__)

#: Signature of :func:`subprocess.run`; discovery takes it as a parameter.
Runner = Callable[..., subprocess.CompletedProcess[str]]

QUERY_FIELDS = "index,uuid,name,memory.total,mig.mode.current"
_MIG_TYPE_RE = re.compile(r"^\d+g\.\d+gb(?:\+[a-z]+)?$")
_GPU_LINE_RE = re.compile(r"^GPU\s+(\d+):\s+.*\(UUID:\s*(GPU-[^)\s]+)\)\s*$")
_MIG_LINE_RE = re.compile(r"^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s+\(UUID:\s*(MIG-[^)\s]+)\)\s*$")


def check_mig_type(value: str) -> str:
    """Return ``value`` if it names a MIG profile such as ``1g.10gb``; else ValueError."""
    if not _MIG_TYPE_RE.match(value):
        raise ValueError(
            f"{value!r} is not a MIG profile; write it as nvidia-smi -L shows it, e.g. 1g.10gb"
        )
    return value


class GpuDevice(BaseModel):
    """One GPU, or one MIG slice of a GPU, that can be given to a learner.

    ``uuid`` is the identity used everywhere (allocation, Docker device
    requests); the indexes are informational. A MIG slice has a ``MIG-`` UUID
    and a ``mig_type``; a whole GPU has neither. Instances are immutable and
    hashable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        default="local", description="Docker host the GPU is on ('local': the hub's)."
    )
    index: int = Field(ge=0, description="nvidia-smi index of the (parent) GPU.")
    uuid: str = Field(
        pattern=r"^(GPU|MIG)-[A-Za-z0-9/-]+$",
        description="GPU-... or MIG-... as printed by nvidia-smi -L.",
    )
    name: str = Field(min_length=1, description="Model, e.g. 'NVIDIA A100-SXM4-40GB'.")
    memory_mib: int = Field(ge=0, description="Memory in MiB.")
    mig_type: str | None = Field(
        default=None, description="For a MIG slice: its profile, e.g. '1g.10gb'."
    )
    mig_index: int | None = Field(
        default=None, ge=0, description="For a MIG slice: its device number within the GPU."
    )
    mig_parent: str | None = Field(
        default=None, description="For a MIG slice: the UUID of the GPU it is carved from."
    )

    @field_validator("mig_type")
    @classmethod
    def _mig_type(cls, value: str | None) -> str | None:
        return None if value is None else check_mig_type(value)

    @model_validator(mode="after")
    def _mig_consistent(self) -> GpuDevice:
        if self.uuid.startswith("MIG-") and self.mig_type is None:
            raise ValueError(f"{self.uuid} is a MIG device; give its mig_type, e.g. 1g.10gb")
        if self.uuid.startswith("GPU-") and self.mig_type is not None:
            raise ValueError(
                f"{self.uuid} is a whole GPU; remove mig_type, or give the MIG-... UUID"
            )
        return self

    @property
    def is_mig(self) -> bool:
        """True for a MIG slice, False for a whole GPU."""
        return self.mig_type is not None

    @property
    def label(self) -> str:
        """Short human name: ``local:0``, or ``local:0/1`` for MIG device 1 of GPU 0."""
        if self.is_mig:
            return f"{self.host}:{self.index}/{'?' if self.mig_index is None else self.mig_index}"
        return f"{self.host}:{self.index}"


def check_inventory(devices: Sequence[GpuDevice]) -> None:
    """Raise ValueError if a UUID is listed twice, or a GPU is listed both whole
    and as MIG slices (one GPU cannot be given out both ways)."""
    seen: set[str] = set()
    for device in devices:
        if device.uuid in seen:
            raise ValueError(f"GPU {device.uuid} is listed twice; list each UUID once")
        seen.add(device.uuid)
    for device in devices:
        if device.mig_parent is not None and device.mig_parent in seen:
            raise ValueError(
                f"GPU {device.mig_parent} is listed whole and as MIG device {device.uuid}; "
                "list either the whole GPU or its MIG devices"
            )


class GpuSettings(BaseModel):
    """The ``gpu:`` section of the settings file."""

    model_config = ConfigDict(extra="forbid")

    inventory: Literal["discover"] | list[GpuDevice] = Field(
        default="discover",
        description=(
            "'discover': ask nvidia-smi on the hub host at start; or a list of devices "
            "(host, index, uuid, name, memory_mib; for MIG slices also mig_type, mig_index, "
            "mig_parent)."
        ),
    )
    quotas: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Most GPUs each cohort group may hold at once, e.g. {'ai-2024-spring': 4}. "
            "Learners in no group listed here are not capped."
        ),
    )
    state_file: Path | None = Field(
        default=None,
        description="SQLite file of the allocations; default <state_dir>/gpu-allocations.sqlite.",
    )
    request: Literal["device-requests", "runtime-env"] = Field(
        default="device-requests",
        description=(
            "How a container gets its GPUs: 'device-requests' (Docker DeviceRequest by UUID, "
            "the NVIDIA Container Toolkit's way) or 'runtime-env' (only NVIDIA_VISIBLE_DEVICES, "
            "for hosts whose default Docker runtime is nvidia, the nvidia-docker2 way)."
        ),
    )

    @field_validator("inventory")
    @classmethod
    def _inventory(
        cls, value: Literal["discover"] | list[GpuDevice]
    ) -> Literal["discover"] | list[GpuDevice]:
        if isinstance(value, list):
            check_inventory(value)
        return value

    @field_validator("quotas")
    @classmethod
    def _quotas(cls, value: dict[str, int]) -> dict[str, int]:
        for group, limit in value.items():
            if not group:
                raise ValueError("a quota needs a group name, e.g. 'ai-2024-spring: 4'")
            if limit < 0:
                raise ValueError(f"quota of group {group!r} is {limit}; use 0 or more GPUs")
        return value

    def state_path(self, state_dir: Path) -> Path:
        """The allocation database: ``state_file`` if set, else in ``state_dir``."""
        return self.state_file or state_dir / "gpu-allocations.sqlite"


def parse_query_gpu(text: str, host: str = "local") -> list[tuple[GpuDevice, bool]]:
    """Parse ``nvidia-smi --query-gpu=index,uuid,name,memory.total[,mig.mode.current]
    --format=csv,noheader,nounits``.

    Returns ``(device, mig_enabled)`` per GPU line; the fifth column may be
    absent (then MIG is taken as disabled). Raises :class:`GpuDiscoveryError`
    naming the line that does not parse.
    """
    result = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cols = [c.strip() for c in line.split(",")]
        if len(cols) not in (4, 5):
            raise GpuDiscoveryError(
                f"nvidia-smi --query-gpu line {number} has {len(cols)} fields, expected "
                f"{QUERY_FIELDS}: {line!r}; check the driver, or declare gpu.inventory"
            )
        try:
            device = GpuDevice(
                host=host, index=int(cols[0]), uuid=cols[1], name=cols[2], memory_mib=int(cols[3])
            )
        except ValueError as err:
            raise GpuDiscoveryError(
                f"nvidia-smi --query-gpu line {number} does not parse ({line!r}): {err}; "
                "check the driver, or declare gpu.inventory"
            ) from err
        mig_enabled = len(cols) == 5 and cols[4].lower() == "enabled"
        result.append((device, mig_enabled))
    return result


def parse_mig_list(text: str, host: str = "local") -> list[GpuDevice]:
    """Parse the MIG lines of ``nvidia-smi -L`` into MIG devices.

    Each ``MIG <type> Device <n>: (UUID: MIG-...)`` line belongs to the
    ``GPU <i>: ... (UUID: GPU-...)`` line above it. Memory is taken from the
    profile name (``1g.10gb`` -> 10240 MiB). Lines of other kinds are ignored.
    """
    devices = []
    parent: tuple[int, str] | None = None
    for line in text.splitlines():
        gpu = _GPU_LINE_RE.match(line)
        if gpu:
            parent = (int(gpu.group(1)), gpu.group(2))
            continue
        mig = _MIG_LINE_RE.match(line)
        if mig and parent:
            mig_type, index, uuid = mig.groups()
            gib = int(re.search(r"\.(\d+)gb", mig_type).group(1))  # type: ignore[union-attr]
            devices.append(
                GpuDevice(
                    host=host,
                    index=parent[0],
                    uuid=uuid,
                    name=f"MIG {mig_type}",
                    memory_mib=gib * 1024,
                    mig_type=mig_type,
                    mig_index=int(index),
                    mig_parent=parent[1],
                )
            )
    return devices


def _nvidia_smi(args: Sequence[str], host: str, run: Runner) -> str:
    """Run nvidia-smi (through ``ssh`` when ``host`` is not local); return stdout."""
    cmd = ["nvidia-smi", *args]
    if host != "local":
        cmd = ["ssh", "-o", "BatchMode=yes", host, *cmd]
    log.debug("running %s", " ".join(cmd))
    try:
        proc = run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as err:
        raise GpuDiscoveryError(
            f"{cmd[0]} not found on {host}: install the NVIDIA driver there, or set "
            "gpu.inventory to the list of GPUs instead of 'discover'"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise GpuDiscoveryError(
            f"{' '.join(cmd)} did not answer in 60 s; check the driver with nvidia-smi, "
            "or declare gpu.inventory"
        ) from err
    if proc.returncode != 0:
        log.error("%s failed (%s): %s", " ".join(cmd), proc.returncode, proc.stderr.strip())
        raise GpuDiscoveryError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[:300]}; fix the driver (run nvidia-smi), "
            "or declare gpu.inventory"
        )
    log.debug("%s: %s", " ".join(cmd), proc.stdout.strip())
    return proc.stdout


def discover_gpus(host: str = "local", run: Runner = subprocess.run) -> list[GpuDevice]:
    """Ask nvidia-smi on ``host`` for its GPUs and MIG devices.

    Returns whole GPUs that are not in MIG mode, and every MIG device, in
    nvidia-smi order. ``run`` has :func:`subprocess.run`'s signature (tests
    replay recorded output through it). Raises :class:`GpuDiscoveryError`
    when nvidia-smi is missing, fails, or prints something unexpected.
    """
    query = _nvidia_smi([f"--query-gpu={QUERY_FIELDS}", "--format=csv,noheader,nounits"], host, run)
    gpus = parse_query_gpu(query, host)
    migs: list[GpuDevice] = []
    if any(enabled for _, enabled in gpus):
        migs = parse_mig_list(_nvidia_smi(["-L"], host, run), host)
    devices: list[GpuDevice] = []
    for gpu, mig_enabled in gpus:
        if not mig_enabled:
            devices.append(gpu)
            continue
        children = [
            m.model_copy(update={"name": f"{gpu.name} MIG {m.mig_type}"})
            for m in migs
            if m.mig_parent == gpu.uuid
        ]
        if not children:
            log.warning(
                "GPU %s (%s) is in MIG mode but has no MIG devices; it is not used. "
                "Create them, e.g. nvidia-smi mig -i %s -cgi 1g.10gb -C",
                gpu.index,
                gpu.uuid,
                gpu.index,
            )
        devices.extend(children)
    log.info("discovered %d GPU device(s) on %s", len(devices), host)
    return devices


def load_inventory(settings: GpuSettings, run: Runner = subprocess.run) -> list[GpuDevice]:
    """The devices to allocate from: declared in ``settings`` or discovered locally."""
    if settings.inventory == "discover":
        return discover_gpus("local", run)
    return list(settings.inventory)


def inventory_as_dicts(devices: Sequence[GpuDevice]) -> list[dict[str, Any]]:
    """Devices as plain dicts, ready to paste under ``gpu.inventory`` in the settings."""
    return [d.model_dump(exclude_none=True) for d in devices]
