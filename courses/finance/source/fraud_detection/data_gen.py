"""Synthetic card transactions with about 0.2 % fraud, for the fraud-detection assignment.

Generating process (``DATA_VERSION = "1"``):

* Sizes: ``small`` has 5,000 cards over 60 days (~255,000 transactions),
  ``large`` 10,000 cards over 90 days (~755,000 transactions).
* Cards: a spending level (log-normal, median 30,000 KRW), an activity rate
  (log-normal, median 0.7 transactions a day), a share of online purchases
  (Beta(2, 5)), category preferences (Dirichlet) and a card age (0-3,000 days).
* Legitimate transactions: a Poisson number per card, spread uniformly over
  the days; the hour follows a daytime profile (few purchases 1-6 h); the
  amount is log-normal around the card's level times a category factor
  (sd 0.8 in log); card-present purchases happen near home (exponential
  distance, mean 8 km) except 3 % while travelling (log-normal ~300 km, a
  third of them abroad); 3 % of online purchases come from a new device.
* Fraud: about 0.2 % of transactions, in episodes on compromised cards: 1 +
  Poisson(2) transactions spaced by exponential gaps (mean 25 minutes), so
  fraud comes in bursts. Fraud is mostly online (75 %), favours electronics,
  digital goods and online retail, happens more often at night, often uses a
  new device (50 % of online fraud) or a foreign terminal (20 %), and its
  card-present purchases are far from home. A quarter of the episodes start
  with a small "test" purchase (median 5,000 KRW); the others spend large
  amounts (median 250,000 KRW).
* Drift: after 60 % of the period fraudsters adapt: digital goods and small
  amounts become more common and fewer online frauds use a new device, so
  the last weeks are harder than the first.
* Missing values: ``distance_km`` is missing for every online transaction
  (no terminal), ``card_age_days`` is missing for 2 % of rows at random.
* Amounts are in KRW, rounded to 100 won.

Deterministic: every draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"
START = "2024-03-01"
FRAUD_RATE = 0.002
SIZES: dict[str, tuple[int, int]] = {"small": (5000, 60), "large": (10000, 90)}
CATEGORIES = (
    "grocery",
    "restaurant",
    "fuel",
    "apparel",
    "online_retail",
    "electronics",
    "digital_goods",
    "travel",
)
CATEGORY_AMOUNT = np.log([0.8, 0.7, 1.5, 2.0, 1.2, 5.0, 0.4, 6.0])
HOUR_PROFILE = np.array(
    [2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 9, 10, 9, 8, 8, 9, 10, 10, 9, 8, 6, 4, 3], dtype=float
)
FRAUD_HOUR_PROFILE = HOUR_PROFILE + 5.0 * (np.arange(24) < 6)
FRAUD_CATEGORY_EARLY = np.array([0.02, 0.02, 0.03, 0.10, 0.20, 0.30, 0.23, 0.10])
FRAUD_CATEGORY_LATE = np.array([0.02, 0.02, 0.03, 0.08, 0.15, 0.20, 0.43, 0.07])


def _check_args(seed: int, size: str) -> None:
    """Raise ``ValueError`` naming the fix when ``seed`` or ``size`` is invalid."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}; pass size='small'.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}; pass e.g. seed=0.")


def _times(rng: np.random.Generator, n: int, days: int, profile: np.ndarray) -> np.ndarray:
    """Return ``n`` times in days since START: a uniform day plus an hour from ``profile``."""
    day = rng.integers(0, days, size=n)
    hour = rng.choice(24, size=n, p=profile / profile.sum())
    return day + (hour + rng.random(n)) / 24.0


def _legit(rng: np.random.Generator, n_cards: int, days: int, cards: dict) -> dict:
    """Draw the legitimate transactions of every card."""
    counts = rng.poisson(cards["rate"] * days)
    card = np.repeat(np.arange(n_cards), counts)
    n = len(card)
    cum_pref = np.cumsum(cards["pref"], axis=1)
    category = (rng.random(n)[:, None] > cum_pref[card]).sum(axis=1).clip(0, len(CATEGORIES) - 1)
    online = rng.random(n) < cards["online"][card]
    log_amount = cards["level"][card] + CATEGORY_AMOUNT[category] + rng.normal(0, 0.8, n)
    travel = ~online & (rng.random(n) < 0.03)
    distance = np.where(travel, rng.lognormal(np.log(300), 0.8, n), rng.exponential(8.0, n))
    return {
        "card": card,
        "t": _times(rng, n, days, HOUR_PROFILE),
        "category": category,
        "online": online,
        "log_amount": log_amount,
        "distance": distance,
        "foreign": travel & (rng.random(n) < 1 / 3),
        "new_device": online & (rng.random(n) < 0.03),
        "fraud": np.zeros(n, dtype=bool),
    }


def _fraud(rng: np.random.Generator, n_cards: int, days: int, n_target: int) -> dict:
    """Draw fraud episodes until about ``n_target`` fraudulent transactions exist."""
    n_episodes = max(1, round(n_target / 3.0))
    sizes = 1 + rng.poisson(2.0, n_episodes)
    card = np.repeat(rng.integers(0, n_cards, n_episodes), sizes)
    episode_start = _times(rng, n_episodes, days, FRAUD_HOUR_PROFILE)
    start = np.repeat(episode_start, sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    position = np.arange(len(card)) - first
    gaps = rng.exponential(25.0 / 1440.0, len(card))
    gaps[position == 0] = 0.0
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.cumsum(sizes) - sizes], sizes)
    t = np.minimum(start + offset, days - 1e-6)
    n = len(card)
    late = t >= 0.6 * days
    u = rng.random(n)
    category = np.where(
        late,
        (u[:, None] > np.cumsum(FRAUD_CATEGORY_LATE)).sum(axis=1),
        (u[:, None] > np.cumsum(FRAUD_CATEGORY_EARLY)).sum(axis=1),
    ).clip(0, len(CATEGORIES) - 1)
    online = rng.random(n) < 0.75
    late_episode = episode_start >= 0.6 * days
    tester = np.repeat(rng.random(n_episodes) < np.where(late_episode, 0.4, 0.25), sizes)
    small_first = tester & (position == 0)
    log_amount = np.where(
        small_first | (late & (rng.random(n) < 0.3)),
        rng.normal(np.log(5000), 0.5, n),
        rng.normal(np.log(250000), 0.8, n),
    )
    return {
        "card": card,
        "t": t,
        "category": category,
        "online": online,
        "log_amount": log_amount,
        "distance": rng.lognormal(np.log(200), 1.0, n),
        "foreign": rng.random(n) < 0.20,
        "new_device": online & (rng.random(n) < np.where(late, 0.30, 0.50)),
        "fraud": np.ones(n, dtype=bool),
    }


def make_transactions(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return card transactions sorted by time, one row each.

    Columns: ``transaction_id`` (int64, in time order), ``ts``
    (datetime64[s]), ``card_id`` (int64), ``amount`` (float64, KRW),
    ``category`` (str, one of ``CATEGORIES``), ``channel`` (``"pos"`` or
    ``"online"``), ``distance_km`` (float64, NaN online), ``foreign`` and
    ``new_device`` (int64 0/1), ``card_age_days`` (float64, 2 % NaN),
    ``is_fraud`` (int64 0/1). Raises ``ValueError`` for an unknown ``size`` or
    a negative ``seed``.
    """
    _check_args(seed, size)
    n_cards, days = SIZES[size]
    rng = np.random.default_rng(seed)
    cards = {
        "level": rng.normal(np.log(30000), 0.5, n_cards),
        "rate": rng.lognormal(np.log(0.7), 0.6, n_cards),
        "online": rng.beta(2.0, 5.0, n_cards),
        "pref": rng.dirichlet(np.full(len(CATEGORIES), 1.5), n_cards),
        "age": rng.integers(0, 3000, n_cards).astype(float),
    }
    legit = _legit(rng, n_cards, days, cards)
    fraud = _fraud(rng, n_cards, days, round(FRAUD_RATE * len(legit["card"])))
    parts = {key: np.concatenate([legit[key], fraud[key]]) for key in legit}

    n = len(parts["card"])
    seconds = np.round(parts["t"] * 86400).astype("int64")
    card_age = cards["age"][parts["card"]] + np.floor(parts["t"])
    card_age[rng.random(n) < 0.02] = np.nan
    frame = pd.DataFrame(
        {
            "ts": np.datetime64(START, "s") + seconds.astype("timedelta64[s]"),
            "card_id": parts["card"].astype(np.int64),
            "amount": np.maximum(100.0, np.round(np.exp(parts["log_amount"]), -2)),
            "category": np.asarray(CATEGORIES)[parts["category"]],
            "channel": np.where(parts["online"], "online", "pos"),
            "distance_km": np.where(parts["online"], np.nan, np.round(parts["distance"], 1)),
            "foreign": parts["foreign"].astype(np.int64),
            "new_device": parts["new_device"].astype(np.int64),
            "card_age_days": card_age,
            "is_fraud": parts["fraud"].astype(np.int64),
        }
    )
    frame = frame.sort_values(["ts", "card_id"], kind="stable", ignore_index=True)
    frame.insert(0, "transaction_id", np.arange(n, dtype=np.int64))
    return frame
