"""A whole class starts at once: aione (a scheduled session) beside a stock DockerSpawner hub.

Both hubs use the same learner image and the same Node.js proxy, measured in the same run,
one after the other. For each:

- single: one learner asks for their server (REST, their own token) and waits until it
  answers through the proxy; ``--repeats`` times (stopped in between): p50 and p95 seconds;
- class: ``--class-size`` learners arrive spread evenly over ``--spread`` seconds; each asks
  for their server, waits until it is ready, opens a kernel and runs a cell through the
  kernel websocket (tests/kernel.py). Failures, and p50/p95 seconds to the cell's result.
  aione: the learners are a cohort with a scheduled session whose lead time has the
  aione-sessions service start their servers first (the aione way); the learners arrive
  at the session's start. Stock: a plain spawn when they arrive;
- idle_rss_mb: mean resident memory of an idle learner container's processes afterwards;
- api_p95_ms: GET /hub/api/users/<u> latency sampled every 0.5 s during the class phase
  (for aione from the scheduling on, so the pre-start is included);
- scheduled_wait_s (aione): median seconds from a learner's spawn request to a ready server.

aione runs with ``spawner.max_servers`` set to the class size + 5 (its default capacity,
90% of memory / 512 MiB, is ~43 servers on 24 GiB).
The session's start is set from the single-start time measured first:
ceil(N / cores) x p50 x 1.5 + 15 s ahead (``prestart_s`` says how long the pre-start took,
``lead_s`` what was given). Prints one JSON object.

Usage: .venv/bin/python benchmarks/class_start.py [--class-size 60] [--repeats 5]
Memory: each idle learner server takes ~115 MB; 60 learners stay well under 24 GiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.spawn import idle_rss_mb, percentile  # noqa: E402
from hub.sessions import STARTING, SessionStore  # noqa: E402
from tests.hubproc import HubProcess  # noqa: E402
from tests.kernel import run_code  # noqa: E402

STOCK_CONFIG = Path(__file__).with_name("stock_jupyterhub_config.py")
CELL, RESULT = "sum(range(10))", "45"
READY_TIMEOUT = 300.0


@dataclass
class Arrival:
    """One learner of the class: seconds to a ready server and to the cell's result."""

    ok: bool
    ready_s: float = 0.0
    result_s: float = 0.0
    error: str = ""


def wait_ready(hub: HubProcess, user: str, token: str, timeout: float = READY_TIMEOUT) -> None:
    """Wait until ``user``'s server is ready (polling their own model every second).
    Raises RuntimeError when the spawn failed, TimeoutError when it takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = hub.request("GET", f"/hub/api/users/{user}", token)
        server = json.loads(body)["servers"].get("") if status == 200 else None
        if server and server["ready"]:
            return
        if status == 200 and not (server and server.get("pending")):
            raise RuntimeError(f"{user}'s spawn failed")
        time.sleep(1.0)
    raise TimeoutError(f"{user}'s server not ready in {timeout} s")


def learner_start(hub: HubProcess, user: str, token: str) -> None:
    """What a learner's "start" does: ask for the server, wait until it is ready."""
    status, body = hub.request("POST", f"/hub/api/users/{user}/server", token)
    if status not in (201, 202) and b"already running" not in body:
        try:
            message = json.loads(body).get("message", "")
        except ValueError:
            message = body[:200].decode(errors="replace")
        raise RuntimeError(f"spawn request of {user}: {status} {message}")
    wait_ready(hub, user, token)


def single(hub: HubProcess, user: str, token: str, repeats: int) -> tuple[list[float], int]:
    """Seconds from one learner's spawn request to their server answering, ``repeats``
    times (stopped in between); returns the times of the starts that worked and the
    number that failed (whose reason goes to stderr)."""
    times, failures = [], 0
    for _ in range(repeats):
        began = time.monotonic()
        try:
            learner_start(hub, user, token)
            status, _ = hub.request("GET", f"/user/{user}/api/status", token)
            if status != 200:
                raise RuntimeError(f"{user}'s ready server answered {status}")
            times.append(time.monotonic() - began)
        except (RuntimeError, TimeoutError) as err:
            failures += 1
            progress(f"single start failed: {err}")
        if hub.api("GET", f"/users/{user}")["servers"]:
            hub.stop_server(user)
        wait_container_gone(hub, user)
    return times, failures


def wait_container_gone(hub: HubProcess, user: str, timeout: float = 60) -> None:
    """Wait until the stopped server's container is removed: DockerSpawner removes it
    after the hub reports the stop, and a start before that fails with a name conflict
    (409), which is not what a learner arriving at a class meets."""
    name = f"{hub.prefix}-{user}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = hub.docker.containers.list(all=True, filters={"name": name})
        if not [c for c in found if c.name == name or c.name.startswith(f"{name}--")]:
            return
        time.sleep(0.5)
    raise TimeoutError(f"container {name} still there {timeout} s after its stop")


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[class_start {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arrive(hub: HubProcess, user: str, token: str, at: float) -> Arrival:
    """One learner arriving at monotonic time ``at``: start, kernel, one cell."""
    time.sleep(max(0.0, at - time.monotonic()))
    began = time.monotonic()
    try:
        learner_start(hub, user, token)
        ready = time.monotonic() - began
        result = asyncio.run(run_code(hub, user, token, CELL, timeout=120))
        if result != RESULT:
            return Arrival(False, error=f"cell gave {result!r}")
    except Exception as err:  # every failure of a learner is a data point, not a crash
        return Arrival(False, error=f"{type(err).__name__}: {err}"[:300])
    return Arrival(True, ready, time.monotonic() - began)


class Sampler(threading.Thread):
    """GET /hub/api/users/<user> every 0.5 s until stopped; keeps the latencies (ms)."""

    def __init__(self, hub: HubProcess, user: str) -> None:
        super().__init__(daemon=True)
        self.hub, self.user = hub, user
        self.ms: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            began = time.monotonic()
            try:
                self.hub.api("GET", f"/users/{self.user}")
                self.ms.append((time.monotonic() - began) * 1000)
            except OSError:
                self.ms.append(30_000.0)  # no answer within the client's timeout
            self.done.wait(0.5)


def schedule_session(hub: HubProcess, users: list[str], starts_in: float) -> tuple[int, float]:
    """Make the class a cohort and schedule its session ``starts_in`` seconds from now,
    with a lead time covering now. Returns (session id, monotonic time of the start)."""
    hub.api("POST", "/groups/cohort-bench", {"users": users})
    store = SessionStore(hub.state_dir / "sessions.sqlite")
    now = datetime.now(UTC)
    starts_at = now + timedelta(seconds=starts_in)
    session = store.add(
        "bench", starts_at, starts_at + timedelta(hours=1), timedelta(seconds=starts_in + 30)
    )
    return session.id, time.monotonic() + starts_in


def wait_prestarted(hub: HubProcess, session_id: int, until: float) -> float | None:
    """Seconds until the service had tried every member's start (None: not by ``until``)."""
    store = SessionStore(hub.state_dir / "sessions.sqlite")
    began = time.monotonic()
    while time.monotonic() < until:
        if store.get(session_id).state not in ("scheduled", STARTING):
            return round(time.monotonic() - began, 1)
        time.sleep(0.5)
    return None


def class_phase(
    hub: HubProcess, tokens: dict[str, str], spread: float, sampler: Sampler, start_at: float
) -> list[Arrival]:
    """Every learner of ``tokens`` arrives between ``start_at`` and ``start_at + spread``."""
    users = sorted(tokens)
    step = spread / max(len(users) - 1, 1)
    with ThreadPoolExecutor(len(users)) as pool:
        futures = [
            pool.submit(arrive, hub, u, tokens[u], start_at + i * step) for i, u in enumerate(users)
        ]
        arrivals = [f.result() for f in futures]
    sampler.done.set()
    return arrivals


def measure(kind: str, hub: HubProcess, n: int, repeats: int, spread: float) -> dict[str, Any]:
    users = [f"learner{i:03d}" for i in range(n)]
    solo = hub.create_user("solo")
    tokens = {u: hub.create_user(u) for u in users}
    progress(f"{kind}: {repeats} single starts")
    singles, single_failures = single(hub, "solo", solo, repeats)
    if not singles:
        raise RuntimeError(f"{kind}: every single start failed; see the log above")
    sampler = Sampler(hub, "solo")
    extra: dict[str, Any] = {}
    if kind == "aione":
        cores = os.cpu_count() or 1
        starts_in = math.ceil(n / cores) * statistics.median(singles) * 1.5 + 15
        progress(f"aione: session of {n} starts in {starts_in:.0f} s")
        sampler.start()
        session_id, start_at = schedule_session(hub, users, starts_in)
        extra["lead_s"] = round(starts_in, 1)
        extra["prestart_s"] = wait_prestarted(hub, session_id, start_at)
    else:
        start_at = time.monotonic() + 1
        sampler.start()
    progress(f"{kind}: the class arrives")
    arrivals = class_phase(hub, tokens, spread, sampler, start_at)
    ok = [a for a in arrivals if a.ok]
    result: dict[str, Any] = {
        "single_p50_s": percentile(singles, 0.5),
        "single_p95_s": percentile(singles, 0.95),
        "class_failures": len(arrivals) - len(ok),
        "class_p50_s": percentile([a.result_s for a in ok], 0.5) if ok else -1.0,
        "class_p95_s": percentile([a.result_s for a in ok], 0.95) if ok else -1.0,
        "idle_rss_mb": idle_rss_mb(hub),
        "api_p95_ms": round(percentile(sampler.ms, 0.95), 1) if sampler.ms else -1.0,
        "single_failures": single_failures,
    }
    if kind == "aione":
        waits = [a.ready_s for a in ok]
        result["scheduled_wait_s"] = round(statistics.median(waits), 2) if waits else -1.0
    errors = sorted({a.error for a in arrivals if not a.ok})
    return {**result, **extra, **({"errors": errors[:5]} if errors else {})}


def run(kind: str, n: int, repeats: int, spread: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"aione-bench-{kind}-") as tmp:
        if kind == "stock":
            hub = HubProcess(Path(tmp), stock_config=STOCK_CONFIG)
        else:
            # aione's default capacity (90% of the host's memory / 512 MiB) is ~43 on
            # 24 GiB; an operator sizing the host for a class of 60 sets
            # spawner.max_servers (idle servers take ~115 MB each).
            hub = HubProcess(Path(tmp), {"spawner": {"max_servers": n + 5}})
        try:
            hub.start(timeout=180)
            result = measure(kind, hub, n, repeats, spread)
            progress(f"{kind}: {json.dumps(result)}")
            return result
        except Exception:
            progress(f"{kind} failed; the hub's log ends:\n{hub.log()[-6000:]}")
            raise
        finally:
            cleanup(hub)


def cleanup(hub: HubProcess, tries: int = 3) -> None:
    """Remove the hub and its containers, volumes and network; a Docker engine under
    load may time out, so try again a few times."""
    for attempt in range(1, tries + 1):
        try:
            hub.cleanup()
            return
        except OSError as err:  # requests' and docker's errors are OSErrors
            if attempt == tries:
                raise
            progress(f"cleanup of {hub.prefix} failed ({err}); trying again")
            time.sleep(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=60, help="learners in the class")
    parser.add_argument("--repeats", type=int, default=5, help="single-learner starts")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds the class arrives in")
    args = parser.parse_args()
    if args.class_size < 1 or args.repeats < 1:
        parser.error("--class-size and --repeats must be at least 1")
    load = os.getloadavg()[0]
    result = {
        "aione": run("aione", args.class_size, args.repeats, args.spread),
        "stock": run("stock", args.class_size, args.repeats, args.spread),
        "class_size": args.class_size,
        "repeats": args.repeats,
        "spread_s": args.spread,
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(load, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
