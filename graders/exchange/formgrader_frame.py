"""The formgrader inside JupyterLab on JupyterHub 4.1+, without a blank frame.

Why the frame is blank (nbgrader#1870): JupyterLab's "Formgrader" command
opens ``<server>/formgrader`` in an ``<iframe>``. Since JupyterHub 4.1
(the fix of CVE-2024-28233), every single-user server sends
``Content-Security-Policy: frame-ancestors 'none'`` unless configured
otherwise, so the browser refuses to render the formgrader in the frame.

Why not simply allow ``frame-ancestors 'self'`` (nbgrader#1915, reverted in
#1947): on a hub where all servers share one origin, "self" includes every
learner's server. A learner can serve any page from their own server; framed
same-origin, the instructor's formgrader would be readable and drivable by
that page (the XSRF cookie, the gradebook, hidden tests).

What this extension does, for requests under ``<base_url>formgrader``:

- ``launcher`` (default): a request for a frame (``Sec-Fetch-Dest: iframe``)
  is answered with a small page, sandboxed by its own CSP into an opaque
  origin (so a framing page can read nothing), with a button that asks
  JupyterLab (``help:open``, through the frame's ``postMessage`` channel that
  nbgrader's frame widget already listens to) to open the formgrader in its
  own browser tab, where it runs with ``frame-ancestors 'none'`` intact.
- ``same-origin``: formgrader responses carry ``frame-ancestors 'self'`` and
  render in the frame. Only for hubs where every server has its own origin
  (JupyterHub subdomains).

Enabled on instructors' servers only (see :mod:`graders.exchange.instructor`);
the mode comes from ``$AIONE_FORMGRADER_FRAME``. Imports nothing from :mod:`hub`.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from typing import Any

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.web import OutputTransform

MODES = ("launcher", "same-origin")
FRAME_DESTS = frozenset({"iframe", "frame"})

LAUNCHER = """<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>Formgrader</title>
<style nonce="{nonce}">
body {{ font-family: system-ui, sans-serif; margin: 3em auto; max-width: 36em; color: #222; }}
button {{ font-size: 1.1em; padding: .6em 1.2em; cursor: pointer; }}
p {{ line-height: 1.5; }}
</style></head>
<body>
<h2>Formgrader</h2>
<p>채점기(formgrader)는 보안을 위해 새 브라우저 탭에서 열립니다.<br>
The formgrader opens in its own browser tab: JupyterHub forbids framing a
server's pages, so that no other page on this hub can read them.</p>
<p><button id="open" type="button">새 탭에서 열기 / Open in a new tab</button></p>
<p>If nothing opens, use this link with "Open link in new tab":
<a href="{url}" target="_blank" rel="noopener">{url}</a></p>
<script nonce="{nonce}">
document.getElementById("open").addEventListener("click", function () {{
  parent.postMessage({message}, "*");
}});
</script>
</body></html>
"""


def launcher_page(formgrader_url: str) -> tuple[bytes, str]:
    """The launcher's HTML and its Content-Security-Policy (opaque-origin sandbox)."""
    nonce = secrets.token_urlsafe(16)
    message = json.dumps(
        json.dumps(
            {
                "command": "help:open",
                "arguments": {"url": formgrader_url, "text": "Formgrader", "newBrowserTab": True},
            }
        )
    ).replace("<", "\\u003c")
    body = LAUNCHER.format(nonce=nonce, url=html.escape(formgrader_url), message=message)
    csp = (
        "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox; "
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "frame-ancestors 'self'"
    )
    return body.encode("utf-8"), csp


def formgrader_transform(base_url: str, mode: str) -> type[OutputTransform]:
    """An output transform for a server at ``base_url`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"formgrader frame mode {mode!r} is not one of {', '.join(MODES)}")
    prefix = base_url.rstrip("/") + "/formgrader"

    class FormgraderFrame(OutputTransform):
        def __init__(self, request: HTTPServerRequest) -> None:
            path = request.path or ""
            self.applies = path == prefix or path.startswith(prefix + "/")
            framed = request.headers.get("Sec-Fetch-Dest", "") in FRAME_DESTS
            self.launch = self.applies and framed and mode == "launcher"

        def transform_first_chunk(
            self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
        ) -> tuple[int, HTTPHeaders, bytes]:
            if self.launch:
                body, csp = launcher_page(prefix + "/")
                fresh = HTTPHeaders()
                fresh["Content-Type"] = "text/html; charset=UTF-8"
                fresh["Content-Security-Policy"] = csp
                fresh["Content-Length"] = str(len(body))
                fresh["Cache-Control"] = "no-store"
                fresh["X-Content-Type-Options"] = "nosniff"
                return 200, fresh, body
            if self.applies and mode == "same-origin":
                headers["Content-Security-Policy"] = "frame-ancestors 'self'"
            return status_code, headers, chunk

        def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
            return b"" if self.launch else chunk

    return FormgraderFrame


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "graders.exchange.formgrader_frame"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    mode = os.environ.get("AIONE_FORMGRADER_FRAME", "launcher")
    transform = formgrader_transform(serverapp.base_url, mode)
    serverapp.web_app.add_transform(transform)
    serverapp.log.info("aione formgrader frame: %s mode under %sformgrader", mode,
                       serverapp.base_url)  # fmt: skip
