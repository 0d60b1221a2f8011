"""Exchange errors with the HTTP status the service answers them with.

All are :class:`hub.errors.ExchangeError`, so the ``aione`` CLI turns them
into exit code 1 and one line; the service sends ``status`` and the message.
"""

from __future__ import annotations

from hub.errors import ExchangeError


class Invalid(ExchangeError):
    """A request or name is malformed (400)."""

    status = 400


class Forbidden(ExchangeError):
    """The caller may not do this (403)."""

    status = 403


class NotFound(ExchangeError):
    """No such course, assignment, submission or feedback (404)."""

    status = 404


class Conflict(ExchangeError):
    """The thing exists already and would be overwritten (409)."""

    status = 409


class TooLarge(ExchangeError):
    """A submission or release is over its size limit (413)."""

    status = 413
