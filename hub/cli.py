"""The ``aione`` command line.

Each subcommand lives in its own module under ``hub/commands`` or
``graders/commands`` and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (a callable taking the parsed ``argparse.Namespace``
and returning an exit code). This module is the only place where domain
errors (:class:`hub.errors.AioneError`) become exit codes and one-line
messages on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from hub.errors import AioneError

#: Modules that provide subcommands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "hub.commands.up",
    "hub.commands.images",
    "graders.commands.curriculum",
    "hub.commands.gpu",
    "graders.commands.grade",
    "hub.commands.cohort",
    "graders.commands.exchange",
    "hub.commands.session",
)

EPILOG = """\
examples:
  aione up --demo                 serve the platform with demo content on http://127.0.0.1:8000
  aione images build              build the learner image (and a local base where no registry answers)
  aione <command> --help          examples for each command
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="aione",
        description="aione: GPU-backed JupyterHub course platform.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aione`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except AioneError as err:
        print(f"aione: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("aione: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
