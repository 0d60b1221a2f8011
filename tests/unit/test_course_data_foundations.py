"""The foundations track's data generator: deterministic, versioned, as documented.

The content hashes below were recorded from ``DATA_VERSION = "1"`` of
``courses/foundations/source/python_numpy_pandas/data_gen.py``. A changed hash
means the data changed: bump DATA_VERSION, re-check the notebook's reference
figures, and record the new hashes.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tests.unit.course_data import content_hash, load_generator

EXPECTED_VERSION = "1"
ORDERS_SHA256 = {
    0: "b7f1fab7161d9747c3ce872e5cf4b641e72d91fd66cab2c2cde348a3cf70a9b8",
    1: "80d6aa1caf088bb695d70b8032e26372d99ee9f2c369cce9df1ef607c92d2ce1",
}


@pytest.fixture(scope="module")
def data_gen() -> ModuleType:
    return load_generator("foundations", "python_numpy_pandas")


@pytest.fixture(scope="module")
def orders(data_gen: ModuleType) -> pd.DataFrame:
    return data_gen.make_orders(seed=0)


def test_data_version(data_gen: ModuleType) -> None:
    assert data_gen.DATA_VERSION == EXPECTED_VERSION


@pytest.mark.parametrize("seed", sorted(ORDERS_SHA256))
def test_content_hash_per_seed(data_gen: ModuleType, seed: int) -> None:
    assert content_hash(data_gen.make_orders(seed=seed)) == ORDERS_SHA256[seed]


def test_deterministic_and_seed_dependent(data_gen: ModuleType) -> None:
    first = data_gen.make_orders(seed=7, n_days=30)
    again = data_gen.make_orders(seed=7, n_days=30)
    other = data_gen.make_orders(seed=8, n_days=30)
    pd.testing.assert_frame_equal(first, again)
    assert content_hash(first) != content_hash(other)


def test_columns_and_dtypes(orders: pd.DataFrame) -> None:
    assert list(orders.columns) == [
        "order_id",
        "date",
        "store",
        "category",
        "unit_price",
        "quantity",
        "discount",
        "customer_age",
    ]
    assert orders["order_id"].dtype == np.int64 and orders["quantity"].dtype == np.int64
    assert pd.api.types.is_datetime64_any_dtype(orders["date"])
    assert orders["date"].is_monotonic_increasing


def test_sizes(data_gen: ModuleType, orders: pd.DataFrame) -> None:
    large = data_gen.make_orders(seed=0, size="large")
    quick = data_gen.make_orders(seed=0, n_days=182)
    assert orders["date"].nunique() == 365 and sorted(orders["store"].unique()) == ["A", "B", "C"]
    assert large["date"].nunique() == 730 and large["store"].nunique() == 5
    assert len(large) > 3 * len(orders) > 3 * len(quick) > 0
    assert 50_000 < len(orders) < 80_000


def test_bad_arguments_raise(data_gen: ModuleType) -> None:
    with pytest.raises(ValueError, match="size"):
        data_gen.make_orders(size="huge")
    with pytest.raises(ValueError, match="n_days"):
        data_gen.make_orders(n_days=0)


def test_missing_values(orders: pd.DataFrame) -> None:
    missing = orders.isna().mean()
    assert 0.05 < missing["discount"] < 0.07
    assert 0.09 < missing["customer_age"] < 0.11
    assert missing.drop(["discount", "customer_age"]).eq(0).all()


def test_injected_anomalies(orders: pd.DataFrame) -> None:
    assert 0.008 < orders.duplicated().mean() < 0.012
    returns = orders["quantity"] <= 0
    assert 0.003 < returns.mean() < 0.007 and set(orders.loc[returns, "quantity"]) <= {-1, -2}
    median = orders.groupby("category")["unit_price"].transform("median")
    assert 0.002 < (orders["unit_price"] > 5 * median).mean() < 0.005


def test_imbalanced_categories(orders: pd.DataFrame) -> None:
    shares = orders["category"].value_counts(normalize=True)
    assert abs(shares["coffee"] - 0.6) < 0.02
    assert abs(shares["bakery"] - 0.3) < 0.02
    assert abs(shares["merch"] - 0.1) < 0.01


def test_upward_trend_and_weekend_peak(orders: pd.DataFrame) -> None:
    per_day = orders.groupby("date").size()
    first, last = per_day.iloc[:56].mean(), per_day.iloc[-56:].mean()
    assert last > 1.3 * first  # +60 % a year, minus a mild season
    weekday = per_day.index.day_of_week
    assert per_day[weekday >= 5].mean() > 1.3 * per_day[(weekday >= 1) & (weekday <= 4)].mean()
