"""Run the catalog's GPU notebooks on CUDA and on CPU with papermill; print JSON times.

For every assignment whose course.yaml says ``gpu: true``, the reference (source)
notebook runs twice with papermill: ``DEVICE="cuda"`` and ``DEVICE="cpu"``, in full mode
unless ``--quick``. Prints one JSON object: the GPU's name, torch's version, and per
notebook the seconds on each device (or the error).

Usage (on a machine with a GPU): python3 benchmarks/gpu_courses.py [--quick] [--track T]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import papermill
import torch
import yaml

COURSES = Path(__file__).resolve().parent.parent / "courses"


def gpu_notebooks(track: str | None) -> list[Path]:
    """Source notebooks of the assignments marked ``gpu: true``."""
    found = []
    for course_yaml in sorted(COURSES.glob("*/course.yaml")):
        course = yaml.safe_load(course_yaml.read_text(encoding="utf-8"))
        if track and course["track"] != track:
            continue
        for a in course["assignments"]:
            if a.get("gpu"):
                found.append(course_yaml.parent / "source" / a["id"] / f"{a['id']}.ipynb")
    return found


def run(notebook: Path, device: str, quick: bool) -> float | str:
    """Seconds to execute ``notebook`` on ``device``, or the error's first line."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        try:
            papermill.execute_notebook(
                str(notebook),
                str(Path(tmp) / "out.ipynb"),
                parameters={"QUICK": quick, "DEVICE": device, "SEED": 0},
                cwd=str(notebook.parent),
                kernel_name="python3",
                progress_bar=False,
            )
        except Exception as err:  # report and go on with the next notebook
            return f"error: {str(err).strip().splitlines()[0][:300]}"
        return round(time.monotonic() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="QUICK=True instead of full mode")
    parser.add_argument("--track", help="only this track")
    args = parser.parse_args()
    result: dict[str, object] = {
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mode": "quick" if args.quick else "full",
        "notebooks": {},
    }
    notebooks = result["notebooks"]
    assert isinstance(notebooks, dict)
    for nb in gpu_notebooks(args.track):
        key = f"{nb.parent.parent.parent.name}/{nb.stem}"
        notebooks[key] = {d: run(nb, d, args.quick) for d in ("cuda", "cpu")}
        print(json.dumps({key: notebooks[key]}), file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
