"""Talking to the Docker engine: is one reachable, and the learner network.

Functions here do I/O and raise :class:`hub.errors.DockerUnavailable` with the
fix when no engine answers.
"""

from __future__ import annotations

import logging

import docker
from docker.errors import DockerException, NotFound

from hub.errors import DockerUnavailable

log = logging.getLogger(__name__)

HOW_TO_START = (
    "start one: 'dockerd > /var/log/dockerd.log 2>&1 &' (no systemd) or "
    "'systemctl start docker', or set DOCKER_HOST; './bootstrap up' does it for you"
)


def client(base_url: str | None = None) -> docker.DockerClient:
    """A Docker client that has answered a ping; raises DockerUnavailable otherwise."""
    try:
        api = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        api.ping()
    except DockerException as err:
        raise DockerUnavailable(
            f"no Docker engine answers ({err.__class__.__name__}); {HOW_TO_START}"
        ) from err
    return api


def ensure_network(api: docker.DockerClient, name: str) -> str:
    """Create the bridge network ``name`` if missing; return its gateway IP.

    Learner containers reach the hub's API at that gateway address.
    """
    try:
        net = api.networks.get(name)
    except NotFound:
        log.info("Creating Docker network %s", name)
        net = api.networks.create(name, driver="bridge", labels={"aione.role": "learner-net"})
        net.reload()
    configs = net.attrs.get("IPAM", {}).get("Config") or []
    for config in configs:
        gateway = config.get("Gateway")
        if gateway:
            return str(gateway)
    raise DockerUnavailable(
        f"Docker network {name!r} has no IPv4 gateway; remove it ('docker network rm {name}') "
        "and start again so aione can create it"
    )


def image_present(api: docker.DockerClient, image: str) -> bool:
    """True when ``image`` is on this engine (aione never pulls at spawn time)."""
    try:
        api.images.get(image)
    except NotFound:
        return False
    return True


def ensure_volume(api: docker.DockerClient, name: str, labels: dict[str, str]) -> bool:
    """Create the named volume if missing; True when it was created."""
    try:
        api.volumes.get(name)
        return False
    except NotFound:
        api.volumes.create(name, labels=labels)
        return True
