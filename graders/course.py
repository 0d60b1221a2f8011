"""An nbgrader course folder on the host, as the grading commands see it.

A course ``COURSE`` lives in ``<courses_root>/<COURSE>`` (default
``<state_dir>/courses/<COURSE>``): an ordinary nbgrader course folder with
``source/``, ``release/``, ``submitted/<student>/<assignment>/``,
``autograded/``, ``feedback/``, ``gradebook.db`` and, optionally,
``nbgrader_config.py``, which is read as nbgrader reads it.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SQLAlchemyError
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

from graders.settings import GradingSection, check_name
from hub.errors import GradingError


@dataclass(frozen=True)
class Course:
    """One course: its name, folder, gradebook URL and nbgrader config."""

    name: str
    root: Path
    db_url: str
    config: Config

    @classmethod
    def open(cls, state_dir: Path, grading: GradingSection, name: str) -> Course:
        """Find the course folder and read its ``nbgrader_config.py``.

        Raises GradingError when the folder does not exist or the config
        cannot be read. The gradebook URL comes from ``grading.gradebook_url``,
        else the course's own config, else ``gradebook.db`` in the folder.
        """
        root = grading.course_root(state_dir, name).resolve()
        if not root.is_dir():
            raise GradingError(
                f"course {name!r} has no folder at {root}; create the nbgrader course there "
                "or set grading.courses_root"
            )
        ensure_alembic_on_path()
        config = _course_config(root)
        config.CourseDirectory.root = str(root)
        if grading.gradebook_url or "db_url" not in config.CourseDirectory:
            config.CourseDirectory.db_url = grading.db_url(root, name)
        return cls(name, root, str(config.CourseDirectory.db_url), config)

    def coursedir(self, assignment: str = "*", student: str = "*") -> CourseDirectory:
        """An nbgrader CourseDirectory for ``assignment`` and ``student`` (globs allowed)."""
        cd = CourseDirectory(config=self.config)
        cd.assignment_id = assignment
        cd.student_id = student
        return cd

    def gradebook(self) -> Gradebook:
        """Open the gradebook; the caller closes it (``with course.gradebook() as gb``)."""
        ensure_alembic_on_path()
        try:
            return Gradebook(self.db_url, self.coursedir().course_id)
        except SQLAlchemyError as err:
            raise GradingError(
                f"the gradebook of {self.name} at {_safe_url(self.db_url)} cannot be opened "
                f"({err.__class__.__name__}); check grading.gradebook_url"
            ) from err

    def require_assignment(self, assignment: str) -> None:
        """Raise GradingError unless ``assignment`` was generated into the gradebook."""
        check_name(assignment, "assignment")
        with self.gradebook() as gb:
            try:
                gb.find_assignment(assignment)
            except MissingEntry as err:
                raise GradingError(
                    f"assignment {assignment!r} is not in the gradebook of {self.name}; "
                    f"run `nbgrader generate_assignment {assignment}` in {self.root}"
                ) from err


def ensure_alembic_on_path() -> None:
    """Put this Python's scripts folder on PATH when ``alembic`` is not there.

    nbgrader's Gradebook runs the ``alembic`` command to stamp a new database;
    a virtual environment used without activating it (a console script, a
    service) has it beside ``sys.executable`` only.
    """
    scripts = Path(sys.executable).parent
    if shutil.which("alembic") is None and (scripts / "alembic").exists():
        os.environ["PATH"] = f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"


def _course_config(root: Path) -> Config:
    loader = PyFileConfigLoader("nbgrader_config.py", path=str(root))
    try:
        return loader.load_config()
    except ConfigFileNotFound:
        return Config()
    except Exception as err:  # the course's own Python file: any error is its error
        raise GradingError(
            f"{root / 'nbgrader_config.py'} cannot be read ({err}); fix that file"
        ) from err


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has no password to hide
        return url.split("@")[-1]
