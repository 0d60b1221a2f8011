"""``aione gpu``: who holds which GPU, and how much of each cohort's quota is used."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.gpu import GpuStatus, GpuUse, read_status
from hub.settings import default_state_dir

STATE_FILE_NAME = "gpu-allocations.sqlite"

EPILOG = """\
examples:
  aione gpu status
      every GPU with its model, memory, learner and since when; each cohort's
      quota and use (state: $AIONE_STATE_DIR, else /var/lib/aione as root,
      else ~/.local/state/aione)
  aione gpu status --json
      the same as JSON, for scripts and monitoring
  sudo aione gpu status --state-dir /var/lib/aione
      read the hub's state where the hub keeps it
  aione gpu status --state-file /srv/aione/gpu.sqlite
      when the settings set gpu.state_file
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "gpu",
        help="GPU allocations and cohort quotas",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_subparsers(dest="gpu_command", metavar="ACTION", required=True)
    status = action.add_parser(
        "status",
        help="show every GPU, who holds it since when, and quota use per cohort",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    where = status.add_mutually_exclusive_group()
    where.add_argument("--state-dir", type=Path, metavar="DIR", help=f"read DIR/{STATE_FILE_NAME}")
    where.add_argument("--state-file", type=Path, metavar="FILE", help="read this state file")
    status.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    path = args.state_file or (args.state_dir or default_state_dir()) / STATE_FILE_NAME
    status = read_status(path)
    if args.json:
        print(json.dumps(status.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_status(status, datetime.now(UTC)))
    return 0


def format_status(status: GpuStatus, now: datetime) -> str:
    """The two tables ``aione gpu status`` prints: GPUs, then quotas."""
    gpu_rows = [["GPU", "MODEL", "MEMORY", "LEARNER", "COHORT", "SINCE"]]
    gpu_rows += [_gpu_row(use, now) for use in status.gpus]
    lines = _table(gpu_rows)
    if not status.gpus:
        lines.append("(no GPU in the inventory)")
    lines.append("")
    if status.quotas:
        quota_rows = [["COHORT", "IN USE", "QUOTA"]]
        quota_rows += [[q.group, str(q.in_use), str(q.limit)] for q in status.quotas]
        lines += _table(quota_rows)
    else:
        lines.append("no cohort quotas (gpu.quotas is empty): GPUs are not capped per cohort")
    return "\n".join(lines)


def _gpu_row(use: GpuUse, now: datetime) -> list[str]:
    device = use.device
    gpu = device.label + ("" if use.present else " (gone)")
    learner = "-"
    if use.user is not None:
        learner = use.user + (f"/{use.server}" if use.server else "")
        if use.mode == "shared":
            learner += " (shared)"
    since = "-"
    if use.since is not None:
        since = f"{use.since.astimezone().strftime('%Y-%m-%d %H:%M')} ({_ago(now - use.since)})"
    return [
        gpu,
        device.name,
        f"{device.memory_mib / 1024:.0f} GiB",
        learner,
        use.cohort or "-",
        since,
    ]


def _ago(delta: timedelta) -> str:
    hours, rest = divmod(max(int(delta.total_seconds()), 0), 3600)
    if hours >= 24:
        return f"{hours // 24}d {hours % 24}h ago"
    return f"{hours}h {rest // 60}m ago" if hours else f"{rest // 60}m ago"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
