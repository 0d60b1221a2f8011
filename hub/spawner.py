"""The learner spawner: one Docker container per learner, on DockerSpawner.

What it adds to DockerSpawner:

- Docker calls run on a pool of ``docker_threads`` threads instead of
  DockerSpawner's single global thread, so one slow call (a large create or a
  stop) does not make every other learner wait (dockerspawner#293).
- Resource profiles (:mod:`hub.profiles`): the spawn page lists only the
  profiles the learner's groups allow; a request for another profile, by form
  or REST API, is refused with 403 before anything starts.
- GPUs (:mod:`hub.gpu`): a GPU profile gets GPUs of its own by UUID from the
  allocator; when a quota is used up or none is free the spawn fails at once
  with the reason. The GPUs are released when the server stops or fails to
  start, and allocations of servers that no longer run are reconciled when the
  allocator is first opened after a hub start.
- The learner's named home volume and the read-only shared data volume are
  set from the settings (:func:`hub.configure.update_spawner`); named volumes
  are filled from the image, so ``/home/jovyan`` belongs to uid 1000, never
  to root (dockerspawner#453).
- A start returns as soon as the server answers HTTP: the spawner polls it
  every ``ready_poll_interval`` seconds (growing slowly), where the hub's own
  wait backs off exponentially (0.2, 0.4, 0.8, 1.6 s ...) and so reports a
  server that was up after 1.5 s only at about 3 s.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from dockerspawner import DockerSpawner
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Dict, Float, Integer, Unicode, default

from graders.exchange.instructor import (
    instructor_environment,
    instructor_mounts,
    prepare_instructor,
)
from hub.errors import GpuAllocationError, GpuDiscoveryError, ProfileError
from hub.gpu import GpuAllocator, docker_device_request
from hub.gpu_inventory import GpuSettings, load_inventory
from hub.hubconfig import settings_from_environment
from hub.profiles import (
    Profile,
    ProfilesSettings,
    allowed_profiles,
    default_profile,
    profile_name_from_form,
    render_options_form,
    resolve_profile,
)
from hub.settings import Settings

#: A learner server's typical working set (idle server ~110 MB plus a kernel with data).
WORKING_SET = 512 * 1024**2


class AioneSpawner(DockerSpawner):
    """DockerSpawner with a Docker thread pool, resource profiles and GPU allocation."""

    docker_threads = Integer(
        8,
        help="Threads for Docker API calls, shared by all spawners of this hub.",
    ).tag(config=True)

    aione_environment = Dict(
        help="Extra environment variables for every learner server (e.g. the exchange URL).",
    ).tag(config=True)

    profiles_settings = Dict(
        help="The validated `profiles` settings section (hub.profiles.ProfilesSettings) as a dict.",
    ).tag(config=True)

    gpu_settings = Dict(
        help="The validated `gpu` settings section (hub.gpu_inventory.GpuSettings) as a dict.",
    ).tag(config=True)

    gpu_state_file = Unicode(
        help="SQLite file where GPU allocations are kept across hub restarts.",
    ).tag(config=True)

    max_servers = Integer(
        0,
        help=(
            "Most learner servers on this Docker host; a spawn beyond it fails at once with a "
            "'host full' message. 0: 90% of the engine's memory / 512 MiB, a learner's typical "
            "working set (limits are ceilings, not use)."
        ),
    ).tag(config=True)

    ready_poll_interval = Float(
        0.05,
        help=(
            "Seconds between the first checks whether a started server answers HTTP; each "
            "check waits 20% longer than the one before, up to 0.5 s, until http_timeout. "
            "0: leave the wait to the hub (exponential backoff from 0.2 s)."
        ),
    ).tag(config=True)

    _pool: ClassVar[ThreadPoolExecutor | None] = None
    _settings: ClassVar[Settings | None] = None
    _allocator: ClassVar[GpuAllocator | None] = None
    _allocator_lock: ClassVar[asyncio.Lock | None] = None
    _gpu_env: dict[str, str]
    _instructor_env: dict[str, str]
    _base_volumes: dict[str, Any]

    @property
    def executor(self) -> ThreadPoolExecutor:
        """One pool of ``docker_threads`` threads for all learners."""
        cls = type(self)
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="aione-docker")
        return cls._pool

    # --- profiles -----------------------------------------------------------------

    def _profiles(self) -> ProfilesSettings:
        return ProfilesSettings.model_validate(self.profiles_settings)

    def _groups(self) -> list[str]:
        return [g.name for g in self.user.groups]

    def _is_admin(self) -> bool:
        return bool(self.user.admin)

    def _options_form(self, spawner: AioneSpawner) -> str:
        """The spawn page: shown only when the learner may choose among several profiles."""
        settings = self._profiles()
        mine = allowed_profiles(settings.profiles, self._groups(), self._is_admin())
        if len(mine) <= 1:
            return ""
        default = default_profile(settings, self._groups(), self._is_admin())
        return render_options_form(mine, default.name)

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        name = profile_name_from_form(formdata)
        return {"profile": name} if name else {}

    def chosen_profile(self) -> Profile:
        """The profile of this spawn; raises 403 when the learner may not use it."""
        name = self.user_options.get("profile") if self.user_options else None
        try:
            return resolve_profile(self._profiles(), name, self._groups(), self._is_admin())
        except ProfileError as err:
            raise web.HTTPError(403, str(err)) from err

    def _apply_profile(self, profile: Profile) -> None:
        self.cpu_limit = profile.cpu_limit
        self.mem_limit = profile.mem_limit_bytes
        if profile.image:
            self.image = profile.image

    # --- GPUs ---------------------------------------------------------------------

    def _gpu(self) -> GpuSettings:
        return GpuSettings.model_validate(self.gpu_settings)

    async def allocator(self) -> GpuAllocator:
        """The hub's allocator; on first use, reconcile with the containers that run."""
        cls = type(self)
        if cls._allocator_lock is None:
            cls._allocator_lock = asyncio.Lock()
        async with cls._allocator_lock:
            if cls._allocator is None:
                cls._allocator = await self._open_allocator()
        return cls._allocator

    async def _open_allocator(self) -> GpuAllocator:
        gpu = self._gpu()
        inventory = await asyncio.to_thread(load_inventory, gpu)
        allocator = GpuAllocator(Path(self.gpu_state_file), inventory, gpu.quotas)
        running = await self._running_servers()
        released = await asyncio.to_thread(allocator.reconcile, running, min_age_s=0.0)
        for alloc in released:
            self.log.info("Released GPUs %s of %s: server gone", alloc.uuids, alloc.user)
        return allocator

    async def _running_servers(self) -> set[tuple[str, str]]:
        containers = await self.docker(
            "containers",
            all=False,
            filters={"label": ["aione.role=learner", f"aione.hub={self.prefix}"]},
        )
        running = set()
        for c in containers:
            labels = c.get("Labels") or {}
            if "aione.user" in labels:
                running.add((labels["aione.user"], labels.get("aione.server", "")))
        return running

    async def _allocate_gpus(self, profile: Profile) -> dict[str, str]:
        if not (profile.gpus or profile.mig_type):
            return docker_device_request([]).environment
        try:
            allocator = await self.allocator()
            devices = await asyncio.to_thread(
                allocator.allocate,
                user=self.user.name,
                server=self.name,
                groups=self._groups(),
                count=max(profile.gpus, 1),
                mig_type=profile.mig_type,
                shared_max=profile.gpu_shared_max,
            )
        except (GpuAllocationError, GpuDiscoveryError) as err:
            raise web.HTTPError(503, str(err)) from err
        gpu = docker_device_request(devices, self._gpu().request)
        self.extra_host_config = {**self.extra_host_config, **gpu.host_config}  # type: ignore[has-type]
        self.log.info("GPUs %s for %s", [d.uuid for d in devices], self.user.name)
        return gpu.environment

    async def _release_gpus(self) -> None:
        if not (self.gpu_state_file and Path(self.gpu_state_file).exists()):
            return
        allocator = await self.allocator()
        freed = await asyncio.to_thread(allocator.release, self.user.name, self.name)
        if freed:
            self.log.info("Released GPUs %s of %s", freed, self.user.name)

    # --- capacity -----------------------------------------------------------------

    async def _capacity(self) -> int:
        if self.max_servers:
            return int(self.max_servers)
        info = await self.docker("info")
        return max(1, int(0.9 * int(info["MemTotal"]) // WORKING_SET))

    async def check_capacity(self) -> None:
        """Refuse at once, with the reason, when this host runs as many servers as it can."""
        running = await self.docker(
            "containers",
            all=False,
            filters={"label": ["aione.role=learner", f"aione.hub={self.prefix}"]},
        )
        others = [c for c in running if (c.get("Labels") or {}).get("aione.user") != self.user.name]
        capacity = await self._capacity()
        if len(others) >= capacity:
            raise web.HTTPError(
                503,
                f"이 서버가 가득 찼습니다: 학습 서버 {len(others)}/{capacity}개 실행 중. 몇 분 뒤 "
                "다시 시도하거나 강사에게 문의하세요. / This host is full: "
                f"{len(others)} of {capacity} learner servers are running. Try again in a few "
                "minutes, or ask your instructor (admins: spawner.max_servers, or add a host).",
            )

    # --- instructors ----------------------------------------------------------------

    async def _instructor_tools(self) -> None:
        """Members of ``course-C-instructors`` get C's course root at ~/courses/C and the
        formgrader; learners get neither (graders.exchange.instructor)."""
        cls = type(self)
        if cls._settings is None:  # the hub read and checked the file at its start
            cls._settings = settings_from_environment()
        settings = cls._settings
        groups = self._groups()
        await asyncio.to_thread(prepare_instructor, groups, settings)
        if not hasattr(self, "_base_volumes"):
            self._base_volumes = dict(self.volumes)  # type: ignore[has-type]
        self.volumes = {**self._base_volumes, **instructor_mounts(groups, settings)}
        self._instructor_env = instructor_environment(groups, settings)

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> Any:
        profile = self.chosen_profile()
        self._apply_profile(profile)
        await self.check_capacity()
        await self._instructor_tools()
        labels = {
            "aione.role": "learner",
            "aione.hub": self.prefix,
            "aione.user": self.user.name,
            "aione.server": self.name,
            "aione.profile": profile.name,
        }
        self.extra_create_kwargs = {**self.extra_create_kwargs, "labels": labels}  # type: ignore[has-type]
        self._gpu_env = await self._allocate_gpus(profile)
        try:
            ip_port = await super().start()
        except BaseException:
            await self._release_gpus()
            raise
        await self.wait_answering(*ip_port)
        return ip_port

    async def wait_answering(self, ip: str, port: int) -> None:
        """Return once the server at ``ip:port`` answers HTTP with any status below 500, or
        after ``http_timeout`` seconds (the hub's own wait then reports the failure)."""
        if self.ready_poll_interval <= 0:
            return
        url = f"http://{ip}:{port}{self.server.base_url if self.server else '/'}api"
        client = AsyncHTTPClient()
        interval, deadline = self.ready_poll_interval, time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            try:
                response = await client.fetch(
                    url, raise_error=False, follow_redirects=False, request_timeout=5
                )
                if response.code < 500:
                    return
            except (OSError, HTTPClientError):
                pass  # not listening yet
            await asyncio.sleep(interval)
            interval = min(interval * 1.2, 0.5)

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        await self._release_gpus()

    def get_env(self) -> dict[str, Any]:
        env: dict[str, Any] = super().get_env()
        env.update(self.aione_environment)
        env.update(getattr(self, "_gpu_env", {}))
        env.update(getattr(self, "_instructor_env", {}))
        return env

    @default("options_form")
    def _default_options_form(self) -> Any:
        return self._options_form
