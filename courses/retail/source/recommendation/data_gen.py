"""Synthetic implicit-feedback interactions for the recommendation assignment.

Generating process (``DATA_VERSION = "1"``): an online shop where a row is the
first time a user bought (or clicked) an item; there are no ratings, only
these positive events (implicit feedback), and no repeated (user, item) pairs.

* Sizes: ``small`` has 1,500 users x 400 items (~29,000 events), ``large``
  6,000 users x 1,500 items (~114,000 events).
* Items belong to one of 8 categories of uneven size (Dirichlet shares) and
  have a popularity weight that is log-normal (sd 1.1): a long tail, where the
  top 10 % of items receive 40-50 % of the events.
* Users have a taste over categories drawn from a sparse Dirichlet
  (concentration 0.25), so most users favour one to three categories, and an
  activity level: 4 + a negative binomial count (mean ~15, heavy tailed).
* A user's events are drawn without replacement: with probability 0.85 the
  category follows the user's taste, otherwise it is uniform (exploration);
  inside a category the item is drawn in proportion to popularity.
* Taste drifts: over a user's history the category taste moves linearly from
  the initial taste towards a second draw (weight 0 to 0.5), so recent events
  say a little more about the next ones than old events do.
* Timestamps: each user joins at a uniform time in the first 120 days of a
  180-day window and is active until its end; event times are sorted uniform
  draws in that span (``ts``, datetime64, second resolution).
* No missing values; users with few events (cold users) are part of the data.

Deterministic: every draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"
START = "2024-01-01"
WINDOW_DAYS = 180
N_CATEGORIES = 12
SIZES: dict[str, tuple[int, int]] = {"small": (1500, 400), "large": (6000, 1500)}


def _check_args(seed: int, size: str) -> None:
    """Raise ``ValueError`` naming the fix when ``seed`` or ``size`` is invalid."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}; pass size='small'.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}; pass e.g. seed=0.")


def make_items(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return the item catalogue: ``item_id`` (int64), ``category`` (int64), ``popularity``.

    ``popularity`` (float64) is the generator's sampling weight, normalised to
    sum to 1 over the catalogue (users draw a category first, then an item in
    proportion to this weight). It is the ground truth of the process, shown
    for EDA; a recommender must learn from the interactions instead.
    """
    _check_args(seed, size)
    _, n_items = SIZES[size]
    rng = np.random.default_rng([seed, 1])
    shares = rng.dirichlet(np.full(N_CATEGORIES, 3.0))
    category = rng.choice(N_CATEGORIES, size=n_items, p=shares)
    category[:N_CATEGORIES] = np.arange(N_CATEGORIES)  # every category is non-empty
    weight = rng.lognormal(0.0, 1.0, size=n_items)
    return pd.DataFrame(
        {
            "item_id": np.arange(n_items, dtype=np.int64),
            "category": category.astype(np.int64),
            "popularity": weight / weight.sum(),
        }
    )


def _user_events(
    rng: np.random.Generator,
    n_events: int,
    taste_start: np.ndarray,
    taste_end: np.ndarray,
    items_by_cat: list[np.ndarray],
    cum_weights_by_cat: list[np.ndarray],
) -> list[int]:
    """Draw ``n_events`` distinct items for one user, in time order.

    ``cum_weights_by_cat[c]`` is the cumulative popularity of the items of
    category ``c`` (ending at 1); draws use inverse-CDF sampling.
    """
    taken: set[int] = set()
    events: list[int] = []
    uniform = np.full(N_CATEGORIES, 1.0 / N_CATEGORIES)
    for k in range(n_events):
        drift = 0.5 * k / max(n_events - 1, 1)
        taste = (1 - drift) * taste_start + drift * taste_end
        if rng.random() < 0.10:
            taste = uniform
        cum_taste = np.cumsum(taste)
        for _ in range(20):
            cat = min(
                int(np.searchsorted(cum_taste, rng.random() * cum_taste[-1])), N_CATEGORIES - 1
            )
            members = items_by_cat[cat]
            pos = int(np.searchsorted(cum_weights_by_cat[cat], rng.random()))
            item = int(members[min(pos, len(members) - 1)])
            if item not in taken:
                taken.add(item)
                events.append(item)
                break
    return events


def make_interactions(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return implicit-feedback events sorted by ``ts``, then ``user_id``.

    Columns: ``user_id``, ``item_id`` (int64, ``item_id`` indexes
    :func:`make_items`), ``ts`` (datetime64[s]). Each (user, item) pair occurs
    at most once. Raises ``ValueError`` for an unknown ``size`` or a negative
    ``seed``.
    """
    items = make_items(seed, size)
    n_users, _ = SIZES[size]
    rng = np.random.default_rng([seed, 2])
    items_by_cat = [items.index[items["category"] == c].to_numpy() for c in range(N_CATEGORIES)]
    cum_weights_by_cat = []
    for members in items_by_cat:
        w = np.cumsum(items["popularity"].to_numpy()[members])
        cum_weights_by_cat.append(w / w[-1])

    activity = 4 + rng.negative_binomial(1.2, 1.2 / (1.2 + 15.0), size=n_users)
    join = rng.uniform(0, 120, size=n_users)
    users, item_ids, times = [], [], []
    for user in range(n_users):
        taste_start = rng.dirichlet(np.full(N_CATEGORIES, 0.25))
        taste_end = rng.dirichlet(np.full(N_CATEGORIES, 0.25))
        events = _user_events(
            rng, int(activity[user]), taste_start, taste_end, items_by_cat, cum_weights_by_cat
        )
        t = np.sort(rng.uniform(join[user], WINDOW_DAYS, size=len(events)))
        users.extend([user] * len(events))
        item_ids.extend(events)
        times.extend(t.tolist())

    seconds = np.round(np.asarray(times) * 86400).astype("int64")
    ts = np.datetime64(START, "s") + seconds.astype("timedelta64[s]")
    frame = pd.DataFrame(
        {
            "user_id": np.asarray(users, dtype=np.int64),
            "item_id": np.asarray(item_ids, dtype=np.int64),
            "ts": ts,
        }
    )
    return frame.sort_values(["ts", "user_id"], kind="stable", ignore_index=True)
