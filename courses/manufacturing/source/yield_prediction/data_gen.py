"""Wide, imbalanced in-process measurements of a wafer line, in the style of UCI SECOM.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
Lots pass the line one after another; each row is one lot with its
``timestamp`` (gaps of ``Exponential(mean 45 min)``, rows sorted by time), the
measurements ``f000 .. f{p-1}`` and the final-test outcome ``fail`` (1 = the
lot failed, the minority class).

* **Latent process state.** Eight latent factors follow AR(1) processes in
  time (``phi = 0.9``), so neighbouring lots are alike and failures come in
  clusters; a slow linear drift is added to factor 0.
* **Measurements.** Each column is a noisy linear mix of two or three latent
  factors, ``x = offset + scale * (loadings @ z + noise)``, with noise variance
  between 0.2 and 1.5 and column scales spread over six orders of magnitude
  (``10 ** Uniform(-3, 3)``), as in real tool logs. Columns therefore come in
  strongly correlated blocks. Eight further columns at random positions are
  direct readings of factors 1-4 (two each, noise sd 0.35).
* **Constant columns.** About 8 % of the columns hold a single value (a set
  point that never moved) and about 3 % are near-constant (one value in
  99.5 % of the rows, the rest a second value).
* **Missing values.** About 4 % of the remaining cells are missing at random.
  About 7 % of the columns come from a metrology step that only ran in some
  periods: such a column is missing in 55 %-90 % of the rows, in contiguous
  blocks of time. Measurement ``f005`` is skipped (missing) in 60 % of the
  lots that ran while the tool was unstable (15 % of lots, hidden) and in
  5 % of the others: its missingness itself carries signal.
* **Outcome.** ``logit P(fail) = b0 + 1.8 z1 + 2.2 max(z2 - 1, 0) + 1.2 z3 z4
  + 2.0 unstable``, with ``b0`` set so that about 6.5 % of lots fail (SECOM
  has 6.6 %). The signal is non-linear and reaches the measurements only
  through noisy mixtures: even the true logit only reaches a PR-AUC of about
  0.6 (ROC-AUC about 0.92).

Sizes: ``"small"`` is 2 400 lots x 300 measurements; ``"large"`` is 6 000 lots x
590 measurements. Deterministic: ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

_SIZES: dict[str, tuple[int, int]] = {"small": (2400, 300), "large": (6000, 590)}
_N_FACTORS = 8


def _check_size(size: str) -> tuple[int, int]:
    if size not in _SIZES:
        raise ValueError(f"size={size!r} is not known; use one of {sorted(_SIZES)}")
    return _SIZES[size]


def _latent_factors(rng: np.random.Generator, n: int) -> np.ndarray:
    """AR(1) factors with unit stationary variance, plus a slow drift on factor 0."""
    phi = 0.9
    shocks = rng.normal(0.0, np.sqrt(1.0 - phi**2), size=(n, _N_FACTORS))
    z = np.empty((n, _N_FACTORS))
    z[0] = rng.normal(0.0, 1.0, size=_N_FACTORS)
    for i in range(1, n):
        z[i] = phi * z[i - 1] + shocks[i]
    z[:, 0] += np.linspace(-0.8, 0.8, n)
    return z


def _outcome(rng: np.random.Generator, z: np.ndarray, instability: np.ndarray) -> np.ndarray:
    """Bernoulli failures from a non-linear logit calibrated to about 6.5 % failures."""
    signal = (
        1.8 * z[:, 1]
        + 2.2 * np.maximum(z[:, 2] - 1.0, 0.0)
        + 1.2 * z[:, 3] * z[:, 4]
        + 2.0 * instability
    )
    # b0 chosen on the expected signal so that the mean failure probability is ~6.5 %
    lo, hi = -12.0, 4.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(mid + signal)))) < 0.065:
            lo = mid
        else:
            hi = mid
    prob = 1.0 / (1.0 + np.exp(-(0.5 * (lo + hi) + signal)))
    return (rng.uniform(size=len(prob)) < prob).astype(np.int64)


def _measurements(rng: np.random.Generator, z: np.ndarray, p: int) -> np.ndarray:
    """Noisy mixes of two or three factors, with column scales over six decades."""
    n = len(z)
    x = np.empty((n, p))
    for j in range(p):
        k = int(rng.integers(2, 4))
        idx = rng.choice(_N_FACTORS, size=k, replace=False)
        load = rng.normal(0.0, 1.0, size=k)
        noise_sd = np.sqrt(rng.uniform(0.2, 1.5))
        col = z[:, idx] @ load + rng.normal(0.0, noise_sd, size=n)
        scale = 10.0 ** rng.uniform(-3.0, 3.0)
        offset = rng.normal(0.0, 5.0) * scale
        x[:, j] = offset + scale * col
    return x


def _missing_blocks(rng: np.random.Generator, n: int, frac: float) -> np.ndarray:
    """Boolean mask that is True in contiguous time blocks covering about ``frac`` of rows."""
    mask = np.zeros(n, dtype=bool)
    n_blocks = int(rng.integers(2, 6))
    lengths = rng.dirichlet(np.ones(n_blocks)) * frac * n
    for length in lengths:
        start = int(rng.integers(0, max(1, n - int(length))))
        mask[start : start + int(length)] = True
    return mask


def make_process_data(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """One row per lot: ``timestamp``, measurements ``f000 ..``, and ``fail`` (0/1).

    Rows are sorted by ``timestamp``; the index is ``0 .. n-1``. Measurement
    columns are float with missing values (NaN), some constant. Raises
    ``ValueError`` for an unknown ``size``.
    """
    n, p = _check_size(size)
    rng = np.random.default_rng([int(seed), 11])
    z = _latent_factors(rng, n)
    instability = (rng.uniform(size=n) < 0.15).astype(float)
    fail = _outcome(rng, z, instability)
    x = _measurements(rng, z, p)
    key_cols = rng.choice(np.arange(10, p), size=8, replace=False)
    for j, factor in zip(key_cols, [1, 1, 2, 2, 3, 3, 4, 4], strict=True):
        scale = 10.0 ** rng.uniform(-2.0, 2.0)
        x[:, j] = scale * (3.0 + z[:, factor] + rng.normal(0.0, 0.35, size=n))

    kinds = rng.choice(["plain", "constant", "near", "blocky"], size=p, p=[0.82, 0.08, 0.03, 0.07])
    kinds[:10] = "plain"  # keep the first columns (f005 among them) ordinary
    kinds[key_cols] = "plain"
    for j in range(p):
        if kinds[j] == "constant":
            x[:, j] = np.round(rng.normal(0.0, 100.0), 3)
        elif kinds[j] == "near":
            value = np.round(rng.normal(0.0, 10.0), 3)
            x[:, j] = np.where(rng.uniform(size=n) < 0.995, value, value + 1.0)
        elif kinds[j] == "blocky":
            x[_missing_blocks(rng, n, rng.uniform(0.55, 0.9)), j] = np.nan
    random_missing = rng.uniform(size=(n, p)) < 0.04
    random_missing[:, kinds == "constant"] = False
    random_missing[:, kinds == "near"] = False
    x[random_missing] = np.nan
    # f005 is skipped more often on unstable lots (informative missingness)
    skip = rng.uniform(size=n) < np.where(instability > 0, 0.6, 0.05)
    x[skip, 5] = np.nan

    gaps = rng.exponential(45.0, size=n)
    timestamp = pd.Timestamp("2024-03-01 06:00") + pd.to_timedelta(
        np.cumsum(gaps).round(2), unit="min"
    )
    frame = pd.DataFrame(x, columns=[f"f{j:03d}" for j in range(p)])
    frame.insert(0, "timestamp", timestamp)
    frame["fail"] = fail
    return frame
