"""Run-to-failure data of a fleet of machines, in the style of NASA C-MAPSS.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
Every unit (machine) runs from a healthy start until it fails. Unit ``u`` has

* a lifetime ``T_u`` (cycles): ``110 + Gamma(shape=4, scale=25)``, so about
  210 cycles on average, right-skewed, never under 110;
* an initial wear ``w_u ~ Uniform(0, 0.15)`` (units are not new when logged);
* a degradation exponent ``p_u ~ Uniform(1.6, 2.8)``.

Its hidden health index rises from ``w_u`` to 1 (failure) as
``h(t) = w_u + (1 - w_u) * (t / T_u) ** p_u`` for ``t = 1 .. T_u``: slow wear
first, accelerating near the end. The last logged cycle is the failure.

Each cycle also has an operating load ``load ~ Uniform(0, 1)`` (independent
per cycle) that shifts several sensors. The 14 sensors ``s1 .. s14`` are

``s_j = base_j + unit_offset_j + gain_j * h(t) ** q_j + load_coef_j * load + noise_j``

with Gaussian noise ``noise_j ~ N(0, sigma_j)`` and a small per-unit offset
(manufacturing spread, ``N(0, 0.3 * sigma_j)``). Sensors ``s3``, ``s7``,
``s11`` carry no degradation signal (``gain = 0``); ``s5`` is almost constant
(a set point with a tiny noise); ``s9`` and ``s13`` decrease with wear
(negative gain). The informative sensors are noisy: a single cycle is a poor
indicator, a window of recent cycles is a good one.

``make_test_units`` draws further units from the same process (an independent
random stream) and cuts every trajectory at a random cycle so that the true
remaining useful life at the cut is uniform in ``[5, min(130, T_u - 20)]``
cycles (at least 20 cycles stay observed); it returns
the truncated data and the true RUL per unit, like the C-MAPSS test files.

Sizes: ``"small"`` has 80 training units (about 17 000 rows) and 40 test
units; ``"large"`` has 300 training units and 150 test units. No missing
values. Deterministic: ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

SENSORS: list[str] = [f"s{j}" for j in range(1, 15)]
"""Names of the sensor columns, in order."""

_SIZES: dict[str, tuple[int, int]] = {"small": (80, 40), "large": (300, 150)}

# Per-sensor constants: base level, noise sigma, degradation gain, exponent, load coefficient.
_BASE = np.array(
    [642.0, 1590.0, 1400.0, 14.6, 21.6, 553.0, 2388.0, 9050.0, 47.5, 520.0, 8.4, 392.0, 38.9, 23.3]
)
_SIGMA = np.array([0.5, 6.0, 9.0, 0.05, 0.002, 0.9, 0.08, 6.0, 0.27, 0.7, 0.04, 1.5, 0.18, 0.11])
_GAIN = np.array([2.2, 28.0, 0.0, 0.25, 0.0, -3.2, 0.0, 40.0, -1.6, 3.5, 0.0, 6.0, -1.0, 0.55])
_EXPO = np.array([1.5, 1.2, 1.0, 2.0, 1.0, 1.4, 1.0, 2.5, 1.3, 1.6, 1.0, 1.8, 1.1, 1.4])
_LOAD = np.array([1.0, 10.0, 14.0, 0.0, 0.0, -1.5, 0.1, 15.0, 0.0, 1.2, 0.05, 2.5, 0.0, 0.2])


def _check_size(size: str) -> tuple[int, int]:
    if size not in _SIZES:
        raise ValueError(f"size={size!r} is not known; use one of {sorted(_SIZES)}")
    return _SIZES[size]


def _simulate_unit(rng: np.random.Generator, unit: int) -> pd.DataFrame:
    """Simulate one complete run to failure (cycles ``1 .. T``) of ``unit``."""
    lifetime = int(110 + rng.gamma(shape=4.0, scale=25.0))
    w0 = rng.uniform(0.0, 0.15)
    p = rng.uniform(1.6, 2.8)
    offset = rng.normal(0.0, 0.3 * _SIGMA)
    t = np.arange(1, lifetime + 1)
    health = w0 + (1.0 - w0) * (t / lifetime) ** p
    load = rng.uniform(0.0, 1.0, size=lifetime)
    noise = rng.normal(0.0, 1.0, size=(lifetime, len(SENSORS))) * _SIGMA
    values = _BASE + offset + _GAIN * health[:, None] ** _EXPO + _LOAD * load[:, None] + noise
    frame = pd.DataFrame(values.round(4), columns=SENSORS)
    frame.insert(0, "load", load.round(4))
    frame.insert(0, "cycle", t.astype(np.int64))
    frame.insert(0, "unit", np.int64(unit))
    return frame


def make_run_to_failure(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Complete run-to-failure trajectories of the training fleet.

    Returns a DataFrame sorted by ``unit`` then ``cycle`` with columns
    ``unit`` (int, from 1), ``cycle`` (int, from 1), ``load`` and the float
    sensors ``s1 .. s14``. The last cycle of every unit is its failure, so
    ``RUL = max(cycle of the unit) - cycle``. Raises ``ValueError`` for an
    unknown ``size``.
    """
    n_units, _ = _check_size(size)
    rng = np.random.default_rng([int(seed), 1])
    frames = [_simulate_unit(rng, u) for u in range(1, n_units + 1)]
    return pd.concat(frames, ignore_index=True)


def make_test_units(seed: int = 0, size: str = "small") -> tuple[pd.DataFrame, pd.Series]:
    """Truncated trajectories of unseen units and their true RUL.

    Returns ``(frame, rul)``: ``frame`` has the columns of
    :func:`make_run_to_failure`, each unit cut at a random cycle; ``rul`` is
    an int Series indexed by ``unit`` (name ``"rul"``) with the true remaining
    cycles after the last logged cycle, in ``[5, 130]``. Units are
    numbered from 1001 so they never collide with training units. Raises
    ``ValueError`` for an unknown ``size``.
    """
    _, n_units = _check_size(size)
    rng = np.random.default_rng([int(seed), 2])
    frames = []
    ruls = {}
    for u in range(1001, 1001 + n_units):
        full = _simulate_unit(rng, u)
        rul = int(rng.integers(5, min(130, len(full) - 20) + 1))
        frames.append(full.iloc[: len(full) - rul])
        ruls[u] = rul
    frame = pd.concat(frames, ignore_index=True)
    rul_series = pd.Series(ruls, name="rul", dtype=np.int64)
    rul_series.index.name = "unit"
    return frame, rul_series
