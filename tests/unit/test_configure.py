"""Settings to traitlets: a plain Config() fed through hub.configure.apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from hub.configure import AUTOMATION_SCOPES, Runtime, apply
from hub.errors import SettingsError
from hub.settings import load_settings, parse_bytes

RT = Runtime(hub_ip="172.30.0.1", proxy_command=["/x/chp"], proxy_auth_token="p" * 64)


def configured(tmp_path: Path, text: str = "", rt: Runtime = RT) -> Config:
    path = tmp_path / "aione.yaml"
    path.write_text(text)
    return apply(Config(), load_settings(path, state_dir=str(tmp_path / "state")), rt)


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIONE_CONFIG", raising=False)
    monkeypatch.setenv("AIONE_STATE_DIR", str(tmp_path / "s"))
    s = load_settings(None) if not Path("/etc/aione/aione.yaml").exists() else None
    if s is None:
        pytest.fail("/etc/aione/aione.yaml exists on this machine; the default test needs none")
    c = apply(Config(), s, RT)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 's' / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.cookie_secret_file == str(tmp_path / "s" / "jupyterhub_cookie_secret")
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.hub_ip == "172.30.0.1"
    assert c.JupyterHub.authenticator_class == "hub.auth.AioneAuthenticator"
    assert c.ConfigurableHTTPProxy.command == ["/x/chp"]


def test_spawner_volumes_limits_and_network(tmp_path: Path) -> None:
    c = configured(
        tmp_path,
        "spawner:\n  image: aione/learner:test\n  cpu_limit: 2\n  mem_limit: 1.5G\n"
        "  network: labnet\n  data_mount: /data\n",
    )
    sp = c.AioneSpawner
    assert sp.image == "aione/learner:test"
    assert sp.pull_policy == "never"
    assert sp.cpu_limit == 2.0
    assert sp.mem_limit == int(1.5 * 1024**3)
    assert sp.network_name == "labnet" and sp.use_internal_ip is True
    assert sp.volumes == {
        "aione-home-{username}": "/home/jovyan",
        "aione-data": {"bind": "/data", "mode": "ro"},
    }
    assert sp.aione_environment["AIONE_DATA_DIR"] == "/data"


def test_culler_and_automation_service(tmp_path: Path) -> None:
    rt = Runtime(hub_ip="10.0.0.1", proxy_command=["chp"], proxy_auth_token="t", api_token="abc")
    c = configured(tmp_path, "culler:\n  timeout: 900\n  every: 60\n", rt)
    names = [s["name"] for s in c.JupyterHub.services]
    assert names[:2] == ["idle-culler", "aione-automation"]
    culler = c.JupyterHub.services[0]
    assert "--timeout=900" in culler["command"] and "--cull-every=60" in culler["command"]
    automation = next(r for r in c.JupyterHub.load_roles if r["name"] == "aione-automation")
    assert automation["scopes"] == AUTOMATION_SCOPES
    assert c.JupyterHub.services[1]["api_token"] == "abc"


def test_no_automation_service_without_token(tmp_path: Path) -> None:
    c = configured(tmp_path, "culler:\n  enabled: false\n")
    names = [s["name"] for s in c.JupyterHub.services]
    assert "aione-automation" not in names and "idle-culler" not in names


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("hub:\n  prot: 1\n", "key 'hub.prot' is unknown"),
        ("hub:\n  port: 99999\n", "key 'hub.port'"),
        ("spawner:\n  mem_limit: lots\n", "'lots' is not a size"),
        ("spawner:\n  home_volume: homes\n", "must contain {username}"),
        ("colour: blue\n", "key 'colour' is unknown"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("hub: [\n", "not valid YAML"),
        ("courses:\n  - id: Bad_ID\n", "lowercase letters"),
        ("courses:\n  - id: a\n  - id: a\n", "repeated: a"),
    ],
)
def test_bad_settings_name_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "aione.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)


def test_missing_settings_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read the settings file"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512M", 512 * 1024**2), ("2G", 2 * 1024**3), ("1.5GiB", int(1.5 * 1024**3)), (7, 7)],
)
def test_parse_bytes(text: str | int, expected: int) -> None:
    assert parse_bytes(text) == expected
