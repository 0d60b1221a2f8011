"""A demo learner signs in with a browser, lands in JupyterLab in Korean, runs a cell."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import chromium
from tests.hubproc import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def demo_hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path)
    try:
        proc.start("--demo")
        yield proc
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            proc.dump_logs()
        proc.cleanup()


def demo_password(hub: HubProcess, user: str) -> str:
    match = re.search(rf"^\s+{user}\s+(\S+)$", hub.log(), re.MULTILINE)
    assert match, f"no password for {user} in the hub's output"
    return match.group(1)


def test_demo_learner_runs_a_cell_in_korean_jupyterlab(
    demo_hub: HubProcess, tmp_path: Path
) -> None:
    password = demo_password(demo_hub, "demo-learner1")
    with chromium() as browser:
        page = browser.new_page(locale="ko-KR")
        page.set_default_timeout(90_000)
        page.goto(f"{demo_hub.url}/hub/login")
        page.fill("#username_input", "demo-learner1")
        page.fill("#password_input", password)
        page.click("#login_submit")
        page.wait_for_url(re.compile(r"/user/demo-learner1/lab"), timeout=120_000)
        page.wait_for_selector("#jp-main-dock-panel")
        # Korean UI by default: the menu bar says 파일 (File); launcher category 노트북.
        menubar = page.locator("#jp-menu-panel, .lm-MenuBar").first
        menubar.wait_for()
        assert "파일" in menubar.inner_text()
        page.locator(".jp-LauncherCard[data-category='노트북']").first.click()
        cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
        cell.wait_for()
        # The status bar says "Python 3 (ipykernel) | 대기" (idle) once the kernel is connected.
        page.get_by_text(re.compile(r"ipykernel\) \| 대기")).first.wait_for()
        cell.click()
        page.keyboard.type("print(5 * 4, '한글')")
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-OutputArea-output").first
        output.wait_for()
        assert "20 한글" in output.inner_text()
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))

        # nbgrader's Assignments panel loads its server side at this first request
        # (graders.exchange.lazy_nbgrader) and lists what the exchange holds.
        page.keyboard.press("Control+Shift+C")
        palette = page.locator(".lm-CommandPalette-input").first
        palette.wait_for()
        palette.fill("Assignment List")
        page.keyboard.press("Enter")
        panel = page.locator("#nbgrader-assignment-list")
        panel.wait_for()
        panel.locator("#released_assignments_list_loading").wait_for(state="hidden")
        assert not panel.locator("#released_assignments_list_error").is_visible()
        released = panel.locator("#released_assignments_list")
        assert "There are no assignments to fetch" in released.inner_text()
        page.screenshot(path=str(tmp_path / "assignments.png"))
    (server,) = [c for c in demo_hub.containers() if c.labels["aione.user"] == "demo-learner1"]
    log = server.logs().decode(errors="replace")
    assert "Loading nbgrader.server_extensions.assignment_list at its first request" in log
