"""Data generators of the retail track: content hashes and documented properties.

The hashes pin ``DATA_VERSION = "1"`` of each generator: a change to the
generating process must bump DATA_VERSION and re-record the hashes here.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tests.unit.course_data import content_hash, load_generator


@pytest.fixture(scope="module")
def demand() -> ModuleType:
    return load_generator("retail", "demand_forecasting")


@pytest.fixture(scope="module")
def reco() -> ModuleType:
    return load_generator("retail", "recommendation")


SALES_HASHES = {
    0: "85ef5f9c10f4f28031bd28255b43576363dba9c25cb4525e472d27ca0e90b4da",
    1: "854fd9bed75c0f9b90899b1c4f0c08c666caa791bb5477236aaa7e017e2ba670",
}
INTERACTION_HASHES = {
    0: "76ce35e465f4d6c7d8eea6016f9bbc8f3ebf5d3e1a660ade1a5eaa0bb73cc7ae",
    1: "716970c0086fd7909e592cffb112dc43fdbbe93200ec4c6c02552e12e900989b",
}
ITEM_HASHES = {
    0: "f3f00a4a3ef2728a79a9b66540e117a8daa06e2310f7991ca71b29a609b51491",
    1: "a659695ad027c96b769213b142c829e5e415dc8770c7c6750e9a48eb24b8d7b8",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_salescontent_hash(demand: ModuleType, seed: int) -> None:
    assert demand.DATA_VERSION == "1"
    assert content_hash(demand.make_sales(seed=seed)) == SALES_HASHES[seed]


@pytest.mark.parametrize("seed", [0, 1])
def test_interactionscontent_hash(reco: ModuleType, seed: int) -> None:
    assert reco.DATA_VERSION == "1"
    assert content_hash(reco.make_interactions(seed=seed)) == INTERACTION_HASHES[seed]
    assert content_hash(reco.make_items(seed=seed)) == ITEM_HASHES[seed]


def test_sales_shape_keys_and_determinism(demand: ModuleType) -> None:
    small = demand.make_sales(seed=3)
    large = demand.make_sales(seed=3, size="large")
    assert small.shape == (3 * 10 * 760, 6) and large.shape == (8 * 30 * 1124, 6)
    assert len(large) > len(small)
    assert list(small.columns) == ["date", "store_id", "item_id", "sales", "promo", "price"]
    assert not small.duplicated(["date", "store_id", "item_id"]).any()
    days = small["date"].drop_duplicates()
    assert (days.diff().dropna() == pd.Timedelta(days=1)).all(), "one row per consecutive day"
    assert small.equals(demand.make_sales(seed=3))
    assert not small.equals(demand.make_sales(seed=4))


def test_sales_documented_properties(demand: ModuleType) -> None:
    df = demand.make_sales(seed=0, size="large")
    assert not df.isna().any().any(), "the generator documents no missing values"
    assert df["sales"].dtype == np.int64 and (df["sales"] >= 0).all()
    assert 0.02 < (df["sales"] == 0).mean() < 0.20, "slow movers have zero-sales days"
    assert 0.10 < df["promo"].mean() < 0.25
    by_dow = df.groupby(df["date"].dt.day_of_week)["sales"].mean()
    assert by_dow[5] > 1.2 * by_dow[1], "Saturday sells clearly more than Tuesday"
    series = ["store_id", "item_id"]
    uplift = df.groupby(series + ["promo"])["sales"].mean().unstack()
    assert (uplift[1] / uplift[0]).median() > 1.3, "promotions lift demand"
    regular = df[df["promo"] == 0].groupby(series)["price"].max()
    on_promo = df[df["promo"] == 1].groupby(series)["price"].max()
    assert (on_promo <= 0.91 * regular.loc[on_promo.index]).all(), (
        "promo prices are discounted 10-30 %"
    )
    first_year = df[df["date"] < pd.Timestamp("2023-01-02")]["sales"].mean()
    last_year = df[df["date"] >= pd.Timestamp("2024-01-01")]["sales"].mean()
    assert last_year > first_year, "stores grow on average"


def test_interactions_shape_and_determinism(reco: ModuleType) -> None:
    small = reco.make_interactions(seed=2)
    large = reco.make_interactions(seed=2, size="large")
    assert list(small.columns) == ["user_id", "item_id", "ts"]
    assert 25_000 < len(small) < 35_000 and len(large) > 3 * len(small)
    assert small["user_id"].nunique() == 1500 and small["item_id"].max() < 400
    assert large["user_id"].nunique() == 6000 and large["item_id"].max() < 1500
    assert small.equals(reco.make_interactions(seed=2))
    assert not small.equals(reco.make_interactions(seed=3))


def test_interactions_documented_properties(reco: ModuleType) -> None:
    df = reco.make_interactions(seed=0)
    items = reco.make_items(seed=0)
    assert not df.duplicated(["user_id", "item_id"]).any(), "no repeated (user, item) pairs"
    assert not df.isna().any().any()
    assert df["ts"].is_monotonic_increasing
    assert df["ts"].min() >= pd.Timestamp(reco.START)
    assert df["ts"].max() < pd.Timestamp(reco.START) + pd.Timedelta(days=reco.WINDOW_DAYS)
    per_user = df.groupby("user_id").size()
    assert per_user.min() >= 4 and per_user.max() > 5 * per_user.median(), "heavy-tailed activity"
    counts = df["item_id"].value_counts()
    top_share = counts.iloc[: len(items) // 10].sum() / len(df)
    assert 0.30 < top_share < 0.60, "long tail: top 10 % of items get 40-50 % of events"
    assert items["popularity"].sum() == pytest.approx(1.0)
    assert set(items["category"]) == set(range(reco.N_CATEGORIES))
    merged = df.merge(items, on="item_id")
    top_cat_share = merged.groupby("user_id")["category"].agg(
        lambda c: c.value_counts(normalize=True).iloc[0]
    )
    assert top_cat_share.median() > 3 / reco.N_CATEGORIES, "users concentrate on a few categories"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"size": "huge"}, "size must be one of"), ({"seed": -1}, "seed must be a non-negative int")],
)
def test_generators_reject_bad_arguments(
    demand: ModuleType, reco: ModuleType, kwargs: dict[str, object], message: str
) -> None:
    for make in (demand.make_sales, reco.make_interactions, reco.make_items):
        with pytest.raises(ValueError, match=message):
            make(**kwargs)
