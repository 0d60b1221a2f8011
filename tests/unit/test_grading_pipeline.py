"""The pure stages of the grading pipeline: merging sandbox outputs, failing
cells that never ran, hiding hidden tests, the runner's output rules, the summary."""

from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from graders.autograde import FailUnrunCells, SubmissionResult, merge_outputs
from graders.commands.grade import summary_table
from graders.feedback import HideHiddenTests
from graders.sandbox import OUTPUT_TRUNCATED, TIMEOUT, Reason
from graders.sandbox_runner import Budget, CellRun, _stream_prefix


def notebook() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("# hi"),
            new_code_cell("x = 1"),
            new_code_cell("assert x == 1"),
            new_code_cell("  "),
        ]
    )


def test_merge_takes_outputs_and_counts_but_never_sources() -> None:
    nb = notebook()
    merge_outputs(
        nb,
        [
            {
                "index": 1,
                "execution_count": 1,
                "source": "evil",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "hi\n", "extra": 1},
                    {
                        "output_type": "execute_result",
                        "data": {"text/plain": "1"},
                        "metadata": {},
                        "execution_count": 1,
                    },
                ],
            },
            {"index": 0, "execution_count": 5, "outputs": [{"output_type": "stream"}]},
            {"index": 99, "outputs": []},
            {"index": "2", "outputs": []},
            {
                "index": 2,
                "execution_count": "x",
                "outputs": [{"output_type": "bogus"}, {"output_type": "error", "ename": 3}],
            },
        ],
    )
    assert nb.cells[1].source == "x = 1" and nb.cells[1].execution_count == 1
    assert [o.output_type for o in nb.cells[1].outputs] == ["stream", "execute_result"]
    assert "extra" not in nb.cells[1].outputs[0]
    assert nb.cells[0].cell_type == "markdown" and "outputs" not in nb.cells[0]
    assert nb.cells[2].execution_count is None
    assert [o.ename for o in nb.cells[2].outputs] == ["MalformedOutput", "MalformedOutput"]
    nbformat.validate(nb)


def test_cells_that_never_ran_fail_with_the_reason() -> None:
    nb = notebook()
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = []
    nb, _ = FailUnrunCells().preprocess(nb, {"aione": {"not_run": "not run (kernel died)"}})
    assert nb.cells[1].outputs == []  # it ran
    assert nb.cells[2].outputs[0].ename == "NotRun"
    assert nb.cells[2].outputs[0].evalue == "not run (kernel died)"
    assert nb.cells[3].outputs == []  # blank cells are never run
    nb.cells[2].outputs = [new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
    nb, _ = FailUnrunCells().preprocess(nb, {})
    assert [o.ename for o in nb.cells[2].outputs] == ["CellTimeoutError"]


def test_feedback_hides_hidden_tests_and_what_their_outputs_quote() -> None:
    test = new_code_cell(
        "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10, 'SECRET'\n### END HIDDEN TESTS"
    )
    test.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "t",
        "points": 1,
        "locked": True,
        "solution": False,
        "schema_version": 3,
    }
    test.outputs = [
        new_output("stream", name="stdout", text="expected 10\n"),
        new_output(
            "error",
            ename="AssertionError",
            evalue="SECRET",
            traceback=["----> 3 assert f(5) == 10, 'SECRET'"],
        ),
    ]
    visible = new_code_cell("assert f(1) == 2")
    visible.outputs = [new_output("error", ename="AssertionError", evalue="v", traceback=["tb"])]
    nb = new_notebook(cells=[test, visible])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    dumped = json.dumps(nb)
    assert "SECRET" not in dumped and "f(5)" not in dumped and "expected 10" not in dumped
    assert nb.cells[0].source.startswith("assert f(1) == 2")
    assert nb.cells[0].source.endswith("# (hidden tests are not shown)")
    assert [o.ename for o in nb.cells[0].outputs] == ["AssertionError"]
    assert nb.cells[1].outputs[0].traceback == ["tb"]  # no hidden tests: untouched


def test_runner_budget_and_stream_truncation() -> None:
    budget = Budget(10)
    assert (budget.take(4), budget.take(10), budget.take(3)) == (4, 6, 0)
    assert (budget.used, budget.dropped) == (10, 7)
    raw = json.dumps({"name": "stderr", "text": "\u00e9" * 50 + 'a"b' * 10_000}).encode()
    name, text = _stream_prefix(raw, 60) or ("", "")
    assert name == "stderr" and text == "\u00e9" * 50 + 'a"ba"ba"ba'
    assert _stream_prefix(b'{"x": 1}', 10) is None


def test_cell_run_keeps_errors_through_clear_output_and_limits() -> None:
    run = CellRun(0, Budget(30), {})
    run.handle("stream", json.dumps({"name": "stdout", "text": "a" * 20}).encode())
    run.handle("stream", json.dumps({"name": "stdout", "text": "b" * 20}).encode())
    run.handle("error", json.dumps({"ename": "E", "evalue": "v", "traceback": []}).encode())
    run.handle("clear_output", json.dumps({"wait": False}).encode())
    late = json.dumps({"name": "stdout", "text": "c"}).encode()
    run.handle("stream", late)  # the budget is spent: dropped unparsed, counted raw
    run.finish({"status": "error", "ename": "E", "execution_count": 3}, 30)
    kinds = [(o["output_type"], o.get("ename") or o.get("text", "")[:12]) for o in run.outputs]
    assert kinds == [("error", "E"), ("stream", "\n[aione: out")]
    assert run.execution_count == 3 and run.dropped == 10 + len(late)
    silent = CellRun(1, Budget(30), {})
    silent.finish({"status": "error", "ename": "KeyError", "evalue": "k", "traceback": []}, 30)
    assert silent.outputs[0]["ename"] == "KeyError"  # an error reply always leaves an error


def test_summary_table_lists_every_submission() -> None:
    results = [
        SubmissionResult("bob", "ps1", score=5, max_score=5, late_penalty=1, seconds_late=90000),
        SubmissionResult(
            "alice",
            "ps1",
            score=0,
            max_score=5,
            reasons=[Reason(TIMEOUT, "x"), Reason(OUTPUT_TRUNCATED, "y")],
        ),
        SubmissionResult("carol", "ps1", status="skipped"),
    ]
    lines = summary_table(results).splitlines()
    assert lines[0].split() == ["student", "score/max", "late", "reason"]
    assert lines[1].split() == ["alice", "0/5", "-", "timeout;", "output", "truncated"]
    assert lines[2].split()[:4] == ["bob", "4/5", "(-1", "late)"] and "late 25.0 h" in lines[2]
    assert lines[3].split() == ["carol", "-", "-", "skipped"]
    assert lines[4] == "2 graded, 1 skipped, 0 failed"


def test_what_the_limit_drops_can_never_turn_a_failure_into_a_pass() -> None:
    run = CellRun(0, Budget(100), {})
    run.handle("stream", json.dumps({"name": "stdout", "text": "x" * 200}).encode())
    small = json.dumps({"data": {"text/plain": "0.5"}, "execution_count": 1}).encode()
    run.handle("execute_result", small)  # partial credit: kept past the limit
    big = json.dumps({"data": {"text/plain": "y" * 70_000}, "execution_count": 1}).encode()
    run.handle("execute_result", big)  # dropped: becomes an error, not a non-number result
    run.handle("stream", json.dumps({"name": "stderr", "text": "warning"}).encode())
    run.finish({"status": "ok", "execution_count": 1}, 100)
    kinds = [(o["output_type"], o.get("name") or o.get("ename")) for o in run.outputs]
    assert kinds == [
        ("stream", "stdout"),
        ("execute_result", None),
        ("error", "OutputTooLarge"),
        ("stream", "stderr"),  # stderr was cut: the note goes there (nbgrader fails on stderr)
    ]
    assert run.outputs[1]["data"]["text/plain"] == "0.5"
    quiet = CellRun(1, Budget(10), {})
    quiet.handle("stream", json.dumps({"name": "stdout", "text": "z" * 20}).encode())
    quiet.finish({"status": "ok"}, 10)
    assert quiet.outputs[-1]["name"] == "stdout"
