"""Data generators of the shipbuilding track: content hashes and documented properties.

Each generator is seeded and versioned (``DATA_VERSION``); the hashes below
were recorded from ``DATA_VERSION = "1"``. A change of a hash means the data
changed: bump ``DATA_VERSION`` in that ``data_gen.py``, re-measure the
reference figures and thresholds of its notebook, and record the new hash.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tests.unit.course_data import content_hash, load_generator


@pytest.fixture(scope="module")
def weld() -> ModuleType:
    return load_generator("shipbuilding", "weld_radiograph_cnn")


@pytest.fixture(scope="module")
def vib() -> ModuleType:
    return load_generator("shipbuilding", "vibration_anomaly")


# --- weld_radiograph_cnn ------------------------------------------------------------------------

WELD_HASH = {
    0: "57fbe69705ec95dd02d74b5a889bb9fc8705e3033f74e63a4a6f633e29d38b1b",
    1: "5cb493be147280245087b1db7c30c20039a139c32b0b3bdc44ea84d4d88fb72f",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_weldcontent_hash(weld: ModuleType, seed: int) -> None:
    assert weld.DATA_VERSION == "1"
    assert content_hash(*weld.make_weld_patches(seed=seed)) == WELD_HASH[seed]


def test_weld_patches_classes_and_films(weld: ModuleType) -> None:
    X, y, film = weld.make_weld_patches(seed=0)
    assert X.shape == (3000, 32, 32) and X.dtype == np.float32
    assert y.dtype == np.int64 and film.dtype == np.int64 and len(y) == len(film) == 3000
    assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0
    assert weld.CLASSES[2] == "crack"
    share = np.bincount(y, minlength=4) / len(y)
    assert 0.35 <= share[0] <= 0.65 and 0.05 <= share[2] <= 0.16, f"class shares {share}"
    assert len(np.unique(film)) == 60 and np.all(np.bincount(film) == 50)
    assert np.all(np.diff(film) >= 0), "patches of a film are contiguous"
    # films differ in their defect tendency (the source of group leakage)
    per_film_none = pd.Series(y == 0).groupby(film).mean()
    assert per_film_none.std() > 0.15
    # the weld is a bright horizontal band: middle rows brighter than edge rows
    rows = X.mean(axis=(0, 2))
    assert rows[12:20].mean() > rows[:4].mean() + 0.1


def test_weld_sizes_and_errors(weld: ModuleType) -> None:
    X_large, _, film_large = weld.make_weld_patches(seed=0, size="large", image_size=24)
    assert X_large.shape == (15000, 24, 24) and len(np.unique(film_large)) == 300
    with pytest.raises(ValueError, match="image_size"):
        weld.make_weld_patches(seed=0, image_size=16)
    with pytest.raises(ValueError, match="size="):
        weld.make_weld_patches(seed=0, size="medium")


# --- vibration_anomaly --------------------------------------------------------------------------

VIB_HASH = {
    0: "95798ef74f3613cbf714824e3bb7f406d5fedac975e70ca80d5ac8bba304e69e",
    1: "7c203b50399c1671b460782aef86f7e44af372ea1f66e82e55286845f5df4efb",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_vibrationcontent_hash(vib: ModuleType, seed: int) -> None:
    assert vib.DATA_VERSION == "1"
    assert content_hash(*vib.make_vibration(seed=seed)) == VIB_HASH[seed]


def test_vibration_fleet_and_labels(vib: ModuleType) -> None:
    signals, meta = vib.make_vibration(seed=0)
    assert signals.shape == (8 * 240, vib.N_SAMPLES) and signals.dtype == np.float32
    assert list(meta.columns) == ["pump", "window", "hours", "rpm", "fault_type", "onset", "faulty"]
    per_pump = meta.groupby("pump").first()
    assert (per_pump["fault_type"] != "none").sum() == 4, "half of the pumps develop a fault"
    n_base = vib.commissioning_windows("small")
    assert n_base == 60 and meta.loc[meta["window"] < n_base, "faulty"].sum() == 0
    faulty = per_pump[per_pump["onset"] >= 0]
    assert faulty["onset"].between(0.45 * 240, 0.8 * 240).all()
    expected = (meta["onset"] >= 0) & (meta["window"] >= meta["onset"])
    assert np.array_equal(meta["faulty"].to_numpy(), expected.astype(int).to_numpy())
    assert 0.1 <= meta["faulty"].mean() <= 0.3
    # pumps differ in level (mounting gain): RMS of commissioning windows spreads by pump
    rms = np.sqrt((signals.astype(np.float64) ** 2).mean(axis=1))
    base_rms = (
        pd.Series(rms[meta["window"] < n_base])
        .groupby(meta.loc[meta["window"] < n_base, "pump"].to_numpy())
        .median()
    )
    assert base_rms.max() / base_rms.min() > 1.5


def test_vibration_bearing_fault_raises_high_band(vib: ModuleType) -> None:
    signals, meta = vib.make_vibration(seed=0)
    pump = int(meta.loc[meta["fault_type"] == "bearing", "pump"].iloc[0])
    rows = meta.index[meta["pump"] == pump]
    freqs = np.fft.rfftfreq(vib.N_SAMPLES, 1.0 / vib.FS)
    band = (freqs >= 1280) & (freqs < 2048)
    power = np.abs(np.fft.rfft(signals[rows].astype(np.float64), axis=1)) ** 2
    high = power[:, band].mean(axis=1)
    assert high[-10:].mean() > 3 * high[:60].mean(), (
        "a late bearing fault rings the 1.5-1.9 kHz resonance"
    )


def test_vibration_sizes_and_errors(vib: ModuleType) -> None:
    signals, meta = vib.make_vibration(seed=0, size="large")
    assert signals.shape == (24 * 400, vib.N_SAMPLES) and meta["pump"].nunique() == 24
    assert vib.commissioning_windows("large") == 100
    with pytest.raises(ValueError, match="size="):
        vib.make_vibration(seed=0, size="huge")
