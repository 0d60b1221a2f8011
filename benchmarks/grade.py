"""Sandboxed parallel ``aione grade`` against plain ``nbgrader autograde``.

Builds identical nbgrader courses from one course assignment (default:
``courses/foundations/source/python_numpy_pandas``), puts the same N
submissions in both (half complete solutions, a quarter half-done, a quarter
untouched), then times, in the same run and one after the other (in
``--rounds`` parts, alternating which goes first):

* ``aione grade COURSE ASSIGNMENT --jobs J`` (one container per submission), and
* ``nbgrader autograde ASSIGNMENT`` (stock: on the host, one at a time),

each as a fresh process, and checks that both gave every student the same
score. Prints one JSON object::

    {"aione_s", "nbgrader_s", "speedup", "overhead_per_submission_s", ...}

``speedup`` is ``nbgrader_s / aione_s``. ``overhead_per_submission_s`` is
``(aione_s * jobs - nbgrader_s) / N``: the seconds of one grading slot that
sandboxing a submission costs beyond running the same notebook in-process
(container start and teardown, kernel start, the copy in and out).

Each leg also records the host's load average when it started: on a shared
host, Docker containers sit in one cgroup that competes with every other
process as a single task, so other work slows the sandboxed side more.

Run: ``.venv/bin/python benchmarks/grade.py [--submissions 40] [--jobs 2]``
(needs Docker and the learner image).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO / "courses" / "foundations" / "source" / "python_numpy_pandas"
TINY_SOURCE = REPO / "tests" / "integration" / "hostile" / "course" / "source" / "ps1"
TIMESTAMP = "2030-01-01 00:00:00.000000 UTC"


def build_course(root: Path, source: Path) -> str:
    """Copy ``source`` into a new nbgrader course at ``root``; generate it; return its id."""
    assignment = source.name
    shutil.copytree(source, root / "source" / assignment)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'bench'\n"
    )
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = "bench"
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(assignment)
    if not result["success"]:
        sys.exit(f"nbgrader generate_assignment failed:\n{result['log']}")
    return assignment


def submissions(
    root: Path, assignment: str, count: int, quick: bool
) -> list[nbformat.NotebookNode]:
    """``count`` student notebooks: solved, half-solved and untouched, from the release."""
    release = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    solved = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solved.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    notebooks = []
    for i in range(count):
        nb = nbformat.from_dict(json.loads(json.dumps(release)))
        kind = ("solved", "solved", "half", "blank")[i % 4]
        solution_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
        keep = {"solved": len(solution_cells), "half": len(solution_cells) // 2, "blank": 0}[kind]
        for cell in solution_cells[:keep]:
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
        if quick:
            for cell in nb.cells:
                if "parameters" in cell.metadata.get("tags", []):
                    cell.source = cell.source.replace("QUICK = False", "QUICK = True")
        notebooks.append(nb)
    return notebooks


def put_submissions(root: Path, assignment: str, notebooks: list[nbformat.NotebookNode]) -> None:
    for i, nb in enumerate(notebooks):
        folder = root / "submitted" / f"student{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
        (folder / "timestamp.txt").write_text(TIMESTAMP)
        for extra in (root / "release" / assignment).iterdir():
            if extra.suffix != ".ipynb":
                shutil.copy(extra, folder / extra.name)


def scores(root: Path, assignment: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "bench") as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(assignment).submissions}


def timed(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="assignment source folder (default: foundations/python_numpy_pandas,"
        " else the tests' tiny course)",
    )
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--full", action="store_true", help="keep QUICK = False in submissions")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="split the submissions into rounds, alternating which command goes first, "
        "so that a change in the host's load does not favour one side",
    )
    parser.add_argument("--work-dir", type=Path, help="keep the courses here")
    args = parser.parse_args()
    source = args.source if args.source.is_dir() else TINY_SOURCE
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="aione-bench-grade-"))
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    os.environ["PATH"] = env["PATH"]  # nbgrader's Gradebook runs `alembic`

    notebooks: list[nbformat.NotebookNode] = []
    legs: list[dict[str, object]] = []
    totals = {"aione": 0.0, "nbgrader": 0.0}
    for rnd in range(args.rounds):
        roots = {name: work / "courses" / f"{name}{rnd}" for name in ("aione", "nbgrader")}
        for root in roots.values():
            assignment = build_course(root, source)
        if not notebooks:
            notebooks = submissions(root, assignment, args.submissions, quick=not args.full)
        part = notebooks[
            rnd * len(notebooks) // args.rounds : (rnd + 1) * len(notebooks) // args.rounds
        ]
        for root in roots.values():
            put_submissions(root, assignment, part)
        settings = work / "aione.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "state_dir": str(work),
                    "grading": {"jobs": args.jobs, "container_prefix": "aione-bench-grade"},
                }
            )
        )
        commands = {
            "aione": [str(bindir / "aione"), "grade", roots["aione"].name, assignment,
                      "--config", str(settings)],
            "nbgrader": [str(bindir / "nbgrader"), "autograde", assignment],
        }  # fmt: skip
        order = ["aione", "nbgrader"] if rnd % 2 == 0 else ["nbgrader", "aione"]
        for name in order:
            load = os.getloadavg()[0]
            seconds = timed(commands[name], roots[name], env, work / f"{name}{rnd}.log")
            totals[name] += seconds
            legs.append({"leg": f"{name}{rnd}", "submissions": len(part),
                         "seconds": round(seconds, 2), "load_before": round(load, 1)})  # fmt: skip
        ours, theirs = scores(roots["aione"], assignment), scores(roots["nbgrader"], assignment)
        if ours != theirs:
            differ = sorted(s for s in theirs if ours.get(s) != theirs[s])
            sys.exit(f"scores differ for {differ}: aione {ours} nbgrader {theirs}")
    aione_s, nbgrader_s = totals["aione"], totals["nbgrader"]
    print(
        json.dumps(
            {
                "aione_s": round(aione_s, 2),
                "nbgrader_s": round(nbgrader_s, 2),
                "speedup": round(nbgrader_s / aione_s, 2),
                "overhead_per_submission_s": round(
                    (aione_s * args.jobs - nbgrader_s) / args.submissions, 3
                ),
                "submissions": args.submissions,
                "jobs": args.jobs,
                "cores": os.cpu_count(),
                "assignment": f"{source.parent.parent.name}/{assignment}",
                "quick": not args.full,
                "same_scores": True,
                "legs": legs,
            }
        )
    )
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
