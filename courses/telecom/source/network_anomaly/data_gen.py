"""Synthetic radio-network KPIs with injected outages for the anomaly-detection assignment.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
One row per cell and 15-minute interval, starting Monday 2024-04-01:

- ``"small"``: 16 cells x 28 days (43,008 rows); ``"large"``: 48 cells x
  42 days (193,536 rows).

Normal behaviour per cell (``cell_type`` business, 45 % of the cells rounded,
or residential):

- ``traffic_gb`` follows the type's daily cycle (business: office hours,
  quiet weekends; residential: evening peak, busier weekends) times a
  log-normal cell level, with AR(1) log-noise (rho 0.8, sd 0.08).
- ``active_users`` ~ Poisson(60 x traffic / level + 3).
- ``prb_util`` (% of radio resources) = 100 x traffic / capacity, capacity
  chosen so that the busiest hour sits at 55-80 %, plus noise, clipped to
  [1, 100].
- ``latency_ms`` = 18 + 25 x u / (1 - u) for u = min(prb_util / 100, 0.9)
  (queueing), times log-normal noise (sd 0.15).
- ``drop_rate`` (% of dropped calls) ~ 0.3 + 0.5 x u^4 + |N(0, 0.12)|.
- **Benign surges** (normal, not labelled): each residential cell has, with
  probability 0.6, one 2-4 hour evening surge of +50 to +100 % traffic with
  a matching load increase.
- **Missing values**: each KPI reading is NaN with probability 0.005.

Injected events (``is_anomaly`` = 1 on their intervals, ``event_id`` >= 0,
``event_type``; normal rows have ``event_id`` -1 and ``event_type`` "none"),
starting at uniformly random times (candidates closer than 4 intervals before
or 20 after an earlier event are skipped), about one event per cell every
2.5 days, so that ~3 % of the intervals are anomalous (imbalanced):

- ``outage`` (30 %, 2-8 intervals): traffic, users and load collapse to
  0-5 % of normal, drop rate jumps to 10-40 %.
- ``degradation`` (40 %, 4-16 intervals): latency x1.3-1.9, drop rate
  x1.5-3.5, traffic -5 to -20 %.
- ``congestion`` (30 %, 4-12 intervals): load forced to 92-100 %, latency
  x1.5-2.5, users +20-50 %, traffic capped at 1.2 x the cell's median.
  Drop rate stays normal, and busy cells reach similar load and latency at
  their usual peak: congestion is abnormal mainly *for its time of day*.

Deterministic: ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

SIZES: dict[str, tuple[int, int]] = {"small": (16, 28), "large": (48, 42)}
START = pd.Timestamp("2024-04-01")
STEPS_PER_DAY = 96
KPIS: tuple[str, ...] = ("traffic_gb", "active_users", "prb_util", "latency_ms", "drop_rate")
EVENT_TYPES: tuple[str, ...] = ("outage", "degradation", "congestion")
LABEL_COLUMNS: tuple[str, ...] = ("is_anomaly", "event_id", "event_type")

# Hourly profiles (0-23 h), relative to the busiest hour of a weekday.
# fmt: off
_BUSINESS = np.array(
    [0.12, 0.1, 0.09, 0.09, 0.1, 0.13, 0.22, 0.45, 0.75, 0.92, 1.0, 1.0,
     0.86, 0.95, 1.0, 0.98, 0.93, 0.8, 0.58, 0.42, 0.33, 0.27, 0.2, 0.15]
)
_BUSINESS_OFF = np.array(
    [0.1, 0.09, 0.08, 0.08, 0.08, 0.09, 0.11, 0.14, 0.18, 0.22, 0.25, 0.27,
     0.28, 0.27, 0.26, 0.25, 0.24, 0.23, 0.22, 0.2, 0.18, 0.16, 0.13, 0.11]
)
_RESIDENTIAL = np.array(
    [0.45, 0.3, 0.2, 0.15, 0.14, 0.17, 0.3, 0.5, 0.48, 0.38, 0.35, 0.37,
     0.42, 0.4, 0.4, 0.42, 0.48, 0.58, 0.7, 0.82, 0.93, 1.0, 0.95, 0.7]
)
_RESIDENTIAL_OFF = np.array(
    [0.55, 0.4, 0.28, 0.2, 0.16, 0.16, 0.2, 0.28, 0.4, 0.55, 0.66, 0.72,
     0.75, 0.74, 0.72, 0.72, 0.74, 0.78, 0.84, 0.9, 0.97, 1.0, 0.92, 0.72]
)
# fmt: on
_DURATIONS = {"outage": (2, 8), "degradation": (4, 16), "congestion": (4, 12)}


def _layout(size: str) -> tuple[int, int]:
    """Return (cells, days) for ``size``; raise ValueError otherwise."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    return SIZES[size]


def _base_traffic(rng: np.random.Generator, cell_type: str, stamps: pd.DatetimeIndex) -> np.ndarray:
    """Seasonal traffic of one cell (before events), interpolated to 15 minutes."""
    on, off = (
        (_BUSINESS, _BUSINESS_OFF) if cell_type == "business" else (_RESIDENTIAL, _RESIDENTIAL_OFF)
    )
    hour = stamps.hour.to_numpy() + stamps.minute.to_numpy() / 60.0
    weekend = stamps.day_of_week.to_numpy() >= 5
    grid = np.arange(25)
    curve_on = np.interp(hour, grid, np.append(on, on[0]))
    curve_off = np.interp(hour, grid, np.append(off, off[0]))
    shape = np.where(weekend, curve_off, curve_on)
    ar = np.empty(stamps.size)
    ar[0] = 0.0
    shocks = rng.normal(0, 0.08 * np.sqrt(1 - 0.8**2), size=stamps.size)
    for t in range(1, stamps.size):
        ar[t] = 0.8 * ar[t - 1] + shocks[t]
    return shape * np.exp(ar)


def _benign_surge(rng: np.random.Generator, cell_type: str, traffic: np.ndarray) -> None:
    """Add one unlabelled evening surge to a residential cell, in place."""
    if cell_type != "residential" or rng.random() >= 0.6:
        return
    day = int(rng.integers(0, traffic.size // STEPS_PER_DAY))
    start = day * STEPS_PER_DAY + int(rng.integers(17 * 4, 21 * 4))
    traffic[start : start + int(rng.integers(8, 17))] *= 1.0 + rng.uniform(0.5, 1.0)


def _kpis(rng: np.random.Generator, relative: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Derive the five KPIs from relative traffic (1.0 = usual busiest hour)."""
    n = relative.size
    capacity = 1.0 / rng.uniform(0.55, 0.80)
    util = np.clip(100.0 * relative / capacity + rng.normal(0, 2.0, n), 1.0, 100.0)
    u = np.minimum(util / 100.0, 0.9)
    return {
        "traffic_gb": level * relative,
        "active_users": rng.poisson(60.0 * relative + 3.0).astype(float),
        "prb_util": util,
        "latency_ms": (18.0 + 25.0 * u / (1.0 - u)) * rng.lognormal(0, 0.15, n),
        "drop_rate": 0.3 + 0.5 * u**4 + np.abs(rng.normal(0, 0.12, n)),
    }


def _inject(rng: np.random.Generator, kpi: dict[str, np.ndarray], start: int, kind: str) -> slice:
    """Apply one event of ``kind`` from ``start`` in place; return its slice."""
    low, high = _DURATIONS[kind]
    span = slice(start, min(start + int(rng.integers(low, high + 1)), kpi["traffic_gb"].size))
    m = span.stop - span.start
    if kind == "outage":
        keep = rng.uniform(0.0, 0.05, m)
        for name in ("traffic_gb", "active_users"):
            kpi[name][span] *= keep
        kpi["prb_util"][span] = np.maximum(kpi["prb_util"][span] * keep, 0.5)
        kpi["drop_rate"][span] = rng.uniform(10.0, 40.0, m)
    elif kind == "degradation":
        kpi["latency_ms"][span] *= rng.uniform(1.3, 1.9)
        kpi["drop_rate"][span] *= rng.uniform(1.5, 3.5)
        kpi["traffic_gb"][span] *= 1.0 - rng.uniform(0.05, 0.2)
    else:
        kpi["prb_util"][span] = rng.uniform(92.0, 100.0, m)
        kpi["latency_ms"][span] *= rng.uniform(1.5, 2.5)
        kpi["active_users"][span] = np.round(kpi["active_users"][span] * rng.uniform(1.2, 1.5))
        kpi["traffic_gb"][span] = np.minimum(
            kpi["traffic_gb"][span], np.median(kpi["traffic_gb"]) * 1.2
        )
    return span


def _cell_frame(
    rng: np.random.Generator, cell: str, cell_type: str, stamps: pd.DatetimeIndex, first_event: int
) -> pd.DataFrame:
    """All rows of one cell, with its events numbered from ``first_event``."""
    relative = _base_traffic(rng, cell_type, stamps)
    _benign_surge(rng, cell_type, relative)
    kpi = _kpis(rng, relative, float(np.exp(rng.normal(np.log(0.8), 0.5))))
    n = stamps.size
    event_id = np.full(n, -1, dtype=np.int64)
    event_type = np.full(n, "none", dtype=object)
    n_events = rng.poisson(n / (2.5 * STEPS_PER_DAY))
    starts = np.sort(rng.choice(n - 16, size=n_events, replace=False))
    for k, start in enumerate(starts):
        if event_id[max(start - 4, 0) : start + 20].max() >= 0:
            continue  # keep events apart so that each one stays a separate incident
        kind = EVENT_TYPES[rng.choice(3, p=[0.3, 0.4, 0.3])]
        span = _inject(rng, kpi, int(start), kind)
        event_id[span] = first_event + k
        event_type[span] = kind
    frame = pd.DataFrame({"timestamp": stamps, "cell_id": cell, "cell_type": cell_type})
    for name in KPIS:
        values = np.round(kpi[name], 4)
        values[rng.random(n) < 0.005] = np.nan
        frame[name] = values
    frame["is_anomaly"] = (event_id >= 0).astype(np.int64)
    frame["event_id"] = event_id
    frame["event_type"] = event_type.astype(str)
    return frame


def make_kpis(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return KPI rows (timestamp, cell_id, cell_type, five KPIs, labels).

    Rows are sorted by cell, then time. Label columns are ``LABEL_COLUMNS``;
    ``event_id`` values are unique across cells. Raises ValueError for an
    unknown ``size``; the same ``(seed, size)`` always gives the same frame.
    """
    n_cells, days = _layout(size)
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(START, periods=days * STEPS_PER_DAY, freq="15min")
    n_business = round(0.45 * n_cells)
    types = rng.permutation(
        np.array(["business"] * n_business + ["residential"] * (n_cells - n_business))
    )
    frames = []
    next_event = 0
    for i, cell_type in enumerate(types):
        frame = _cell_frame(rng, f"CELL-{i + 1:03d}", str(cell_type), stamps, next_event)
        frames.append(frame)
        next_event += 1000
    out = pd.concat(frames, ignore_index=True)
    ids = out["event_id"].to_numpy()
    mapping = {old: new for new, old in enumerate(np.unique(ids[ids >= 0]))}
    out["event_id"] = np.array([mapping.get(v, -1) for v in ids], dtype=np.int64)
    return out
