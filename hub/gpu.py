"""GPU allocation: a GPU of their own, by UUID, for each learner who needs one.

DockerSpawner alone gives every learner who asks for one GPU the same GPU
(dockerspawner#331). :class:`GpuAllocator` instead hands out GPUs (or MIG
slices) by UUID and records who holds what in a SQLite file, so that

* two learners never get the same GPU (unless a profile asks for shared mode:
  then at most ``shared_max`` learners share one GPU, and a GPU is never used
  exclusively and shared at the same time);
* a cohort group never holds more GPUs than its quota;
* allocations survive a hub restart; :meth:`GpuAllocator.reconcile` frees those
  whose server is gone.

Every change runs in one ``BEGIN IMMEDIATE`` transaction, which SQLite
serialises across threads and processes, so concurrent spawns never
double-allocate. When no GPU can be given, :class:`~hub.errors.GpuAllocationError`
is raised at once (nobody waits in a queue) with a message for the learner in
Korean and English.

Which cohort is charged: a learner may be in several groups that have a
quota. The allocation is charged to the group with the most room left (quota
minus GPUs the group holds), ties going to the alphabetically first name. In
shared mode joining a GPU that the group already holds costs the group nothing,
so if the group with most room cannot cover the request the next is tried.
Learners in no group with a quota are not capped. A cohort's use is the number
of distinct GPUs its learners hold.

The inventory types and the ``gpu:`` settings section live in
:mod:`hub.gpu_inventory` and are re-exported here.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import docker.types

from hub.errors import GpuAllocationError
from hub.gpu_inventory import (
    GpuDevice,
    GpuSettings,
    check_inventory,
    discover_gpus,
    load_inventory,
)

__all__ = [
    "Allocation",
    "DockerGpuConfig",
    "GpuAllocator",
    "GpuDevice",
    "GpuSettings",
    "GpuStatus",
    "GpuUse",
    "QuotaUse",
    "discover_gpus",
    "docker_device_request",
    "load_inventory",
    "read_status",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS allocations (
    user TEXT NOT NULL,
    server TEXT NOT NULL,
    uuid TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('exclusive', 'shared')),
    shared_max INTEGER NOT NULL CHECK (shared_max >= 1),
    cohort TEXT,
    since REAL NOT NULL,
    PRIMARY KEY (user, server, uuid)
);
CREATE INDEX IF NOT EXISTS allocations_uuid ON allocations (uuid);
CREATE TABLE IF NOT EXISTS devices (
    uuid TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    present INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quotas (
    cohort TEXT PRIMARY KEY,
    max_gpus INTEGER NOT NULL
);
"""
_FIX = "CPU 프로필을 고르거나 잠시 뒤 다시 시도하세요"
_FIX_EN = "pick the CPU profile, or wait until a GPU is released and try again"

Mode = Literal["exclusive", "shared"]


@dataclass(frozen=True)
class Allocation:
    """What one learner's server holds."""

    user: str
    server: str
    uuids: tuple[str, ...]
    cohort: str | None
    since: datetime


@dataclass(frozen=True)
class GpuUse:
    """One row of :func:`read_status`: a device and one holder (or none: free)."""

    device: GpuDevice
    present: bool
    user: str | None = None
    server: str | None = None
    cohort: str | None = None
    mode: Mode | None = None
    since: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "gpu": self.device.label,
            "uuid": self.device.uuid,
            "model": self.device.name,
            "memory_mib": self.device.memory_mib,
            "mig_type": self.device.mig_type,
            "in_inventory": self.present,
            "learner": self.user,
            "server": self.server,
            "cohort": self.cohort,
            "mode": self.mode,
            "since": self.since.isoformat() if self.since else None,
        }


@dataclass(frozen=True)
class QuotaUse:
    """A cohort's quota and how many distinct GPUs it holds now."""

    group: str
    limit: int
    in_use: int


@dataclass(frozen=True)
class GpuStatus:
    """Every device with its holders, and every quota with its use."""

    gpus: list[GpuUse]
    quotas: list[QuotaUse]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "gpus": [g.as_dict() for g in self.gpus],
            "quotas": [
                {"group": q.group, "limit": q.limit, "in_use": q.in_use} for q in self.quotas
            ],
        }


@dataclass(frozen=True)
class DockerGpuConfig:
    """What a container needs: ``host_config`` goes to Docker's create_host_config
    (DockerSpawner's ``extra_host_config``), ``environment`` to the container env."""

    host_config: dict[str, Any]
    environment: dict[str, str]


def docker_device_request(
    devices: Sequence[GpuDevice], mode: str = "device-requests"
) -> DockerGpuConfig:
    """The Docker pieces that expose exactly ``devices`` (by UUID) to a container.

    The environment names the same UUIDs (and CUDA plus nvidia-smi as the
    driver capabilities), so the NVIDIA runtime agrees with the device request.
    With no devices, ``NVIDIA_VISIBLE_DEVICES=void`` keeps a CPU learner away
    from every GPU even where the NVIDIA runtime is Docker's default and the
    image (like nvidia/cuda bases) sets ``NVIDIA_VISIBLE_DEVICES=all``.
    ``mode="runtime-env"`` leaves out the device request: on hosts whose default
    runtime is nvidia, the environment alone selects the GPUs.
    Raises ValueError if the devices are on different hosts.
    """
    if not devices:
        return DockerGpuConfig(host_config={}, environment={"NVIDIA_VISIBLE_DEVICES": "void"})
    hosts = {d.host for d in devices}
    if len(hosts) > 1:
        raise ValueError(f"devices are on several hosts ({', '.join(sorted(hosts))})")
    uuids = [d.uuid for d in devices]
    request = docker.types.DeviceRequest(driver="nvidia", device_ids=uuids, capabilities=[["gpu"]])
    return DockerGpuConfig(
        host_config={"device_requests": [request]} if mode == "device-requests" else {},
        environment={
            "NVIDIA_VISIBLE_DEVICES": ",".join(uuids),
            "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
        },
    )


@dataclass(frozen=True)
class _Row:
    user: str
    server: str
    uuid: str
    mode: Mode
    shared_max: int
    cohort: str | None
    since: float


class GpuAllocator:
    """Hands out GPUs by UUID; state in the SQLite file ``db_path``.

    ``inventory`` is what may be given out (:func:`hub.gpu_inventory.load_inventory`);
    ``quotas`` maps cohort group names to the most GPUs the group may hold at once.
    Opening an allocator on an existing file keeps its allocations (a hub
    restart) and records the current inventory and quotas for ``aione gpu
    status``. Safe to use from several threads and processes at once.
    """

    def __init__(
        self,
        db_path: str | Path,
        inventory: Sequence[GpuDevice],
        quotas: Mapping[str, int] | None = None,
        *,
        lock_timeout_s: float = 30.0,
    ) -> None:
        check_inventory(inventory)
        self.db_path = Path(db_path)
        self.inventory: tuple[GpuDevice, ...] = tuple(inventory)
        self.quotas: dict[str, int] = dict(quotas or {})
        self.lock_timeout_s = lock_timeout_s
        self._by_uuid = {d.uuid: d for d in self.inventory}
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise GpuAllocationError(
                f"cannot create {self.db_path.parent} for the GPU allocation state "
                f"({err.strerror}); set gpu.state_file or state_dir to a writable place"
            ) from err
        with self._transaction() as db:
            _init_schema(db, self.db_path)
            self._record_inventory(db)

    # -- public API --------------------------------------------------------

    def allocate(
        self,
        user: str,
        server: str,
        groups: Iterable[str],
        count: int = 1,
        mig_type: str | None = None,
        shared_max: int = 1,
    ) -> list[GpuDevice]:
        """Give ``count`` GPUs (MIG slices of ``mig_type`` if set) to ``(user, server)``;
        returns them sorted by UUID.

        ``shared_max`` > 1 asks for shared mode: at most that many learners on
        one GPU. Idempotent: if ``(user, server)`` already holds GPUs, returns
        those, whatever the arguments. Raises :class:`GpuAllocationError` at
        once (bilingual, for the learner) when the cohort quota is used up or
        no suitable GPU is free; ValueError for impossible arguments.
        """
        if count < 1 or shared_max < 1:
            raise ValueError(f"count ({count}) and shared_max ({shared_max}) must be >= 1")
        if mig_type is not None and count > 1:
            raise ValueError(f"a MIG profile gives one slice; got count={count}")
        groups = sorted(set(groups))
        with self._transaction() as db:
            rows = _rows(db)
            held = sorted(r.uuid for r in rows if (r.user, r.server) == (user, server))
            if held:
                log.debug("%s/%s already holds %s", user, server, held)
                return [self._device(db, uuid) for uuid in held]
            chosen, cohort = self._choose(rows, groups, count, mig_type, shared_max)
            chosen.sort(key=lambda d: d.uuid)
            mode: Mode = "shared" if shared_max > 1 else "exclusive"
            now = time.time()
            db.executemany(
                "INSERT INTO allocations VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(user, server, d.uuid, mode, shared_max, cohort, now) for d in chosen],
            )
        log.info(
            "GPU %s -> %s/%s (%s, cohort %s)",
            ",".join(d.uuid for d in chosen),
            user,
            server,
            mode,
            cohort or "-",
        )
        return chosen

    def allocation(self, user: str, server: str) -> list[GpuDevice]:
        """The devices ``(user, server)`` holds now (empty if none)."""
        with self._transaction() as db:
            uuids = [
                r[0]
                for r in db.execute(
                    "SELECT uuid FROM allocations WHERE user = ? AND server = ? ORDER BY uuid",
                    (user, server),
                )
            ]
            return [self._device(db, u) for u in uuids]

    def release(self, user: str, server: str) -> list[str]:
        """Free what ``(user, server)`` holds; return the freed UUIDs (empty if none)."""
        with self._transaction() as db:
            uuids = [
                r[0]
                for r in db.execute(
                    "SELECT uuid FROM allocations WHERE user = ? AND server = ? ORDER BY uuid",
                    (user, server),
                )
            ]
            db.execute("DELETE FROM allocations WHERE user = ? AND server = ?", (user, server))
        if uuids:
            log.info("GPU %s released by %s/%s", ",".join(uuids), user, server)
        return uuids

    def reconcile(
        self, running: Set[tuple[str, str]], *, min_age_s: float = 0.0
    ) -> list[Allocation]:
        """Release every allocation whose ``(user, server)`` is not in ``running``.

        Call it at hub start (and periodically) with the servers whose
        containers really run. ``min_age_s`` spares allocations younger than
        that, so a reconcile racing a spawn in progress does not free its GPU.
        Returns what was released.
        """
        cutoff = time.time() - min_age_s
        with self._transaction() as db:
            orphans: dict[tuple[str, str], list[_Row]] = {}
            for row in _rows(db):
                key = (row.user, row.server)
                if key not in running and row.since <= cutoff:
                    orphans.setdefault(key, []).append(row)
            db.executemany("DELETE FROM allocations WHERE user = ? AND server = ?", list(orphans))
        released = [
            Allocation(
                user=u,
                server=s,
                uuids=tuple(sorted(r.uuid for r in rs)),
                cohort=rs[0].cohort,
                since=datetime.fromtimestamp(rs[0].since, UTC),
            )
            for (u, s), rs in sorted(orphans.items())
        ]
        for a in released:
            log.warning(
                "released GPU %s of %s/%s: server is not running", a.uuids, a.user, a.server
            )
        return released

    def status(self) -> GpuStatus:
        """Every device with its holders, and every quota with its use."""
        return read_status(self.db_path)

    # -- internals ---------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (write lock held until it ends)."""
        try:
            db = sqlite3.connect(self.db_path, timeout=self.lock_timeout_s, isolation_level=None)
        except sqlite3.Error as err:
            raise _state_error(self.db_path, err) from err
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as err:
            raise _state_error(self.db_path, err) from err
        finally:
            db.close()

    def _record_inventory(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE devices SET present = 0")
        db.executemany(
            "INSERT INTO devices VALUES (?, ?, 1, ?) ON CONFLICT (uuid) DO UPDATE "
            "SET position = excluded.position, present = 1, data = excluded.data",
            [(d.uuid, i, d.model_dump_json()) for i, d in enumerate(self.inventory)],
        )
        db.execute(
            "DELETE FROM devices WHERE present = 0 AND uuid NOT IN (SELECT uuid FROM allocations)"
        )
        db.execute("DELETE FROM quotas")
        db.executemany("INSERT INTO quotas VALUES (?, ?)", sorted(self.quotas.items()))

    def _device(self, db: sqlite3.Connection, uuid: str) -> GpuDevice:
        """The device for ``uuid``, from the inventory or (gone since) the recorded one."""
        if uuid in self._by_uuid:
            return self._by_uuid[uuid]
        (data,) = db.execute("SELECT data FROM devices WHERE uuid = ?", (uuid,)).fetchone()
        return GpuDevice.model_validate_json(data)

    def _choose(
        self,
        rows: list[_Row],
        groups: list[str],
        count: int,
        mig_type: str | None,
        shared_max: int,
    ) -> tuple[list[GpuDevice], str | None]:
        """Pick devices and the cohort to charge, or raise GpuAllocationError."""
        pool = [d for d in self.inventory if d.mig_type == mig_type]
        if not pool:
            raise GpuAllocationError(_no_such_kind(mig_type))
        by_uuid: dict[str, list[_Row]] = {}
        for r in rows:
            by_uuid.setdefault(r.uuid, []).append(r)
        charged = [g for g in groups if g in self.quotas]
        if not charged:
            chosen = _pick(pool, by_uuid, set(), count, shared_max)
            if len(chosen) < count:
                raise GpuAllocationError(_none_free(pool, by_uuid, count, mig_type))
            return chosen, None
        holds = {g: {r.uuid for r in rows if r.cohort == g} for g in charged}
        room = {g: self.quotas[g] - len(holds[g]) for g in charged}
        quota_blocked = True
        for group in sorted(charged, key=lambda g: (-room[g], g)):
            chosen = _pick(pool, by_uuid, holds[group], count, shared_max)
            cost = len({d.uuid for d in chosen} - holds[group]) + (count - len(chosen))
            if cost > room[group]:
                continue
            quota_blocked = False
            if len(chosen) == count:
                return chosen, group
        if quota_blocked:
            uses = [(g, len(holds[g]), self.quotas[g]) for g in sorted(charged)]
            raise GpuAllocationError(_quota_used(uses, count))
        raise GpuAllocationError(_none_free(pool, by_uuid, count, mig_type))


def _pick(
    pool: list[GpuDevice],
    by_uuid: Mapping[str, list[_Row]],
    cohort_holds: Set[str],
    count: int,
    shared_max: int,
) -> list[GpuDevice]:
    """Up to ``count`` devices of ``pool`` that can take one more learner.

    Exclusive: only devices nobody holds, in inventory order. Shared: devices
    held only in shared mode with a seat left under every holder's cap and
    ours, packed (the cohort's own GPUs first, then the fullest), then free ones.
    """
    if shared_max == 1:
        return [d for d in pool if not by_uuid.get(d.uuid)][:count]
    seats = []
    for position, d in enumerate(pool):
        holders = by_uuid.get(d.uuid, [])
        if any(h.mode == "exclusive" for h in holders):
            continue
        cap = min([shared_max, *(h.shared_max for h in holders)])
        if len(holders) < cap:
            seats.append((d.uuid not in cohort_holds, -len(holders), position, d))
    return [s[-1] for s in sorted(seats, key=lambda s: s[:3])][:count]


def _kind(mig_type: str | None) -> tuple[str, str]:
    return (f"MIG {mig_type} GPU", f"MIG {mig_type} GPU slices") if mig_type else ("GPU", "GPUs")


def _quota_used(uses: list[tuple[str, int, int]], count: int) -> str:
    ko = ", ".join(f"'{g}' 과정 할당량 {limit}개 중 {used}개 사용 중" for g, used, limit in uses)
    en = ", ".join(f"cohort '{g}' uses {used} of its {limit}" for g, used, limit in uses)
    need = f" (GPU {count}개 필요)" if count > 1 else ""
    need_en = f" (you asked for {count})" if count > 1 else ""
    return (
        f"GPU 할당량을 다 썼습니다: {ko}{need}. {_FIX}. / "
        f"GPU quota used up: {en} GPU quota{need_en}; {_FIX_EN}."
    )


def _none_free(
    pool: list[GpuDevice], by_uuid: Mapping[str, list[_Row]], count: int, mig_type: str | None
) -> str:
    busy = sum(1 for d in pool if by_uuid.get(d.uuid))
    ko_kind, en_kind = _kind(mig_type)
    if count == 1:
        ko = f"지금 비어 있는 {ko_kind}가 없습니다 ({len(pool)}개 중 {busy}개 사용 중)"
        en = f"No {en_kind} free right now ({busy} of {len(pool)} in use)"
    else:
        ko = f"지금 비어 있는 {ko_kind}가 부족합니다 ({len(pool)}개 중 {busy}개 사용 중, {count}개 필요)"
        en = f"Not enough {en_kind} free right now ({busy} of {len(pool)} in use, you asked for {count})"
    return f"{ko}. {_FIX}. / {en}; {_FIX_EN}."


def _no_such_kind(mig_type: str | None) -> str:
    ko_kind, en_kind = _kind(mig_type)
    return (
        f"이 허브에는 {ko_kind}가 없습니다. 다른 프로필을 고르고 운영자에게 알려 주세요. / "
        f"This hub has no {en_kind}; pick another profile and tell the operator "
        "(a profile asks for a GPU kind that gpu.inventory lacks)."
    )


def _state_error(path: Path, err: sqlite3.Error) -> GpuAllocationError:
    return GpuAllocationError(
        f"GPU allocation state {path} is not usable ({err}); check that the file and its "
        "folder are writable by the hub and the disk is not full, or set gpu.state_file"
    )


def _init_schema(db: sqlite3.Connection, path: Path) -> None:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise GpuAllocationError(
            f"{path} was written by a newer aione (schema {version} > {SCHEMA_VERSION}); "
            "upgrade aione, or point gpu.state_file elsewhere"
        )
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _rows(db: sqlite3.Connection) -> list[_Row]:
    return [
        _Row(*r)
        for r in db.execute(
            "SELECT user, server, uuid, mode, shared_max, cohort, since FROM allocations "
            "ORDER BY since, user, server, uuid"
        )
    ]


def read_status(db_path: str | Path) -> GpuStatus:
    """Read ``db_path`` (read-only) into a :class:`GpuStatus`.

    Devices appear in inventory order, one row per holder (a free device: one
    row without holder); devices no longer in the inventory but still held
    come last with ``present=False``. Raises :class:`GpuAllocationError` if
    the file does not exist or cannot be read, naming the fix.
    """
    path = Path(db_path)
    if not path.is_file():
        raise GpuAllocationError(
            f"no GPU allocation state at {path}: the hub has not started with GPUs, or it "
            "keeps its state elsewhere; pass --state-dir DIR or --state-file FILE"
        )
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            db.execute("BEGIN")
            devices = [
                (GpuDevice.model_validate_json(data), bool(present))
                for data, present in db.execute(
                    "SELECT data, present FROM devices ORDER BY present DESC, position"
                )
            ]
            rows = _rows(db)
            quotas = db.execute("SELECT cohort, max_gpus FROM quotas ORDER BY cohort").fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise GpuAllocationError(
            f"cannot read GPU allocation state {path} ({err}); run as the hub's user "
            "(e.g. with sudo) or pass the right --state-dir"
        ) from err
    by_uuid: dict[str, list[_Row]] = {}
    for r in rows:
        by_uuid.setdefault(r.uuid, []).append(r)
    uses: list[GpuUse] = []
    for device, present in devices:
        holders = by_uuid.get(device.uuid, [])
        uses.extend(
            GpuUse(
                device,
                present,
                h.user,
                h.server,
                h.cohort,
                h.mode,
                datetime.fromtimestamp(h.since, UTC),
            )
            for h in holders
        )
        if not holders:
            uses.append(GpuUse(device, present))
    quota_uses = [
        QuotaUse(g, limit, len({r.uuid for r in rows if r.cohort == g})) for g, limit in quotas
    ]
    return GpuStatus(gpus=uses, quotas=quota_uses)
