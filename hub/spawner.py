"""The learner spawner: one Docker container per learner, on DockerSpawner.

What it adds to DockerSpawner:

- Docker calls run on a pool of ``docker_threads`` threads instead of
  DockerSpawner's single global thread, so one slow call (a large create or a
  stop) does not make every other learner wait (dockerspawner#293).
- The learner's named home volume and the read-only shared data volume are
  set from the settings (see :func:`hub.configure.update_spawner`); named
  volumes are filled from the image, so ``/home/jovyan`` belongs to the
  learner's uid, never to root (dockerspawner#453).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from dockerspawner import DockerSpawner
from traitlets import Dict, Integer


class AioneSpawner(DockerSpawner):
    """DockerSpawner with a thread pool for Docker calls and aione's environment."""

    docker_threads = Integer(
        8,
        help="Threads for Docker API calls, shared by all spawners of this hub.",
    ).tag(config=True)

    aione_environment = Dict(
        help="Extra environment variables for every learner server (e.g. the exchange URL).",
    ).tag(config=True)

    _pool: ClassVar[ThreadPoolExecutor | None] = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """One pool of ``docker_threads`` threads for all learners."""
        cls = type(self)
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="aione-docker")
        return cls._pool

    def get_env(self) -> dict[str, Any]:
        env: dict[str, Any] = super().get_env()
        env.update(self.aione_environment)
        return env
