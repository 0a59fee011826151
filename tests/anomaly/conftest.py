"""Small fixtures for the anomaly tests: a slice of the real S&P 500 and a tiny fitted detector."""

from __future__ import annotations

import pandas as pd
import pytest

import qseq
from qseq.anomaly import AnomalyDetector

TRAIN_END = "2011-06-30"
TEST_START = "2011-07-01"


def tiny_detector(**kw) -> AnomalyDetector:
    base = dict(lookback=16, hidden_size=8, ticker_dim=2, train_end=TRAIN_END,
                train=qseq.TrainConfig(epochs=2, batch_size=128, lr=5e-3), device="cpu")
    base.update(kw)
    return AnomalyDetector("gru_ae", **base)


@pytest.fixture(scope="session")
def spx(sp500) -> pd.DataFrame:
    """~1000 bars of the real S&P 500 index, 2009-2012."""
    dates = sp500.index.get_level_values("date")
    return sp500[(dates >= "2009-01-01") & (dates <= "2012-12-31")].copy()


@pytest.fixture(scope="session")
def fitted(spx) -> AnomalyDetector:
    return tiny_detector().fit(spx)
