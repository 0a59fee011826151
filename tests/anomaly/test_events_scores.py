"""Events from flagged bars, per-ticker score normalisation and per-bar error attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from qseq.anomaly.events import flagged_runs, merge_events
from qseq.anomaly.scores import TickerNormaliser, score_frame
from qseq.anomaly.training import ReconstructionResidual, reconstruction_errors, zero_targets
from qseq.data.windows import Windows
from qseq.errors import DataError
from qseq.models import ModelOutput


def test_runs_never_cross_tickers():
    flags = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], dtype=bool)
    tick = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    assert flagged_runs(flags, tick) == [(0, 2), (3, 5), (5, 6), (8, 9)]
    assert flagged_runs(np.zeros(3, bool), tick[:3]) == []


def test_merge_events_known_answer():
    dates = pd.bdate_range("2020-01-01", periods=6)
    scores = pd.DataFrame({"date": dates, "ticker": "A",
                           "score": [1, 5, 9, 1, 6, 1],
                           "price": [0, 1, 8, 0, 0, 0], "volume": [0, 3, 2, 0, 6, 0]})
    ev = merge_events(scores, 4.0, ["price", "volume"])
    assert len(ev) == 2
    first, second = ev.iloc[0], ev.iloc[1]
    assert (first["start"], first["end"], first["bars"]) == (dates[1], dates[2], 2)
    assert first["peak_date"] == dates[2] and first["peak_score"] == 9
    assert first["driver"] == "price" and first["share_price"] == pytest.approx(9 / 14)
    assert first["contributions"] == "price 64%, volume 36%"
    assert second["driver"] == "volume" and second["bars"] == 1
    assert merge_events(scores, 100.0, ["price"]).empty


def test_ticker_normaliser_medians_and_pooled_fallback():
    errors = np.r_[np.arange(1.0, 31.0), np.arange(100.0, 130.0), [7.0, 8.0]][:, None]
    ticker = np.r_[np.zeros(30, int), np.ones(30, int), [2, 2]]
    norm = TickerNormaliser(min_rows=20).fit(errors, ticker, 4)
    assert norm.scale_[:, 0].tolist() == [15.5, 114.5, np.median(errors), np.median(errors)]
    out = norm.transform(np.array([[31.0], [229.0]]), np.array([0, 1]))
    assert out[:, 0].tolist() == [2.0, 2.0]
    with pytest.raises(DataError, match="only 5 training bars"):
        TickerNormaliser(min_rows=20).fit(errors[:5], ticker[:5], 1)


class Zero(nn.Module):
    def forward(self, x, ticker=None):
        return ModelOutput(y_hat=torch.zeros_like(x))


def _windows(values: np.ndarray, lookback: int) -> Windows:
    n = len(values)
    return Windows(values.astype(np.float32), np.zeros((n, 1), np.float32), np.zeros(n, np.int64),
                   pd.bdate_range("2020-01-01", periods=n).to_numpy(),
                   np.arange(lookback - 1, n, 2, dtype=np.int64), lookback, ("a", "b"), ("T",))


def test_errors_are_attributed_to_bars_and_windows():
    values = np.random.default_rng(0).normal(size=(11, 2))
    w = _windows(values, 3)  # anchors 2, 4, 6, 8, 10: rows 0..10 all covered
    row_err, win_err = reconstruction_errors(Zero(), w)
    x = values.astype(np.float32).astype(np.float64)
    assert np.allclose(row_err, x ** 2)  # a zero model's error is x^2 whatever the window
    assert np.allclose(win_err, [(x[a - 2:a + 1] ** 2).mean() for a in w.anchors], rtol=1e-6)
    sub = w.subset(np.array([0]))  # one window: rows 0..2
    row_err, _ = reconstruction_errors(Zero(), sub)
    assert np.isfinite(row_err[:3]).all() and np.isnan(row_err[3:]).all()
    frame = score_frame(sub, row_err, np.array([1.0]), TickerNormaliser(scale_=np.ones((1, 2))),
                        TickerNormaliser(scale_=np.full((1, 1), 2.0)))
    assert len(frame) == 3 and frame["window_score"].tolist()[2] == 0.5
    assert np.allclose(frame["score"], (x[:3] ** 2).mean(axis=1))


def test_zero_targets_cost_no_memory_and_the_residual_is_the_reconstruction_loss():
    w = _windows(np.ones((1000, 2)), 8)
    z = zero_targets(w)
    assert z.targets.shape == (1000, 16) and z.targets.strides == (0, 0) and not z.targets.any()
    lin = nn.Linear(2, 2)
    x = torch.randn(4, 8, 2)

    class AE(nn.Module):
        def forward(self, x, ticker=None):
            return ModelOutput(y_hat=lin(x))

    resid = ReconstructionResidual(AE())(x).y_hat
    assert resid.shape == (4, 16)
    assert torch.allclose(nn.functional.mse_loss(resid, torch.zeros_like(resid)),
                          nn.functional.mse_loss(lin(x), x))
