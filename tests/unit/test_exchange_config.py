"""The exchange's hub config, settings, instructor hook and formgrader frame policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from tornado.httputil import HTTPHeaders, HTTPServerRequest
from traitlets.config import Config

from graders.exchange.formgrader_frame import formgrader_transform, launcher_page
from graders.exchange.hubconfig import update_exchange
from graders.exchange.instructor import (
    instructor_courses,
    instructor_environment,
    instructor_mounts,
)
from graders.exchange.service import ExchangeService
from graders.exchange.settings import ExchangeSection
from hub.configure import Runtime, apply
from hub.errors import SettingsError
from hub.settings import Settings, load_settings

RT = Runtime(hub_ip="172.30.0.1", proxy_command=["chp"], proxy_auth_token="p", api_token="a")


def _settings(tmp_path: Path, courses: tuple[str, ...] = ("mfg", "fin")) -> Settings:
    return Settings.model_validate(
        {"state_dir": str(tmp_path), "courses": [{"id": c} for c in courses]}
    )


def test_update_exchange_adds_without_replacing(tmp_path: Path) -> None:
    c = Config()
    c.JupyterHub.services = [{"name": "other", "api_token": "x"}]
    c.JupyterHub.load_roles = [{"name": "r", "scopes": ["read:hub"], "services": ["other"]}]
    c.AioneSpawner.aione_environment = {"AIONE_DATA_DIR": "/srv/data"}
    s = _settings(tmp_path)
    update_exchange(c, s, RT)
    names = [svc["name"] for svc in c.JupyterHub.services]
    assert names == ["other", "aione-exchange"]
    svc = c.JupyterHub.services[-1]
    assert svc["url"] == f"http://172.30.0.1:{s.hub.exchange_port}"
    assert svc["display"] is False
    cmd = svc["command"]
    assert cmd[:3] == [RT.python, "-m", "graders.exchange.service"]
    assert f"--ExchangeService.store_root={tmp_path / 'exchange'}" in cmd
    assert "--ExchangeService.courses=mfg" in cmd and "--ExchangeService.courses=fin" in cmd
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["r", "aione-exchange"]
    role = c.JupyterHub.load_roles[-1]
    assert role == {
        "name": "aione-exchange",
        "scopes": ["read:users:name", "read:users:groups"],
        "services": ["aione-exchange"],
    }
    assert c.AioneSpawner.aione_environment == {
        "AIONE_DATA_DIR": "/srv/data",
        "AIONE_EXCHANGE_URL": f"http://172.30.0.1:{s.hub.exchange_port}/services/aione-exchange/",
    }


def test_full_apply_keeps_automation_and_culler(tmp_path: Path) -> None:
    c = apply(Config(), _settings(tmp_path), RT)
    names = [svc["name"] for svc in c.JupyterHub.services]
    assert "aione-automation" in names and "idle-culler" in names
    assert names.count("aione-exchange") == 1
    assert c.AioneSpawner.aione_environment["AIONE_EXCHANGE_URL"].endswith(
        "/services/aione-exchange/"
    )


def test_service_command_parses_back_into_its_traits(tmp_path: Path) -> None:
    c = Config()
    update_exchange(c, _settings(tmp_path), RT)
    argv = c.JupyterHub.services[-1]["command"][3:]
    app = ExchangeService()
    app.parse_command_line(argv)
    assert app.ip == "172.30.0.1"
    assert app.courses == ["mfg", "fin"]
    assert app.submission_limit == 100 * 1024**2
    assert app.trusted_services == ["aione-automation"]


def test_section_validation() -> None:
    section = ExchangeSection(submission_size_limit="2M", url="https://hub.example.org/x")
    assert section.submission_limit_bytes == 2 * 1024**2
    assert section.url == "https://hub.example.org/x/"
    with pytest.raises(ValidationError, match="too small"):
        ExchangeSection(submission_size_limit="10")
    with pytest.raises(ValidationError, match="not a size"):
        ExchangeSection(release_size_limit="lots")
    with pytest.raises(ValidationError, match="http"):
        ExchangeSection(url="hub.example.org")
    with pytest.raises(ValidationError, match="extra"):
        ExchangeSection.model_validate({"size_limit": "1M"})


def test_exchange_section_in_the_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "aione.yaml"
    path.write_text("exchange:\n  submission_size_limit: 20M\n  formgrader_frame: same-origin\n")
    s = load_settings(path, state_dir=str(tmp_path))
    c = Config()
    update_exchange(c, s, RT)
    assert "--ExchangeService.submission_limit=20971520" in c.JupyterHub.services[-1]["command"]
    assert instructor_environment(["course-mfg-instructors"], _settings(tmp_path)) != {}
    path.write_text("exchange:\n  size_limit: 20M\n")
    with pytest.raises(SettingsError, match="exchange.size_limit"):
        load_settings(path, state_dir=str(tmp_path))


def test_instructor_hook_only_for_instructors_of_known_courses(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    teacher = ["course-mfg-instructors", "course-fin-learners", "course-gone-instructors"]
    assert instructor_courses(teacher, s) == ["mfg"]
    assert instructor_mounts(teacher, s) == {
        str(tmp_path / "courses" / "mfg"): {"bind": "/home/jovyan/courses/mfg", "mode": "rw"}
    }
    env = instructor_environment(teacher, s)
    assert env == {
        "JUPYTER_CONFIG_PATH": "/etc/aione/instructor",
        "AIONE_INSTRUCTOR_COURSES": "mfg",
        "AIONE_FORMGRADER_FRAME": "launcher",
    }
    learner = ["course-mfg-learners", "cohort-2026"]
    assert instructor_mounts(learner, s) == {}
    assert instructor_environment(learner, s) == {}


def _request(path: str, dest: str | None) -> HTTPServerRequest:
    headers = HTTPHeaders({"Sec-Fetch-Dest": dest} if dest else {})
    return HTTPServerRequest(method="GET", uri=path, headers=headers)


def _through(transform: type, path: str, dest: str | None) -> tuple[int, HTTPHeaders, bytes]:
    t = transform(_request(path, dest))
    headers = HTTPHeaders({"Content-Security-Policy": "frame-ancestors 'none'", "Location": "x"})
    status, out, body = t.transform_first_chunk(302, headers, b"real", False)
    return status, out, body + t.transform_chunk(b" more", True)


def test_launcher_replaces_only_framed_formgrader_pages() -> None:
    launcher = formgrader_transform("/user/teach/", "launcher")
    status, headers, body = _through(launcher, "/user/teach/formgrader", "iframe")
    assert status == 200 and "Location" not in headers
    csp = headers["Content-Security-Policy"]
    assert csp.startswith("sandbox allow-scripts") and "allow-same-origin" not in csp
    assert "frame-ancestors 'self'" in csp
    assert int(headers["Content-Length"]) == len(body)
    assert b"help:open" in body and b"/user/teach/formgrader/" in body
    # the formgrader itself, opened in its own tab, keeps JupyterHub's policy
    status, headers, body = _through(
        launcher, "/user/teach/formgrader/manage_assignments", "document"
    )
    assert (status, headers["Content-Security-Policy"], body) == (
        302, "frame-ancestors 'none'", b"real more",
    )  # fmt: skip
    # other paths, and other users' prefixes, are untouched even in a frame
    for path in ("/user/teach/lab", "/user/teach/formgraderx", "/user/other/formgrader"):
        assert _through(launcher, path, "iframe")[2] == b"real more"


def test_same_origin_mode_relaxes_formgrader_only() -> None:
    framed = formgrader_transform("/user/teach/", "same-origin")
    status, headers, body = _through(framed, "/user/teach/formgrader/api/status", "iframe")
    assert headers["Content-Security-Policy"] == "frame-ancestors 'self'" and body == b"real more"
    _, headers, _ = _through(framed, "/user/teach/api/contents", "iframe")
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    with pytest.raises(ValueError, match="launcher, same-origin"):
        formgrader_transform("/", "anything")


def test_launcher_page_escapes_the_url() -> None:
    body, csp = launcher_page('/user/x"<script>/formgrader/')
    assert b"<script>/formgrader" not in body
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"'.encode() in body
