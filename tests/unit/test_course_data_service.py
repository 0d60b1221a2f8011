"""Data generators of the service track: content hashes and documented properties.

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
def churn() -> ModuleType:
    return load_generator("service", "churn_prediction")


@pytest.fixture(scope="module")
def reviews() -> ModuleType:
    return load_generator("service", "review_sentiment")


CHURN_HASHES = {
    0: "12ceda3aa12f0c662a430621dba184b3e28fffb355f4e961d23665a6bf9e4174",
    1: "cfba60c0003c96518946f999a1770d11f80db21886bf9447c374dbe3044b9791",
}
REVIEW_HASHES = {
    0: "b69c0064e87ee3e1689a67fdd88af7c5e204c83d68ebbc945688b98186d02c5b",
    1: "86394a8804a5d91993804e33b14f00c43157296d8a9025f9922dab06283da285",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_churncontent_hash(churn: ModuleType, seed: int) -> None:
    assert churn.DATA_VERSION == "1"
    assert content_hash(churn.make_customers(seed=seed)) == CHURN_HASHES[seed]


@pytest.mark.parametrize("seed", [0, 1])
def test_reviewcontent_hash(reviews: ModuleType, seed: int) -> None:
    assert reviews.DATA_VERSION == "1"
    assert content_hash(reviews.make_reviews(seed=seed)) == REVIEW_HASHES[seed]


def test_churn_sizes_and_determinism(churn: ModuleType) -> None:
    small = churn.make_customers(seed=3)
    large = churn.make_customers(seed=3, size="large")
    assert small.shape == (4_000, 19) and large.shape == (40_000, 19)
    assert len(large) > len(small)
    assert small.equals(churn.make_customers(seed=3))
    assert not small.equals(churn.make_customers(seed=4))
    assert small["customer_id"].is_unique


def test_churn_imbalance_drift_and_missing(churn: ModuleType) -> None:
    df = churn.make_customers(seed=0, size="large")
    assert 0.10 < df["churned"].mean() < 0.20
    late = df["snapshot_date"] >= pd.Timestamp("2024-10-01")
    assert df.loc[late, "churned"].mean() > df.loc[~late, "churned"].mean() + 0.01
    assert df["usage_change_pct"].isna().equals(df["tenure_months"] < 2)
    assert 0.25 < df["satisfaction_score"].isna().mean() < 0.45
    missing_sat = df["satisfaction_score"].isna()
    assert df.loc[missing_sat, "churned"].mean() > df.loc[~missing_sat, "churned"].mean()
    assert set(df["contract"]) == {"monthly", "annual", "two_year"}


def test_churn_post_snapshot_fields_follow_the_label(churn: ModuleType) -> None:
    df = churn.make_customers(seed=1, size="large")
    churned = df["churned"] == 1
    assert df.loc[churned, "cancel_reason"].notna().mean() > 0.9
    assert df.loc[~churned, "cancel_reason"].notna().mean() < 0.03
    assert df.loc[churned, "retention_offer"].mean() > 0.7
    assert df.loc[~churned, "retention_offer"].mean() < 0.08
    assert df.loc[churned, "days_since_last_login"].min() >= 60


def test_unknown_size_is_rejected(churn: ModuleType, reviews: ModuleType) -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        churn.make_customers(size="medium")
    with pytest.raises(ValueError, match="size must be one of"):
        reviews.make_reviews(size="huge")


def test_reviews_sizes_and_determinism(reviews: ModuleType) -> None:
    small = reviews.make_reviews(seed=2)
    large = reviews.make_reviews(seed=2, size="large")
    assert len(small) == 3_000 and len(large) == 20_000
    assert list(small.columns) == [
        "review_id",
        "category",
        "text",
        "negation",
        "has_contrast",
        "noisy",
        "label",
    ]
    assert small.equals(reviews.make_reviews(seed=2))
    assert not small.equals(reviews.make_reviews(seed=5))


def test_reviews_documented_proportions(reviews: ModuleType) -> None:
    df = reviews.make_reviews(seed=0, size="large")
    assert set(df["label"]) == {0, 1}
    assert abs(df["label"].mean() - reviews.POSITIVE_RATE) < 0.02
    shares = df["negation"].value_counts(normalize=True)
    assert set(shares.index) == set(reviews.NEGATION_TYPES)
    assert abs(shares["none"] - 0.55) < 0.02 and abs(shares["byeollo"] - 0.11) < 0.02
    assert 0.30 < df["noisy"].mean() < 0.40
    assert 0.09 < df["has_contrast"].mean() < 0.15
    assert df["text"].duplicated().any()


def test_reviews_negation_is_labelled_by_construction(reviews: ModuleType) -> None:
    df = reviews.make_reviews(seed=1, size="large")
    plain = df[~df["noisy"] & ~df["has_contrast"]]
    not_bad = plain[plain["text"].str.contains("나쁘지 않아요")]
    not_good = plain[plain["text"].str.contains("좋지 않아요")]
    assert len(not_bad) > 50 and len(not_good) > 50
    # 3 % label noise is the only source of disagreement
    assert not_bad["label"].mean() > 0.9
    assert not_good["label"].mean() < 0.1
    short = plain[plain["negation"] == "short"]
    assert short["text"].str.contains("안 |못 ").all()
    assert np.isin(df["label"].to_numpy(), [0, 1]).all()
