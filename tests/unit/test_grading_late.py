"""Late penalties: percent of the score per started day, after a grace period."""

from __future__ import annotations

import pytest

from graders.late import PercentPerDayPenalty, days_late, penalty_fraction, penalty_points

HOUR = 3600.0
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("seconds", "grace_min", "days"),
    [
        (0, 0, 0),
        (-5, 0, 0),
        (1, 0, 1),
        (DAY, 0, 1),
        (DAY + 1, 0, 2),
        (25 * HOUR, 0, 2),
        (10 * 60, 15, 0),
        (16 * 60, 15, 1),
        (DAY + 15 * 60, 15, 1),
    ],
)
def test_days_late_counts_started_days_after_grace(
    seconds: float, grace_min: float, days: int
) -> None:
    assert days_late(seconds, grace_min) == days


def test_fraction_and_points() -> None:
    assert penalty_fraction(25 * HOUR, 10) == pytest.approx(0.2)
    assert penalty_fraction(12 * DAY, 10) == 1.0  # capped at max_percent=100
    assert penalty_fraction(12 * DAY, 10, max_percent=50) == 0.5
    assert penalty_fraction(5 * DAY, 0) == 0.0
    assert penalty_points(5, 25 * HOUR, 10) == pytest.approx(1.0)
    assert penalty_points(0, 25 * HOUR, 10) == 0
    assert penalty_points(5, 0, 10) == 0


def test_nbgrader_plugin_returns_points_or_none() -> None:
    plugin = PercentPerDayPenalty(percent_per_day=25, grace_minutes=30)
    assert plugin.late_submission_penalty("s", 8.0, 2 * DAY) == pytest.approx(4.0)
    assert plugin.late_submission_penalty("s", 8.0, 20 * 60) is None  # within the grace
    assert PercentPerDayPenalty().late_submission_penalty("s", 8.0, 3 * DAY) is None
