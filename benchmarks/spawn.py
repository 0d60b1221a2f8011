"""Spawn latency and idle memory: aione's hub beside a stock DockerSpawner hub.

Both use the same learner image and the same Node.js proxy, measured in the same run.
For each: N learners spawned one after another, then N at once; a spawn's time runs from
the REST call to the server being ready. Prints one JSON object:

    {"aione": {"p50_s", "p95_s", "failures", "idle_rss_mb"}, "stock": {...}, "n": N}

Usage: .venv/bin/python benchmarks/spawn.py [--n 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hubproc import HubProcess  # noqa: E402

STOCK_CONFIG = Path(__file__).with_name("stock_jupyterhub_config.py")


def timed_spawn(hub: HubProcess, name: str) -> float | None:
    start = time.monotonic()
    try:
        hub.spawn(name, timeout=120)
    except (RuntimeError, TimeoutError):
        return None
    return time.monotonic() - start


def idle_rss_mb(hub: HubProcess) -> float:
    """Mean resident memory of the learner containers' processes (MB), after 5 s idle.

    Read with ``docker top`` (``ps`` on the host), so no process started for the
    measurement (a shell, cat, grep: ~5 MB) is counted."""
    time.sleep(5)
    totals = []
    for container in hub.containers():
        top = container.top(ps_args="-o pid,rss")  # docker top needs the pid column
        rss = top["Titles"].index("RSS")
        totals.append(sum(int(row[rss]) for row in top["Processes"] or []) / 1024)
    return round(statistics.mean(totals), 1) if totals else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


def measure(hub: HubProcess, n: int) -> dict[str, float | int]:
    users = [f"seq{i}" for i in range(n)] + [f"par{i}" for i in range(n)]
    for user in users:
        hub.api("POST", f"/users/{user}")
    times: list[float | None] = [timed_spawn(hub, u) for u in users[:n]]
    with ThreadPoolExecutor(n) as pool:
        times += list(pool.map(lambda u: timed_spawn(hub, u), users[n:]))
    ok = [t for t in times if t is not None]
    return {
        "p50_s": percentile(ok, 0.5) if ok else -1.0,
        "p95_s": percentile(ok, 0.95) if ok else -1.0,
        "failures": len(times) - len(ok),
        "idle_rss_mb": idle_rss_mb(hub),
    }


def run(kind: str, n: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix=f"aione-bench-{kind}-") as tmp:
        hub = HubProcess(Path(tmp), stock_config=STOCK_CONFIG if kind == "stock" else None)
        try:
            hub.start()
            return measure(hub, n)
        finally:
            hub.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="learners per phase")
    args = parser.parse_args()
    result = {"aione": run("aione", args.n), "stock": run("stock", args.n), "n": args.n}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
