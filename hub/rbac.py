"""Who may reach what: course roles, cohort and profile group names, and the
gate that keeps expired learners and unchanged one-time passwords away from
servers.

Roles (JupyterHub RBAC, loaded from the settings at every hub start):

- a learner has JupyterHub's default ``user`` role: their own server and
  their own user model, nothing else;
- the instructors of course ``C`` (group ``course-C-instructors``) get the role
  ``aione-instructor-C`` (:func:`instructor_role`): the grading service of
  ``C``, and read access to the learners of ``C`` (names, groups, so cohorts,
  and activity) but not their servers;
- an admin reaches everything (JupyterHub's ``admin`` role).

JupyterHub has no REST API for roles, so roles exist per *course* (courses are
in the settings) and never per cohort; an instructor sees the cohorts of their
learners through the learners' ``groups``.

Cohorts are groups ``cohort-NAME`` whose properties hold each member's roster
record (see :mod:`hub.cohorts`). :func:`membership_active` decides from those
properties whether a user may still use the hub; :func:`spawn_gate` applies it
(and the must-change-password rule of the embedded accounts) before every
spawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tornado import web

from hub.accounts import AccountStore
from hub.roles import COURSE_ID_RE, instructor_group, learner_group

#: Cohort names follow the rule of course ids (lowercase, digits, dashes; 48 at most).
COHORT_NAME_RE = COURSE_ID_RE
COHORT_PREFIX = "cohort-"
PROFILE_PREFIX = "profile-"
#: Keys of a cohort group's properties.
KIND_KEY = "aione.kind"
MEMBERS_KEY = "members"
EXPIRED_KEY = "expired_at"


def cohort_group(cohort: str) -> str:
    """The group of a cohort's members."""
    return f"{COHORT_PREFIX}{cohort}"


def cohort_of_group(group: str) -> str | None:
    """The cohort name of a ``cohort-NAME`` group, else None."""
    return group[len(COHORT_PREFIX) :] if group.startswith(COHORT_PREFIX) else None


def profile_group(profile: str) -> str:
    """The group whose members a roster gave the resource profile ``profile``."""
    return f"{PROFILE_PREFIX}{profile}"


def grading_service(course: str) -> str:
    """The name of course ``course``'s grading service (formgrader)."""
    return f"grader-{course}"


def instructor_scopes(course: str) -> list[str]:
    """Scopes of the instructors of ``course``: its grading service, its learners' list."""
    learners = learner_group(course)
    return [
        f"access:services!service={grading_service(course)}",
        f"read:services!service={grading_service(course)}",
        f"list:users!group={learners}",
        f"read:users:name!group={learners}",
        f"read:users:groups!group={learners}",
        f"read:users:activity!group={learners}",
        f"read:groups!group={learners}",
        f"read:groups!group={instructor_group(course)}",
        f"list:groups!group={learners}",
    ]


def instructor_role(course: str) -> dict[str, Any]:
    """The JupyterHub role of ``course``'s instructors, assigned to their group."""
    return {
        "name": f"aione-instructor-{course}",
        "description": f"Instructors of {course}: grading tools and learner list of {course}",
        "scopes": instructor_scopes(course),
        "groups": [instructor_group(course)],
    }


def course_roles(courses: Sequence[str]) -> list[dict[str, Any]]:
    """One instructor role per course."""
    return [instructor_role(c) for c in courses]


def course_groups(courses: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``JupyterHub.load_groups`` entries creating both groups of every course
    (membership untouched: it comes from cohort imports and the provider)."""
    groups: dict[str, dict[str, Any]] = {}
    for course in courses:
        groups[learner_group(course)] = {}
        groups[instructor_group(course)] = {}
    return groups


def parse_expiry(value: str) -> datetime:
    """The moment access ends, from ``YYYY-MM-DD`` (through the end of that day,
    local time) or an ISO 8601 date and time (local time when no offset).

    Raises ValueError naming the accepted forms.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time()).astimezone()
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date; write YYYY-MM-DD (e.g. 2026-12-31) "
            "or YYYY-MM-DDTHH:MM (e.g. 2026-12-31T18:00)"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def member_entry(properties: Mapping[str, Any], username: str) -> Mapping[str, Any] | None:
    """A member's roster record in a cohort group's properties, or None."""
    members = properties.get(MEMBERS_KEY)
    if not isinstance(members, Mapping):
        return None
    entry = members.get(username)
    return entry if isinstance(entry, Mapping) else None


def membership_expired(
    properties: Mapping[str, Any], username: str, now: datetime | None = None
) -> bool:
    """True when the cohort is expired or ``username``'s ``expires_at`` has passed."""
    now = now or datetime.now(UTC)
    if properties.get(EXPIRED_KEY):
        return True
    entry = member_entry(properties, username)
    expires = entry.get("expires_at") if entry else None
    if not expires:
        return False
    try:
        return parse_expiry(str(expires)) <= now
    except ValueError:
        return True  # a record we cannot read must not grant access


def membership_active(
    username: str,
    groups: Iterable[tuple[str, Mapping[str, Any] | None]],
    now: datetime | None = None,
) -> bool:
    """May ``username``, a member of ``groups`` (``(name, properties)`` pairs), use the hub?

    Users in no cohort are not limited by cohorts (admins, provider-only
    users). A cohort member may while at least one of their cohort
    memberships has not expired.
    """
    cohorts = [props or {} for name, props in groups if cohort_of_group(name) is not None]
    if not cohorts:
        return True
    return any(not membership_expired(props, username, now) for props in cohorts)


ACCESS_ENDED = (
    "이용 기간이 끝났습니다. 데이터는 보관되어 있으니 운영자에게 문의하세요. / "
    "Your access to this hub has ended; your files are kept. Ask the operator to extend it."
)
CHANGE_PASSWORD_FIRST = (
    "처음 받은 비밀번호를 먼저 바꾸세요: /hub/aione/password / "
    "Set your own password first at /hub/aione/password, then start your server."
)


class SpawnRefused(web.HTTPError):
    """HTTP 403 whose message JupyterHub shows on its spawn and error pages."""

    def __init__(self, message: str, html: str | None = None) -> None:
        super().__init__(403, message)
        self.jupyterhub_message = message
        self.jupyterhub_html_message = html or message


async def spawn_gate(spawner: Any) -> None:
    """``Spawner.pre_spawn_hook``: refuse (HTTP 403, :class:`SpawnRefused`) a
    spawn for a user whose cohort access has ended, or who still has a
    one-time password.

    The password rule applies only with the embedded authenticator (an
    authenticator with an :class:`~hub.accounts.AccountStore` as ``store``).
    """
    user = spawner.user
    groups = [(g.name, g.properties) for g in user.groups]
    if not user.admin and not membership_active(user.name, groups):
        raise SpawnRefused(ACCESS_ENDED)
    store = getattr(spawner.authenticator, "store", None)
    if isinstance(store, AccountStore):
        account = store.get(user.name)
        if account is not None and account.must_change:
            hub = getattr(spawner, "hub", None)
            url = f"{getattr(hub, 'base_url', '/hub/')}aione/password"
            raise SpawnRefused(
                CHANGE_PASSWORD_FIRST,
                f'처음 받은 비밀번호를 먼저 <a href="{url}">바꾸세요</a>. / '
                f'<a href="{url}">Set your own password</a> first, then start your server.',
            )
