"""``aione cohort``: import rosters, list, show and expire cohorts on a running hub."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hub import cohorts, docker_engine
from hub.accounts import AccountStore
from hub.cohorts import HubState
from hub.errors import CohortError
from hub.hubapi import client_from_environment
from hub.roster import ProfileCatalog, read_roster
from hub.settings import Settings, load_settings

EPILOG = """\
examples:
  aione cohort import acme.csv --cohort acme-2026 --dry-run
      check every row and print what would change (nothing is changed)
  aione cohort import acme.csv --cohort acme-2026
      create the accounts, groups and gradebook entries; one-time passwords go to a
      file readable only by you (its path is printed), never to the terminal
  aione cohort list
  aione cohort show acme-2026
  aione cohort expire acme-2026
      stop the members' servers and block their sign-in; their files are kept
  aione cohort expire acme-2026 --purge
      also delete the learners' home volumes (asks for the cohort name first)

roster columns (UTF-8 or CP949 CSV, first row is the header):
  username, display_name, email, role (learner|instructor), courses (ids, ';'-separated),
  profile, expires_at (YYYY-MM-DD)
the hub is found from $AIONE_HUB_URL or the settings; the token from $AIONE_API_TOKEN.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "cohort",
        help="import rosters; list, show and expire cohorts",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_help = "settings file (default: $AIONE_CONFIG, /etc/aione/aione.yaml)"
    parser.add_argument("--config", help=config_help)
    # --config also after the action; SUPPRESS keeps an absent one from hiding the first
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    imp = actions.add_parser(
        "import", parents=[common], help="create or update a cohort from a roster CSV"
    )
    imp.add_argument("roster", type=Path, help="roster CSV file")
    imp.add_argument("--cohort", required=True, help="cohort name, e.g. acme-2026")
    imp.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    imp.add_argument(
        "--passwords-file",
        type=Path,
        help="where new one-time passwords go (default: STATE_DIR/passwords/COHORT-TIME.csv)",
    )
    imp.set_defaults(func=_import)

    lst = actions.add_parser("list", parents=[common], help="every cohort with its member counts")
    lst.set_defaults(func=_list)

    show = actions.add_parser("show", parents=[common], help="one cohort's members")
    show.add_argument("name", help="cohort name")
    show.set_defaults(func=_show)

    exp = actions.add_parser(
        "expire", parents=[common], help="stop servers and block sign-in; keep data"
    )
    exp.add_argument("name", help="cohort name")
    exp.add_argument("--purge", action="store_true", help="also delete the learners' home volumes")
    exp.add_argument("--yes", action="store_true", help="with --purge: do not ask")
    exp.set_defaults(func=_expire)


@contextmanager
def _bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """Progress on stderr for large work: a bar at a terminal, else one line per step."""
    from tqdm import tqdm

    if total >= 50 and not sys.stderr.isatty():
        print(f"{label}: {total} ...", file=sys.stderr, flush=True)
    with tqdm(total=total, desc=label, unit="", disable=None if total >= 50 else True) as bar:
        yield bar.update


def _accounts(settings: Settings) -> AccountStore | None:
    if settings.auth.kind != "password":
        return None
    return AccountStore(settings.state_dir / "accounts.sqlite")


def _has_account(settings: Settings, store: AccountStore | None) -> Callable[[str], bool] | None:
    """Whether a user has an embedded account (None: sign-in is through a provider).
    A dry run opens the store only if it exists, so it creates nothing."""
    if settings.auth.kind != "password":
        return None
    if store is None:
        path = settings.state_dir / "accounts.sqlite"
        if not path.exists():
            return lambda username: False
        store = AccountStore(path)
    found = store
    return lambda username: found.get(username) is not None


def _import(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    catalog = ProfileCatalog.from_settings(settings)
    roster = read_roster(args.roster, args.cohort, [c.id for c in settings.courses], catalog)
    store = None if args.dry_run else _accounts(settings)
    has_account = _has_account(settings, store)
    passwords = args.passwords_file or cohorts.default_passwords_file(
        settings.state_dir, args.cohort
    )
    if has_account is not None and passwords.exists():
        raise CohortError(f"the passwords file {passwords} exists; give a new --passwords-file")
    with client_from_environment(settings) as client:
        state = HubState.read(client)
        plan = cohorts.plan_import(roster, state, has_account, settings.state_dir)
        print("\n".join(plan.describe()))
        for note in plan.notes():
            print(f"note: {note}")
        if args.dry_run:
            print("dry run: nothing was changed")
            return 0
        if plan.is_empty:
            return 0
        result = cohorts.apply_import(
            plan, client, store, settings.state_dir, passwords, progress=_bar
        )
    print(
        f"cohort {result.cohort}: {result.users_created} users created, "
        f"{result.memberships_added} memberships added, {result.memberships_removed} removed, "
        f"{result.students_written} gradebook entries written"
    )
    if result.passwords_file:
        print(
            f"{result.accounts_created} one-time passwords written to {result.passwords_file} "
            "(readable only by you); hand each one out privately, then delete the file"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    with client_from_environment(settings) as client:
        summaries = cohorts.summarize(HubState.read(client))
    if not summaries:
        print("no cohorts yet; import one with 'aione cohort import ROSTER.csv --cohort NAME'")
        return 0
    print(f"{'cohort':<28} {'members':>7} {'learners':>8} {'instr.':>6}  status")
    for c in summaries:
        status = f"expired {c.expired_at}" if c.expired_at else "active"
        print(f"{c.name:<28} {c.members:>7} {c.learners:>8} {c.instructors:>6}  {status}")
    return 0


def _cell(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (Hangul takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)


def _show(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    with client_from_environment(settings) as client:
        state = HubState.read(client)
    group = cohorts.require_cohort(state, args.name)
    props = state.properties(group["name"])
    records = state.members(args.name)
    status = f"expired {props['expired_at']}" if props.get("expired_at") else "active"
    print(f"cohort {args.name}: {status}, {len(group.get('users') or [])} members")
    widths = (24, 16, 11, 24, 10, 17)
    header = ("username", "name", "role", "courses", "profile", "expires")
    print("".join(_cell(h, w) for h, w in zip(header, widths, strict=True)) + "server")
    for username in sorted(group.get("users") or []):
        m = records.get(username)
        server = "running" if cohorts.running(state, username) else "-"
        if m is None:
            row = (username, "(from the sign-in provider)", "", "", "", "")
        else:
            row = (
                username,
                m.display_name or "-",
                m.role,
                ";".join(m.courses),
                m.profile or "-",
                m.expires_at or "-",
            )
        print("".join(_cell(v, w) for v, w in zip(row, widths, strict=True)) + server)
    return 0


def _expire(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    with client_from_environment(settings) as client:
        state = HubState.read(client, all_users=True)
        result = cohorts.expire_cohort(client, state, _accounts(settings), args.name)
        print(
            f"cohort {args.name} expired at {result.expired_at}: {len(result.blocked)} members "
            f"blocked, {len(result.stopped)} servers stopped; their files are kept"
        )
        if result.still_active:
            print(
                f"note: {len(result.still_active)} member(s) keep access through another "
                f"cohort or as admins: {', '.join(result.still_active[:10])}"
            )
        if not args.purge:
            return 0
        learners = [u for u in cohorts.learners_of(state, args.name) if u in result.blocked]
        if not learners:
            print("no learner volumes to delete")
            return 0
        if not args.yes and not _confirm(args.name, len(learners)):
            print("not confirmed; no volume was deleted")
            return 1
    api = docker_engine.client(settings.spawner.docker_host)
    deleted = cohorts.purge_volumes(api, settings.spawner.home_volume, learners)
    print(f"deleted {len(deleted)} home volumes of {args.name}'s learners")
    return 0


def _confirm(cohort: str, count: int) -> bool:
    if not sys.stdin.isatty():
        raise CohortError(
            f"--purge deletes the home volumes of {count} learners and cannot be undone; "
            "add --yes to confirm when not at a terminal"
        )
    answer = input(
        f"Delete the home volumes of {count} learners of {cohort}? This cannot be undone.\n"
        f"Type the cohort name ({cohort}) to confirm: "
    )
    return answer.strip() == cohort
