"""What an instructor's server gets: course folders mounted, the formgrader on.

A member of ``course-C-instructors`` (for a course ``C`` listed under
``courses:``) gets ``C``'s folder on the host mounted read-write at
``/home/jovyan/courses/C`` and these variables:

- ``JUPYTER_CONFIG_PATH=/etc/aione/instructor``: a config folder baked into
  the learner image that turns on the formgrader (server and JupyterLab
  parts), the create-assignment toolbar, and
  :mod:`graders.exchange.formgrader_frame`; it outranks the image's
  sys-prefix settings that turn them off for learners;
- ``AIONE_INSTRUCTOR_COURSES=C1,C2``: read by that folder's
  ``nbgrader_config.py`` to point the formgrader at ``courses/C1``;
- ``AIONE_FORMGRADER_FRAME``: ``exchange.formgrader_frame``.

Learners get none of it: no mount, no variables, so their servers load the
image's defaults (formgrader off). Even a learner who turns the formgrader
on in their own config finds no course folder and is refused by the
exchange service.

The spawner calls :func:`prepare_instructor` before starting a server (it
creates the course folders, owned by ``jovyan``) and merges
:func:`instructor_mounts` into the container's volumes and
:func:`instructor_environment` into its environment.
"""

from __future__ import annotations

from collections.abc import Iterable

from graders.exchange.host import courses_root, ensure_course_root
from graders.exchange.settings import exchange_settings
from hub.roles import instructor_group
from hub.settings import Settings

INSTRUCTOR_CONFIG_DIR = "/etc/aione/instructor"
COURSES_MOUNT = "/home/jovyan/courses"


def instructor_courses(groups: Iterable[str], settings: Settings) -> list[str]:
    """Courses on this hub whose instructor group is among ``groups``, sorted."""
    member = set(groups)
    return sorted(c.id for c in settings.courses if instructor_group(c.id) in member)


def instructor_mounts(groups: Iterable[str], settings: Settings) -> dict[str, dict[str, str]]:
    """DockerSpawner ``volumes`` entries: host course folder -> ``courses/C`` (rw)."""
    root = courses_root(settings)
    return {
        str(root / course): {"bind": f"{COURSES_MOUNT}/{course}", "mode": "rw"}
        for course in instructor_courses(groups, settings)
    }


def instructor_environment(groups: Iterable[str], settings: Settings) -> dict[str, str]:
    """Variables that turn an instructor's server into a grading server ({} for learners)."""
    courses = instructor_courses(groups, settings)
    if not courses:
        return {}
    return {
        "JUPYTER_CONFIG_PATH": INSTRUCTOR_CONFIG_DIR,
        "AIONE_INSTRUCTOR_COURSES": ",".join(courses),
        "AIONE_FORMGRADER_FRAME": exchange_settings(settings).formgrader_frame,
    }


def prepare_instructor(groups: Iterable[str], settings: Settings) -> list[str]:
    """Create (idempotently) and hand to ``jovyan`` the folders of the caller's
    courses, so Docker does not create the mount points as root. Returns the
    course ids."""
    courses = instructor_courses(groups, settings)
    for course in courses:
        ensure_course_root(courses_root(settings) / course)
    return courses
