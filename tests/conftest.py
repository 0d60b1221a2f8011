"""Shared fixtures: a real hub (``hub``), and log dumps of what failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hubproc import HubProcess


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return bool(rep and rep.failed)


@pytest.fixture
def hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HubProcess]:
    """A started hub with its own state, ports, network and volumes; removed afterwards."""
    proc = HubProcess(tmp_path)
    try:
        proc.start()
        yield proc
    finally:
        if _failed(request):
            proc.dump_logs()
        proc.cleanup()
