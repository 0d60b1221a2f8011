"""Learner servers on Docker Swarm: one single-task service per learner, on a worker.

:class:`AioneSwarmSpawner` is DockerSpawner's ``SwarmSpawner`` with everything
:class:`hub.spawner.AioneSpawner` adds (profiles by group, GPUs by UUID, the
Docker thread pool), selected by ``spawner.backend: swarm``
(:func:`hub.swarmconfig.update_swarm`). What it does differently from the
stock ``SwarmSpawner``:

- **Placement.** Every learner service is constrained to workers
  (``node.role == worker``); GPU profiles also to nodes labelled
  ``gpu == true`` and, when the allocated GPU's inventory entry names a host,
  to that node (``node.hostname == HOST``). The allocator gives the GPU by UUID
  and the container gets ``NVIDIA_VISIBLE_DEVICES``, which needs ``nvidia`` as
  the GPU node's default runtime (the Ansible docker role sets it): swarm
  cannot pass device requests or a runtime to services, and generic resources
  only count GPUs (dockerspawner#244, #457, #459).
- **Failures are reported at once** (dockerspawner#330 treats a rejected task
  as pending until the start timeout): while starting, the service's task is
  polled; a rejected or failed task raises :class:`~hub.errors.SwarmError`
  with swarm's own reason, and so does a task that no node can take (``no
  suitable node``) for longer than ``unschedulable_timeout`` seconds. The
  restart policy is ``none``, so swarm never restarts a crashed server behind
  the hub's back.
- **Reaching the server.** Learner services publish their port in ``host``
  mode on the node that runs them, with ``dnsrr`` endpoints: no routing mesh,
  no IPVS. The hub (and its proxy) reach a server at its node's address and
  the published port; the server reaches the hub's API and the exchange at
  the manager's swarm address (see :func:`hub.swarmconfig.ensure_swarm_network`).
  Services are attached to the attachable overlay network ``spawner.network``.
- **Homes.** Named volumes are mounted as volumes (the stock class turns them
  into bind mounts of relative paths). Without a volume driver a home is a
  local volume on one node, so a learner is pinned to the node of their
  last server (kept in the spawner's state across stops and hub restarts).
  When that node is down, drained or gone, the pin is dropped and the server
  starts on another worker with a fresh home; the learner is told so. With
  ``home_volume_driver`` (NFS through the ``local`` driver, or a plugin) no
  pin is needed.
- **Instructors** (servers with bind mounts of hub-host folders: their
  courses' folders) run on the hub's own node, the only one with those folders.
  Capacity is swarm's (memory reservations), so the single-host
  ``max_servers`` check does not apply.
- **Lost nodes.** :meth:`poll` reports a server as stopped when its node is
  not ``ready`` or swarm has given its task up, so the hub notices a lost
  worker within ``poll_interval`` and the learner can start again elsewhere
  (stock ``SwarmSpawner`` keeps reporting such a task as running).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from docker.errors import APIError, NotFound
from docker.types import (
    ContainerSpec,
    DriverConfig,
    EndpointSpec,
    Mount,
    Placement,
    Resources,
    RestartPolicy,
    TaskTemplate,
)
from dockerspawner import SwarmSpawner
from traitlets import Bool, Dict, Float, List, Unicode

from hub.errors import SwarmError
from hub.profiles import Profile
from hub.spawner import AioneSpawner

#: Task states on the way to running (swarm's own order).
STARTING_STATES = frozenset(
    {"new", "pending", "assigned", "accepted", "ready", "preparing", "starting"}
)
#: Task states from which a task never runs again.
FINAL_STATES = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})


def newest_task(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recently created task of a service, or None when it has none."""
    return max(tasks, key=lambda t: (t.get("CreatedAt", ""), t.get("ID", "")), default=None)


def task_problem(task: dict[str, Any], node: dict[str, Any] | None) -> str | None:
    """Why ``task`` is not (and will not be) running, or None while it runs or starts.

    ``node`` is the inspected node the task is on (None when unassigned or the
    node is gone). A task swarm has given up (desired state not ``running``),
    a task in a final state, and a running task on a node that is not
    ``ready`` all count as stopped.
    """
    status = task.get("Status") or {}
    state = str(status.get("State", "")).lower()
    where = _node_name(node) or str(task.get("NodeID") or "?")[:12]
    if state in FINAL_STATES:
        reason = status.get("Err") or status.get("Message") or state
        return f"the task on node {where} is {state}: {reason}"
    if task.get("NodeID") and node is None and state not in ("new", "pending"):
        return f"node {where} has left the swarm"
    if node is not None and (node.get("Status") or {}).get("State") != "ready":
        return f"node {where} is {(node.get('Status') or {}).get('State', 'unknown')}"
    if task.get("DesiredState") not in (None, "running"):
        return f"swarm has given up the task on node {where} (desired: {task['DesiredState']})"
    return None


def unschedulable_reason(task: dict[str, Any]) -> str | None:
    """Swarm's reason when no node can take ``task`` (``no suitable node ...``), else None."""
    status = task.get("Status") or {}
    err = str(status.get("Err") or "")
    if str(status.get("State", "")).lower() == "pending" and "no suitable node" in err:
        return err
    return None


def explain_unschedulable(reason: str, gpu: bool) -> str:
    """The learner's message for a task no node can take, naming what to do."""
    if "insufficient resources" in reason:
        hint = (
            "every worker's memory is reserved by other learners; try again later or pick "
            "a smaller profile"
        )
    elif gpu:
        hint = (
            "GPU profiles run only on workers labelled gpu=true (Ansible swarm role) and none "
            "of them can take it; pick the CPU profile or ask an admin"
        )
    else:
        hint = "no worker matches the placement constraints; ask an admin to check the workers"
    return f"서버를 배치할 노드가 없습니다 / no node can run your server now ({reason}): {hint}"


def learner_error(message: str) -> SwarmError:
    """A :class:`SwarmError` whose message JupyterHub shows the learner as is (the REST
    API and the spawn page read ``jupyterhub_message``)."""
    err = SwarmError(message)
    err.jupyterhub_message = message  # type: ignore[attr-defined]
    return err


def _node_name(node: dict[str, Any] | None) -> str:
    if not node:
        return ""
    return str((node.get("Description") or {}).get("Hostname") or node.get("ID", "")[:12])


def node_address(node: dict[str, Any]) -> str:
    """The address other nodes reach ``node`` at (its swarm status address)."""
    addr = str((node.get("Status") or {}).get("Addr") or "")
    if addr in ("", "0.0.0.0"):
        manager = str((node.get("ManagerStatus") or {}).get("Addr") or "")
        addr = manager.rsplit(":", 1)[0]
    if not addr:
        raise SwarmError(f"node {_node_name(node)} reports no address; check 'docker node ls'")
    return addr


def published_port(task: dict[str, Any], target: int) -> int:
    """The host port a running ``task`` published for container port ``target``."""
    ports = ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
    for port in ports:
        if port.get("TargetPort") == target and port.get("PublishedPort"):
            return int(port["PublishedPort"])
    raise SwarmError(f"the learner's task publishes no port for {target}: {ports}")


class AioneSwarmSpawner(AioneSpawner, SwarmSpawner):
    """A learner's server as a one-task swarm service on a worker (see the module doc).

    Override points beyond DockerSpawner's: :meth:`placement_constraints`
    (where a server may run) and :meth:`service_mounts` (its volumes).
    """

    home_volume_name = Unicode(
        "", help="Name template of the home volume (e.g. aione-home-{username})."
    ).tag(config=True)
    data_volume_name = Unicode("", help="Name of the shared read-only data volume.").tag(
        config=True
    )
    home_volume_driver = Unicode(
        "", help="Volume driver of home volumes; empty: local volumes and node pinning."
    ).tag(config=True)
    home_volume_options = Dict(
        help="Driver options of home volumes; '{username}' in a value is replaced."
    ).tag(config=True)
    data_volume_driver = Unicode("", help="Volume driver of the data volume; empty: local.").tag(
        config=True
    )
    data_volume_options = Dict(help="Driver options of the data volume.").tag(config=True)
    worker_constraints = List(
        Unicode(), ["node.role == worker"], help="Placement constraints of every learner."
    ).tag(config=True)
    gpu_constraints = List(
        Unicode(), ["node.labels.gpu == true"], help="Extra placement constraints of GPU profiles."
    ).tag(config=True)
    reserve_memory = Bool(
        True, help="Reserve the memory limit on the node, so swarm never overcommits memory."
    ).tag(config=True)
    unschedulable_timeout = Float(
        10.0, help="Seconds a task may wait for a suitable node before the spawn fails."
    ).tag(config=True)

    pinned_node = Unicode("", help="Swarm node ID of this learner's home (spawner state).")

    _events: list[dict[str, Any]]
    _task: dict[str, Any] | None = None
    _task_node: dict[str, Any] | None = None

    # --- state: the pin outlives a stop ---------------------------------------------

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.pinned_node = str(state.get("pinned_node") or "")

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.pinned_node:
            state["pinned_node"] = self.pinned_node
        return state

    # --- placement ----------------------------------------------------------------

    async def placement_constraints(self, profile: Profile) -> list[str]:
        """Constraints of this start: workers; GPU nodes (and the GPU's host) for GPU
        profiles; else the node holding the learner's local home, while it is usable.

        A server with bind mounts of hub-host folders (an instructor's course
        folders, :mod:`graders.exchange.instructor`) runs on the hub's own node,
        the only one that has them.
        """
        if any(source.startswith("/") for source in self.volume_binds):
            info = await self.docker("info")
            self._note(
                30,
                "강사 서버는 허브 노드에서 실행됩니다 / instructor servers run on the hub's node",
            )
            return [f"node.id == {info['Swarm']['NodeID']}"]
        constraints = list(self.worker_constraints)
        if profile.gpus or profile.mig_type:
            constraints += self.gpu_constraints
            allocator = await self.allocator()
            devices = await asyncio.to_thread(allocator.allocation, self.user.name, self.name)
            hosts = sorted({d.host for d in devices} - {"local"})
            constraints += [f"node.hostname == {h}" for h in hosts]
            if self.pinned_node and not self.home_volume_driver:
                self._note(
                    30, "GPU 노드에서 시작합니다 / starting on a GPU node (home of that node)"
                )
            return constraints
        if self.pinned_node and not self.home_volume_driver:
            problem = await self._pin_problem(self.pinned_node)
            if problem is None:
                constraints.append(f"node.id == {self.pinned_node}")
            else:
                self.log.warning(
                    "%s: dropping the pin to node %s (%s)",
                    self._log_name,
                    self.pinned_node,
                    problem,
                )
                self._note(
                    30,
                    f"이전 노드를 쓸 수 없어 다른 노드에서 새 홈으로 시작합니다 / your previous "
                    f"node is unavailable ({problem}): starting on another node with a fresh "
                    "home; submitted work is safe on the hub",
                )
                self.pinned_node = ""
        return constraints

    async def _pin_problem(self, node_id: str) -> str | None:
        try:
            node = await self.docker("inspect_node", node_id)
        except NotFound:
            return "it has left the swarm"
        state = (node.get("Status") or {}).get("State")
        availability = (node.get("Spec") or {}).get("Availability")
        if state != "ready":
            return f"node {_node_name(node)} is {state}"
        if availability != "active":
            return f"node {_node_name(node)} is {availability}"
        return None

    def service_mounts(self) -> list[Mount]:
        """``volumes`` as swarm mounts: names become volumes (home and data with their
        drivers), absolute paths bind mounts."""
        home = self.format_volume_name(self.home_volume_name, self) if self.home_volume_name else ""
        mounts = []
        for source, spec in self.volume_binds.items():
            read_only = spec.get("mode") == "ro"
            if source.startswith("/"):
                mounts.append(Mount(spec["bind"], source, type="bind", read_only=read_only))
                continue
            driver = None
            if source == home and self.home_volume_driver:
                options = {
                    k: str(v).replace("{username}", self.escaped_name)
                    for k, v in self.home_volume_options.items()
                }
                driver = DriverConfig(self.home_volume_driver, options or None)
            elif source == self.data_volume_name and self.data_volume_driver:
                driver = DriverConfig(
                    self.data_volume_driver, dict(self.data_volume_options) or None
                )
            mounts.append(
                Mount(
                    spec["bind"], source, type="volume", read_only=read_only, driver_config=driver
                )
            )
        return mounts

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> Any:
        self._events = []
        self._task = None
        self._task_node = None
        return await super().start()

    async def create_object(self) -> dict[str, Any]:
        """Create the learner's service (one task, restart policy none) and return it."""
        profile = self.chosen_profile()
        labels = dict(self.extra_create_kwargs.get("labels") or {})
        constraints = await self.placement_constraints(profile)
        self.log.info("Placing %s with %s", self.service_name, constraints)
        container = ContainerSpec(
            image=self.image,
            args=await self.get_command(),
            env=self.get_env(),
            mounts=self.service_mounts(),
            labels=labels,
        )
        resources = Resources(
            cpu_limit=int(self.cpu_limit * 1e9) if self.cpu_limit else None,
            mem_limit=self.mem_limit,
            mem_reservation=self.mem_limit if self.reserve_memory else self.mem_guarantee,
            cpu_reservation=int(self.cpu_guarantee * 1e9) if self.cpu_guarantee else None,
        )
        task = TaskTemplate(
            container_spec=container,
            resources=resources,
            restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=constraints),
            networks=[self.network_name] if self.network_name else [],
        )
        endpoint = EndpointSpec(
            mode="dnsrr",
            ports=[{"Protocol": "tcp", "TargetPort": self.port, "PublishMode": "host"}],
        )
        self._note(20, "스웜에 서버를 요청했습니다 / server requested from the swarm")
        service: dict[str, Any] = await self.docker(
            "create_service", task, name=self.service_name, labels=labels, endpoint_spec=endpoint
        )
        return service

    async def start_object(self) -> None:
        """Wait until the task runs; raise SwarmError with swarm's reason when it cannot."""
        gpu = bool(self.chosen_profile().gpus)
        since = time.monotonic()
        delay = 0.5
        while True:
            task = newest_task(await self.docker("tasks", filters={"service": self.service_name}))
            if task is not None:
                state = str((task.get("Status") or {}).get("State", "")).lower()
                if state == "running":
                    await self._placed(task)
                    return
                if state in FINAL_STATES:
                    raise learner_error(await self._refusal(task))
                reason = unschedulable_reason(task)
                if reason and time.monotonic() - since >= self.unschedulable_timeout:
                    raise learner_error(explain_unschedulable(reason, gpu))
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 3.0)

    async def _refusal(self, task: dict[str, Any]) -> str:
        node = await self._node(task.get("NodeID"))
        problem = task_problem(task, node) or "unknown"
        hint = ""
        if "No such image" in problem:
            hint = "; ask an admin to load the image on every node (ansible images role)"
        return f"서버를 시작하지 못했습니다 / your server could not start: {problem}{hint}"

    async def _placed(self, task: dict[str, Any]) -> None:
        node = await self._node(task.get("NodeID"))
        self._task = task
        self._task_node = node
        if not self.home_volume_driver:
            self.pinned_node = str(task["NodeID"])
        self.log.info("%s runs on node %s", self.service_name, _node_name(node))
        self._note(60, f"노드 {_node_name(node)}에서 실행 중 / running on node {_node_name(node)}")

    async def _node(self, node_id: str | None) -> dict[str, Any] | None:
        if not node_id:
            return None
        try:
            node: dict[str, Any] = await self.docker("inspect_node", node_id)
        except NotFound:
            return None
        return node

    async def get_ip_and_port(self) -> tuple[str, int]:
        """The node's address and the port the task published there."""
        task, node = self._task, self._task_node
        if task is None or node is None:
            task = newest_task(await self.docker("tasks", filters={"service": self.service_name}))
            node = await self._node(task.get("NodeID")) if task else None
            if task is None or node is None:
                raise SwarmError(f"service {self.service_name} has no running task")
        return node_address(node), published_port(task, self.port)

    async def poll(self) -> int | str | None:
        """None while the task runs or starts; otherwise why not (a lost node included)."""
        if await self.get_object() is None:
            return 0
        task = newest_task(await self.docker("tasks", filters={"service": self.service_name}))
        if task is None:
            return "the service has no task"
        problem = task_problem(task, await self._node(task.get("NodeID")))
        if problem:
            self.log.warning("%s stopped: %s", self._log_name, problem)
        return problem

    async def remove_object(self) -> None:
        if not self.object_id:
            return
        self.log.info("Removing service %s (%s)", self.service_name, self.object_id[:7])
        try:
            await self.docker("remove_service", self.object_id)
        except NotFound:
            self.log.info("Service %s was already gone", self.service_name)

    async def check_capacity(self) -> None:
        """Nothing to count here: swarm reserves each learner's memory on a worker
        (``reserve_memory``) and a full cluster is reported at once as 'insufficient
        resources' (:func:`explain_unschedulable`)."""

    async def _running_servers(self) -> set[tuple[str, str]]:
        """(user, server) of every learner service of this hub (for the GPU reconcile)."""
        try:
            services = await self.docker(
                "services", filters={"label": ["aione.role=learner", f"aione.hub={self.prefix}"]}
            )
        except APIError as err:
            raise SwarmError(f"cannot list the learner services: {err}") from err
        running = set()
        for service in services:
            labels = (service.get("Spec") or {}).get("Labels") or {}
            if "aione.user" in labels:
                running.add((labels["aione.user"], labels.get("aione.server", "")))
        return running

    # --- progress for the spawn page ----------------------------------------------

    def _note(self, progress: int, message: str) -> None:
        if not hasattr(self, "_events"):
            self._events = []
        self._events.append({"progress": progress, "message": message})

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Placement events of this start (moved home, node chosen), as they happen."""
        seen = 0
        while True:
            events = getattr(self, "_events", [])
            while seen < len(events):
                yield events[seen]
                seen += 1
            await asyncio.sleep(0.5)
