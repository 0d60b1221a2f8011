"""Synthetic subscription customers for the churn-prediction assignment.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
One row per customer, scored once at a monthly snapshot (``snapshot_date``,
2024-01-01 to 2024-12-01, uniform). The label ``churned`` is 1 when the
customer cancels within the 60 days after the snapshot.

Features known at the snapshot:

- ``tenure_months`` (1-72, exponential with mean ~20 months), ``contract``
  (monthly / annual / two_year; longer tenure makes long contracts likelier),
  ``plan`` (basic / standard / premium), ``monthly_fee`` (plan price plus
  noise, minus 15 % when ``discount`` is 1), ``age``, ``region``,
  ``payment_method``.
- Behaviour: ``logins_30d`` (Poisson; engaged customers log in more),
  ``usage_change_pct`` (relative change of logins versus the previous 30
  days; **missing** when ``tenure_months < 2``), ``support_tickets_90d``
  (Poisson), ``payment_failures_6m`` (Poisson, mostly 0).
- ``satisfaction_score`` (survey, 1-5): **missing** for ~35 % of customers,
  and non-response is more frequent among disengaged customers, so the
  missingness itself carries signal.

Churn logit: base -3.2, +1.2 for monthly contracts, -1.0 for two-year,
-0.45 * log(1 + tenure / 6), +0.3 per ticket, +0.55 per payment failure,
-1.6 * usage change (clipped to [-1, 1], 0 when missing), -0.45 *
(satisfaction - 3) using the score *before* non-response, +0.25 for mobile
payment, -0.35 * a latent engagement (which also drives logins, tickets and
survey response), +0.3 for monthly contracts with 2+ tickets, and a
**drift**: the basic plan's price rose on 2024-09-01, adding +0.6 for basic
customers snapshotted from then on. Churn rate is ~14 % (imbalanced) and
higher in the last months (~15-17 % from October).

Fields recorded *after* the snapshot (post-outcome information, the
leakage traps of the assignment):

- ``cancel_reason``: filled for ~97 % of churners (the reason given when they
  cancelled) and for ~1 % of the others (requests later withdrawn).
- ``retention_offer``: 1 when the retention team made an offer, which happens
  after a cancellation request (~80 % of churners, ~4 % of the others).
- ``days_since_last_login``: measured at the extraction date (2025-03-01),
  months after the label window, so churners have long inactivity.

``customer_id`` is an identifier only. Sizes: ``"small"`` 4,000 customers,
``"large"`` 40,000. Deterministic: ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

SIZES: dict[str, int] = {"small": 4_000, "large": 40_000}
TARGET = "churned"
PRICE_INCREASE_DATE = pd.Timestamp("2024-09-01")

_PLANS = np.array(["basic", "standard", "premium"])
_PLAN_PRICE = {"basic": 9_900.0, "standard": 14_900.0, "premium": 21_900.0}
_REGIONS = np.array(["서울", "경기", "부산", "대구", "광주", "대전"])
_PAYMENTS = np.array(["card", "bank_transfer", "mobile"])
_REASONS = np.array(["가격", "품질", "경쟁사", "이사", "기타"])


def _n_rows(size: str) -> int:
    """Return the number of customers for ``size``; raise ValueError otherwise."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    return SIZES[size]


def _contracts(rng: np.random.Generator, tenure: np.ndarray) -> np.ndarray:
    """Draw contract types; long tenure shifts mass to annual and two-year."""
    long = np.clip(tenure / 72.0, 0.0, 1.0)
    p_two = 0.08 + 0.25 * long
    p_annual = 0.25 + 0.15 * long
    u = rng.random(tenure.size)
    return np.where(u < p_two, "two_year", np.where(u < p_two + p_annual, "annual", "monthly"))


def _post_snapshot_fields(
    rng: np.random.Generator, churned: np.ndarray, engagement: np.ndarray
) -> dict[str, np.ndarray]:
    """Build the three fields recorded after the snapshot, driven by the label."""
    n = churned.size
    has_reason = np.where(churned == 1, rng.random(n) < 0.97, rng.random(n) < 0.01)
    reasons = rng.choice(_REASONS, size=n, p=[0.35, 0.2, 0.25, 0.1, 0.1]).astype(object)
    reasons[~has_reason] = None
    offer = np.where(churned == 1, rng.random(n) < 0.80, rng.random(n) < 0.04).astype(np.int64)
    active_gap = rng.exponential(4.0 + 10.0 * np.exp(-engagement), size=n)
    churn_gap = rng.uniform(60.0, 420.0, size=n)
    days = np.where(churned == 1, churn_gap, active_gap).round().astype(np.int64)
    return {"cancel_reason": reasons, "retention_offer": offer, "days_since_last_login": days}


def make_customers(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return one snapshot row per customer with the label ``churned`` (0/1).

    Columns are described in the module docstring. Raises ValueError for an
    unknown ``size``. The same ``(seed, size)`` always gives the same frame.
    """
    n = _n_rows(size)
    rng = np.random.default_rng(seed)
    months = rng.integers(0, 12, size=n)
    snapshot = pd.DatetimeIndex([pd.Timestamp(2024, m + 1, 1) for m in months])
    tenure = np.clip(np.ceil(rng.exponential(20.0, size=n)), 1, 72).astype(np.int64)
    contract = _contracts(rng, tenure)
    plan = rng.choice(_PLANS, size=n, p=[0.45, 0.35, 0.20])
    discount = (rng.random(n) < 0.2).astype(np.int64)
    base_price = np.array([_PLAN_PRICE[p] for p in plan])
    fee = np.round(base_price * (1 - 0.15 * discount) + rng.normal(0, 400, size=n), -1)
    age = np.clip(rng.normal(41, 12, size=n), 18, 79).round().astype(np.int64)
    region = rng.choice(_REGIONS, size=n, p=[0.3, 0.3, 0.12, 0.1, 0.09, 0.09])
    payment = rng.choice(_PAYMENTS, size=n, p=[0.55, 0.25, 0.20])

    engagement = rng.normal(0.0, 1.0, size=n) + 0.3 * (plan == "premium")
    logins = rng.poisson(np.exp(2.2 + 0.45 * engagement))
    trend = np.clip(0.25 * engagement + rng.normal(-0.05, 0.3, size=n), -0.95, 2.0)
    prev = rng.poisson(np.maximum(logins / (1.0 + trend), 0.5)) + 1
    usage_change = np.round((logins - prev) / prev, 3).astype(float)
    usage_change[tenure < 2] = np.nan
    tickets = rng.poisson(np.exp(-0.3 - 0.35 * engagement))
    failures = rng.poisson(0.15 + 0.2 * (payment == "card"))
    sat_latent = 3.4 + 0.6 * engagement - 0.35 * tickets + rng.normal(0, 0.8, size=n)
    satisfaction = np.clip(np.round(sat_latent), 1, 5).astype(float)
    p_missing = 1.0 / (1.0 + np.exp(0.6 + 0.9 * engagement))
    sat_missing = rng.random(n) < p_missing
    satisfaction_obs = satisfaction.copy()
    satisfaction_obs[sat_missing] = np.nan

    logit = (
        -3.2
        + 1.2 * (contract == "monthly")
        - 1.0 * (contract == "two_year")
        - 0.45 * np.log1p(tenure / 6.0)
        + 0.30 * tickets
        + 0.55 * failures
        - 1.6 * np.clip(np.nan_to_num(usage_change, nan=0.0), -1.0, 1.0)
        - 0.45 * (satisfaction - 3.0)
        + 0.25 * (payment == "mobile")
        - 0.35 * engagement
        + 0.6 * ((plan == "basic") & (snapshot >= PRICE_INCREASE_DATE))
        + 0.3 * ((contract == "monthly") & (tickets >= 2))
    )
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{seed:02d}{i:06d}" for i in range(n)],
            "snapshot_date": snapshot,
            "tenure_months": tenure,
            "contract": contract,
            "plan": plan,
            "monthly_fee": fee,
            "discount": discount,
            "age": age,
            "region": region,
            "payment_method": payment,
            "logins_30d": logins.astype(np.int64),
            "usage_change_pct": usage_change,
            "support_tickets_90d": tickets.astype(np.int64),
            "payment_failures_6m": failures.astype(np.int64),
            "satisfaction_score": satisfaction_obs,
        }
    )
    for name, values in _post_snapshot_fields(rng, churned, engagement).items():
        frame[name] = values
    frame[TARGET] = churned
    return frame
