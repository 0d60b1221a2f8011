"""A small, typed client of the running hub's REST API, for every ``aione`` command.

The hub is found from ``$AIONE_HUB_URL`` or else the settings (the public
address ``hub.ip``:``hub.port``); the token from ``$AIONE_API_TOKEN`` (the
token of the ``aione-automation`` service the hub was started with).

Every failure raises :class:`HubRequestError`, a
:class:`~hub.errors.HubAPIError` carrying the HTTP status and the hub's own
message. :attr:`HubClient.calls` counts requests (the roster benchmark reports
it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from hub.errors import HubAPIError
from hub.settings import Settings

log = logging.getLogger(__name__)

URL_ENV = "AIONE_HUB_URL"
TOKEN_ENV = "AIONE_API_TOKEN"
PAGINATION = "application/jupyterhub-pagination+json"
PAGE_SIZE = 200  # JupyterHub's api_page_max_limit


class HubRequestError(HubAPIError):
    """The hub answered an error (``status``) or did not answer (``status`` 0)."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.method, self.path, self.status, self.message = method, path, status, message
        super().__init__(f"hub API {method} {path}: {status} {message}{_fix(status)}")


def _fix(status: int) -> str:
    if status in (401, 403):
        return (
            f"; set ${TOKEN_ENV} to the token the hub was started with "
            "(its aione-automation service)"
        )
    return ""


class HubClient:
    """Calls to one hub's ``/hub/api``. Keeps one HTTP connection alive."""

    def __init__(self, url: str, token: str, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.calls = 0
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"token {token}"

    def close(self) -> None:
        """Close the connection."""
        self._session.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON body (None when empty).

        Raises :class:`HubRequestError` with the hub's message on any status
        of 400 or more, and with status 0 when no hub answers.
        """
        self.calls += 1
        url = f"{self.url}/hub/api{path}"
        try:
            resp = self._session.request(
                method, url, json=body, params=params, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as err:
            raise HubRequestError(
                method,
                path,
                0,
                f"no hub answers at {self.url} ({err.__class__.__name__}); start it with "
                f"'aione up' or set ${URL_ENV} to its address",
            ) from err
        if resp.status_code >= 400:
            raise HubRequestError(method, path, resp.status_code, _message(resp))
        return resp.json() if resp.content else None

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a paginated list endpoint, page by page."""
        offset = 0
        while True:
            page = self.request(
                "GET",
                path,
                params={**(params or {}), "offset": offset, "limit": PAGE_SIZE},
                headers={"Accept": PAGINATION},
            )
            items = page["items"] if isinstance(page, dict) else page
            yield from items
            nxt = page.get("_pagination", {}).get("next") if isinstance(page, dict) else None
            if not nxt or not items:
                return
            offset = int(nxt["offset"])

    # users
    def users(self, state: str | None = None) -> list[dict[str, Any]]:
        """Every user model (with ``groups``); ``state="active"``: only users with
        a server running or starting (JupyterHub builds each model, so listing
        thousands of users takes seconds)."""
        return list(self.paginate("/users", {"state": state} if state else None))

    def user(self, name: str) -> dict[str, Any] | None:
        """The user model, or None when there is no such user."""
        try:
            model: dict[str, Any] = self.request("GET", f"/users/{name}")
        except HubRequestError as err:
            if err.status == 404:
                return None
            raise
        return model

    def create_users(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Create ``names`` in one request; existing ones are skipped (also when
        all exist). Returns the models of the users created."""
        try:
            created: list[dict[str, Any]] = self.request(
                "POST", "/users", {"usernames": list(names)}
            )
        except HubRequestError as err:
            if err.status == 409:  # "All N users already exist"
                return []
            raise
        return created

    def stop_server(self, name: str) -> None:
        """Ask the hub to stop ``name``'s default server (no error if none runs)."""
        self.request("DELETE", f"/users/{name}/server")

    # groups
    def groups(self) -> list[dict[str, Any]]:
        """Every group model (``name``, ``users``, ``properties``)."""
        return list(self.paginate("/groups"))

    def group(self, name: str) -> dict[str, Any] | None:
        """The group model, or None when there is no such group."""
        try:
            model: dict[str, Any] = self.request("GET", f"/groups/{name}")
        except HubRequestError as err:
            if err.status == 404:
                return None
            raise
        return model

    def create_group(self, name: str, users: Sequence[str] = ()) -> None:
        """Create group ``name`` with ``users`` as members."""
        self.request("POST", f"/groups/{name}", {"users": list(users)})

    def add_group_users(self, name: str, users: Sequence[str]) -> None:
        """Add ``users`` to group ``name``."""
        self.request("POST", f"/groups/{name}/users", {"users": list(users)})

    def remove_group_users(self, name: str, users: Sequence[str]) -> None:
        """Remove ``users`` from group ``name``."""
        self.request("DELETE", f"/groups/{name}/users", {"users": list(users)})

    def set_group_properties(self, name: str, properties: Mapping[str, Any]) -> None:
        """Replace the properties of group ``name``."""
        self.request("PUT", f"/groups/{name}/properties", dict(properties))


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or resp.text[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return resp.reason or str(body)[:200]


def hub_url(settings: Settings | None) -> str:
    """``$AIONE_HUB_URL``, else the public address in the settings."""
    env = os.environ.get(URL_ENV)
    if env:
        return env
    if settings is None:
        raise HubAPIError(f"no hub address: set ${URL_ENV} or give the settings file (--config)")
    ip = settings.hub.ip if settings.hub.ip not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{ip}:{settings.hub.port}"


def client_from_environment(settings: Settings | None) -> HubClient:
    """A client of the hub named by the environment or the settings.

    Raises :class:`~hub.errors.HubAPIError` when no token is set.
    """
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise HubAPIError(
            f"no API token: set ${TOKEN_ENV} to the token the hub was started with "
            f"(aione up reads the same variable for its aione-automation service)"
        )
    url = hub_url(settings)
    log.debug("Hub API at %s", url)
    return HubClient(url, token)
