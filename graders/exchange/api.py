"""A small client of the ``aione-exchange`` REST API (see :mod:`graders.exchange.service`).

Used by the nbgrader exchange classes inside learner and instructor servers,
with the server's own hub token. Imports nothing from :mod:`hub`. Every
failure is an :class:`ExchangeAPIError` carrying the HTTP status (0 when the
service could not be reached) and the service's one-line message.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

from graders.exchange import archive


class ExchangeAPIError(Exception):
    """The exchange refused or failed a request; ``str()`` is the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _seg(value: str) -> str:
    return quote(value, safe="")


class ExchangeAPI:
    """Calls to the exchange at ``url`` (ending in ``/``) with ``token``."""

    def __init__(self, url: str, token: str, timeout: float = 120.0) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.url + "api/" + path
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as err:
            raise ExchangeAPIError(
                0, f"cannot reach the exchange at {self.url} ({err.__class__.__name__}); "
                "ask your instructor whether the hub is running"
            ) from err  # fmt: skip
        if resp.status_code >= 400:
            try:
                message = str(resp.json()["message"])
            except (ValueError, KeyError, TypeError):
                message = resp.text.strip()[:300] or resp.reason
            raise ExchangeAPIError(resp.status_code, message)
        return resp

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _download(self, path: str, dest: Path, max_bytes: int, max_files: int) -> None:
        with self._request("GET", path, stream=True) as resp, tempfile.TemporaryFile() as buf:
            for chunk in resp.iter_content(256 * 1024):
                buf.write(chunk)
            buf.seek(0)
            archive.unpack(buf, dest, max_bytes=max_bytes, max_files=max_files)

    # -- calls ----------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Who the token belongs to, their courses and roles, the limits."""
        return dict(self._json("GET", ""))

    def releases(self, course: str) -> list[dict[str, Any]]:
        return list(self._json("GET", f"courses/{_seg(course)}/assignments")["assignments"])

    def release(self, course: str, assignment: str) -> dict[str, Any]:
        return dict(self._json("GET", f"courses/{_seg(course)}/assignments/{_seg(assignment)}"))

    def upload_release(
        self, course: str, assignment: str, body: IO[bytes], due: str | None, force: bool
    ) -> dict[str, Any]:
        params = {"force": "1" if force else "0"}
        if due:
            params["due"] = due
        path = f"courses/{_seg(course)}/assignments/{_seg(assignment)}"
        return dict(self._json("PUT", path, params=params, data=body))

    def unrelease(self, course: str, assignment: str) -> None:
        self._request("DELETE", f"courses/{_seg(course)}/assignments/{_seg(assignment)}")

    def fetch_release(
        self, course: str, assignment: str, dest: Path, limits: dict[str, Any]
    ) -> None:
        path = f"courses/{_seg(course)}/assignments/{_seg(assignment)}/files"
        self._download(path, dest, int(limits["release_size_limit"]), int(limits["max_files"]))

    def submit(self, course: str, assignment: str, body: IO[bytes]) -> dict[str, Any]:
        path = f"courses/{_seg(course)}/assignments/{_seg(assignment)}/submissions"
        return dict(self._json("POST", path, data=body))

    def submissions(
        self,
        course: str,
        assignment: str | None = None,
        student: str | None = None,
        *,
        latest: bool = False,
        before_due: bool = False,
    ) -> list[dict[str, Any]]:
        params = {"assignment": assignment, "student": student}
        if latest:
            params.update(latest="1", before_due="1" if before_due else "0")
        found = self._json("GET", f"courses/{_seg(course)}/submissions", params=params)
        return list(found["submissions"])

    def fetch_submission(self, attempt: dict[str, Any], dest: Path, limits: dict[str, Any]) -> None:
        path = "courses/{}/submissions/{}/{}/{}/files".format(
            *(_seg(attempt[k]) for k in ("course_id", "student_id", "assignment_id", "attempt"))
        )
        self._download(path, dest, int(limits["submission_size_limit"]), int(limits["max_files"]))

    def feedback(
        self, course: str, assignment: str | None = None, student: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"assignment": assignment, "student": student}
        found = self._json("GET", f"courses/{_seg(course)}/feedback", params=params)
        return list(found["feedback"])

    def upload_feedback(
        self, course: str, student: str, assignment: str, timestamp: str, body: IO[bytes]
    ) -> dict[str, Any]:
        path = f"courses/{_seg(course)}/feedback/{_seg(student)}/{_seg(assignment)}"
        return dict(self._json("PUT", path, params={"timestamp": timestamp}, data=body))

    def fetch_feedback(self, entry: dict[str, Any], dest: Path, limits: dict[str, Any]) -> None:
        path = "courses/{}/feedback/{}/{}/{}/files".format(
            *(_seg(entry[k]) for k in ("course_id", "student_id", "assignment_id", "attempt"))
        )
        self._download(path, dest, int(limits["release_size_limit"]), int(limits["max_files"]))
