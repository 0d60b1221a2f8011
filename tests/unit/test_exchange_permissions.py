"""Who may do what in the exchange: decisions from groups alone."""

from __future__ import annotations

import pytest

from graders.exchange.errors import Forbidden
from graders.exchange.permissions import (
    Caller,
    Role,
    may_read_student,
    require_instructor,
    require_member,
    require_student_access,
    require_submitter,
    students_visible,
)

ALICE = Caller("alice", groups=frozenset({"course-mfg-learners"}))
BOB = Caller("bob", groups=frozenset({"course-mfg-learners", "course-fin-learners"}))
TEACH = Caller("teach", groups=frozenset({"course-mfg-instructors", "course-fin-learners"}))
ADMIN = Caller("root", admin=True)
OUTSIDER = Caller("eve", groups=frozenset({"cohort-2026", "course-other-learners"}))
AUTOMATION = Caller("aione-automation", kind="service", admin=True)
CULLER = Caller("idle-culler", kind="service")


def test_roles_per_course() -> None:
    assert ALICE.role("mfg") is Role.LEARNER
    assert TEACH.role("mfg") is Role.INSTRUCTOR
    assert TEACH.role("fin") is Role.LEARNER
    assert OUTSIDER.role("mfg") is Role.NONE
    assert ADMIN.role("anything") is Role.INSTRUCTOR
    assert CULLER.role("mfg") is Role.NONE


def test_courses_only_known_ones() -> None:
    known = {"mfg", "fin"}
    assert BOB.courses(known) == {"fin": Role.LEARNER, "mfg": Role.LEARNER}
    assert TEACH.courses(known) == {"fin": Role.LEARNER, "mfg": Role.INSTRUCTOR}
    assert OUTSIDER.courses(known) == {}
    assert ADMIN.courses(known) == {"fin": Role.INSTRUCTOR, "mfg": Role.INSTRUCTOR}


def test_non_member_is_refused_with_the_groups_to_join() -> None:
    with pytest.raises(Forbidden, match="course-mfg-learners.*course-mfg-instructors"):
        require_member(OUTSIDER, "mfg")


def test_learner_cannot_act_as_instructor() -> None:
    with pytest.raises(Forbidden, match="only instructors of 'mfg' may release"):
        require_instructor(ALICE, "mfg", "release assignments")
    with pytest.raises(Forbidden, match="only instructors of 'fin' may collect"):
        require_instructor(TEACH, "fin", "collect")
    require_instructor(TEACH, "mfg", "collect")
    require_instructor(ADMIN, "mfg", "collect")
    require_instructor(AUTOMATION, "fin", "deliver feedback")


def test_instructor_of_one_course_not_of_another() -> None:
    with pytest.raises(Forbidden, match="not in course 'other'"):
        require_instructor(TEACH, "other", "collect")


def test_learner_reads_only_their_own() -> None:
    assert may_read_student(ALICE, "mfg", "alice")
    assert not may_read_student(ALICE, "mfg", "bob")
    assert not may_read_student(ALICE, "fin", "alice")  # not in fin at all
    assert may_read_student(TEACH, "mfg", "bob")
    assert not may_read_student(TEACH, "fin", "bob")  # only a learner in fin
    with pytest.raises(Forbidden, match="only their own"):
        require_student_access(ALICE, "mfg", "bob")
    require_student_access(ALICE, "mfg", "alice")


def test_listing_scope() -> None:
    assert students_visible(ALICE, "mfg", None) == "alice"
    assert students_visible(ALICE, "mfg", "alice") == "alice"
    with pytest.raises(Forbidden):
        students_visible(ALICE, "mfg", "bob")
    assert students_visible(TEACH, "mfg", None) is None
    assert students_visible(TEACH, "mfg", "bob") == "bob"
    with pytest.raises(Forbidden):
        students_visible(OUTSIDER, "mfg", None)


def test_submitter_is_always_the_caller() -> None:
    assert require_submitter(BOB, "fin") == "bob"
    with pytest.raises(Forbidden, match="service"):
        require_submitter(AUTOMATION, "mfg")
    with pytest.raises(Forbidden):
        require_submitter(OUTSIDER, "mfg")


def test_student_names_are_checked() -> None:
    with pytest.raises(ValueError, match="student name"):
        require_student_access(TEACH, "mfg", "../alice")
