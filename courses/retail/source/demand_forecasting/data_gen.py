"""Synthetic daily store x item sales for the demand-forecasting assignment.

Generating process (``DATA_VERSION = "1"``), one row per (date, store, item):

* Calendar: daily dates from 2022-01-03 (a Monday); ``small`` covers 3 stores x
  10 items x 760 days (22,800 rows), ``large`` 8 stores x 30 items x 1,124 days
  (269,760 rows).
* Mean demand ``mu`` is built in log space from
  - an item base level, log-normal (median ~6 units/day, sd 0.9 in log), so
    slow movers with many zero days sit beside fast movers;
  - a store level (log-normal, sd 0.3) and a store trend of about +8 % a year
    (sd 6 %);
  - weekly seasonality: a common Monday-to-Sunday profile (Saturday highest)
    scaled by an item amplitude in [0.5, 1.5];
  - yearly seasonality: a sine with an item amplitude in [0, 0.6] and an item
    phase, so some items peak in summer and others in winter;
  - a local level: a mean-reverting AR(1) in log space (phi 0.98, sd 0.04) per
    store x item, which makes recent history informative;
  - promotions: each store x item runs campaigns of 7 or 14 days, on average
    every ~8 weeks; during a campaign the price drops by 10-30 % and log demand
    rises by ``elasticity * discount`` (elasticity in [2, 4], so +20-130 %);
    in the 7 days after a campaign demand dips by 15 % (pull-forward).
* Sales are drawn from a gamma-Poisson (negative binomial, shape 4) around
  ``mu``: over-dispersed integer counts, zeros frequent for slow movers.
* There are no missing values; a zero is a real day without sales.
* The promotion calendar (``promo``, ``price``) is planned and published at
  least ``PROMO_LEAD_DAYS`` = 28 days ahead, so it is a legitimate input for a
  forecast up to 28 days out. Sales are only known up to the forecast origin.

Deterministic: every draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"
PROMO_LEAD_DAYS = 28
START_DATE = "2022-01-03"
SIZES: dict[str, tuple[int, int, int]] = {
    # size: (stores, items, days)
    "small": (3, 10, 760),
    "large": (8, 30, 1124),
}
WEEKLY_PROFILE = np.array([-0.10, -0.12, -0.08, -0.02, 0.10, 0.30, 0.22])


def _check_args(seed: int, size: str) -> None:
    """Raise ``ValueError`` naming the fix when ``seed`` or ``size`` is invalid."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}; pass size='small'.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}; pass e.g. seed=0.")


def _promo_calendar(rng: np.random.Generator, n_series: int, n_days: int) -> np.ndarray:
    """Return a (series, day) array of promotion discounts (0 outside campaigns)."""
    discount = np.zeros((n_series, n_days))
    for s in range(n_series):
        day = int(rng.integers(0, 56))
        while day < n_days:
            length = int(rng.choice([7, 14]))
            discount[s, day : day + length] = rng.uniform(0.10, 0.30)
            day += length + int(rng.integers(28, 70))
    return discount


def _local_level(rng: np.random.Generator, n_series: int, n_days: int) -> np.ndarray:
    """Return a mean-reverting AR(1) log-level per series (phi 0.98, innovation sd 0.04)."""
    shocks = rng.normal(0.0, 0.04, size=(n_series, n_days))
    level = np.zeros((n_series, n_days))
    for t in range(1, n_days):
        level[:, t] = 0.98 * level[:, t - 1] + shocks[:, t]
    return level


def make_sales(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return daily sales, one row per (date, store_id, item_id), sorted by those keys.

    Columns: ``date`` (datetime64), ``store_id`` and ``item_id`` (int64),
    ``sales`` (int64, >= 0), ``promo`` (int64, 1 during a campaign), ``price``
    (float64, after discount). Raises ``ValueError`` for an unknown ``size`` or
    a negative ``seed``.
    """
    _check_args(seed, size)
    n_stores, n_items, n_days = SIZES[size]
    rng = np.random.default_rng(seed)
    n_series = n_stores * n_items
    store_of = np.repeat(np.arange(n_stores), n_items)
    item_of = np.tile(np.arange(n_items), n_stores)

    item_base = rng.normal(np.log(6.0), 0.9, size=n_items)
    item_weekly_amp = rng.uniform(0.5, 1.5, size=n_items)
    item_yearly_amp = rng.uniform(0.0, 0.6, size=n_items)
    item_phase = rng.uniform(0.0, 2 * np.pi, size=n_items)
    item_elasticity = rng.uniform(2.0, 4.0, size=n_items)
    item_price = np.round(rng.uniform(1.0, 20.0, size=n_items), 2)
    store_level = rng.normal(0.0, 0.3, size=n_stores)
    store_trend = rng.normal(0.08, 0.06, size=n_stores)

    dates = pd.date_range(START_DATE, periods=n_days, freq="D")
    t_years = np.arange(n_days) / 365.25
    dow = dates.dayofweek.to_numpy()
    doy = dates.dayofyear.to_numpy()

    discount = _promo_calendar(rng, n_series, n_days)
    promo = (discount > 0).astype(np.int64)
    ended = np.zeros_like(discount)
    ended[:, 1:] = (promo[:, :-1] == 1) & (promo[:, 1:] == 0)
    post_promo = np.zeros_like(discount)
    for lag in range(7):
        post_promo[:, lag:] = np.maximum(post_promo[:, lag:], ended[:, : n_days - lag])
    post_promo = post_promo * (1 - promo)

    log_mu = (
        item_base[item_of][:, None]
        + store_level[store_of][:, None]
        + store_trend[store_of][:, None] * t_years[None, :]
        + item_weekly_amp[item_of][:, None] * WEEKLY_PROFILE[dow][None, :]
        + item_yearly_amp[item_of][:, None]
        * np.sin(2 * np.pi * doy[None, :] / 365.25 + item_phase[item_of][:, None])
        + _local_level(rng, n_series, n_days)
        + item_elasticity[item_of][:, None] * discount
        + np.log(0.85) * post_promo
    )
    mu = np.exp(log_mu)
    sales = rng.poisson(mu * rng.gamma(4.0, 1.0 / 4.0, size=mu.shape))

    frame = pd.DataFrame(
        {
            "date": np.tile(dates.to_numpy(), n_series),
            "store_id": np.repeat(store_of, n_days).astype(np.int64),
            "item_id": np.repeat(item_of, n_days).astype(np.int64),
            "sales": sales.ravel().astype(np.int64),
            "promo": promo.ravel(),
            "price": np.round(item_price[item_of][:, None] * (1 - discount), 2).ravel(),
        }
    )
    return frame.sort_values(["date", "store_id", "item_id"], ignore_index=True)
