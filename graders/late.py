"""Late-submission penalties: percent of the score per started day late.

nbgrader flags a submission late from its ``timestamp.txt`` and the
assignment's due date in the gradebook, then asks a
:class:`nbgrader.plugins.LateSubmissionPlugin` for the penalty in points
(:class:`nbgrader.preprocessors.AssignLatePenalties`). This module is that
plugin, plus the pure arithmetic it rests on.

Scheme: ``penalty = score * min(max_percent, percent_per_day * days) / 100``,
where ``days`` counts every day *or part of a day* past the due date once the
grace period is over. Example, 10 % a day: 1 minute late loses 10 %, 25 hours
late loses 20 %, 12 days late loses everything (capped at ``max_percent``).
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

DAY_S = 86400.0


def days_late(seconds_late: float, grace_minutes: float = 0.0) -> int:
    """Started days late after the grace period: 0 if on time, else >= 1."""
    over = seconds_late - grace_minutes * 60.0
    if over <= 0:
        return 0
    return math.ceil(over / DAY_S)


def penalty_fraction(
    seconds_late: float,
    percent_per_day: float,
    grace_minutes: float = 0.0,
    max_percent: float = 100.0,
) -> float:
    """The share of the score (0 to 1) lost by a submission this many seconds late."""
    percent = min(max_percent, percent_per_day * days_late(seconds_late, grace_minutes))
    return max(0.0, percent) / 100.0


def penalty_points(
    score: float,
    seconds_late: float,
    percent_per_day: float,
    grace_minutes: float = 0.0,
    max_percent: float = 100.0,
) -> float:
    """Points taken from ``score`` (never more than the score, never negative)."""
    fraction = penalty_fraction(seconds_late, percent_per_day, grace_minutes, max_percent)
    return round(max(0.0, score) * fraction, 6)


class PercentPerDayPenalty(LateSubmissionPlugin):
    """nbgrader late-submission plugin: ``percent_per_day`` per started day late."""

    percent_per_day = Float(
        0.0, help="Percent of the notebook score lost per started day late (0: flag only)."
    ).tag(config=True)
    grace_minutes = Float(0.0, help="Minutes past the due date that still count as on time.").tag(
        config=True
    )
    max_percent = Float(100.0, help="The most a late notebook can lose, in percent.").tag(
        config=True
    )

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        """Return the penalty in points, or None when nothing is taken."""
        points = penalty_points(
            score, total_seconds_late, self.percent_per_day, self.grace_minutes, self.max_percent
        )
        if points <= 0:
            return None
        self.log.info(
            "%s: late by %.0f s, penalty %.2f points", student_id, total_seconds_late, points
        )
        return points
