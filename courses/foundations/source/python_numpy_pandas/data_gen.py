"""Synthetic order lines of a small café chain, for the foundations assignment.

Generating process (``make_orders``):

- Calendar: ``n_days`` consecutive days from 2024-01-01 (365 for ``size="small"``,
  730 for ``"large"``), stores ``A``-``C`` (``"large"``: ``A``-``E``).
- Order counts: each store and day draws ``Poisson(lam)`` orders with
  ``lam = base[store] * trend * weekly * yearly``:
  a linear upward **trend** of +60 % per year, a **weekly** pattern (Saturday
  and Sunday x1.4, Monday x0.85) and a mild **yearly** season of +-6 % (a
  cosine peaking on day 120, end of April). Store bases are 60, 40, 24 (then
  32, 18) orders a day. The trend dominates the noise of weekly totals, so the
  last week's value forecasts the next week better than the long-run mean.
- Each order line: ``category`` coffee / bakery / merch with probabilities
  0.6 / 0.3 / 0.1 (an **imbalanced** mix); ``unit_price`` log-normal around
  4.5 / 3.2 / 18.0 with 10 % spread; ``quantity`` ``1 + Poisson(0.6)``;
  ``discount`` 0, 0.1 or 0.2 with probabilities 0.8 / 0.15 / 0.05;
  ``customer_age`` normal(35, 12) rounded and clipped to 16..80.
- **Missing values**: 6 % of ``discount`` (not recorded: means no discount)
  and 10 % of ``customer_age`` are NaN, completely at random.
- **Injected anomalies**: 0.5 % of lines are returns (``quantity`` -1 or -2),
  0.3 % carry a price typo (``unit_price`` x 100), and 1 % of lines are exact
  **duplicates** (the till sent them twice; same ``order_id``).

Rows are sorted by ``date`` then ``order_id``. Everything comes from
``numpy.random.default_rng(seed)``: the same seed, size and ``n_days`` give
the same frame. Bump ``DATA_VERSION`` whenever this process changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

START = "2024-01-01"
CATEGORIES = ("coffee", "bakery", "merch")
CATEGORY_P = (0.6, 0.3, 0.1)
PRICE = {"coffee": 4.5, "bakery": 3.2, "merch": 18.0}
STORE_BASE = {"A": 60.0, "B": 40.0, "C": 24.0, "D": 32.0, "E": 18.0}
TREND_PER_YEAR = 0.60
SEASON_AMPLITUDE = 0.06
SEASON_PEAK_DAY = 120
SIZES = {"small": (365, 3), "large": (730, 5)}
MISSING_DISCOUNT = 0.06
MISSING_AGE = 0.10
RETURN_RATE = 0.005
TYPO_RATE = 0.003
DUPLICATE_RATE = 0.01


def _daily_rates(days: pd.DatetimeIndex, stores: list[str]) -> np.ndarray:
    """Expected orders per (day, store): base x trend x weekly x yearly."""
    t = np.arange(len(days)) / 365.0
    trend = 1.0 + TREND_PER_YEAR * t
    weekday = days.day_of_week.to_numpy()
    weekly = np.select([weekday >= 5, weekday == 0], [1.4, 0.85], 1.0)
    season = np.cos(2 * np.pi * (days.day_of_year.to_numpy() - SEASON_PEAK_DAY) / 365.25)
    yearly = 1.0 + SEASON_AMPLITUDE * season
    base = np.array([STORE_BASE[s] for s in stores])
    return (trend * weekly * yearly)[:, None] * base[None, :]


def make_orders(seed: int = 0, size: str = "small", n_days: int | None = None) -> pd.DataFrame:
    """Return one row per order line (see the module docstring for the process).

    ``size`` is ``"small"`` (default) or ``"large"``; ``n_days`` (optional)
    keeps only the first days, which QUICK mode uses. Columns: ``order_id``
    (int64), ``date`` (datetime64), ``store``, ``category`` (str),
    ``unit_price`` (float), ``quantity`` (int64), ``discount`` and
    ``customer_age`` (float, with NaN).
    """
    if size not in SIZES:
        raise ValueError(f"size must be 'small' or 'large', not {size!r}")
    days_total, n_stores = SIZES[size]
    n_days = days_total if n_days is None else int(n_days)
    if not 1 <= n_days <= days_total:
        raise ValueError(f"n_days must be between 1 and {days_total}, not {n_days}")
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, periods=n_days, freq="D")
    stores = list(STORE_BASE)[:n_stores]
    counts = rng.poisson(_daily_rates(days, stores))
    n = int(counts.sum())
    day_idx, store_idx = np.nonzero(np.ones_like(counts))
    reps = counts.ravel()
    cat = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_P)
    base_price = np.array([PRICE[c] for c in CATEGORIES])[cat]
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1, dtype=np.int64),
            "date": days.to_numpy()[np.repeat(day_idx, reps)],
            "store": np.array(stores)[np.repeat(store_idx, reps)],
            "category": np.array(CATEGORIES)[cat],
            "unit_price": np.round(base_price * rng.lognormal(0.0, 0.10, size=n), 2),
            "quantity": (1 + rng.poisson(0.6, size=n)).astype(np.int64),
            "discount": rng.choice([0.0, 0.1, 0.2], size=n, p=[0.8, 0.15, 0.05]),
            "customer_age": np.clip(np.round(rng.normal(35, 12, size=n)), 16, 80),
        }
    )
    frame.loc[rng.random(n) < MISSING_DISCOUNT, "discount"] = np.nan
    frame.loc[rng.random(n) < MISSING_AGE, "customer_age"] = np.nan
    returns = rng.random(n) < RETURN_RATE
    frame.loc[returns, "quantity"] = -rng.integers(1, 3, size=int(returns.sum()))
    typos = rng.random(n) < TYPO_RATE
    frame.loc[typos, "unit_price"] = np.round(frame.loc[typos, "unit_price"] * 100, 2)
    dupes = frame.loc[rng.random(n) < DUPLICATE_RATE]
    frame = pd.concat([frame, dupes], ignore_index=True)
    return frame.sort_values(["date", "order_id"], kind="stable").reset_index(drop=True)
