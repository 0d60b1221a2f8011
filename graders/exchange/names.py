"""Names and relative paths that may become parts of a path in the exchange.

Every course, assignment, student and attempt name reaches the file system as
one path component, and every file of an archive as a relative path below a
folder the exchange owns. These checks are the only gate: a name that passes
can neither leave its folder (``..``, ``/``, ``\\``) nor hide (a leading dot).

Used inside learner images too, so this module imports nothing from
:mod:`hub`; it raises :class:`UnsafeName`, a :class:`ValueError`.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

#: A name: starts with a letter or digit (any script), then letters, digits,
#: ``_``, ``.``, ``@`` or ``-``; at most 128 characters. JupyterHub user names
#: (``kim.minji@example.org``) and nbgrader assignment names fit.
NAME_RE = re.compile(r"^[^\W_][\w.@-]{0,127}$")

MAX_DEPTH = 32
MAX_COMPONENT = 255


class UnsafeName(ValueError):
    """A name or relative path that could escape its folder, or is malformed."""


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a safe single path component naming ``what``.

    Raises :class:`UnsafeName` naming ``what``, the value and the rule.
    """
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise UnsafeName(
            f"{what} name {value!r} is not valid; use letters, digits, '_', '.', '@' and '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return value


def check_relpath(value: str) -> PurePosixPath:
    """Return ``value`` as a normalised relative POSIX path inside its folder.

    Refused (:class:`UnsafeName`): empty paths, absolute paths, ``..`` or
    ``.`` components, empty components (``a//b``), backslashes, NUL and other
    control characters, components over 255 bytes, more than 32 levels.
    """
    if not isinstance(value, str) or not value:
        raise UnsafeName("an empty file name is not allowed")
    if value.startswith("/"):
        raise UnsafeName(f"{value!r} is an absolute path; archives hold relative paths only")
    if "\\" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UnsafeName(f"{value!r} contains a backslash or a control character")
    parts = value.removesuffix("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeName(f"{value!r} has a '{part or '//'}' component; it must stay inside")
        if len(part.encode("utf-8")) > MAX_COMPONENT:
            raise UnsafeName(f"{value!r} has a component longer than {MAX_COMPONENT} bytes")
    if len(parts) > MAX_DEPTH:
        raise UnsafeName(f"{value!r} is nested deeper than {MAX_DEPTH} folders")
    return PurePosixPath(*parts)
