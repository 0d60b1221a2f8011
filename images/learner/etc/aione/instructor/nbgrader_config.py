"""nbgrader on instructors' servers (JUPYTER_CONFIG_PATH=/etc/aione/instructor).

The hub mounts each course folder the instructor teaches at
/home/jovyan/courses/<course> and lists the courses in
$AIONE_INSTRUCTOR_COURSES. The formgrader (and nbgrader in a terminal) work
on the first course, or on the course whose folder is the current directory
(cd ~/courses/<course> before running nbgrader there).
"""

import os

c = get_config()  # noqa: F821

_home = "/home/jovyan/courses"
_courses = [x for x in os.environ.get("AIONE_INSTRUCTOR_COURSES", "").split(",") if x]
if _courses:
    _cwd = os.getcwd()
    _chosen = next(
        (x for x in _courses if _cwd == f"{_home}/{x}" or _cwd.startswith(f"{_home}/{x}/")),
        _courses[0],
    )
    c.CourseDirectory.root = f"{_home}/{_chosen}"
    c.CourseDirectory.course_id = _chosen
