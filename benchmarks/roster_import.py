"""Importing a large roster into a real hub: time and REST calls.

Starts an aione hub (its own state, ports and Docker objects), writes a roster
of N learners (Korean names, two courses, an expiry date) and imports it three
times through :mod:`hub.cohorts`, as ``aione cohort import`` does: once new,
once unchanged, once with 10 rows changed. Prints one JSON object:

    {"learners": N, "first": {"seconds", "api_calls", "phases": {...}},
     "second": {...}, "ten_changed": {...}}

``phases`` splits the time: reading and checking the roster, reading the hub
and planning, hub writes, gradebook writes, one-time passwords (scrypt hashing,
deliberately slow, spread over the CPU cores).

Usage: .venv/bin/python benchmarks/roster_import.py [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import cohorts  # noqa: E402
from hub.accounts import AccountStore  # noqa: E402
from hub.hubapi import HubClient  # noqa: E402
from hub.roster import ProfileCatalog, read_roster  # noqa: E402
from hub.settings import load_settings  # noqa: E402
from tests.hubproc import HubProcess  # noqa: E402

COURSES = ["mfg-2026", "ai-basics"]
FAMILY = "김이박최정강조윤장임"
GIVEN = ["민수", "서연", "지훈", "하은", "도윤", "수아", "예준", "지우", "시우", "서윤"]


def write_roster(path: Path, n: int, changed: int = 0) -> None:
    lines = ["username,display name,email,role,courses,profile,expires_at"]
    for i in range(n):
        name = FAMILY[i % 10] + GIVEN[(i // 10) % 10]
        course = COURSES[i % 2] if i >= changed else ";".join(COURSES)
        lines.append(
            f"learner{i:04d},{name},learner{i:04d}@example.com,learner,{course},,2030-12-31"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


class Phases:
    """Wall time per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, label: str, total: int = 0) -> Iterator[Callable[[int], None]]:
        start = time.perf_counter()
        yield lambda n: None
        self.seconds[label] = round(self.seconds.get(label, 0.0) + time.perf_counter() - start, 3)


def import_once(hub: HubProcess, roster: Path, run: str) -> dict[str, Any]:
    settings = load_settings(hub.config)
    store = AccountStore(settings.state_dir / "accounts.sqlite")
    phases = Phases()
    start = time.perf_counter()
    with HubClient(hub.url, hub.token) as client:
        with phases("check roster"):
            checked = read_roster(roster, "bench", COURSES, ProfileCatalog.from_settings(settings))
        with phases("read hub and plan"):
            state = cohorts.HubState.read(client)
            plan = cohorts.plan_import(
                checked, state, lambda u: store.get(u) is not None, settings.state_dir
            )
        if not plan.is_empty:
            cohorts.apply_import(
                plan,
                client,
                store,
                settings.state_dir,
                roster.with_name(f"passwords-{run}.csv"),
                progress=phases,
            )
        calls = client.calls
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "api_calls": calls,
        "plan_empty": plan.is_empty,
        "changed_members": len(plan.changed_members),
        "phases": phases.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="learners in the roster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aione-bench-") as tmp:
        hub = HubProcess(Path(tmp), {"courses": [{"id": c} for c in COURSES]})
        try:
            hub.start()
            roster = Path(tmp) / "roster.csv"
            write_roster(roster, args.n)
            first = import_once(hub, roster, "first")
            second = import_once(hub, roster, "second")
            write_roster(roster, args.n, changed=10)
            ten = import_once(hub, roster, "ten")
        finally:
            hub.cleanup()
    print(json.dumps({"learners": args.n, "first": first, "second": second, "ten_changed": ten}))


if __name__ == "__main__":
    main()
