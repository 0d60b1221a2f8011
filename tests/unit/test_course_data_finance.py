"""Data generators of the finance track: content hashes and documented properties.

The hashes pin ``DATA_VERSION = "1"`` of each generator: a change to the
generating process must bump DATA_VERSION and re-record the hashes here.
"""

from __future__ import annotations

from types import ModuleType

import pandas as pd
import pytest

from tests.unit.course_data import content_hash, load_generator


@pytest.fixture(scope="module")
def fraud() -> ModuleType:
    return load_generator("finance", "fraud_detection")


@pytest.fixture(scope="module")
def credit() -> ModuleType:
    return load_generator("finance", "credit_scoring")


@pytest.fixture(scope="module")
def transactions(fraud: ModuleType) -> pd.DataFrame:
    return fraud.make_transactions(seed=0)


@pytest.fixture(scope="module")
def applications(credit: ModuleType) -> pd.DataFrame:
    return credit.make_applications(seed=0, size="large")


TRANSACTION_HASHES = {
    0: "7706895a91b0487693a569fe275a7985c52dcc32e5de4ec1d4f75fe902f3dff4",
    1: "e3172966179b289448d9d8e57e5c78866b636bd940c29a70a6d4f4673bbe4ffa",
}
APPLICATION_HASHES = {
    0: "21daa084e930a155cfaeb8ebf06d0808039c7f31984f53cdcc5b8940f0cef8fd",
    1: "204ec23d241f365da511155d0ef8549b7d8a9ecca540e1fbcb69351d3a854528",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_transactionscontent_hash(fraud: ModuleType, seed: int) -> None:
    assert fraud.DATA_VERSION == "1"
    assert content_hash(fraud.make_transactions(seed=seed)) == TRANSACTION_HASHES[seed]


@pytest.mark.parametrize("seed", [0, 1])
def test_applicationscontent_hash(credit: ModuleType, seed: int) -> None:
    assert credit.DATA_VERSION == "1"
    assert content_hash(credit.make_applications(seed=seed)) == APPLICATION_HASHES[seed]


def test_transactions_shape_order_and_determinism(
    fraud: ModuleType, transactions: pd.DataFrame
) -> None:
    df = transactions
    assert list(df.columns) == [
        "transaction_id",
        "ts",
        "card_id",
        "amount",
        "category",
        "channel",
        "distance_km",
        "foreign",
        "new_device",
        "card_age_days",
        "is_fraud",
    ]
    assert 230_000 < len(df) < 280_000
    assert df["ts"].is_monotonic_increasing
    assert (df["transaction_id"].to_numpy() == range(len(df))).all()
    assert set(df["category"]) == set(fraud.CATEGORIES)
    assert (df["amount"] >= 100).all() and (df["amount"] % 100 == 0).all()
    assert df.equals(fraud.make_transactions(seed=0))
    assert not df.equals(fraud.make_transactions(seed=1))


def test_transactions_large_is_larger(fraud: ModuleType, transactions: pd.DataFrame) -> None:
    large = fraud.make_transactions(seed=0, size="large")
    assert len(large) > 2.5 * len(transactions)
    assert 0.0015 < large["is_fraud"].mean() < 0.0025


def test_transactions_documented_properties(transactions: pd.DataFrame) -> None:
    df = transactions
    assert 0.0015 < df["is_fraud"].mean() < 0.0025, "about 0.2 % fraud"
    online = df["channel"] == "online"
    assert (df["distance_km"].isna() == online).all(), "distance missing exactly for online"
    assert 0.01 < df["card_age_days"].isna().mean() < 0.03
    assert set(df.columns[df.isna().any()]) == {"distance_km", "card_age_days"}
    fraud_rows = df[df["is_fraud"] == 1]
    legit_rows = df[df["is_fraud"] == 0]
    assert (
        (fraud_rows["channel"] == "online").mean()
        > 0.6
        > 0.35
        > (legit_rows["channel"] == "online").mean()
    )
    assert fraud_rows["amount"].median() > 3 * legit_rows["amount"].median()
    assert fraud_rows["new_device"].mean() > 10 * legit_rows["new_device"].mean()
    ordered = fraud_rows.sort_values(["card_id", "ts"])
    by_card = ordered.groupby("card_id")["ts"]
    gap_before = by_card.diff().dt.total_seconds()
    gap_after = by_card.diff(-1).dt.total_seconds().abs()
    assert ((gap_before < 7200) | (gap_after < 7200)).mean() > 0.7, "fraud comes in bursts"
    late = fraud_rows["ts"] >= df["ts"].quantile(0.6)
    digital = fraud_rows["category"] == "digital_goods"
    assert digital[late].mean() > digital[~late].mean() + 0.1, "fraud drifts to digital goods"


def test_applications_shape_and_determinism(credit: ModuleType, applications: pd.DataFrame) -> None:
    small = credit.make_applications(seed=0)
    assert small.shape == (20_000, 15) and applications.shape == (100_000, 15)
    assert len(applications) > len(small)
    assert small["application_month"].is_monotonic_increasing
    assert small["application_month"].nunique() == credit.MONTHS
    assert small.equals(credit.make_applications(seed=0))
    assert not small.equals(credit.make_applications(seed=1))


def test_applications_documented_properties(applications: pd.DataFrame) -> None:
    df = applications
    target = df["default_12m"]
    assert 0.06 < target.mean() < 0.11, "default rate about 8 %"
    assert set(df.columns[df.isna().any()]) == {"income"}, "only income has missing values"
    missing = df["income"].isna()
    assert 0.04 < missing.mean() < 0.08
    assert target[missing].mean() > 1.5 * target[~missing].mean(), "missingness is informative"
    month = df["application_month"]
    early = target[month < pd.Timestamp("2022-07-01")].mean()
    late = target[month >= pd.Timestamp("2023-07-01")].mean()
    assert late > early + 0.015, "later vintages default more"
    high_util = target[df["utilization"] > 1.0].mean()
    low_util = target[df["utilization"] < 0.6].mean()
    assert high_util > 3 * low_util, "utilization hinge above 0.8"
    assert (
        target[df["delinquencies_2y"] >= 2].mean() > 2 * target[df["delinquencies_2y"] == 0].mean()
    )
    assert (df.loc[df["employment_type"] == "none", "employment_years"] == 0).all()
    assert ((df["age"] >= 21) & (df["age"] <= 75)).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"size": "huge"}, "size must be one of"), ({"seed": -1}, "seed must be a non-negative int")],
)
def test_generators_reject_bad_arguments(
    fraud: ModuleType, credit: ModuleType, kwargs: dict[str, object], message: str
) -> None:
    for make in (fraud.make_transactions, credit.make_applications):
        with pytest.raises(ValueError, match=message):
            make(**kwargs)
