"""Cohorts on a running hub: import a checked roster, list, show, expire.

A cohort ``NAME`` is the hub group ``cohort-NAME``. Its properties hold each
member's roster record (``members``: display name, email, role, courses,
profile, expires_at), and ``expired_at`` once expired. A member is also in
the groups their record implies (:meth:`hub.roster.Member.groups`):
``course-C-learners`` or ``course-C-instructors`` for each course, and
``profile-P`` for a profile. A cohort's GPU quota is set in the settings
(``gpu.quotas: {cohort-NAME: 4}``), where the GPU allocator reads it.

Importing is plan then apply. :func:`plan_import` compares the roster with the
hub (two paginated reads), the account store and the gradebooks, and returns
an :class:`ImportPlan` that changes nothing; :func:`apply_import` carries it
out through the hub's REST API (users, groups, group properties), nbgrader's
gradebooks (``<state_dir>/courses/<C>/gradebook.db``) and, with the embedded
authenticator, the account store. Importing the same roster twice gives an
empty plan the second time. A changed row updates that member: their record,
their groups (a group their old record gave and no record of theirs gives any
more is left) and their gradebook entry. Members missing from a roster are
kept and reported, never removed.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from hub.accounts import AccountStore, new_password
from hub.errors import CohortError
from hub.hubapi import HubClient
from hub.rbac import (
    EXPIRED_KEY,
    KIND_KEY,
    MEMBERS_KEY,
    cohort_group,
    cohort_of_group,
    membership_active,
    profile_group,
)
from hub.roster import Member, Roster

log = logging.getLogger(__name__)

USER_CHUNK = 100
MEMBER_CHUNK = 500


class Progress(Protocol):
    """Makes a progress display: ``with progress(label, total) as advance: advance(n)``."""

    def __call__(self, label: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


@contextmanager
def no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A :class:`Progress` that shows nothing."""
    yield lambda n: None


@dataclass
class HubState:
    """Groups of the hub, and users, as read at one moment.

    ``users`` holds every user when read with ``all_users``, else only those
    with a server running or starting; group membership is always complete
    (it comes from the groups).
    """

    users: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    memberships: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, client: HubClient, all_users: bool = False) -> HubState:
        """Read every group and the users (all, or only active ones: see the class)."""
        groups = {g["name"]: g for g in client.groups()}
        users = client.users() if all_users else client.users(state="active")
        memberships: dict[str, set[str]] = {}
        for name, group in groups.items():
            for username in group.get("users") or []:
                memberships.setdefault(username, set()).add(name)
        return cls({u["name"]: u for u in users}, groups, memberships)

    def exists(self, username: str) -> bool:
        """True when the user is known to exist (listed, or in a group)."""
        return username in self.users or username in self.memberships

    def properties(self, group: str) -> dict[str, Any]:
        """The properties of ``group`` ({} when it does not exist)."""
        return dict((self.groups.get(group) or {}).get("properties") or {})

    def members(self, cohort: str) -> dict[str, Member]:
        """The recorded members of ``cohort``."""
        records = self.properties(cohort_group(cohort)).get(MEMBERS_KEY) or {}
        return {name: Member.from_record(name, rec) for name, rec in records.items()}

    def cohorts(self) -> list[str]:
        """Names of every cohort on the hub."""
        return sorted(c for g in self.groups if (c := cohort_of_group(g)))

    def user_groups(self, username: str) -> set[str]:
        """Groups ``username`` is in now."""
        return set(self.memberships.get(username, ()))


@dataclass
class ImportPlan:
    """What importing a roster would change; empty when nothing would."""

    cohort: str
    create_users: list[str] = field(default_factory=list)
    create_groups: list[str] = field(default_factory=list)
    add: dict[str, list[str]] = field(default_factory=dict)
    remove: dict[str, list[str]] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_accounts: list[Member] = field(default_factory=list)
    enrol: dict[str, list[Member]] = field(default_factory=dict)
    new_members: list[str] = field(default_factory=list)
    changed_members: list[str] = field(default_factory=list)
    not_in_roster: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when applying would change nothing."""
        return not (
            self.create_users
            or self.create_groups
            or self.add
            or self.remove
            or self.properties
            or self.new_accounts
            or self.enrol
        )

    def describe(self) -> list[str]:
        """Human-readable lines, one per kind of change."""
        if self.is_empty:
            return [f"cohort {self.cohort}: nothing to change"]
        lines = [f"cohort {self.cohort}:"]
        if self.new_members:
            lines.append(f"  new members: {len(self.new_members)}")
        if self.changed_members:
            lines.append(f"  changed members: {_names(self.changed_members)}")
        if self.create_users:
            lines.append(f"  create hub users: {len(self.create_users)}")
        if self.create_groups:
            lines.append(f"  create groups: {', '.join(self.create_groups)}")
        for group, users in sorted(self.add.items()):
            lines.append(f"  add to {group}: {len(users)}")
        for group, users in sorted(self.remove.items()):
            lines.append(f"  remove from {group}: {_names(users)}")
        if self.properties:
            lines.append(f"  update group properties: {', '.join(sorted(self.properties))}")
        if self.new_accounts:
            lines.append(f"  new accounts with one-time passwords: {len(self.new_accounts)}")
        for course, members in sorted(self.enrol.items()):
            lines.append(f"  enrol or update in the gradebook of {course}: {len(members)}")
        return lines

    def notes(self) -> list[str]:
        """Warnings and members kept although missing from the roster."""
        notes = list(self.warnings)
        if self.not_in_roster:
            notes.append(
                f"{len(self.not_in_roster)} member(s) of {self.cohort} are not in this roster and "
                f"are kept: {_names(self.not_in_roster)}"
            )
        return notes


def _names(names: Sequence[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def course_root(state_dir: Path, course: str) -> Path:
    """The nbgrader course folder of ``course``."""
    return state_dir / "courses" / course


def read_gradebook(state_dir: Path, course: str) -> dict[str, tuple[str, str]]:
    """``{student id: (last name, email)}`` of a course's gradebook ({} when none yet)."""
    path = course_root(state_dir, course) / "gradebook.db"
    if not path.exists():
        return {}
    with _gradebook(state_dir, course) as gb:
        return {s.id: (s.last_name or "", s.email or "") for s in gb.students}


def _gradebook(state_dir: Path, course: str) -> Any:
    from nbgrader.api import Gradebook

    from graders.course import ensure_alembic_on_path

    root = course_root(state_dir, course)
    root.mkdir(parents=True, exist_ok=True)
    ensure_alembic_on_path()
    return Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=course)


def plan_import(
    roster: Roster,
    state: HubState,
    has_account: Callable[[str], bool] | None,
    state_dir: Path,
) -> ImportPlan:
    """Compare ``roster`` with the hub, the embedded accounts (``has_account``;
    None when sign-in is through a provider) and the gradebooks; change nothing."""
    cohort = roster.cohort
    group = cohort_group(cohort)
    plan = ImportPlan(cohort, warnings=list(roster.warnings))
    old = state.members(cohort)
    others = _other_records(state, cohort)
    for m in roster.members:
        if not state.exists(m.username):
            plan.create_users.append(m.username)
        if m.username not in old:
            plan.new_members.append(m.username)
        elif old[m.username] != m:
            plan.changed_members.append(m.username)
        current = state.user_groups(m.username)
        wanted = m.groups(cohort)
        kept = set().union(*(o.groups(c) for c, o in others.get(m.username, [])))
        for g in sorted(wanted - current):
            plan.add.setdefault(g, []).append(m.username)
        if m.username in old:
            for g in sorted((old[m.username].groups(cohort) - wanted - kept) & current):
                plan.remove.setdefault(g, []).append(m.username)
        if has_account is not None and not has_account(m.username):
            plan.new_accounts.append(m)
    in_roster = {m.username for m in roster.members}
    plan.not_in_roster = sorted(set(old) - in_roster)
    plan.create_groups = sorted({group, *plan.add} - set(state.groups))
    _plan_properties(plan, roster, state, old)
    _plan_gradebooks(plan, roster, state_dir)
    return plan


def _other_records(state: HubState, cohort: str) -> dict[str, list[tuple[str, Member]]]:
    records: dict[str, list[tuple[str, Member]]] = {}
    for other in state.cohorts():
        if other != cohort:
            for name, member in state.members(other).items():
                records.setdefault(name, []).append((other, member))
    return records


def _plan_properties(
    plan: ImportPlan,
    roster: Roster,
    state: HubState,
    old: Mapping[str, Member],
) -> None:
    group = cohort_group(roster.cohort)
    before = state.properties(group)
    records = {name: m.record() for name, m in old.items()}
    records.update({m.username: m.record() for m in roster.members})
    after = {**before, KIND_KEY: "cohort", "cohort": roster.cohort, MEMBERS_KEY: records}
    if after != before:
        plan.properties[group] = after
    for profile in sorted({m.profile for m in roster.members if m.profile}):
        pgroup = profile_group(profile)
        wanted = {KIND_KEY: "profile", "profile": profile}
        if state.properties(pgroup) != wanted:
            plan.properties[pgroup] = wanted
            if pgroup not in state.groups and pgroup not in plan.create_groups:
                plan.create_groups.append(pgroup)


def _plan_gradebooks(plan: ImportPlan, roster: Roster, state_dir: Path) -> None:
    learners = [m for m in roster.members if m.role == "learner"]
    for course in sorted({c for m in learners for c in m.courses}):
        students = read_gradebook(state_dir, course)
        changed = [
            m
            for m in learners
            if course in m.courses and students.get(m.username) != (m.display_name, m.email)
        ]
        if changed:
            plan.enrol[course] = changed


@dataclass(frozen=True)
class ImportResult:
    """What :func:`apply_import` did."""

    cohort: str
    users_created: int
    memberships_added: int
    memberships_removed: int
    students_written: int
    accounts_created: int
    passwords_file: Path | None


def apply_import(
    plan: ImportPlan,
    client: HubClient,
    store: AccountStore | None,
    state_dir: Path,
    passwords_file: Path | None = None,
    progress: Progress = no_progress,
) -> ImportResult:
    """Carry out ``plan``. New accounts' one-time passwords are written to
    ``passwords_file`` (created 0600, never overwritten; required when the plan
    has new accounts) before they are stored, and never logged.

    Raises :class:`~hub.errors.HubAPIError` when the hub refuses a request
    (what was done stays done; importing again completes it) and
    :class:`CohortError` when the passwords file cannot be written.
    """
    if plan.new_accounts and (store is None or passwords_file is None):
        raise CohortError("new accounts need an account store and a passwords file")
    _create_users(client, plan.create_users, progress)
    add = {g: list(u) for g, u in plan.add.items()}
    added = sum(len(u) for u in add.values())
    with progress("group members", added) as advance:
        for group in plan.create_groups:
            users = add.pop(group, [])
            client.create_group(group, users)
            advance(len(users))
        for group, users in sorted(add.items()):
            for chunk in _chunks(users, MEMBER_CHUNK):
                client.add_group_users(group, chunk)
                advance(len(chunk))
    for group, users in sorted(plan.remove.items()):
        client.remove_group_users(group, users)
    for group, props in sorted(plan.properties.items()):
        client.set_group_properties(group, props)
    students = _write_gradebooks(plan.enrol, state_dir, progress)
    written = None
    if plan.new_accounts:
        assert store is not None and passwords_file is not None
        written = create_accounts(store, plan.new_accounts, passwords_file, progress)
    log.info("Imported cohort %s", plan.cohort)
    return ImportResult(
        cohort=plan.cohort,
        users_created=len(plan.create_users),
        memberships_added=added,
        memberships_removed=sum(len(u) for u in plan.remove.values()),
        students_written=students,
        accounts_created=len(plan.new_accounts),
        passwords_file=written,
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _create_users(client: HubClient, names: Sequence[str], progress: Progress) -> None:
    with progress("hub users", len(names)) as advance:
        for chunk in _chunks(names, USER_CHUNK):
            client.create_users(chunk)
            advance(len(chunk))


def _write_gradebooks(
    enrol: Mapping[str, Sequence[Member]], state_dir: Path, progress: Progress
) -> int:
    from nbgrader.api import Student

    total = sum(len(m) for m in enrol.values())
    with progress("gradebook entries", total) as advance:
        for course, members in sorted(enrol.items()):
            with _gradebook(state_dir, course) as gb:
                existing = {s.id: s for s in gb.db.query(Student).all()}
                for m in members:
                    student = existing.get(m.username)
                    if student is None:
                        gb.db.add(Student(id=m.username, last_name=m.display_name, email=m.email))
                    else:
                        student.last_name, student.email = m.display_name, m.email
                gb.db.commit()
            advance(len(members))
    return total


def default_passwords_file(state_dir: Path, cohort: str) -> Path:
    """``<state_dir>/passwords/<cohort>-<UTC time>.csv``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir / "passwords" / f"{cohort}-{stamp}.csv"


def create_accounts(
    store: AccountStore, members: Sequence[Member], path: Path, progress: Progress = no_progress
) -> Path:
    """Give each member a one-time password: write them all to ``path``
    (0600, refused if it exists), then store the hashes (in parallel
    processes: hashing is deliberately slow). Returns ``path``."""
    passwords = [(m, new_password()) for m in members]
    _write_passwords(path, passwords)
    jobs = [(str(store.path), m.username, pw) for m, pw in passwords]
    with progress("one-time passwords", len(jobs)) as advance:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for _ in pool.map(_store_password, jobs, chunksize=8):
                advance(1)
    return path


def _write_passwords(path: Path, passwords: Sequence[tuple[Member, str]]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise CohortError(
            f"cannot create the passwords file {path} ({err.strerror}); "
            "give a new path with --passwords-file"
        ) from err
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["username", "display_name", "one_time_password"])
        for member, password in passwords:
            writer.writerow([member.username, member.display_name, password])


def _store_password(job: tuple[str, str, str]) -> None:
    path, username, password = job
    AccountStore(Path(path)).set_password(username, password, must_change=True)


# --- list, show, expire -------------------------------------------------------


@dataclass(frozen=True)
class CohortSummary:
    """One cohort as ``aione cohort list`` shows it."""

    name: str
    learners: int
    instructors: int
    members: int
    expired_at: str | None


def summarize(state: HubState) -> list[CohortSummary]:
    """Every cohort with its member counts."""
    result = []
    for name in state.cohorts():
        group = state.groups[cohort_group(name)]
        records = state.members(name)
        roles = [m.role for m in records.values()]
        result.append(
            CohortSummary(
                name=name,
                learners=roles.count("learner"),
                instructors=roles.count("instructor"),
                members=len(group.get("users") or []),
                expired_at=state.properties(cohort_group(name)).get(EXPIRED_KEY),
            )
        )
    return result


def require_cohort(state: HubState, cohort: str) -> dict[str, Any]:
    """The cohort's group; raises :class:`CohortError` when there is none."""
    group = state.groups.get(cohort_group(cohort))
    if group is None:
        known = ", ".join(state.cohorts()) or "none yet"
        raise CohortError(
            f"there is no cohort {cohort!r} (cohorts: {known}); see 'aione cohort list'"
        )
    return group


def running(state: HubState, username: str) -> bool:
    """True when ``username`` has a server running or starting."""
    return bool((state.users.get(username) or {}).get("servers"))


@dataclass(frozen=True)
class ExpireResult:
    """What :func:`expire_cohort` did."""

    cohort: str
    expired_at: str
    blocked: list[str]
    stopped: list[str]
    still_active: list[str]


def expire_cohort(
    client: HubClient,
    state: HubState,
    store: AccountStore | None,
    cohort: str,
    now: datetime | None = None,
) -> ExpireResult:
    """End ``cohort`` (``state`` read with ``all_users``): mark it expired, block sign-in (embedded accounts) and
    stop the servers of members who have no other active cohort (waiting
    until they are stopped); keep all data. Idempotent: a second call keeps
    the first ``expired_at``. Raises :class:`CohortError` when a server does
    not stop in time.
    """
    group = require_cohort(state, cohort)
    name = cohort_group(cohort)
    props = state.properties(name)
    stamp = props.get(EXPIRED_KEY) or (now or datetime.now(UTC)).isoformat(timespec="seconds")
    if props.get(EXPIRED_KEY) != stamp:
        props[EXPIRED_KEY] = stamp
        client.set_group_properties(name, props)
        state.groups[name] = {**group, "properties": props}
    blocked, stopped, active = [], [], []
    for username in sorted(group.get("users") or []):
        user = state.users.get(username) or {}
        groups = [(g, state.properties(g)) for g in state.user_groups(username)]
        if user.get("admin") or membership_active(username, groups, now):
            active.append(username)
            continue
        if store is not None and store.get(username) is not None:
            store.set_blocked(username, True)
        blocked.append(username)
        if running(state, username):
            client.stop_server(username)
            stopped.append(username)
    wait_stopped(client, stopped)
    return ExpireResult(cohort, stamp, blocked, stopped, active)


def wait_stopped(client: HubClient, usernames: Sequence[str], timeout: float = 120) -> None:
    """Wait until none of ``usernames`` has a server; raises CohortError after ``timeout``."""
    deadline = time.monotonic() + timeout
    pending = list(usernames)
    while pending:
        pending = [u for u in pending if (client.user(u) or {}).get("servers")]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise CohortError(
                f"servers of {_names(pending)} did not stop in {timeout:.0f} s; "
                "check 'docker ps' and run the command again"
            )
        time.sleep(1)


def learners_of(state: HubState, cohort: str) -> list[str]:
    """Members of ``cohort`` who are learners: recorded as such, or unrecorded
    and instructor of no course."""
    group = require_cohort(state, cohort)
    records = state.members(cohort)
    result = []
    for username in sorted(group.get("users") or []):
        record = records.get(username)
        if record is not None:
            if record.role == "learner":
                result.append(username)
        elif not any(g.endswith("-instructors") for g in state.user_groups(username)):
            result.append(username)
    return result


def purge_volumes(docker_client: Any, volume_template: str, usernames: Sequence[str]) -> list[str]:
    """Delete the home volumes of ``usernames`` (named as the spawner names
    them); returns the names deleted. Volumes already gone are skipped."""
    from docker.errors import NotFound
    from dockerspawner import DockerSpawner

    deleted = []
    for username in usernames:
        name = volume_template.format(username=DockerSpawner._escape(username))
        try:
            docker_client.volumes.get(name).remove()
        except NotFound:
            continue
        deleted.append(name)
        log.info("Deleted volume %s", name)
    return deleted
