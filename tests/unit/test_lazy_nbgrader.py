"""nbgrader's learner tools load at their first request, in a real Jupyter server.

The server runs on the host's Python with the same extension settings as the
learner image (nbgrader's learner extensions off, graders.exchange.lazy_nbgrader on).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbgrader
import pytest

from tests.hubproc import free_port

EXTENSIONS = {
    "graders.exchange.lazy_nbgrader": True,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.validate_assignment": False,
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    "jupyter_lsp": False,
}
NBGRADER_LOADED = "Loading the assignment_list nbgrader serverextension"


class Server:
    """A ``jupyter server`` subprocess with the learner image's extension settings."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.token = free_port(), secrets.token_hex(8)
        self.log_path = tmp / "server.log"
        config_dir = tmp / "config"
        config_dir.mkdir()
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": EXTENSIONS}})
        )
        root = tmp / "root"
        root.mkdir()
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir), "PYTHONPATH": os.getcwd()}
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyter_server",
                    "--no-browser",
                    "--allow-root",  # CI runs as root
                    "--ServerApp.ip=127.0.0.1",
                    f"--ServerApp.port={self.port}",
                    f"--ServerApp.root_dir={root}",
                    f"--IdentityProvider.token={self.token}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log()}")
            try:
                if self.get("/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"jupyter server not up in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    try:
        srv.wait_up()
        yield srv
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def test_nbgrader_loads_at_first_request_and_answers(server: Server) -> None:
    assert NBGRADER_LOADED not in server.log(), "nbgrader was loaded at start"

    status, body = server.get(f"/nbgrader_version?version={nbgrader.__version__}")
    assert status == 200, body
    assert json.loads(body)["success"] is True
    assert NBGRADER_LOADED in server.log()

    status, body = server.get("/nbgrader_version?version=0.0.1")
    assert status == 200 and json.loads(body)["success"] is False  # nbgrader's own answer
    assert server.log().count(NBGRADER_LOADED) == 1, "loaded more than once"


def test_unknown_paths_below_the_rule_are_404(server: Server) -> None:
    assert server.get("/assignments/bogus-action")[0] == 404
    assert server.get("/api/status")[0] == 200


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_requests_need_the_servers_auth(server: Server) -> None:
    """Without a token nbgrader's handler sends the browser to the login page."""
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(f"http://127.0.0.1:{server.port}/assignments?course_id=c", timeout=30)
    assert err.value.code == 302
    assert "/login" in err.value.headers["Location"]
    assert NBGRADER_LOADED in server.log()  # the handler that refused was nbgrader's
