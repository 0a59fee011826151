"""The default detector: an autoencoder that predicts the last (scored) bar of its window from
the earlier bars (``masked_*_ae``), trained with the last bar weighted (``last_bar_weight``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from qseq.anomaly import AnomalyDetector
from qseq.anomaly.inject import inject_anomalies
from qseq.anomaly.training import ReconstructionResidual
from qseq.config import AnomalyConfig
from qseq.errors import ConfigError

from .conftest import TEST_START, tiny_detector


@pytest.fixture(scope="module")
def masked(spx) -> AnomalyDetector:
    return tiny_detector(model="masked_gru_ae").fit(spx)


def test_the_default_is_the_masked_model_with_the_last_bar_weighted():
    cfg = AnomalyConfig()
    assert cfg.model == "masked_lstm_ae" and cfg.last_bar_weight == 32.0
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ConfigError, match="last_bar_weight must be a positive number"):
            AnomalyConfig(last_bar_weight=bad)


def test_last_bar_weight_scales_the_last_bar_residual_only():
    class Zero(torch.nn.Module):  # reconstructs everything as 0: residual = -x
        def forward(self, x, ticker=None):
            from qseq.models import ModelOutput
            return ModelOutput(y_hat=torch.zeros_like(x))

    x = torch.randn(3, 5, 2)
    plain = ReconstructionResidual(Zero())(x).y_hat.view(3, 5, 2)
    weighted = ReconstructionResidual(Zero(), last_bar_weight=9.0)(x).y_hat.view(3, 5, 2)
    assert torch.equal(plain, -x)
    assert torch.equal(weighted[:, :-1], -x[:, :-1])
    assert torch.allclose(weighted[:, -1], -3 * x[:, -1])


def test_the_scored_bar_is_predicted_not_copied(masked, spx):
    """The last bar's reconstruction ignores its own inputs: its error is the whole deviation."""
    w = masked.scaled_windows(spx)
    x = torch.as_tensor(np.ascontiguousarray(w.x[:64]), dtype=torch.float32)
    ticker = torch.as_tensor(w.ticker[:64])
    moved = x.clone()
    moved[:, -1] += 5.0
    with torch.no_grad():
        a, b = masked.model_(x, ticker).y_hat, masked.model_(moved, ticker).y_hat
    assert torch.equal(a, b)


def test_masked_fit_is_deterministic_and_causal(masked, spx):
    again = tiny_detector(model="masked_gru_ae").fit(spx)
    pd.testing.assert_frame_equal(again.score(spx), masked.score(spx))
    dates = spx.index.get_level_values("date")
    later = spx.copy()
    later.loc[dates > pd.Timestamp(TEST_START), ["open", "high", "low", "close"]] *= 1.5
    clean, dirty = masked.score(spx), masked.score(later)
    past = (pd.to_datetime(clean["date"]) <= pd.Timestamp(TEST_START)).to_numpy()
    pd.testing.assert_frame_equal(dirty[past], clean[past])


def test_masked_model_flags_large_spikes_on_the_return(masked, spx):
    injected, labels = inject_anomalies(spx, ["spike"], TEST_START, per_ticker=6, seed=3)
    clean = masked.score(spx).set_index("date")
    dirty = masked.score(injected).set_index("date")
    for _, ev in labels[labels["size"] == 8.0].groupby("event"):
        day = ev["date"].iloc[0]
        assert dirty.loc[day, "score"] > 5 * clean.loc[day, "score"], day
        assert dirty.loc[day, list(masked.config.features)].astype(float).idxmax() == "log_return"
