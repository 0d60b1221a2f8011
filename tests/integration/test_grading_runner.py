"""The in-container runner, run here as a plain subprocess with a real kernel.

No Docker: these check the runner's protocol and its execution rules (cell
timeout, output limit, errors that cannot be hidden) quickly; the container
around it is tested in test_autograde.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "graders" / "sandbox_runner.py"
KEY = bytes(range(32))


def run(tmp_path: Path, cells: list[str], kernel: str = "python3", **job: Any) -> dict[str, Any]:
    """Run ``cells`` as one notebook; return the verified result body."""
    work, runtime = tmp_path / "work", tmp_path / "rt"
    runtime.mkdir()
    start = {"workdir": str(work), "runtime_dir": str(runtime), "kernels": [kernel]}
    payload = {
        "key": KEY.hex(),
        "cell_timeout": 5,
        "interrupt_grace": 5,
        "startup_timeout": 60,
        "output_limit": 100_000,
        "files": {"data.txt": "NDI="},
        "notebooks": [
            {
                "name": "nb",
                "kernel": kernel,
                "cells": [{"index": i, "source": s} for i, s in enumerate(cells)],
            }
        ],
    }
    payload.update(job)
    proc = subprocess.run(
        [sys.executable, "-I", str(RUNNER), json.dumps(start)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    prefix, mac, body = proc.stdout.rstrip(b"\n").split(b" ", 2)
    assert prefix == b"AIONE-RESULT"
    assert hmac.compare_digest(mac, hmac.new(KEY, body, hashlib.sha256).hexdigest().encode())
    result: dict[str, Any] = json.loads(body)["notebooks"][0]
    return result


def outputs(result: dict[str, Any], index: int) -> list[dict[str, Any]]:
    cell = next(c for c in result["cells"] if c["index"] == index)
    return list(cell["outputs"])


def test_runs_cells_in_the_work_folder_with_files(tmp_path: Path) -> None:
    result = run(tmp_path, ["x = int(open('data.txt').read())", "x + 1", "", "assert x == 1"])
    assert result["status"] == "ok"
    assert outputs(result, 1)[0]["data"]["text/plain"] == "43"
    assert [c["index"] for c in result["cells"]] == [0, 1, 3]  # the empty cell is skipped
    error = outputs(result, 3)[0]
    assert error["output_type"] == "error" and error["ename"] == "AssertionError"


def test_a_cell_past_the_timeout_is_interrupted_and_the_rest_runs(tmp_path: Path) -> None:
    result = run(tmp_path, ["while True: pass", "print('after')"], cell_timeout=1)
    assert result["status"] == "timeout" and result["timed_out_cells"] == [0]
    assert [o.get("ename") for o in outputs(result, 0)] == ["KeyboardInterrupt", "CellTimeoutError"]
    assert outputs(result, 1)[0]["text"] == "after\n"


def test_output_past_the_limit_is_dropped_with_a_note(tmp_path: Path) -> None:
    cells = ["for _ in range(50): print('y' * 9_999)", "1 / 0"]
    result = run(tmp_path, cells, output_limit=20_000)
    kept = "".join(o.get("text", "") for o in outputs(result, 0))
    assert kept.count("y") <= 20_000
    assert "[aione: output truncated" in kept
    assert result["truncated_bytes"] >= 400_000
    assert outputs(result, 1)[-1]["ename"] == "ZeroDivisionError"  # errors are always kept


def test_errors_survive_hidden_tracebacks_and_clear_output(tmp_path: Path) -> None:
    cheat = (
        "from IPython.display import clear_output\n"
        "ip = get_ipython()\n"
        "ip.showtraceback = lambda *a, **k: None\n"
        "ip.events.register('post_run_cell', lambda r: clear_output())"
    )
    result = run(tmp_path, [cheat, "assert 1 == 2", "print('ok')"])
    assert [o["output_type"] for o in outputs(result, 1)] == ["error"]
    assert outputs(result, 1)[0]["ename"] == "AssertionError"


def test_a_dying_kernel_is_reported_and_later_cells_are_not_run(tmp_path: Path) -> None:
    result = run(tmp_path, ["x = 1", "import os; os._exit(3)", "print(x)"])
    assert result["status"] == "kernel_died" and "code 3" in result["detail"]
    ran = {c["index"]: c["execution_count"] for c in result["cells"]}
    assert ran[0] == 1 and ran[1] is None and 2 not in ran


def test_an_unknown_kernel_is_reported(tmp_path: Path) -> None:
    result = run(tmp_path, ["1"], kernel="no-such-kernel")
    assert result["status"] == "unknown_kernel" and "no-such-kernel" in result["detail"]
    assert result["cells"] == []


@pytest.mark.parametrize("name", ["../python3", ".hidden", ""])
def test_kernel_names_cannot_walk_the_filesystem(tmp_path: Path, name: str) -> None:
    result = run(tmp_path, ["1"], kernel=name)
    assert result["status"] == "unknown_kernel"
