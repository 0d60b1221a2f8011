"""nbgrader's learner server extensions, loaded at their first request instead of at start.

nbgrader's ``assignment_list`` and ``validate_assignment`` server extensions
import ``nbgrader.apps`` (nbconvert, bleach, the gradebook models) when the
learner's server starts: about 0.2 s of a 1.3 s start and 15-20 MB of every
idle server, for tools a learner opens minutes later, if at all.

This server extension, enabled in the learner image in their place, puts one
routing rule on their URLs (``/assignments...``, ``/courses``,
``/nbgrader_version``). The first request that reaches it imports nbgrader and
runs nbgrader's own loaders (same handlers, same settings, same config), which
blocks that one request for the import; every request is then answered by
nbgrader's handlers. Nothing of nbgrader's behaviour changes; only when it
loads. Imports nothing from :mod:`hub` and nothing heavy at module level.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from jupyter_server.utils import url_path_join
from tornado import httputil, routing

#: nbgrader's learner extensions, each module with ``load_jupyter_server_extension``.
EXTENSIONS = (
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.validate_assignment",
)

#: The URL paths (below the server's base URL) their handlers serve.
PATHS = r"(?:assignments(?:/.*)?|courses|nbgrader_version)"


class LazyExtensions(routing.Router):
    """A router for ``EXTENSIONS``' URLs that loads them on its first request.

    nbgrader's loaders add their handlers to the web application as new host
    rules; this router moves those rules behind itself, so they answer only
    through it and sit nowhere else in the application's routing table.
    """

    #: Jupyter Server checks every handler it is given for auth decorators; this router
    #: answers no method itself. nbgrader's handlers are checked when its loaders add them.
    SUPPORTED_METHODS: tuple[str, ...] = ()

    def __init__(self, serverapp: Any) -> None:
        self.serverapp = serverapp
        self.router: routing.RuleRouter | None = None

    def load(self) -> routing.RuleRouter:
        """Import and load the extensions once (on the server's event loop thread). When
        one fails, its error reaches the request that triggered the load (and the
        server's log); what did load stays, and no later request tries again."""
        if self.router is None:
            rules = self.serverapp.web_app.default_router.rules
            before = {id(rule) for rule in rules}
            try:
                for name in EXTENSIONS:
                    self.serverapp.log.info("Loading %s at its first request", name)
                    importlib.import_module(name).load_jupyter_server_extension(self.serverapp)
            finally:
                added = [rule for rule in rules if id(rule) not in before]
                for rule in added:
                    rules.remove(rule)
                self.router = routing.RuleRouter(added)
        return self.router

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        return self.load().find_handler(request, **kwargs)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "graders.exchange.lazy_nbgrader"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Route ``PATHS`` below the base URL to a :class:`LazyExtensions`."""
    base_url = serverapp.web_app.settings["base_url"]
    pattern = url_path_join(re.escape(base_url), PATHS) + "$"
    serverapp.web_app.add_handlers(
        ".*$", [routing.Rule(routing.PathMatches(pattern), LazyExtensions(serverapp))]
    )
