"""Synthetic hourly mobile-data traffic per cell for the forecasting assignment.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
Hourly traffic (GB) for each cell, in long format (``timestamp``, ``cell_id``,
``cell_type``, ``traffic_gb``), starting on a Monday:

- ``"small"``: 12 cells, 8 weeks from 2024-03-25 (the last week, 05-13 to
  05-19, contains the holiday 2024-05-15);
- ``"large"``: 48 cells, 16 weeks from 2024-02-19 (the last week, 06-03 to
  06-09, contains 2024-06-06).

Each cell is ``business`` (45 % of the cells, rounded) or ``residential``:

- **Daily cycle.** Business cells peak 10:00-17:00 with a lunch dip and are
  quiet at night; residential cells have a small morning bump and peak
  20:00-23:00.
- **Weekly cycle.** On weekends business traffic falls to ~25 % of a weekday
  peak; residential traffic rises in the daytime.
- **Holidays** (``HOLIDAYS``: Korean public holidays of 2024) follow the
  Sunday profile of their cell type.
- **Level and trend.** A log-normal level per cell (median 3 GB/h at peak)
  and a linear growth of 0.2-1.0 % per week.
- **Cell shape.** Each cell's profile is its type's profile times a smooth
  random factor (+-10 %), and its peak can be shifted by up to one hour.
- **Noise.** Multiplicative: AR(1) log-noise (rho 0.7, sd 0.06) plus white
  log-noise (sd 0.05).
- **Special events.** Each residential cell has, with probability 0.5, one
  3-hour event (+60 to +120 %) on a random evening.
- **Missing values.** Collection gaps: about 1 % of the hours are NaN, in
  runs of 1-6 hours.

Deterministic: ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

SIZES: dict[str, tuple[int, int, str]] = {
    "small": (12, 8, "2024-03-25"),
    "large": (48, 16, "2024-02-19"),
}
CELL_TYPES: tuple[str, ...] = ("business", "residential")
HOLIDAYS = pd.DatetimeIndex(
    ["2024-03-01", "2024-04-10", "2024-05-05", "2024-05-06", "2024-05-15", "2024-06-06"]
)

_HOURS = np.arange(24)
# Hourly profiles (0-23 h), relative to the busiest hour of a weekday.
# fmt: off
_BUSINESS_WEEKDAY = np.array(
    [0.12, 0.1, 0.09, 0.09, 0.1, 0.13, 0.22, 0.45, 0.75, 0.92, 1.0, 1.0,
     0.86, 0.95, 1.0, 0.98, 0.93, 0.8, 0.58, 0.42, 0.33, 0.27, 0.2, 0.15]
)
_BUSINESS_SUNDAY = np.array(
    [0.1, 0.09, 0.08, 0.08, 0.08, 0.09, 0.11, 0.14, 0.18, 0.22, 0.25, 0.27,
     0.28, 0.27, 0.26, 0.25, 0.24, 0.23, 0.22, 0.2, 0.18, 0.16, 0.13, 0.11]
)
_RESIDENTIAL_WEEKDAY = np.array(
    [0.45, 0.3, 0.2, 0.15, 0.14, 0.17, 0.3, 0.5, 0.48, 0.38, 0.35, 0.37,
     0.42, 0.4, 0.4, 0.42, 0.48, 0.58, 0.7, 0.82, 0.93, 1.0, 0.95, 0.7]
)
_RESIDENTIAL_SUNDAY = np.array(
    [0.55, 0.4, 0.28, 0.2, 0.16, 0.16, 0.2, 0.28, 0.4, 0.55, 0.66, 0.72,
     0.75, 0.74, 0.72, 0.72, 0.74, 0.78, 0.84, 0.9, 0.97, 1.0, 0.92, 0.72]
)
# fmt: on


def _layout(size: str) -> tuple[int, int, pd.Timestamp]:
    """Return (cells, weeks, start) for ``size``; raise ValueError otherwise."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    cells, weeks, start = SIZES[size]
    return cells, weeks, pd.Timestamp(start)


def _day_profiles(cell_type: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (weekday, saturday, sunday/holiday) hourly profiles of a cell type."""
    if cell_type == "business":
        weekday, sunday = _BUSINESS_WEEKDAY, _BUSINESS_SUNDAY
    else:
        weekday, sunday = _RESIDENTIAL_WEEKDAY, _RESIDENTIAL_SUNDAY
    saturday = 0.5 * weekday + 0.5 * sunday if cell_type == "residential" else 1.15 * sunday
    return weekday, saturday, sunday


def _smooth_factor(rng: np.random.Generator) -> np.ndarray:
    """A smooth periodic random factor over 24 hours, within about +-10 %."""
    phases = rng.uniform(0, 2 * np.pi, size=2)
    amps = rng.uniform(0.0, 0.06, size=2)
    return 1.0 + sum(
        a * np.sin(2 * np.pi * k * _HOURS / 24 + p)
        for k, a, p in zip((1, 2), amps, phases, strict=True)
    )


def _cell_series(rng: np.random.Generator, cell_type: str, stamps: pd.DatetimeIndex) -> np.ndarray:
    """Traffic of one cell over ``stamps`` (hourly), before missing values."""
    weekday, saturday, sunday = _day_profiles(cell_type)
    shift = int(rng.integers(-1, 2))
    factor = _smooth_factor(rng)
    profiles = [np.roll(p, shift) * factor for p in (weekday, saturday, sunday)]
    dow = stamps.day_of_week.to_numpy()
    is_holiday = stamps.normalize().isin(HOLIDAYS)
    kind = np.where(is_holiday | (dow == 6), 2, np.where(dow == 5, 1, 0))
    hour = stamps.hour.to_numpy()
    base = np.choose(kind, [p[hour] for p in profiles])
    level = np.exp(rng.normal(np.log(3.0), 0.5))
    weeks = np.arange(stamps.size) / 168.0
    growth = 1.0 + rng.uniform(0.002, 0.010) * weeks
    ar = np.empty(stamps.size)
    ar[0] = rng.normal(0, 0.06)
    shocks = rng.normal(0, 0.06 * np.sqrt(1 - 0.7**2), size=stamps.size)
    for t in range(1, stamps.size):
        ar[t] = 0.7 * ar[t - 1] + shocks[t]
    noise = np.exp(ar + rng.normal(0, 0.05, size=stamps.size))
    series = level * base * growth * noise
    if cell_type == "residential" and rng.random() < 0.5:
        day = int(rng.integers(0, stamps.size // 24))
        start = day * 24 + int(rng.integers(18, 21))
        series[start : start + 3] *= 1.0 + rng.uniform(0.6, 1.2)
    return series


def _gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boolean mask of collection gaps: ~1 % of hours, in runs of 1-6 hours."""
    mask = np.zeros(n, dtype=bool)
    for start in np.flatnonzero(rng.random(n) < 0.01 / 3.5):
        mask[start : start + int(rng.integers(1, 7))] = True
    return mask


def make_traffic(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return hourly traffic with columns timestamp, cell_id, cell_type, traffic_gb.

    Rows are sorted by cell, then time; every cell has every hour (gaps are
    NaN in ``traffic_gb``). Raises ValueError for an unknown ``size``; the
    same ``(seed, size)`` always gives the same frame.
    """
    n_cells, weeks, start = _layout(size)
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(start, periods=weeks * 168, freq="h")
    n_business = round(0.45 * n_cells)
    types = rng.permutation(
        np.array(["business"] * n_business + ["residential"] * (n_cells - n_business))
    )
    frames = []
    for i, cell_type in enumerate(types):
        traffic = _cell_series(rng, str(cell_type), stamps)
        traffic[_gaps(rng, traffic.size)] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": stamps,
                    "cell_id": f"CELL-{i + 1:03d}",
                    "cell_type": str(cell_type),
                    "traffic_gb": np.round(traffic, 4),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
