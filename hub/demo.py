"""Demo content for ``aione up --demo``: accounts and an example data set.

The demo instructor and two demo learners get random passwords, returned once
to the caller (the CLI prints them) and stored only hashed. The shared data
volume gets a small, seeded example data set (``demo/factory_sensors.csv``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import random
import tarfile
import time
from dataclasses import dataclass

import docker

from hub.accounts import AccountStore, new_password
from hub.settings import Settings

log = logging.getLogger(__name__)

DEMO_USERS = ("demo-instructor", "demo-learner1", "demo-learner2")
DATA_FILE = "demo/factory_sensors.csv"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str | None  # None: the account existed and keeps its password


def ensure_accounts(store: AccountStore, reset: bool = False) -> list[DemoAccount]:
    """Create the demo accounts (or give them new passwords when ``reset``)."""
    result = []
    for name in DEMO_USERS:
        if store.get(name) is not None and not reset:
            result.append(DemoAccount(name, None))
            continue
        password = new_password()
        store.set_password(name, password, must_change=False)
        result.append(DemoAccount(name, password))
    return result


def sensor_csv(seed: int = 7, machines: int = 5, hours: int = 72) -> bytes:
    """Hourly temperature and vibration of a few machines, with a drift before a fault."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["machine", "hour", "temperature_c", "vibration_mm_s", "fault"])
    for m in range(1, machines + 1):
        fault_at = rng.randint(hours // 2, hours - 1) if m % 2 else None
        for h in range(hours):
            drift = max(0, h - fault_at + 12) * 0.4 if fault_at else 0.0
            temp = 60 + 5 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 0.8) + drift
            vib = 2.0 + rng.gauss(0, 0.15) + drift * 0.1
            writer.writerow([f"M{m:02d}", h, f"{temp:.2f}", f"{vib:.3f}", int(h == fault_at)])
    return out.getvalue().encode()


def ensure_data(api: docker.DockerClient, s: Settings) -> None:
    """Write the example data set into the shared data volume (idempotent)."""
    files = {
        DATA_FILE: sensor_csv(),
        "demo/README.txt": b"Demo data of aione: hourly sensor readings of five machines.\n",
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    container = api.containers.create(
        s.spawner.image,
        command=["true"],
        user="root",
        volumes={s.spawner.data_volume: {"bind": "/data", "mode": "rw"}},
        labels={"aione.role": "demo-loader"},
        entrypoint=[],
    )
    try:
        container.put_archive("/data", archive.getvalue())
    finally:
        container.remove(force=True)
    log.info("Demo data set written to volume %s", s.spawner.data_volume)
