"""The Ansible playbooks and roles pass ansible-lint (production profile) and a syntax check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
BIN = Path(sys.executable).parent
PLAYBOOKS = ("site.yml", "backup.yml", "restore.yml")


def _run(tmp_path: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    return subprocess.run(cmd, cwd=ANSIBLE, env=env, capture_output=True, text=True, timeout=600)


def test_syntax_check(tmp_path: Path) -> None:
    proc = _run(
        tmp_path, str(BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory/example",
        *PLAYBOOKS,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile(tmp_path: Path) -> None:
    proc = _run(tmp_path, str(BIN / "ansible-lint"), "--offline", "--profile", "production")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "Profile 'production' was required, and it passed" in proc.stderr + proc.stdout


def test_example_inventory_has_the_three_kinds_of_node() -> None:
    hosts = yaml.safe_load((ANSIBLE / "inventory" / "example" / "hosts.yml").read_text())
    groups = hosts["all"]["children"]["aione_nodes"]["children"]
    workers = groups["aione_workers"]["children"]
    assert groups["aione_managers"]["hosts"]
    assert workers["aione_cpu_workers"]["hosts"] and workers["aione_gpu_workers"]["hosts"]


def test_every_role_default_is_prefixed_with_its_role() -> None:
    for defaults in sorted(ANSIBLE.glob("roles/*/defaults/main.yml")):
        role = defaults.parent.parent.name
        names = yaml.safe_load(defaults.read_text()) or {}
        stray = [n for n in names if not n.startswith(f"{role}_")]
        assert not stray, f"{defaults}: {stray} should start with {role}_"
