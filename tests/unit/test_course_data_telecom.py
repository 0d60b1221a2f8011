"""Data generators of the telecom track: content hashes and documented properties.

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
def traffic() -> ModuleType:
    return load_generator("telecom", "traffic_forecasting")


@pytest.fixture(scope="module")
def anomaly() -> ModuleType:
    return load_generator("telecom", "network_anomaly")


TRAFFIC_HASHES = {
    0: "71e7e3624063c0f1d612cce939281c6648bd96e16aa74520e99f6c13f2404684",
    1: "62a823e1b77d99e7fd8c20332c73d3b1a54f4af997ff043de1489b3baa4aca88",
}
KPI_HASHES = {
    0: "341482796942e68b43d80729c4d838395827b2d9846212b793efe7adc094a1a7",
    1: "baab9c4be685e9fdc36b85eaa1a0001dbe002fbfbe26cceee2c188a8bcb8684a",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_trafficcontent_hash(traffic: ModuleType, seed: int) -> None:
    assert traffic.DATA_VERSION == "1"
    assert content_hash(traffic.make_traffic(seed=seed)) == TRAFFIC_HASHES[seed]


@pytest.mark.parametrize("seed", [0, 1])
def test_kpicontent_hash(anomaly: ModuleType, seed: int) -> None:
    assert anomaly.DATA_VERSION == "1"
    assert content_hash(anomaly.make_kpis(seed=seed)) == KPI_HASHES[seed]


def test_unknown_size_is_rejected(traffic: ModuleType, anomaly: ModuleType) -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        traffic.make_traffic(size="medium")
    with pytest.raises(ValueError, match="size must be one of"):
        anomaly.make_kpis(size="tiny")


@pytest.mark.parametrize(
    ("size", "cells", "weeks", "holiday"),
    [
        ("small", 12, 8, "2024-05-15"),
        ("large", 48, 16, "2024-06-06"),
    ],
)
def test_traffic_layout(
    traffic: ModuleType, size: str, cells: int, weeks: int, holiday: str
) -> None:
    df = traffic.make_traffic(seed=2, size=size)
    assert len(df) == cells * weeks * 168
    assert df["cell_id"].nunique() == cells
    assert df.groupby("cell_id")["timestamp"].nunique().eq(weeks * 168).all()
    assert df["timestamp"].min().day_of_week == 0  # starts on a Monday
    last_week = df["timestamp"] > df["timestamp"].max() - pd.Timedelta(hours=168)
    assert pd.Timestamp(holiday) in set(df.loc[last_week, "timestamp"].dt.normalize())
    types = df.groupby("cell_id")["cell_type"].first()
    assert (types == "business").sum() == round(0.45 * cells)


def test_traffic_determinism_and_size_order(traffic: ModuleType) -> None:
    small = traffic.make_traffic(seed=3)
    assert small.equals(traffic.make_traffic(seed=3))
    assert not small.equals(traffic.make_traffic(seed=4))
    assert len(traffic.make_traffic(seed=3, size="large")) > len(small)


def test_traffic_cycles_holidays_and_gaps(traffic: ModuleType) -> None:
    df = traffic.make_traffic(seed=0, size="large")
    assert 0.004 < df["traffic_gb"].isna().mean() < 0.02
    ts = df["timestamp"]
    office = ts.dt.hour.between(10, 16)
    holiday = ts.dt.normalize().isin(traffic.HOLIDAYS)
    weekday = (ts.dt.day_of_week < 5) & ~holiday
    business = df["cell_type"] == "business"
    ratio = (
        df.loc[business & office & holiday, "traffic_gb"].mean()
        / df.loc[business & office & weekday, "traffic_gb"].mean()
    )
    assert ratio < 0.5, "holidays follow the Sunday profile of business cells"
    residential = ~business
    evening = df.loc[residential & ts.dt.hour.between(20, 22), "traffic_gb"].mean()
    night = df.loc[residential & ts.dt.hour.between(3, 5), "traffic_gb"].mean()
    assert evening > 3 * night
    weekly = df.groupby(["cell_id", ts.dt.isocalendar().week])["traffic_gb"].mean().unstack()
    assert (weekly.iloc[:, -2] > weekly.iloc[:, 1]).mean() > 0.7, "positive weekly growth"


@pytest.mark.parametrize(("size", "cells", "days"), [("small", 16, 28), ("large", 48, 42)])
def test_kpi_layout(anomaly: ModuleType, size: str, cells: int, days: int) -> None:
    df = anomaly.make_kpis(seed=1, size=size)
    assert len(df) == cells * days * 96
    assert list(df.columns) == [
        "timestamp",
        "cell_id",
        "cell_type",
        *anomaly.KPIS,
        *anomaly.LABEL_COLUMNS,
    ]
    assert df["timestamp"].min() == anomaly.START


def test_kpi_determinism(anomaly: ModuleType) -> None:
    small = anomaly.make_kpis(seed=5)
    assert small.equals(anomaly.make_kpis(seed=5))
    assert not small.equals(anomaly.make_kpis(seed=6))


def test_kpi_labels_and_events(anomaly: ModuleType) -> None:
    df = anomaly.make_kpis(seed=0, size="large")
    in_event = df["event_id"] >= 0
    assert (df["is_anomaly"] == in_event.astype(int)).all()
    assert ((df["event_type"] != "none") == in_event).all()
    assert 0.02 < df["is_anomaly"].mean() < 0.045
    per_event = (
        df[in_event]
        .groupby("event_id")
        .agg(
            cells=("cell_id", "nunique"),
            kind=("event_type", "first"),
            kinds=("event_type", "nunique"),
            length=("event_type", "size"),
            first=("timestamp", "min"),
            last=("timestamp", "max"),
        )
    )
    assert (per_event["cells"] == 1).all() and (per_event["kinds"] == 1).all()
    span = (per_event["last"] - per_event["first"]) / pd.Timedelta(minutes=15) + 1
    assert (span == per_event["length"]).all(), "each event is one contiguous run"
    shares = per_event["kind"].value_counts(normalize=True)
    assert abs(shares["outage"] - 0.3) < 0.06 and abs(shares["degradation"] - 0.4) < 0.06
    assert per_event.groupby("kind")["length"].max()["outage"] <= 8
    assert df[list(anomaly.KPIS)].isna().mean().between(0.003, 0.008).all()


def test_kpi_event_signatures(anomaly: ModuleType) -> None:
    df = anomaly.make_kpis(seed=2, size="large")
    normal = df[df["is_anomaly"] == 0]
    outage = df[df["event_type"] == "outage"]
    congestion = df[df["event_type"] == "congestion"]
    assert outage["drop_rate"].min() >= 10.0
    assert outage["traffic_gb"].median() < 0.1 * normal["traffic_gb"].median()
    assert congestion["prb_util"].min() >= 92.0
    assert congestion["drop_rate"].median() < 2 * normal["drop_rate"].median()
    assert np.isfinite(normal["latency_ms"].dropna()).all()
