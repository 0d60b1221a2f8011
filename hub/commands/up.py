"""``aione up``: check the host, prepare state, then run the hub in the foreground."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import docker

from hub import demo, docker_engine, hubconfig
from hub.accounts import AccountStore
from hub.errors import SettingsError
from hub.settings import Settings, load_settings

EPILOG = """\
examples:
  aione up --demo
      serve http://127.0.0.1:8000 with demo accounts (passwords printed once) and demo data
  aione up --config /etc/aione/aione.yaml
      serve with an operator settings file
  aione up --port 9000 --state-dir /srv/aione
      override the port and where state (database, secrets, accounts) lives
stop with Ctrl-C: learners' servers keep running and the hub finds them again at the next start.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    parser = sub.add_parser(
        "up",
        help="run the hub in the foreground",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", help="settings file (default: $AIONE_CONFIG, /etc/aione/aione.yaml)"
    )
    parser.add_argument("--port", type=int, help="public port (default 8000)")
    parser.add_argument("--ip", help="public address (default 127.0.0.1)")
    parser.add_argument("--state-dir", type=Path, help="state directory")
    parser.add_argument("--demo", action="store_true", help="create demo accounts and data")
    parser.add_argument(
        "--reset-demo-passwords",
        action="store_true",
        help="with --demo: give the demo accounts new passwords",
    )
    parser.set_defaults(func=_up)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    found = {
        "hub.port": args.port,
        "hub.ip": args.ip,
        "state_dir": str(args.state_dir) if args.state_dir else None,
    }
    return {k: v for k, v in found.items() if v is not None}


def _up(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    settings = load_settings(args.config, **overrides)
    hubconfig.prepare(settings)
    api = docker_engine.client(settings.spawner.docker_host)
    if not docker_engine.image_present(api, settings.spawner.image):
        raise SettingsError(
            f"the learner image {settings.spawner.image} is not on this Docker engine; "
            "build it with 'aione images build'"
        )
    if args.demo:
        _demo(settings, api, args.reset_demo_passwords)
    env = dict(os.environ)
    if args.config:
        env["AIONE_CONFIG"] = str(Path(args.config).resolve())
    env[hubconfig.OVERRIDES_ENV] = json.dumps(overrides)
    config_file = Path(__file__).resolve().parent.parent / "jupyterhub_config.py"
    print(
        f"aione: serving on http://{settings.hub.ip}:{settings.hub.port} (Ctrl-C stops)", flush=True
    )
    os.chdir(settings.state_dir)
    cmd = [sys.executable, "-m", "jupyterhub", "-f", str(config_file)]
    os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover - execvpe does not return


def _demo(settings: Settings, api: docker.DockerClient, reset: bool) -> None:
    store = AccountStore(settings.state_dir / "accounts.sqlite")
    accounts = demo.ensure_accounts(store, reset=reset)
    demo.ensure_data(api, settings)
    print("aione demo accounts (shown once; stored only hashed):")
    for account in accounts:
        shown = account.password or "(unchanged; --reset-demo-passwords gives a new one)"
        print(f"  {account.username:<16} {shown}")
    print(f"demo data: {settings.spawner.data_mount}/{demo.DATA_FILE} in every learner server")
