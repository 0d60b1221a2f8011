"""Synthetic consumer-loan applications with 12-month default, for the credit-scoring assignment.

Generating process (``DATA_VERSION = "1"``), one row per application:

* Sizes: ``small`` has 20,000 applications, ``large`` 100,000, spread
  uniformly over 24 application months (2022-01 to 2023-12).
* Applicant attributes:
  - ``age`` 21-75 (triangular, mode 38); ``employment_type`` salaried (60 %),
    self_employed (20 %), contract (15 %), none (5 %); ``employment_years``
    grows with age (0 for ``none``);
  - ``income`` (million KRW a year): log-normal (median 42) shifted by
    employment type, age and tenure; **6 % missing, not at random**: the
    self-employed and applicants who later default leave it blank more often;
  - ``home_ownership`` own / mortgage / rent; ``n_credit_lines`` Poisson(6);
  - ``utilization`` of revolving credit in [0, 1.5] (Beta, some over-limit);
    ``debt_to_income`` in [0, 1.5] (Gamma); ``delinquencies_2y`` Poisson
    (mean 0.3); ``inquiries_6m`` Poisson (mean 1.2);
  - ``loan_amount`` (million KRW) and ``purpose`` (debt_consolidation, car,
    home_improvement, business, other).
* Default within 12 months (``default_12m``) is Bernoulli with a logit that
  is additive in the attributes but **non-linear**: U-shaped in age (young and
  old riskier), a hinge in utilization (steep above 0.8), increasing in
  debt-to-income, delinquencies and inquiries, decreasing in log income and
  tenure, higher for thin files (0-2 credit lines), contract workers,
  renters and business loans, and an applicant-level noise (sd 0.5).
* Drift: the logit rises by 0.02 per month (a tightening economy), so later
  vintages default more; the overall default rate is about 8 %.
* Missing values: only ``income`` (6 %, informative as described above).

Deterministic: every draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"
SIZES: dict[str, int] = {"small": 20_000, "large": 100_000}
MONTHS = 24
EMPLOYMENT = ("salaried", "self_employed", "contract", "none")
HOME = ("own", "mortgage", "rent")
PURPOSE = ("debt_consolidation", "car", "home_improvement", "business", "other")


def _check_args(seed: int, size: str) -> None:
    """Raise ``ValueError`` naming the fix when ``seed`` or ``size`` is invalid."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}; pass size='small'.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}; pass e.g. seed=0.")


def _default_logit(a: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Return the default log-odds of every applicant (documented in the module docstring)."""
    age_u = 0.0012 * (a["age"] - 45.0) ** 2
    util_hinge = 1.2 * a["utilization"] + 3.5 * np.maximum(a["utilization"] - 0.8, 0.0)
    thin_file = 0.6 * (a["n_credit_lines"] <= 2)
    employment = np.array([0.0, 0.25, 0.45, 0.8])[a["employment"]]
    home = np.array([-0.2, -0.1, 0.25])[a["home"]]
    purpose = np.array([0.15, -0.1, -0.15, 0.5, 0.0])[a["purpose"]]
    return (
        -5.2
        + age_u
        + util_hinge
        + 1.6 * a["debt_to_income"]
        + 0.55 * a["delinquencies"]
        + 0.18 * a["inquiries"]
        - 0.45 * np.log(a["income"] / 42.0)
        - 0.025 * a["employment_years"]
        + thin_file
        + employment
        + home
        + purpose
        + 0.02 * a["month"]
        + rng.normal(0.0, 0.5, size=len(a["age"]))
    )


def make_applications(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return loan applications sorted by ``application_month`` then ``application_id``.

    Columns: ``application_id`` (int64), ``application_month``
    (datetime64, first day of month), ``age``, ``employment_type``,
    ``employment_years``, ``income`` (float64, NaN when not reported),
    ``home_ownership``, ``n_credit_lines``, ``utilization``,
    ``debt_to_income``, ``delinquencies_2y``, ``inquiries_6m``,
    ``loan_amount``, ``purpose`` and the target ``default_12m`` (int64 0/1).
    Raises ``ValueError`` for an unknown ``size`` or a negative ``seed``.
    """
    _check_args(seed, size)
    n = SIZES[size]
    rng = np.random.default_rng(seed)
    a: dict[str, np.ndarray] = {}
    a["month"] = rng.integers(0, MONTHS, n)
    a["age"] = np.round(rng.triangular(21, 38, 75, n)).astype(np.int64)
    a["employment"] = rng.choice(len(EMPLOYMENT), size=n, p=[0.60, 0.20, 0.15, 0.05])
    tenure_cap = np.maximum(a["age"] - 20, 1)
    a["employment_years"] = np.where(
        a["employment"] == 3, 0.0, np.round(rng.uniform(0, 1, n) * tenure_cap * 0.6, 1)
    )
    log_income = (
        np.log(42.0)
        + np.array([0.0, 0.1, -0.25, -0.9])[a["employment"]]
        + 0.01 * a["employment_years"]
        - 0.0004 * (a["age"] - 48.0) ** 2
        + rng.normal(0.0, 0.45, n)
    )
    a["income"] = np.round(np.exp(log_income), 1)
    a["home"] = np.where(
        a["age"] < 30,
        rng.choice(3, size=n, p=[0.05, 0.15, 0.80]),
        rng.choice(3, size=n, p=[0.30, 0.40, 0.30]),
    )
    a["n_credit_lines"] = rng.poisson(6.0, n)
    a["utilization"] = np.round(np.minimum(1.5 * rng.beta(1.6, 2.8, n) ** 0.9, 1.5), 3)
    a["debt_to_income"] = np.round(np.minimum(rng.gamma(2.5, 0.12, n), 1.5), 3)
    a["delinquencies"] = rng.poisson(0.3, n)
    a["inquiries"] = rng.poisson(1.2, n)
    a["purpose"] = rng.choice(len(PURPOSE), size=n, p=[0.35, 0.2, 0.15, 0.1, 0.2])
    loan_amount = np.round(
        np.exp(rng.normal(np.log(15.0), 0.7, n)) * (a["income"] / 42.0) ** 0.5, 1
    )

    default = rng.random(n) < 1.0 / (1.0 + np.exp(-_default_logit(a, rng)))
    p_missing = 0.045 + 0.06 * (a["employment"] == 1) + 0.06 * default
    income = np.where(rng.random(n) < p_missing, np.nan, a["income"])

    month_starts = pd.DatetimeIndex(
        [pd.Timestamp(2022 + m // 12, m % 12 + 1, 1) for m in range(MONTHS)]
    )
    frame = pd.DataFrame(
        {
            "application_month": month_starts[a["month"]],
            "age": a["age"],
            "employment_type": np.asarray(EMPLOYMENT)[a["employment"]],
            "employment_years": a["employment_years"],
            "income": income,
            "home_ownership": np.asarray(HOME)[a["home"]],
            "n_credit_lines": a["n_credit_lines"].astype(np.int64),
            "utilization": a["utilization"],
            "debt_to_income": a["debt_to_income"],
            "delinquencies_2y": a["delinquencies"].astype(np.int64),
            "inquiries_6m": a["inquiries"].astype(np.int64),
            "loan_amount": loan_amount,
            "purpose": np.asarray(PURPOSE)[a["purpose"]],
            "default_12m": default.astype(np.int64),
        }
    )
    frame = frame.sort_values("application_month", kind="stable", ignore_index=True)
    frame.insert(0, "application_id", np.arange(n, dtype=np.int64))
    return frame
