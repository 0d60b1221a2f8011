"""The CSV export format."""

from __future__ import annotations

import csv
import io

from graders.export import FIXED_COLUMNS, ExportRow, write_csv


def test_csv_has_fixed_columns_then_cells_in_first_seen_order() -> None:
    rows = [
        ExportRow(
            "ps1",
            "alice",
            5,
            submitted=True,
            duedate="2030-01-01 00:00:00",
            timestamp="2030-01-02 01:00:00",
            seconds_late=90000,
            score=5,
            late_penalty=1,
            reasons=["timeout: cells [1] ran past 30 s"],
            cells={"ps1/test_visible": 2, "ps1/test_hidden": 3},
        ),
        ExportRow("ps1", "bob", 5, cells={"ps1/test_visible": 0.0, "ps1/test_hidden": 0.0}),
        ExportRow(
            "ps2", "alice", 10, submitted=True, score=7.5, cells={"ps2/q1": 7.5, "ps2/q2": None}
        ),
    ]
    out = io.StringIO()
    write_csv(rows, out)
    text = out.getvalue()
    header = text.splitlines()[0].split(",")
    assert header == FIXED_COLUMNS + [
        "cell:ps1/test_visible",
        "cell:ps1/test_hidden",
        "cell:ps2/q1",
        "cell:ps2/q2",
    ]
    parsed = list(csv.DictReader(io.StringIO(text)))
    alice1, bob, alice2 = parsed
    assert (alice1["late"], alice1["seconds_late"], alice1["late_penalty"]) == ("yes", "90000", "1")
    assert (alice1["score"], alice1["final_score"], alice1["max_score"]) == ("5", "4", "5")
    assert alice1["reasons"] == "timeout: cells [1] ran past 30 s"
    assert alice1["cell:ps1/test_hidden"] == "3" and alice1["cell:ps2/q1"] == ""
    assert (bob["submitted"], bob["late"], bob["final_score"]) == ("no", "no", "0")
    assert alice2["cell:ps2/q1"] == "7.5" and alice2["cell:ps2/q2"] == ""  # ungraded cell
    assert alice2["cell:ps1/test_visible"] == ""


def test_an_empty_export_still_has_its_header() -> None:
    out = io.StringIO()
    write_csv([], out)
    assert out.getvalue() == ",".join(FIXED_COLUMNS) + "\n"
