"""Vibration snapshots of shipboard pumps, some of which develop a fault.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
A condition-monitoring system records one snapshot of ``N_SAMPLES = 2048``
accelerometer samples at ``FS = 4096`` Hz (0.5 s) from each pump every hour.

* **Healthy pump.** Shaft frequency ``f_r ~ Uniform(24, 30)`` Hz per pump
  (1 440-1 800 rpm) with 0.5 % jitter per snapshot; harmonics at 1x, 2x, 3x
  of ``f_r`` (amplitudes ``a1 ~ Uniform(0.6, 1.0)``, ``0.35 a1``,
  ``0.12 a1``); the blade-pass tone at ``n_blades x f_r`` (``n_blades`` in
  5..7, amplitude ``Uniform(0.2, 0.4)``); a daily load cycle that scales the
  1x and blade-pass amplitudes by ``1 +- 0.2``; white sensor noise
  ``N(0, 0.25)``. Random phases in every snapshot.
* **Mounting.** Every pump's whole signal is multiplied by a gain
  ``Uniform(0.6, 1.6)`` (sensor mounting and machine size): absolute levels
  differ between pumps, which is why each pump is compared with its own
  commissioning baseline.
* **Commissioning.** The first quarter of every pump's snapshots
  (``commissioning_windows``) is healthy by construction.
* **Faults.** Half of the pumps develop a fault at an onset drawn uniformly in
  45 %-80 % of their record. Severity grows as
  ``s = 0.25 + 0.75 * ((w - onset) / (n - onset)) ** 1.3`` for snapshots
  ``w >= onset``. Fault types, in turn:

  - ``bearing``: an outer-race defect. Impulses at the ball-pass frequency
    ``BPFO = 3.57 f_r`` (1 % slip jitter) ring a structural resonance at
    ``Uniform(1500, 1900)`` Hz (decay time 2 ms) with amplitude ``2.0 s``:
    spiky, high-frequency, raises kurtosis.
  - ``imbalance``: 1x amplitude times ``1 + 1.2 s`` and 2x times
    ``1 + 0.6 s``: low-frequency, confounded with the load cycle.
  - ``cavitation``: broadband noise above about 600 Hz with sd ``0.5 s``
    arriving in bursts (random on/off of 30 ms segments).

Labels: ``faulty = 1`` for the snapshots at and after the onset of a faulty
pump, 0 otherwise (about 15 % positives).

Sizes: ``"small"`` is 8 pumps x 240 snapshots (10 days); ``"large"`` is 24
pumps x 400 snapshots. Deterministic: ``numpy.random.default_rng(seed)``
only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

FS = 4096
"""Sampling rate in Hz."""
N_SAMPLES = 2048
"""Samples per snapshot."""
FAULT_TYPES: list[str] = ["bearing", "imbalance", "cavitation"]

_SIZES: dict[str, tuple[int, int]] = {"small": (8, 240), "large": (24, 400)}


def _check_size(size: str) -> tuple[int, int]:
    if size not in _SIZES:
        raise ValueError(f"size={size!r} is not known; use one of {sorted(_SIZES)}")
    return _SIZES[size]


def commissioning_windows(size: str = "small") -> int:
    """Number of leading snapshots of every pump that are healthy by construction."""
    return _check_size(size)[1] // 4


def _ring(train: np.ndarray, f0: float, decay_s: float) -> np.ndarray:
    """Convolve each row of an impulse train with a decaying sinusoid at ``f0`` Hz (causal)."""
    lag = np.arange(int(10 * decay_s * FS)) / FS
    kernel = np.exp(-lag / decay_s) * np.sin(2 * np.pi * f0 * lag)
    n, length = train.shape[1], train.shape[1] + len(kernel)
    spec = np.fft.rfft(train, length, axis=1) * np.fft.rfft(kernel, length)
    return np.fft.irfft(spec, length, axis=1)[:, :n]


def _bearing(rng: np.random.Generator, f_r: float, n_win: int, n: int) -> np.ndarray:
    """Impulse trains at BPFO ringing a resonance, one row per snapshot, unit amplitude."""
    f_res = rng.uniform(1500.0, 1900.0)
    period = FS / (3.57 * f_r)  # samples between impacts
    n_imp = int(n / period) + 2
    times = (
        rng.uniform(0.0, period, size=(n_win, 1))
        + period * np.arange(n_imp)[None, :]
        + rng.normal(0.0, 0.01 * period, size=(n_win, n_imp))
    )
    pos = np.round(times).astype(np.int64)
    rows = np.repeat(np.arange(n_win), n_imp).reshape(n_win, n_imp)
    inside = (pos >= 0) & (pos < n)
    train = np.zeros((n_win, n))
    np.add.at(train, (rows[inside], pos[inside]), 1.0)
    return _ring(train, f_res, 0.002)


def _cavitation(rng: np.random.Generator, n_win: int, n: int) -> np.ndarray:
    """High-passed noise in random 30 ms bursts, one row per snapshot, unit sd while on."""
    white = rng.normal(0.0, 1.0, size=(n_win, n))
    spec = np.fft.rfft(white, axis=1)
    freqs = np.fft.rfftfreq(n, 1.0 / FS)
    spec[:, freqs < 600.0] = 0.0
    noise = np.fft.irfft(spec, n=n, axis=1)
    noise /= noise.std(axis=1, keepdims=True)
    seg = int(0.03 * FS)
    on = rng.uniform(size=(n_win, n // seg + 1)) < 0.5
    return noise * np.repeat(on, seg, axis=1)[:, :n]


def _shocks(rng: np.random.Generator, n_win: int, n: int) -> np.ndarray:
    """Rare isolated hull shocks (slamming): one ringing impulse in about 3 % of snapshots."""
    out = np.zeros((n_win, n))
    for w in np.flatnonzero(rng.uniform(size=n_win) < 0.03):
        train = np.zeros((1, n))
        train[0, int(rng.integers(0, n))] = rng.uniform(2.0, 5.0)
        out[w] = _ring(train, rng.uniform(300.0, 1500.0), 0.01)[0]
    return out


def _pump(
    rng: np.random.Generator, pump: int, n_win: int, fault: str | None
) -> tuple[np.ndarray, pd.DataFrame]:
    t = np.arange(N_SAMPLES) / FS
    f_r = rng.uniform(24.0, 30.0)
    a1 = rng.uniform(0.6, 1.0)
    n_blades = int(rng.integers(5, 8))
    a_bp = rng.uniform(0.2, 0.4)
    gain = rng.uniform(0.6, 1.6)
    hours = np.arange(n_win, dtype=float)
    load = 1.0 + 0.2 * np.sin(2 * np.pi * hours / 24.0 + rng.uniform(0, 2 * np.pi))
    speed = f_r * (1.0 + rng.normal(0.0, 0.005, size=n_win))
    if rng.uniform() < 0.5:  # the operator changes the speed set point once
        speed[int(rng.integers(0, n_win)) :] *= rng.choice([0.97, 1.03])
    speed_amp = (speed / f_r) ** 2
    # ambient (sea state, neighbouring machinery): slowly varying broadband noise level
    ambient = np.exp(np.cumsum(rng.normal(0.0, 0.008, size=n_win)))
    ambient = 0.25 * ambient / np.sqrt(np.mean(ambient**2))
    onset = int(rng.uniform(0.45, 0.8) * n_win) if fault else -1
    w = np.arange(n_win)
    ramp = np.clip(w - onset, 0, None) / (n_win - onset)
    sev = np.where(w >= onset, 0.2 + 0.8 * ramp**0.7, 0.0) if fault else np.zeros(n_win)

    amp1 = a1 * load * speed_amp * ((1.0 + 1.2 * sev) if fault == "imbalance" else 1.0)
    amp2 = 0.35 * a1 * (1.0 + 0.6 * sev) if fault == "imbalance" else 0.35 * a1 * np.ones(n_win)
    phases = rng.uniform(0, 2 * np.pi, size=(n_win, 4))
    arg = 2 * np.pi * speed[:, None] * t[None, :]
    x = (
        amp1[:, None] * np.sin(arg + phases[:, :1])
        + amp2[:, None] * np.sin(2 * arg + phases[:, 1:2])
        + 0.12 * a1 * np.sin(3 * arg + phases[:, 2:3])
        + a_bp * load[:, None] * np.sin(n_blades * arg + phases[:, 3:4])
        + ambient[:, None] * rng.normal(0.0, 1.0, size=(n_win, N_SAMPLES))
    )
    x += _shocks(rng, n_win, N_SAMPLES)
    if fault == "bearing":
        x += 2.0 * sev[:, None] * _bearing(rng, f_r, n_win, N_SAMPLES)
    elif fault == "cavitation":
        x += 0.5 * sev[:, None] * _cavitation(rng, n_win, N_SAMPLES)
    meta = pd.DataFrame(
        {
            "pump": np.int64(pump),
            "window": w.astype(np.int64),
            "hours": hours,
            "rpm": (60.0 * speed).round(1),
            "fault_type": fault or "none",
            "onset": np.int64(onset),
            "faulty": (fault is not None) * (w >= onset).astype(np.int64),
        }
    )
    return (gain * x).astype(np.float32), meta


def make_vibration(seed: int = 0, size: str = "small") -> tuple[np.ndarray, pd.DataFrame]:
    """Vibration snapshots of a fleet of pumps and their labels.

    Returns ``(signals, meta)``: ``signals`` is ``float32`` of shape
    ``(n_pumps * n_windows, N_SAMPLES)``, one snapshot per row; ``meta`` has
    one row per snapshot with ``pump``, ``window`` (index within the pump),
    ``hours``, ``rpm``, ``fault_type`` (``"none"`` for healthy pumps),
    ``onset`` (first faulty window, -1 for healthy pumps) and ``faulty``
    (0/1 label). Rows are ordered by pump, then window. Raises
    ``ValueError`` for an unknown ``size``.
    """
    n_pumps, n_win = _check_size(size)
    rng = np.random.default_rng([int(seed), 31])
    faulty_pumps = set(rng.choice(n_pumps, size=n_pumps // 2, replace=False).tolist())
    signals, metas = [], []
    k = 0
    for pump in range(n_pumps):
        fault = None
        if pump in faulty_pumps:
            fault = FAULT_TYPES[k % len(FAULT_TYPES)]
            k += 1
        sig, meta = _pump(rng, pump, n_win, fault)
        signals.append(sig)
        metas.append(meta)
    return np.concatenate(signals), pd.concat(metas, ignore_index=True)
