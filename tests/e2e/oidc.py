"""A real OpenID Connect provider for tests: ``oidc_provider.js`` under Node.js.

:class:`OidcProvider` writes the provider's config and users, starts it on a
free port of 127.0.0.1 and stops it; :meth:`OidcProvider.set_user` changes a
user (their groups) while it runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.hubproc import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.js")
NODE = shutil.which("node") or "/usr/bin/node"


class OidcProvider:
    """One provider process with one confidential client."""

    def __init__(self, tmp: Path, users: dict[str, dict[str, Any]]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = "aione-hub"
        self.client_secret = "aione-test-client-secret"
        self.users_file = tmp / "oidc-users.json"
        self.config_file = tmp / "oidc-config.json"
        self.log_path = tmp / "oidc.log"
        self.users = users
        self.users_file.write_text(json.dumps(users))
        self.proc: subprocess.Popen[bytes] | None = None

    def settings(
        self, secret_file: Path, rules: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        """The ``auth`` settings section for a hub using this provider."""
        secret_file.write_text(self.client_secret)
        secret_file.chmod(0o600)
        return {
            "kind": "oidc",
            "oidc": {
                "issuer": self.issuer,
                "client_id": self.client_id,
                "client_secret_file": str(secret_file),
                "scopes": ["openid", "profile", "email", "groups"],
                "login_service": "Test SSO",
                "rules": rules,
                **extra,
            },
        }

    def start(self, redirect_uri: str, timeout: float = 30) -> None:
        self.config_file.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "issuer": self.issuer,
                    "users_file": str(self.users_file),
                    "clients": [
                        {
                            "client_id": self.client_id,
                            "client_secret": self.client_secret,
                            "redirect_uris": [redirect_uri],
                        }
                    ],
                }
            )
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [NODE, str(SCRIPT), str(self.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
        deadline = time.monotonic() + timeout
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the provider exited:\n{self.log()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if json.load(resp)["issuer"] == self.issuer:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"the provider did not answer in {timeout} s:\n{self.log()}")

    def set_user(self, name: str, **fields: Any) -> None:
        """Change a user's fields (e.g. ``groups``); the provider reads them at once."""
        self.users[name] = {**self.users.get(name, {}), **fields}
        self.users_file.write_text(json.dumps(self.users))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
