"""Learner servers on Docker Swarm: the ``spawner.swarm`` settings, their traitlets,
and the hub's place in the swarm.

With ``spawner.backend: swarm`` the hub runs on a swarm manager and every
learner server is a one-task swarm service placed on a worker
(:class:`hub.swarm.AioneSwarmSpawner`). This module is light on purpose (no
DockerSpawner import), because the settings model and :func:`update_swarm`
are loaded by every ``aione`` command:

- :class:`SwarmSection`, the ``spawner.swarm:`` settings section;
- :func:`update_swarm`, the pure ``update_*`` function appended to
  :data:`hub.configure.UPDATES`;
- :func:`ensure_swarm_network`, run by :func:`hub.hubconfig.prepare`: the
  attachable overlay network of the learners, and the address learners on
  other nodes use to reach the hub's API and the exchange (the manager's
  swarm address).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import docker
from docker.errors import APIError, NotFound
from pydantic import BaseModel, ConfigDict, Field, model_validator
from traitlets.config import Config

from hub.errors import SwarmError

if TYPE_CHECKING:  # hub.configure imports this module to list update_swarm
    from hub.configure import Runtime
    from hub.settings import Settings

log = logging.getLogger(__name__)

SPAWNER_CLASS = "hub.swarm.AioneSwarmSpawner"


class SwarmSection(BaseModel):
    """The ``spawner.swarm:`` section, used when ``spawner.backend`` is ``swarm``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    home_volume_driver: str | None = Field(
        None,
        description=(
            "Volume driver of the learners' home volumes. Unset (default): a local volume "
            "on the node that runs the learner, and the learner is pinned to that node "
            "afterwards. Set (e.g. 'local' with NFS options) for homes that every node "
            "can mount; learners are then placed freely."
        ),
    )
    home_volume_options: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Driver options of the home volumes; '{username}' is replaced, e.g. "
            "{type: nfs, o: 'addr=10.0.0.2,rw,nfsvers=4', device: ':/srv/homes/{username}'}."
        ),
    )
    data_volume_driver: str | None = Field(
        None,
        description="Volume driver of the shared data volume; unset: a local volume per node.",
    )
    data_volume_options: dict[str, str] = Field(
        default_factory=dict, description="Driver options of the shared data volume."
    )
    worker_constraints: list[str] = Field(
        default_factory=lambda: ["node.role == worker"],
        description="Placement constraints of every learner service.",
    )
    gpu_constraints: list[str] = Field(
        default_factory=lambda: ["node.labels.gpu == true"],
        description="Extra constraints of GPU profiles (the Ansible swarm role sets the label).",
    )
    reserve_memory: bool = Field(
        True,
        description=(
            "Reserve each learner's memory limit on its node, so swarm never overcommits "
            "memory and a full cluster is reported at once."
        ),
    )
    poll_interval: int = Field(
        30, ge=1, le=3600, description="Seconds between checks that a learner's task still runs."
    )
    unschedulable_timeout: float = Field(
        10.0,
        ge=0,
        le=600,
        description=(
            "Seconds a task may wait for a node that fits (no suitable node) before the "
            "spawn fails with swarm's reason."
        ),
    )

    @model_validator(mode="after")
    def _options_need_driver(self) -> SwarmSection:
        for kind in ("home", "data"):
            if getattr(self, f"{kind}_volume_options") and not getattr(
                self, f"{kind}_volume_driver"
            ):
                raise ValueError(
                    f"{kind}_volume_options are set but {kind}_volume_driver is not; "
                    f"set {kind}_volume_driver (e.g. local) or remove the options"
                )
        return self


def update_swarm(c: Config, s: Settings, rt: Runtime) -> None:
    """With ``spawner.backend: swarm``: the swarm spawner and its traitlets.

    Runs after :func:`hub.configure.update_spawner`, whose ``AioneSpawner``
    values the subclass inherits (image, limits, volumes, profiles, GPUs).
    Does nothing for the ``docker`` backend.
    """
    sp = s.spawner
    if sp.backend != "swarm":
        return
    sw = sp.swarm
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    x = c.AioneSwarmSpawner
    # Images are loaded on every node beforehand (ansible images role); nothing is pulled.
    x.pull_policy = "skip"
    x.home_volume_name = sp.home_volume
    x.data_volume_name = sp.data_volume
    x.home_volume_driver = sw.home_volume_driver or ""
    x.home_volume_options = dict(sw.home_volume_options)
    x.data_volume_driver = sw.data_volume_driver or ""
    x.data_volume_options = dict(sw.data_volume_options)
    x.worker_constraints = list(sw.worker_constraints)
    x.gpu_constraints = list(sw.gpu_constraints)
    x.reserve_memory = sw.reserve_memory
    x.poll_interval = sw.poll_interval
    x.unschedulable_timeout = sw.unschedulable_timeout


def ensure_swarm_network(api: docker.DockerClient, name: str) -> str:
    """Make sure this engine is a swarm manager and the attachable overlay network
    ``name`` exists; return the manager's swarm address.

    Learner containers on any node reach that address (through their node's
    ``docker_gwbridge``), so the hub's API and the exchange listen on it.
    Raises :class:`SwarmError` naming the fix when the engine is not an active
    manager, or when ``name`` exists but is not an attachable overlay network.
    """
    info = api.info().get("Swarm") or {}
    if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
        raise SwarmError(
            "spawner.backend is swarm but this Docker engine is not an active swarm manager "
            f"(state: {info.get('LocalNodeState') or 'inactive'}); run the hub on the manager "
            "provisioned by ansible/site.yml, or 'docker swarm init', or set backend: docker"
        )
    try:
        net = api.networks.get(name)
    except NotFound:
        log.info("Creating the attachable overlay network %s", name)
        try:
            net = api.networks.create(
                name, driver="overlay", attachable=True, labels={"aione.role": "learner-net"}
            )
        except APIError as err:
            raise SwarmError(f"cannot create the overlay network {name!r}: {err}") from err
        net.reload()
    attrs = net.attrs
    if attrs.get("Driver") != "overlay" or not attrs.get("Attachable"):
        raise SwarmError(
            f"Docker network {name!r} is a {attrs.get('Driver')} network"
            f"{'' if attrs.get('Attachable') else ' (not attachable)'}; learners on swarm need "
            f"an attachable overlay: remove it ('docker network rm {name}') and start again, "
            "or set spawner.network to another name"
        )
    addr = str(info.get("NodeAddr") or "")
    if not addr:
        raise SwarmError("the swarm manager reports no node address; check 'docker info'")
    return addr
