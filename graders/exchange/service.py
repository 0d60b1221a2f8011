"""The ``aione-exchange`` JupyterHub service: a REST API over :class:`ExchangeStore`.

Run by the hub as a managed service (``python -m graders.exchange.service``,
see :mod:`graders.exchange.hubconfig`). Every request carries a JupyterHub
token (``Authorization: token ...``): the hub says whose it is
(:class:`jupyterhub.services.auth.HubAuth`), the service asks the hub for
that user's groups with its own token (scope ``read:users:groups``), and
:mod:`graders.exchange.permissions` decides. One service serves every course.

API (under ``$JUPYTERHUB_SERVICE_PREFIX``, answers are JSON unless a ``.tar.gz``)::

    GET    api/                                            who am I, my courses, limits
    GET    api/courses/C/assignments                       released assignments
    GET    api/courses/C/assignments/A                     one release
    PUT    api/courses/C/assignments/A?due=ISO&force=1     release (body: .tar.gz)   instructors
    DELETE api/courses/C/assignments/A                     withdraw a release        instructors
    GET    api/courses/C/assignments/A/files               the released files
    POST   api/courses/C/assignments/A/submissions         submit (body: .tar.gz)
    GET    api/courses/C/submissions?assignment=&student=&latest=1&before_due=1
    GET    api/courses/C/submissions/S/A/T/files           one attempt's files
    GET    api/courses/C/feedback?assignment=&student=
    PUT    api/courses/C/feedback/S/A?timestamp=TS         deliver feedback          instructors
    GET    api/courses/C/feedback/S/A/T/files              one attempt's feedback

Errors are ``{"message": "..."}`` with 400, 401, 403, 404, 409 or 413.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import url_path_join
from tornado import httpclient, web
from tornado.ioloop import IOLoop
from tornado.log import app_log
from traitlets import Float, Integer, List, Unicode, default
from traitlets.config import Application

from graders.exchange import archive
from graders.exchange.names import UnsafeName, check_name
from graders.exchange.permissions import (
    Caller,
    require_instructor,
    require_member,
    require_student_access,
    require_submitter,
    students_visible,
)
from graders.exchange.store import ExchangeStore, parse_due
from hub.errors import ExchangeError

CHUNK = 256 * 1024


class ApiError(web.HTTPError):
    """An error answered as ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


class Membership:
    """Resolves a token's owner to a :class:`Caller`, groups included.

    The token is checked by the hub (``HubAuth.user_for_token``); the owner's
    groups and admin flag are read with the service's own token and kept for
    ``ttl`` seconds.
    """

    def __init__(self, hub_auth: HubAuth, trusted_services: set[str], ttl: float) -> None:
        self.hub_auth = hub_auth
        self.trusted_services = trusted_services
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Caller]] = {}

    async def caller(self, token: str) -> Caller | None:
        """The owner of ``token``, or None when the hub does not know it."""
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model:
            return None
        name = str(model["name"])
        if model.get("kind") == "service":
            return Caller(name, "service", admin=name in self.trusted_services)
        cached = self._cache.get(name)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        found = await self._user(name)
        self._cache[name] = (time.monotonic(), found)
        return found

    async def _user(self, name: str) -> Caller:
        url = url_path_join(self.hub_auth.api_url, "users", name)
        req = httpclient.HTTPRequest(
            url, headers={"Authorization": f"token {self.hub_auth.api_token}"}, request_timeout=30
        )
        try:
            resp = await httpclient.AsyncHTTPClient().fetch(req)
        except httpclient.HTTPClientError as err:
            if err.code == 404:
                raise ApiError(403, f"user {name} no longer exists on the hub") from err
            raise ApiError(502, f"the hub did not tell the groups of {name} ({err.code})") from err
        model = json.loads(resp.body)
        return Caller(name, "user", frozenset(model.get("groups") or []), bool(model.get("admin")))


class ApiHandler(web.RequestHandler):
    """Base: token authentication in :meth:`prepare`, JSON errors, helpers."""

    caller: Caller

    @property
    def store(self) -> ExchangeStore:
        return self.settings["exchange_store"]

    @property
    def service(self) -> ExchangeService:
        return self.settings["exchange_service"]

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies, so no XSRF."""

    async def prepare(self) -> None:
        match = self.service.hub_auth.auth_header_pat.match(
            self.request.headers.get("Authorization", "")
        )
        if not match:
            raise ApiError(401, "send a JupyterHub token: 'Authorization: token <token>'")
        caller = await self.service.membership.caller(match.group(1))
        if caller is None:
            raise ApiError(403, "the hub does not recognise this token")
        self.caller = caller

    def course(self, course: str) -> str:
        """``course`` if this hub has it (404 otherwise)."""
        if course not in self.service.courses:
            raise ApiError(404, f"there is no course {course!r} on this hub")
        return course

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, ensure_ascii=False))

    async def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking store or archive work in a thread."""
        return await asyncio.to_thread(func, *args, **kwargs)

    async def send_folder(self, folder: Path) -> None:
        """Stream ``folder`` as a ``.tar.gz``."""
        with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as buf:
            await self.run(archive.pack, folder, buf)
            buf.seek(0)
            self.set_header("Content-Type", "application/gzip")
            while chunk := buf.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Domain errors get their own status (403, 404, 409, 413, 400)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if exc is not None and not isinstance(exc, web.HTTPError):
            status_code = _status(exc) or status_code
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            message = exc.message
        elif exc is not None and _status(exc):
            message = str(exc)
        else:
            message = self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}, ensure_ascii=False))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refusals are logged in one line; only real failures get a traceback."""
        if isinstance(value, ApiError) or (value is not None and _status(value)):
            app_log.info("%s %s -> %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


def _status(err: BaseException) -> int | None:
    """The HTTP status of a domain error, None for anything else."""
    if isinstance(err, archive.ArchiveTooLarge):
        return 413
    if isinstance(err, UnsafeName | archive.ArchiveError):
        return 400
    if isinstance(err, ExchangeError):
        return int(getattr(err, "status", 400))
    return None


@web.stream_request_body
class UploadHandler(ApiHandler):
    """Receives a ``.tar.gz`` body into a temporary file, within a limit."""

    limit: int = 0
    _body: IO[bytes] | None = None
    _received = 0

    def upload_limit(self) -> int:
        """Most bytes of compressed body accepted (the unpacked limit plus slack)."""
        return self.service.release_limit + 1024 * 1024

    def unpacked_limit(self) -> int:
        return self.service.release_limit

    async def prepare(self) -> None:
        await super().prepare()
        if self.request.method not in ("PUT", "POST"):
            return
        self.limit = self.upload_limit()
        length = int(self.request.headers.get("Content-Length") or 0)
        if length > self.limit:
            raise ApiError(413, self._too_large(length))
        # a chunked body over the limit is read to the end (up to twice the
        # limit) so that the client gets the 413 answer, not a broken pipe
        self.request.connection.set_max_body_size(2 * self.limit)  # type: ignore[union-attr]
        self._body = tempfile.SpooledTemporaryFile(8 * 1024 * 1024)

    def _too_large(self, size: int) -> str:
        return (
            f"the upload is {archive.human_size(size)}; the limit is "
            f"{archive.human_size(self.unpacked_limit())}: remove large files (data, outputs) "
            "and try again"
        )

    def data_received(self, chunk: bytes) -> None:
        if self._body is None:
            return
        self._received += len(chunk)
        if self._received <= self.limit:
            self._body.write(chunk)

    def on_finish(self) -> None:
        if self._body is not None:
            self._body.close()

    async def unpack_into(self, staged: Path) -> None:
        """Unpack the received body into ``staged`` (413 when over the limit)."""
        if self._body is None or self._received == 0:
            raise ApiError(400, "send the files as a .tar.gz request body")
        if self._received > self.limit:
            raise ApiError(413, self._too_large(self._received))
        self._body.seek(0)
        try:
            await self.run(
                archive.unpack, self._body, staged, max_bytes=self.unpacked_limit(),
                max_files=self.service.max_files,
            )  # fmt: skip
        except archive.ArchiveTooLarge as err:
            raise ApiError(413, f"{err}: remove large files (data, outputs) and try again") from err


class InfoHandler(ApiHandler):
    async def get(self) -> None:
        courses = self.caller.courses(set(self.service.courses))
        self.reply(
            {
                "service": "aione-exchange",
                "api_version": 1,
                "user": self.caller.name,
                "kind": self.caller.kind,
                "admin": self.caller.admin,
                "courses": [{"course_id": c, "role": r.name.lower()} for c, r in courses.items()],
                "submission_size_limit": self.service.submission_limit,
                "release_size_limit": self.service.release_limit,
                "max_files": self.service.max_files,
            }
        )


class ReleasesHandler(ApiHandler):
    async def get(self, course: str) -> None:
        require_member(self.caller, self.course(course))
        releases = await self.run(self.store.releases, course)
        self.reply({"assignments": [r.as_dict() for r in releases]})


class ReleaseHandler(UploadHandler):
    async def get(self, course: str, assignment: str) -> None:
        require_member(self.caller, self.course(course))
        release = await self.run(self.store.get_release, course, assignment)
        self.reply(release.as_dict())

    async def put(self, course: str, assignment: str) -> None:
        require_instructor(self.caller, self.course(course), "release assignments")
        check_name(assignment, "assignment")
        due_text = self.get_query_argument("due", "")
        due = parse_due(due_text) if due_text else None
        force = self.get_query_argument("force", "") in ("1", "true", "yes")
        with self.store.staging() as staged:
            await self.unpack_into(staged)
            release = await self.run(
                self.store.release, course, assignment, staged,
                by=self.caller.name, due=due, replace=force,
            )  # fmt: skip
        self.reply(release.as_dict(), 201)

    async def delete(self, course: str, assignment: str) -> None:
        require_instructor(self.caller, self.course(course), "withdraw releases")
        await self.run(self.store.unrelease, course, assignment)
        self.set_status(204)
        self.finish()


class ReleaseFilesHandler(ApiHandler):
    async def get(self, course: str, assignment: str) -> None:
        require_member(self.caller, self.course(course))
        folder = await self.run(self.store.release_files, course, assignment)
        await self.send_folder(folder)


class SubmitHandler(UploadHandler):
    def upload_limit(self) -> int:
        return self.service.submission_limit + 1024 * 1024

    def unpacked_limit(self) -> int:
        return self.service.submission_limit

    async def post(self, course: str, assignment: str) -> None:
        student = require_submitter(self.caller, self.course(course))
        await self.run(self.store.get_release, course, assignment)
        with self.store.staging() as staged:
            await self.unpack_into(staged)
            attempt = await self.run(self.store.submit, course, assignment, student, staged)
        self.reply(attempt.as_dict(), 201)


class SubmissionsHandler(ApiHandler):
    async def get(self, course: str) -> None:
        student = students_visible(
            self.caller, self.course(course), self.get_query_argument("student", None)
        )
        assignment = self.get_query_argument("assignment", None)
        if self.get_query_argument("latest", "") in ("1", "true"):
            if not assignment:
                raise ApiError(400, "latest=1 needs assignment=A")
            before_due = self.get_query_argument("before_due", "") in ("1", "true")
            found = await self.run(
                self.store.latest_attempts, course, assignment, before_due=before_due
            )
            found = [a for a in found if student is None or a.student == student]
        else:
            found = await self.run(self.store.attempts, course, assignment, student)
        self.reply({"submissions": [a.as_dict() for a in found]})


class SubmissionFilesHandler(ApiHandler):
    async def get(self, course: str, student: str, assignment: str, attempt: str) -> None:
        require_student_access(self.caller, self.course(course), student)
        folder = await self.run(self.store.attempt_files, course, student, assignment, attempt)
        await self.send_folder(folder)


class FeedbackListHandler(ApiHandler):
    async def get(self, course: str) -> None:
        student = students_visible(
            self.caller, self.course(course), self.get_query_argument("student", None)
        )
        assignment = self.get_query_argument("assignment", None)
        found = await self.run(self.store.feedback, course, assignment, student)
        self.reply({"feedback": [f.as_dict() for f in found]})


class FeedbackPutHandler(UploadHandler):
    async def put(self, course: str, student: str, assignment: str) -> None:
        require_instructor(self.caller, self.course(course), "deliver feedback")
        check_name(student, "student")
        timestamp = self.get_query_argument("timestamp", "")
        if not timestamp:
            raise ApiError(400, "give timestamp=<the submission's timestamp.txt>")
        with self.store.staging() as staged:
            await self.unpack_into(staged)
            fb = await self.run(
                self.store.put_feedback, course, student, assignment, timestamp, staged,
                by=self.caller.name,
            )  # fmt: skip
        self.reply(fb.as_dict(), 201)


class FeedbackFilesHandler(ApiHandler):
    async def get(self, course: str, student: str, assignment: str, attempt: str) -> None:
        require_student_access(self.caller, self.course(course), student)
        folder = await self.run(self.store.feedback_files, course, student, assignment, attempt)
        await self.send_folder(folder)


class NotFoundHandler(ApiHandler):
    async def get(self, *args: str) -> None:
        raise ApiError(404, f"no such exchange API path: {self.request.path}")

    post = put = delete = get


def handlers(prefix: str) -> list[tuple[str, type[web.RequestHandler]]]:
    """The URL routes of the API under ``prefix`` (the service prefix)."""
    api = url_path_join(prefix, "api")
    seg = r"([^/]+)"
    routes: list[tuple[str, type[web.RequestHandler]]] = [
        (rf"{api}/?", InfoHandler),
        (rf"{api}/courses/{seg}/assignments/?", ReleasesHandler),
        (rf"{api}/courses/{seg}/assignments/{seg}/?", ReleaseHandler),
        (rf"{api}/courses/{seg}/assignments/{seg}/files/?", ReleaseFilesHandler),
        (rf"{api}/courses/{seg}/assignments/{seg}/submissions/?", SubmitHandler),
        (rf"{api}/courses/{seg}/submissions/?", SubmissionsHandler),
        (rf"{api}/courses/{seg}/submissions/{seg}/{seg}/{seg}/files/?", SubmissionFilesHandler),
        (rf"{api}/courses/{seg}/feedback/?", FeedbackListHandler),
        (rf"{api}/courses/{seg}/feedback/{seg}/{seg}/?", FeedbackPutHandler),
        (rf"{api}/courses/{seg}/feedback/{seg}/{seg}/{seg}/files/?", FeedbackFilesHandler),
        (rf"{api}/(.*)", NotFoundHandler),
    ]
    return routes


class ExchangeService(Application):
    """The exchange service process (``python -m graders.exchange.service``)."""

    name = "aione-exchange"
    description = "aione's hub-native nbgrader exchange: a JupyterHub service."

    ip = Unicode("127.0.0.1", help="Address to listen on (the learner network's gateway).").tag(
        config=True
    )
    port = Integer(8090, help="Port to listen on.").tag(config=True)
    store_root = Unicode(help="Folder of the exchange store (<state_dir>/exchange).").tag(
        config=True
    )
    base_url = Unicode(help="URL prefix of the service; default $JUPYTERHUB_SERVICE_PREFIX.").tag(
        config=True
    )
    courses = List(Unicode(), help="Course ids on this hub; others are 404.").tag(config=True)
    submission_limit = Integer(100 * 1024**2, help="Largest submission in bytes (unpacked).").tag(
        config=True
    )
    release_limit = Integer(
        1024**3, help="Largest release or feedback of one student in bytes (unpacked)."
    ).tag(config=True)
    max_files = Integer(2000, help="Most files in one upload.").tag(config=True)
    trusted_services = List(
        Unicode(), ["aione-automation"], help="Services whose tokens act as admins."
    ).tag(config=True)
    membership_cache_s = Float(10.0, help="Seconds a caller's groups are remembered.").tag(
        config=True
    )

    @default("base_url")
    def _default_base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/aione-exchange/")

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if not self.store_root:
            raise SystemExit("aione-exchange: give --ExchangeService.store_root=<folder>")
        self.hub_auth = HubAuth(access_scopes=set(), cache_max_age=60)
        self.membership = Membership(
            self.hub_auth, set(self.trusted_services), self.membership_cache_s
        )
        self.store = ExchangeStore(Path(self.store_root))
        self.store.root.mkdir(parents=True, exist_ok=True)
        self.store.root.chmod(0o700)

    def make_app(self) -> web.Application:
        return web.Application(
            handlers(self.base_url),
            exchange_store=self.store,
            exchange_service=self,
            default_handler_class=NotFoundHandler,
        )

    def start(self) -> None:
        app = self.make_app()
        app.listen(self.port, address=self.ip, xheaders=True)
        self.log.info(
            "aione-exchange on http://%s:%s%s (store %s, courses: %s)", self.ip, self.port,
            self.base_url, self.store_root, ", ".join(self.courses) or "none",
        )  # fmt: skip
        IOLoop.current().start()


main = ExchangeService.launch_instance

if __name__ == "__main__":
    main()
