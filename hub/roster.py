"""Cohort rosters: read a CSV file, check every row, return the members.

A roster has a header row and one row per person. Columns (English or Korean
headers; order free):

==============  ==========================  ==================================
column          Korean header               value
==============  ==========================  ==================================
username        아이디                      required; lowercase, e.g. kim.minsu
display_name    이름                        e.g. 김민수
email           이메일                      e.g. minsu@example.com
role            역할                        required; learner (학습자, 교육생)
                                            or instructor (강사)
courses         과정                        required; course ids, separated
                                            by ``;``, ``,`` or spaces
profile         프로필                      a resource profile name
expires_at      만료일                      YYYY-MM-DD (through that day) or
                                            YYYY-MM-DDTHH:MM
==============  ==========================  ==================================

The file may be UTF-8 (with or without a byte-order mark) or CP949 (what
Korean Excel writes for "CSV"); anything else is refused with a message
saying so. :func:`read_roster` checks every row before returning and raises
one :class:`~hub.errors.RosterError` listing every problem with its line
number, so nothing is ever applied from a roster with an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import RosterError
from hub.rbac import COHORT_NAME_RE, cohort_group, parse_expiry, profile_group
from hub.roles import instructor_group, learner_group

if TYPE_CHECKING:
    from hub.settings import Settings

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COLUMNS = ("username", "display_name", "email", "role", "courses", "profile", "expires_at")
REQUIRED = ("username", "role", "courses")
_HEADER_ALIASES = {
    "user": "username",
    "user_name": "username",
    "login": "username",
    "name": "display_name",
    "display": "display_name",
    "course": "courses",
    "expires": "expires_at",
    "expiry": "expires_at",
    "아이디": "username",
    "사용자명": "username",
    "이름": "display_name",
    "이메일": "email",
    "역할": "role",
    "과정": "courses",
    "프로필": "profile",
    "만료일": "expires_at",
}
_ROLES = {
    "learner": "learner",
    "student": "learner",
    "학습자": "learner",
    "교육생": "learner",
    "instructor": "instructor",
    "강사": "instructor",
}
MAX_SHOWN = 30


@dataclass(frozen=True)
class Member:
    """One person of a cohort, as the roster says."""

    username: str
    role: str
    courses: tuple[str, ...]
    display_name: str = ""
    email: str = ""
    profile: str = ""
    expires_at: str = ""

    def record(self) -> dict[str, Any]:
        """The JSON record kept in the cohort group's properties."""
        return {
            "display_name": self.display_name,
            "email": self.email,
            "role": self.role,
            "courses": list(self.courses),
            "profile": self.profile,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_record(cls, username: str, record: Mapping[str, Any]) -> Member:
        """The member stored by :meth:`record`."""
        return cls(
            username=username,
            role=str(record.get("role", "learner")),
            courses=tuple(record.get("courses") or ()),
            display_name=str(record.get("display_name") or ""),
            email=str(record.get("email") or ""),
            profile=str(record.get("profile") or ""),
            expires_at=str(record.get("expires_at") or ""),
        )

    def groups(self, cohort: str) -> set[str]:
        """The hub groups this member belongs to through ``cohort``."""
        to_group = instructor_group if self.role == "instructor" else learner_group
        groups = {cohort_group(cohort), *(to_group(c) for c in self.courses)}
        if self.profile:
            groups.add(profile_group(self.profile))
        return groups


@dataclass(frozen=True)
class ProfileCatalog:
    """Profile names a roster may use: the groups each is open to (None:
    everyone) and the groups it is preselected for."""

    open_to: Mapping[str, tuple[str, ...] | None]
    preselected_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default: str = "default"
    note: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> ProfileCatalog:
        """The profiles of ``settings`` (:meth:`~hub.settings.Settings.resource_profiles`)."""
        section = settings.resource_profiles()
        note = (
            ""
            if settings.profiles is not None
            else "the settings have no profiles section, so only the profile 'default' exists"
        )
        return cls(
            open_to={p.name: (tuple(p.groups) or None) for p in section.profiles},
            preselected_for={p.name: tuple(p.default_for) for p in section.profiles},
            default=section.default,
            note=note,
        )


@dataclass(frozen=True)
class Roster:
    """A checked roster: its members in file order, and warnings (not errors)."""

    cohort: str
    source: str
    members: tuple[Member, ...]
    warnings: tuple[str, ...] = field(default=())


def decode_roster(data: bytes, source: str) -> str:
    """The text of a roster file in UTF-8 (BOM or not) or CP949.

    Raises :class:`RosterError` naming the encoding problem and the fix.
    """
    fix = "save it from Excel as 'CSV UTF-8' (or CP949 'CSV') and import again"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RosterError(
                f"{source} starts with a UTF-8 mark but byte {err.start + 3} is not UTF-8; {fix}"
            ) from err
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:4096]:
        raise RosterError(f"{source} is UTF-16 text, which aione does not read; {fix}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError as err:
        raise RosterError(
            f"{source} is neither UTF-8 nor CP949 (byte 0x{data[err.start]:02x} at offset "
            f"{err.start}); {fix}"
        ) from err
    odd = sorted({ch for ch in text if ord(ch) > 127 and not _korean_text(ch)})
    if odd:
        raise RosterError(
            f"{source} is neither UTF-8 nor CP949 text (read as CP949 it has "
            f"{''.join(odd[:5])!r}); {fix}"
        )
    return text


def _korean_text(ch: str) -> bool:
    """Characters a Korean roster may hold beyond ASCII: Hangul, Hanja, CJK punctuation."""
    code = ord(ch)
    return (
        0xAC00 <= code <= 0xD7A3
        or 0x1100 <= code <= 0x11FF
        or 0x3130 <= code <= 0x318F
        or 0x4E00 <= code <= 0x9FFF
        or 0x3000 <= code <= 0x303F
        or 0xFF00 <= code <= 0xFFEF
        or 0x2010 <= code <= 0x206F
        or code == 0x00B7
    )


def read_roster(
    path: str | Path,
    cohort: str,
    courses: Collection[str],
    catalog: ProfileCatalog,
    now: datetime | None = None,
) -> Roster:
    """Read and check the roster file at ``path`` for ``cohort``.

    Raises :class:`RosterError` listing every problem by line number.
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise RosterError(
            f"cannot read the roster {source} ({err.strerror}); fix the path"
        ) from err
    return parse_roster(decode_roster(data, source), source, cohort, courses, catalog, now)


def parse_roster(
    text: str,
    source: str,
    cohort: str,
    courses: Collection[str],
    catalog: ProfileCatalog,
    now: datetime | None = None,
) -> Roster:
    """Check the roster ``text``; see :func:`read_roster`."""
    if not COHORT_NAME_RE.match(cohort):
        raise RosterError(
            f"cohort name {cohort!r} is not valid; use lowercase letters, digits and dashes "
            "(at most 48), e.g. acme-2026-spring"
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    columns = _columns(header or [], source)
    checker = _RowChecker(cohort, set(courses), catalog, now or datetime.now(UTC))
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        line = reader.line_num
        if any(c.strip() for c in cells[len(columns) :]):
            checker.problem(
                line,
                f"{len(cells)} cells but the header has {len(columns)} columns; "
                "put quotes around cells that contain commas",
            )
            continue
        values = {
            col: (cells[i].strip() if i < len(cells) else "") for i, col in enumerate(columns)
        }
        checker.check(line, values)
    if not checker.members and not checker.problems:
        checker.problem(1, "the roster has no rows; add one row per person below the header")
    if checker.problems:
        shown = checker.problems[:MAX_SHOWN]
        more = len(checker.problems) - len(shown)
        lines = [f"  {source}, line {n}: {msg}" for n, msg in shown]
        if more:
            lines.append(f"  ... and {more} more")
        raise RosterError(
            f"the roster {source} has {len(checker.problems)} problem(s); nothing was changed. "
            "Fix them and import again:\n" + "\n".join(lines)
        )
    return Roster(cohort, source, tuple(checker.members), tuple(checker.warnings))


def _columns(header: list[str], source: str) -> list[str]:
    names = [_HEADER_ALIASES.get(_norm(h), _norm(h)) for h in header]
    problems = []
    unknown = [h for h, n in zip(header, names, strict=True) if n not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {unknown}; use: {', '.join(COLUMNS)}")
    twice = sorted({n for n in names if names.count(n) > 1 and n in COLUMNS})
    if twice:
        problems.append(f"column(s) {twice} appear twice; keep one of each")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        problems.append(
            f"the header lacks {', '.join(missing)}; the first row must name the columns, "
            f"e.g. {','.join(COLUMNS)}"
        )
    if problems:
        raise RosterError(
            f"the roster {source} has a bad header; nothing was changed:\n"
            + "\n".join(f"  {source}, line 1: {p}" for p in problems)
        )
    return names


def _norm(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


class _RowChecker:
    """Checks rows one by one, collecting members, problems and warnings."""

    def __init__(
        self, cohort: str, courses: set[str], catalog: ProfileCatalog, now: datetime
    ) -> None:
        self.cohort, self.courses, self.catalog, self.now = cohort, courses, catalog, now
        self.members: list[Member] = []
        self.problems: list[tuple[int, str]] = []
        self.warnings: list[str] = []
        self.seen: dict[str, int] = {}
        self.hinted: set[str] = set()

    def problem(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    def check(self, line: int, v: Mapping[str, str]) -> None:
        before = len(self.problems)
        username = self._username(line, v.get("username", ""))
        role = _ROLES.get(v.get("role", "").lower())
        if role is None:
            self.problem(
                line, f"role {v.get('role', '')!r} is not learner or instructor; write one of them"
            )
        courses = self._courses(line, v.get("courses", ""))
        email = v.get("email", "")
        if email and not EMAIL_RE.match(email):
            self.problem(line, f"email {email!r} is not an address; write e.g. minsu@example.com")
        expires = self._expiry(line, v.get("expires_at", ""), username)
        member = Member(
            username=username,
            role=role or "learner",
            courses=courses,
            display_name=v.get("display_name", ""),
            email=email,
            profile=v.get("profile", ""),
            expires_at=expires,
        )
        self._profile(line, member)
        if len(self.problems) == before:
            self.members.append(member)

    def _username(self, line: int, name: str) -> str:
        if not name:
            self.problem(line, "the user name is empty; every row needs a username")
        elif not USERNAME_RE.match(name):
            hint = f"; write it as {name.lower()!r}" if USERNAME_RE.match(name.lower()) else ""
            self.problem(
                line,
                f"user name {name!r} is not valid: use lowercase letters, digits and . _ @ - "
                f"(starting with a letter or digit, at most 64){hint}",
            )
        elif name in self.seen:
            self.problem(
                line,
                f"user name {name!r} appears again (first on line {self.seen[name]}); "
                "keep one row per person",
            )
        else:
            self.seen[name] = line
        return name

    def _courses(self, line: int, text: str) -> tuple[str, ...]:
        ids = tuple(dict.fromkeys(c for c in re.split(r"[;,\s]+", text) if c))
        if not ids:
            self.problem(line, "no course; list the course ids (separate several with ;)")
        unknown = [c for c in ids if c not in self.courses]
        if unknown:
            known = (
                ", ".join(sorted(self.courses))
                or "none (add them under 'courses:' in the settings)"
            )
            self.problem(
                line, f"unknown course(s) {', '.join(unknown)}; the hub's courses are: {known}"
            )
        return ids

    def _expiry(self, line: int, text: str, username: str) -> str:
        if not text:
            return ""
        try:
            moment = parse_expiry(text)
        except ValueError as err:
            self.problem(line, f"expires_at: {err}")
            return ""
        if moment <= self.now:
            self.warnings.append(
                f"line {line}: expires_at {text} has passed; {username} will not be able to use the hub"
            )
        return text if len(text) == 10 else moment.isoformat(timespec="minutes")

    def _profile(self, line: int, member: Member) -> None:
        name = member.profile
        if not name:
            return
        if name not in self.catalog.open_to:
            names = ", ".join(sorted(self.catalog.open_to))
            note = f" ({self.catalog.note})" if self.catalog.note else ""
            self.problem(line, f"unknown profile {name!r}; use one of: {names}{note}")
            return
        open_to = self.catalog.open_to[name]
        group = profile_group(name)
        if open_to is not None and not set(open_to) & member.groups(self.cohort):
            self.problem(
                line,
                f"profile {name!r} is open only to the groups {', '.join(open_to)}, "
                f"and {member.username} would be in none of them; add '{group}' or "
                f"'{cohort_group(self.cohort)}' to that profile's groups in the settings",
            )
        elif (
            name != self.catalog.default
            and not set(self.catalog.preselected_for.get(name, ())) & member.groups(self.cohort)
            and name not in self.hinted
        ):
            self.hinted.add(name)
            self.warnings.append(
                f"line {line}: profile {name!r} is not preselected for these learners; "
                f"add '{group}' to its default_for in the settings to preselect it"
            )
