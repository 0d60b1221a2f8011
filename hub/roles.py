"""Names that tie courses to JupyterHub groups and roles.

A course ``C`` has two groups: ``course-C-learners`` and
``course-C-instructors``. Cohort imports put users in them; the exchange and
the RBAC roles read them. Keep every such name here.
"""

from __future__ import annotations

import re

COURSE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


def learner_group(course: str) -> str:
    """The group of ``course``'s learners."""
    return f"course-{course}-learners"


def instructor_group(course: str) -> str:
    """The group of ``course``'s instructors."""
    return f"course-{course}-instructors"


def course_of_group(group: str) -> tuple[str, str] | None:
    """``("C", "learner"|"instructor")`` for a course group name, else None."""
    match = re.fullmatch(r"course-(.+)-(learners|instructors)", group)
    if not match:
        return None
    return match.group(1), match.group(2)[:-1]
