"""Who may do what in the exchange: pure decisions from JupyterHub groups.

A course ``C`` has the groups ``course-C-learners`` and
``course-C-instructors`` (:mod:`hub.roles`). Hub admins, and the hub services
the operator trusts (``exchange.trusted_services``), act as instructors of
every course. Nothing here reads the network or the disk; the service resolves
a :class:`Caller` from the token and then asks these functions.

Rules:

- learners and instructors of ``C`` list and fetch ``C``'s released assignments;
- anyone in ``C`` submits, always as themselves;
- a learner reads only their own submissions and feedback;
- only instructors of ``C`` (and admins) release, unrelease, collect and
  deliver feedback in ``C``, and read other people's submissions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from graders.exchange.errors import Forbidden
from graders.exchange.names import check_name
from hub.roles import course_of_group, instructor_group, learner_group


class Role(Enum):
    """A caller's standing in one course, weakest first."""

    NONE = 0
    LEARNER = 1
    INSTRUCTOR = 2


@dataclass(frozen=True)
class Caller:
    """The owner of a token: a hub user (with groups) or a hub service."""

    name: str
    kind: str = "user"
    groups: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False

    def role(self, course: str) -> Role:
        """This caller's role in ``course`` (admins: instructor everywhere)."""
        if self.admin:
            return Role.INSTRUCTOR
        if instructor_group(course) in self.groups:
            return Role.INSTRUCTOR
        if learner_group(course) in self.groups:
            return Role.LEARNER
        return Role.NONE

    def courses(self, known: frozenset[str] | set[str]) -> dict[str, Role]:
        """Every course in ``known`` this caller belongs to, with its role."""
        if self.admin:
            return dict.fromkeys(sorted(known), Role.INSTRUCTOR)
        found: dict[str, Role] = {}
        for group in self.groups:
            parsed = course_of_group(group)
            if parsed and parsed[0] in known:
                found[parsed[0]] = self.role(parsed[0])
        return dict(sorted(found.items()))


def require_member(caller: Caller, course: str) -> Role:
    """The caller's role in ``course``; :class:`Forbidden` if they have none."""
    role = caller.role(course)
    if role is Role.NONE:
        raise Forbidden(
            f"{caller.name} is not in course {course!r}; an administrator adds learners to "
            f"the group {learner_group(course)} and instructors to {instructor_group(course)}"
        )
    return role


def require_instructor(caller: Caller, course: str, action: str) -> None:
    """:class:`Forbidden` unless the caller instructs ``course``."""
    if require_member(caller, course) is not Role.INSTRUCTOR:
        raise Forbidden(
            f"only instructors of {course!r} may {action}; {caller.name} is a learner there"
        )


def may_read_student(caller: Caller, course: str, student: str) -> bool:
    """Whether the caller may list or read ``student``'s submissions and feedback."""
    role = caller.role(course)
    if role is Role.INSTRUCTOR:
        return True
    return role is Role.LEARNER and caller.kind == "user" and caller.name == student


def require_student_access(caller: Caller, course: str, student: str) -> None:
    """:class:`Forbidden` unless :func:`may_read_student`."""
    check_name(student, "student")
    require_member(caller, course)
    if not may_read_student(caller, course, student):
        raise Forbidden(
            f"{caller.name} may read only their own submissions and feedback in {course!r}"
        )


def students_visible(caller: Caller, course: str, requested: str | None) -> str | None:
    """Which student a listing covers: ``None`` means every student.

    Instructors get what they asked for; a learner always gets themselves,
    and asking for anyone else is :class:`Forbidden`.
    """
    role = require_member(caller, course)
    if role is Role.INSTRUCTOR:
        return requested
    if requested not in (None, caller.name):
        raise Forbidden(
            f"{caller.name} may read only their own submissions and feedback in {course!r}"
        )
    return caller.name


def require_submitter(caller: Caller, course: str) -> str:
    """The student name a submission is filed under (always the caller's own)."""
    require_member(caller, course)
    if caller.kind != "user":
        raise Forbidden(f"service {caller.name} cannot submit; submissions come from users")
    return check_name(caller.name, "student")
