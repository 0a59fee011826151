"""Events from flagged bars, per-ticker score normalisation and per-bar error attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from qseq.anomaly.events import flagged_runs, merge_events
from qseq.anomaly.scores import TickerNormaliser, combine_contributions, score_frame, trailing_scale
from qseq.anomaly.training import (
    ReconstructionResidual,
    last_bar_errors,
    reconstruction_errors,
    zero_targets,
)
from qseq.data.windows import Windows
from qseq.errors import ConfigError, DataError
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
    means = TickerNormaliser(min_rows=20, stat="mean").fit(errors, ticker, 4).scale_[:, 0]
    assert means.tolist() == [15.5, 114.5, np.mean(errors), np.mean(errors)]


def test_trailing_scale_known_answer_is_causal_and_per_ticker():
    v = np.array([[1.0], [3.0], [5.0], [7.0], [100.0], [2.0], [4.0], [6.0]])
    tick = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    out = trailing_scale(v, tick, 2)[:, 0]
    # ticker 0: 1 (no history), 1, mean(1, 3), mean(3, 5), mean(5, 7); ticker 1 starts afresh
    assert out.tolist() == [1.0, 1.0, 2.0, 4.0, 6.0, 1.0, 1.0, 3.0]
    assert trailing_scale(v, tick, 0).tolist() == np.ones_like(v).tolist()
    future = v.copy()
    future[4] = -50.0  # a later row never reaches an earlier row's scale
    assert np.array_equal(trailing_scale(future, tick, 2)[:5], trailing_scale(v, tick, 2)[:5])


def test_combine_contributions():
    c = np.array([[1.0, 4.0], [2.0, 2.0]])
    assert combine_contributions(c, "max").tolist() == [4.0, 2.0]
    assert combine_contributions(c, "mean").tolist() == [2.5, 2.0]
    with pytest.raises(ConfigError, match="unknown score combination 'sum'"):
        combine_contributions(c, "sum")


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
    bar_err, win2 = last_bar_errors(Zero(), w)
    assert np.allclose(bar_err, x[w.anchors] ** 2) and np.allclose(win2, win_err)
    sub = w.subset(np.array([0]))  # one window: rows 0..2
    row_err, _ = reconstruction_errors(Zero(), sub)
    assert np.isfinite(row_err[:3]).all() and np.isnan(row_err[3:]).all()


def test_score_frame_known_answer():
    """Scores of the bars that end a window: error / training scale / trailing mean, max over
    features; the window score over its own scale."""
    w = _windows(np.zeros((11, 2)), 3)  # anchors rows 2, 4, 6, 8, 10 of one ticker
    bar_err = np.array([[2.0, 1.0], [2.0, 4.0], [6.0, 1.0], [2.0, 2.0], [8.0, 1.0]])
    norm = TickerNormaliser(scale_=np.array([[2.0, 1.0]]))
    wnorm = TickerNormaliser(scale_=np.full((1, 1), 2.0))
    frame = score_frame(w, bar_err, np.ones(5), norm, wnorm, scale_window=2)
    # c = [[1, 1], [1, 4], [3, 1], [1, 2], [4, 1]]; trailing mean of the 2 previous rows
    # (1 before two exist): [[1, 1], [1, 1], [1, 2.5], [2, 2.5], [2, 1.5]]
    assert frame["a"].tolist() == [1.0, 1.0, 3.0, 0.5, 2.0]
    assert frame["b"].tolist() == pytest.approx([1.0, 4.0, 0.4, 0.8, 1 / 1.5])
    assert frame["score"].tolist() == pytest.approx([1.0, 4.0, 3.0, 0.8, 2.0])
    assert frame["date"].tolist() == list(w.anchor_date) and frame["window_score"].eq(0.5).all()
    flat = score_frame(w, bar_err, np.ones(5), norm, wnorm, scale_window=0, combine="mean")
    assert flat["score"].tolist() == [1.0, 2.5, 2.0, 1.5, 2.5]


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


def test_latest_rows_take_whole_latest_dates():
    from qseq.anomaly.scores import latest_rows

    dates = np.array(["2020-01-03", "2020-01-01", "2020-01-02", "2020-01-03", "2020-01-02"],
                     dtype="datetime64[D]")
    assert latest_rows(dates, 2).tolist() == [0, 3]
    assert latest_rows(dates, 3).tolist() == [0, 2, 3, 4]  # all of 2020-01-02, not one of them
    assert latest_rows(dates, 9).tolist() == [0, 1, 2, 3, 4]


def test_feature_scale_is_each_columns_quantile_and_refuses_an_empty_column():
    from qseq.anomaly.scores import feature_scale

    x = np.column_stack([np.arange(101.0), np.r_[np.nan, np.arange(100.0)], np.zeros(101)])
    np.testing.assert_allclose(feature_scale(x, 0.99), [99.0, 98.01, 1e-12])
    with pytest.raises(DataError, match="no finite score"):
        feature_scale(np.column_stack([x[:, 0], np.full(101, np.nan)]))
