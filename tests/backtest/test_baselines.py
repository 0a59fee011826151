"""Baselines: parity with statsmodels / arch, known answers, and no leakage across train_end or
past an anchor."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from statsmodels.tsa.arima.model import ARIMA

from qseq.backtest.baselines import (
    BASELINES,
    arima_forecast,
    garch_forecast,
    har_forecast,
    random_walk_forecast,
)
from qseq.data.features import log_return, parkinson_bar_vol
from qseq.errors import DataError


def _series(panel: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(one-bar log returns, one-bar Parkinson vol) of a single-ticker panel, indexed by date."""
    frame = panel.reorder_levels(["ticker", "date"]).sort_index()
    return log_return(frame, 20).droplevel(0), parkinson_bar_vol(frame).droplevel(0)


def _ar_series(n: int = 800, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = 0.0003 + 0.4 * y[t - 1] + rng.normal(scale=0.01)
    return pd.Series(y, index=pd.bdate_range("2010-01-01", periods=n))


# name -> (series kind, keyword arguments) for the shared leakage tests
CASES = {
    "random_walk": ("rv", {"kind": "level"}),
    "arima": ("ret", {"order": (1, 0, 1)}),
    "har": ("rv", {}),
    "garch": ("ret", {}),
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_no_leakage_across_train_end_or_past_an_anchor(name, spx_small):
    ret, rv = _series(spx_small)
    kind, kwargs = CASES[name]
    series = (rv if kind == "rv" else ret).iloc[1:]  # drop the first (NaN) return bar
    dates = series.index
    fn = BASELINES[name]
    train_end, horizons = dates[399], [1, 3]
    anchors = dates[300:560]
    base = fn(series, train_end, anchors, horizons, **kwargs)
    assert base.shape == (260, 2) and np.isfinite(base).all()

    # Values after train_end change: fitted parameters (hence every forecast at anchors up to
    # train_end) must not move.
    later = series.copy()
    later.iloc[400:] = later.iloc[400:] * 3.0 + (0.01 if kind == "rv" else 0.0)
    moved = fn(later, train_end, anchors, horizons, **kwargs)
    np.testing.assert_allclose(moved[:100], base[:100], rtol=1e-12, atol=0)

    # Values after an anchor change: that anchor's forecast (and earlier ones) must not move.
    cut = 480  # anchors[180] = dates[480]
    after = series.copy()
    after.iloc[cut + 1 :] = after.iloc[cut + 1 :] * 2.0 + (0.005 if kind == "rv" else 0.0)
    shifted = fn(after, train_end, anchors, horizons, **kwargs)
    np.testing.assert_allclose(shifted[: cut - 300 + 1], base[: cut - 300 + 1], rtol=1e-12, atol=0)
    assert not np.allclose(shifted[cut - 300 + 1 :], base[cut - 300 + 1 :])  # the test can fail


def test_random_walk_returns_zero_and_level_carries_last_value():
    s = pd.Series([0.01, np.nan, 0.03, 0.02], index=pd.bdate_range("2020-01-01", periods=4))
    anchors = s.index[1:3]
    assert (random_walk_forecast(s, s.index[0], anchors, [1, 5]) == 0).all()
    np.testing.assert_array_equal(random_walk_forecast(s, s.index[0], anchors, [1, 5], kind="level"),
                                  [[0.01, 0.01], [0.03, 0.03]])


@pytest.mark.parametrize("order", [(1, 0, 1), (2, 0, 0), (1, 1, 0)])
def test_arima_matches_statsmodels_forecast_from_each_anchor(order):
    y = _ar_series()
    train_end, horizons = y.index[499], [1, 2, 5]
    anchors = y.index[[450, 499, 600, 799]]
    ours = arima_forecast(y, train_end, anchors, horizons, order=order)
    # statsmodels' own route: fit on the (scaled) training data, then filter each anchor's
    # history with the fitted parameters and call forecast().
    scale = float(np.std(y.iloc[:500]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trend = "c" if order[1] == 0 else "n"
        params = ARIMA(y.iloc[:500].to_numpy() / scale, order=order, trend=trend).fit().params
        for i, a in enumerate(anchors):
            hist = y.loc[:a].to_numpy() / scale
            ref = ARIMA(hist, order=order, trend=trend).filter(params).forecast(max(horizons)) * scale
            np.testing.assert_allclose(ours[i], ref[np.array(horizons) - 1], rtol=1e-9, atol=1e-12)


def test_arima_ar1_recovers_the_process_and_cumulates():
    y = _ar_series(3000, seed=1)
    anchors = y.index[2500:2510]
    f = arima_forecast(y, y.index[2499], anchors, [1, 2], order=(1, 0, 0))
    mean = 0.0003 / 0.6
    truth1 = mean + 0.4 * (y.loc[anchors].to_numpy() - mean)
    np.testing.assert_allclose(f[:, 0], truth1, atol=1e-3)  # estimation error only
    cum = arima_forecast(y, y.index[2499], anchors, [1, 2], order=(1, 0, 0), cumulative=True)
    np.testing.assert_allclose(cum, np.cumsum(f, axis=1))


def test_har_recovers_a_har_process():
    rng = np.random.default_rng(2)
    n, beta = 4000, np.array([0.002, 0.3, 0.3, 0.2])
    rv = np.full(n, 0.01)
    for t in range(22, n - 1):
        feats = [rv[t], rv[t - 4 : t + 1].mean(), rv[t - 21 : t + 1].mean()]
        rv[t + 1] = beta[0] + beta[1:] @ feats + rng.normal(scale=0.001)
    s = pd.Series(rv, index=pd.bdate_range("2000-01-01", periods=n))
    anchors = s.index[3500:3600]
    f = har_forecast(s, s.index[3499], anchors, [1])
    pos = np.arange(3500, 3600)
    truth = beta[0] + beta[1] * rv[pos] + beta[2] * np.array([rv[p - 4 : p + 1].mean() for p in pos]) \
        + beta[3] * np.array([rv[p - 21 : p + 1].mean() for p in pos])
    np.testing.assert_allclose(f[:, 0], truth, atol=2e-4)  # noise sd is 1e-3


def test_har_trains_only_on_targets_up_to_train_end(spx_small):
    _, rv = _series(spx_small)
    dates = rv.index
    f = har_forecast(rv, dates[299], dates[[299]], [5])
    # A value at 299 (target of anchor 294) is used; one at 300 is not (its anchor is 295).
    bumped = rv.copy()
    bumped.iloc[300] = 1.0
    assert har_forecast(bumped, dates[299], dates[[299]], [5]) == pytest.approx(f, rel=1e-12)
    bumped.iloc[299] = 1.0
    assert not np.allclose(har_forecast(bumped, dates[299], dates[[299]], [5]), f)
    assert np.isnan(har_forecast(rv, dates[299], dates[[10]], [5])).all()  # no 22-bar history yet


def test_garch_matches_arch_forecast_inside_training_and_fix_later(sp500):
    ret, _ = _series(sp500[sp500.index.get_level_values("date") >= "2005-01-01"])
    ret = ret.iloc[1:]
    train_end = ret.index[1199]
    inside = garch_forecast(ret, train_end, ret.index[:1200], range(1, 6))
    y = 100 * ret.iloc[:1200].to_numpy()
    res = arch_model(y, mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off")
    ref = res.forecast(horizon=5, start=0, reindex=False).variance.to_numpy()
    np.testing.assert_allclose(inside, np.sqrt(ref) / 100, rtol=1e-10)  # from the first bar on
    # The start of the recursion (arch's backcast) comes from training data only: early
    # forecasts, where it still matters, ignore what happens after train_end.
    crash = ret.copy()
    crash.iloc[1200:] *= 5.0
    np.testing.assert_allclose(garch_forecast(crash, train_end, ret.index[:50], [1]), inside[:50, :1],
                               rtol=1e-12)
    # Past train_end: arch's fixed-parameter filter over the full sample agrees once its
    # (full-sample) backcast has decayed away.
    later = garch_forecast(ret, train_end, ret.index[1300:1400], range(1, 6))
    fixed = arch_model(100 * ret.to_numpy(), mean="Constant", vol="GARCH").fix(res.params)
    ref_later = fixed.forecast(horizon=5, start=1300, reindex=False).variance.to_numpy()[:100]
    np.testing.assert_allclose(later, np.sqrt(ref_later) / 100, rtol=1e-8)


def test_garch_is_a_sane_volatility_in_target_units(spx_small):
    ret, rv = _series(spx_small)
    dates = ret.index
    f = garch_forecast(ret, dates[399], dates[400:-5], [1, 5])
    assert (f > 0).all()
    realized = rv.iloc[401:].mean()  # daily Parkinson vol of the same bars, ~0.01
    assert 0.5 < f[:, 0].mean() / realized < 2.0


def test_garch_rejects_gaps_and_short_training(spx_small):
    ret, _ = _series(spx_small)
    with pytest.raises(DataError, match="at least 100 training returns"):
        garch_forecast(ret, ret.index[50], ret.index[[60]], [1])
    gap = ret.copy()
    gap.iloc[200] = np.nan
    with pytest.raises(DataError, match="gap-free"):
        garch_forecast(gap, ret.index[399], ret.index[[450]], [1])


def test_anchor_must_be_a_bar_of_the_series():
    y = _ar_series(50)
    with pytest.raises(DataError, match="not a bar"):
        random_walk_forecast(y, y.index[10], [pd.Timestamp("1999-01-01")], [1])
