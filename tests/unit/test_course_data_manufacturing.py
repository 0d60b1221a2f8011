"""Data generators of the manufacturing track: content hashes and documented properties.

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
def rul() -> ModuleType:
    return load_generator("manufacturing", "rul_prediction")


@pytest.fixture(scope="module")
def yld() -> ModuleType:
    return load_generator("manufacturing", "yield_prediction")


@pytest.fixture(scope="module")
def surface() -> ModuleType:
    return load_generator("manufacturing", "defect_cnn")


# --- rul_prediction -----------------------------------------------------------------------------

RUL_TRAIN_HASH = {
    0: "3cb69ddcc7786731215837d79e935ddc3267d336a595beeaebcc8391ded729d5",
    1: "333c87465a89bad67fb2fae1c25a5df10121d51c7a731e9d8dd0dbd50a2e4495",
}
RUL_TEST_HASH = {
    0: "cc2428541a71cc17720297b3f3721e84a86f5aa3d6b14bd70951817c1ad7a728",
    1: "ebf8c0ef5a537df6020801680ddf5819b04d98dc349ce1f006e1292e70efd4cb",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_rulcontent_hash(rul: ModuleType, seed: int) -> None:
    assert rul.DATA_VERSION == "1"
    assert content_hash(rul.make_run_to_failure(seed=seed)) == RUL_TRAIN_HASH[seed]
    frame, truth = rul.make_test_units(seed=seed)
    assert content_hash(frame, truth) == RUL_TEST_HASH[seed]


def test_rul_trajectories_run_to_failure(rul: ModuleType) -> None:
    df = rul.make_run_to_failure(seed=0)
    assert list(df.columns) == ["unit", "cycle", "load", *rul.SENSORS]
    assert df["unit"].nunique() == 80
    assert not df.isna().any().any()
    for _, group in df.groupby("unit"):
        cycles = group["cycle"].to_numpy()
        assert cycles[0] == 1 and np.array_equal(cycles, np.arange(1, len(cycles) + 1))
        assert len(cycles) >= 110
    life_frac = df["cycle"] / df.groupby("unit")["cycle"].transform("max")
    corr = df[rul.SENSORS].corrwith(life_frac, method="spearman").abs()
    for silent in ("s3", "s7", "s11"):
        assert corr[silent] < 0.1, f"{silent} should carry no degradation signal"
    for informative in ("s2", "s4", "s8", "s9", "s13"):
        assert corr[informative] > 0.5, f"{informative} should track wear"


def test_rul_test_units_are_truncated(rul: ModuleType) -> None:
    frame, truth = rul.make_test_units(seed=0)
    assert truth.name == "rul" and len(truth) == 40 and truth.between(5, 130).all()
    assert set(frame["unit"]) == set(truth.index)
    assert frame.groupby("unit").size().min() >= 20
    assert frame["unit"].min() > 1000


def test_rul_sizes_and_determinism(rul: ModuleType) -> None:
    small, large = rul.make_run_to_failure(0), rul.make_run_to_failure(0, size="large")
    assert large["unit"].nunique() == 300 > small["unit"].nunique()
    assert len(rul.make_test_units(0, size="large")[1]) == 150
    pd.testing.assert_frame_equal(small, rul.make_run_to_failure(0))
    assert not small.equals(rul.make_run_to_failure(1))
    with pytest.raises(ValueError, match="size="):
        rul.make_run_to_failure(0, size="medium")


# --- yield_prediction ---------------------------------------------------------------------------

YIELD_HASH = {
    0: "d8a66e07d87daaeb7674a487de1ce9c6abf9afc5123a9a5950e37dae12e02f14",
    1: "ad83e9b51a34f79872e64305234f10cf416c6c8c263e597569a5ac6b4508d130",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_yieldcontent_hash(yld: ModuleType, seed: int) -> None:
    assert yld.DATA_VERSION == "1"
    assert content_hash(yld.make_process_data(seed=seed)) == YIELD_HASH[seed]


def test_yield_wide_imbalanced_and_messy(yld: ModuleType) -> None:
    df = yld.make_process_data(seed=0)
    meas = [c for c in df.columns if c.startswith("f") and c != "fail"]
    assert df.shape == (2400, 302) and len(meas) == 300
    assert df["timestamp"].is_monotonic_increasing
    assert set(df["fail"].unique()) == {0, 1}
    assert 0.04 <= df["fail"].mean() <= 0.09, "about 6.5 % failures"
    missing = df[meas].isna().mean()
    assert 0.03 <= missing.mean() <= 0.10
    assert (missing > 0.5).sum() >= 5, "some metrology columns are mostly empty"
    assert (df[meas].nunique() <= 1).sum() >= 10, "some columns are constant"
    by_outcome = df["f005"].isna().groupby(df["fail"]).mean()
    assert by_outcome[1] > 1.5 * by_outcome[0], "f005 missingness is informative"
    scales = np.log10(df[meas].abs().median() + 1e-12)
    assert scales.max() - scales.min() > 4, "column scales span several decades"


def test_yield_sizes_and_determinism(yld: ModuleType) -> None:
    assert yld.make_process_data(0, size="large").shape == (6000, 592)
    pd.testing.assert_frame_equal(yld.make_process_data(3), yld.make_process_data(3))
    with pytest.raises(ValueError, match="size="):
        yld.make_process_data(0, size="huge")


# --- defect_cnn ---------------------------------------------------------------------------------

SURFACE_HASH = {
    0: "f064dc01b09cf6c325e09e24ba13b5ee05a592259294c4de605b8d4ef4f8ddaa",
    1: "8623e43300b6580e6e1aec3ca91a3a43b07a793e6190dee140c0a027e5a17d8b",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_surfacecontent_hash(surface: ModuleType, seed: int) -> None:
    assert surface.DATA_VERSION == "1"
    assert content_hash(*surface.make_surface_images(seed=seed)) == SURFACE_HASH[seed]


def test_surface_images_and_balance(surface: ModuleType) -> None:
    X, y = surface.make_surface_images(seed=0)
    assert X.shape == (3000, 32, 32) and X.dtype == np.float32
    assert y.shape == (3000,) and y.dtype == np.int64
    assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0
    share = np.bincount(y, minlength=3) / len(y)
    assert (
        abs(share[0] - 0.70) < 0.03 and abs(share[1] - 0.15) < 0.03 and abs(share[2] - 0.15) < 0.03
    )
    # the defect is local: global brightness barely differs between classes
    means = [float(X[y == k].mean()) for k in range(3)]
    assert max(means) - min(means) < 0.03


def test_surface_sizes_and_errors(surface: ModuleType) -> None:
    X_large, _ = surface.make_surface_images(seed=0, size="large", image_size=16)
    assert X_large.shape == (20000, 16, 16)
    with pytest.raises(ValueError, match="image_size"):
        surface.make_surface_images(seed=0, image_size=8)
    with pytest.raises(ValueError, match="size="):
        surface.make_surface_images(seed=0, size="tiny")
