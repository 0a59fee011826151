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
    baseline_forecast,
    garch_forecast,
    garch_variance_forecast,
    har_forecast,
    har_variance_forecast,
    mean_ahead,
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
    "har_variance": ("rv", {"log_space": True}),  # + returns (LHAR-log), added in the test
    "garch_variance": ("rv", {"vol": "GJR"}),  # + returns, added in the test
    "signal": ("ret", {"window": 5, "sign": -1.0}),
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_no_leakage_across_train_end_or_past_an_anchor(name, spx_small):
    ret, rv = _series(spx_small)
    kind, kwargs = CASES[name]
    series = (rv if kind == "rv" else ret).iloc[1:]  # drop the first (NaN) return bar
    dates = series.index
    fn = BASELINES[name]
    if name in ("har_variance", "garch_variance"):
        series = series**2  # a variance series
        kwargs = {**kwargs, "returns": ret}
    train_end, horizons = dates[399], [1, 3]
    anchors = dates[300:560]
    base = fn(series, train_end, anchors, horizons, **kwargs)
    assert base.shape == (260, 2) and np.isfinite(base).all()

    # Values after train_end change: fitted parameters (hence every forecast at anchors up to
    # train_end) must not move.
    later = series.copy()
    later.iloc[400:] = later.iloc[400:] * 3.0 + (0.01 if kind == "rv" else 0.0)
    if "returns" in kwargs:
        later_ret = ret.copy()
        later_ret.iloc[401:] *= 3.0
        kwargs = {**kwargs, "returns": later_ret}
    moved = fn(later, train_end, anchors, horizons, **kwargs)
    np.testing.assert_allclose(moved[:100], base[:100], rtol=1e-12, atol=0)

    # Values after an anchor change: that anchor's forecast (and earlier ones) must not move.
    cut = 480  # anchors[180] = dates[480]
    after = series.copy()
    after.iloc[cut + 1 :] = after.iloc[cut + 1 :] * 2.0 + (0.005 if kind == "rv" else 0.0)
    if "returns" in kwargs:
        after_ret = ret.copy()
        after_ret.iloc[cut + 2 :] *= 2.0  # ret has the extra leading bar
        kwargs = {**kwargs, "returns": after_ret}
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


def test_mean_ahead_is_the_mean_of_the_next_h_values():
    v = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    out = mean_ahead(v, [1, 2, 4])
    np.testing.assert_array_equal(out[0], [2.0, 3.0, 7.5])
    np.testing.assert_array_equal(out[2], [8.0, 12.0, np.nan])
    assert np.isnan(out[4]).all()


def _log_har_process(n: int = 5000, leverage: float = 0.0, seed: int = 3):
    """Daily variance whose log follows a HAR (plus a leverage term on the day's shock)."""
    rng = np.random.default_rng(seed)
    lv = np.full(n, np.log(1e-4))
    r = np.zeros(n)
    for t in range(22, n - 1):
        z = rng.normal()
        r[t] = z * np.exp(lv[t] / 2)
        m = [np.log(np.exp(lv[t - w + 1 : t + 1]).mean()) for w in (1, 5, 22)]
        lv[t + 1] = -0.9 + 0.35 * m[0] + 0.35 * m[1] + 0.2 * m[2] + leverage * min(z, 0.0) \
            + rng.normal(scale=0.3)
    idx = pd.bdate_range("2000-01-03", periods=n)
    return pd.Series(np.exp(lv), index=idx), pd.Series(r, index=idx)


def test_log_har_recovers_its_process_and_calibrates_to_the_mean():
    var, _ = _log_har_process()
    train_end, anchors = var.index[3999], var.index[4000:4900]
    f = har_variance_forecast(var, train_end, anchors, [1], log_space=True)
    raw = har_variance_forecast(var, train_end, anchors, [1], log_space=True, calibrate=False)
    pos = np.arange(4000, 4900)
    v = var.to_numpy()
    m = [np.log([v[p - w + 1 : p + 1].mean() for p in pos]) for w in (1, 5, 22)]
    median = np.exp(-0.9 + 0.35 * m[0] + 0.35 * m[1] + 0.2 * m[2])
    np.testing.assert_allclose(raw[:, 0], median, rtol=0.05)  # exp(E[ln v]): the median
    # smearing: E[v] = median * E[exp(e)] = median * exp(0.3^2 / 2) for normal log errors
    ratio = f[:, 0] / raw[:, 0]
    np.testing.assert_allclose(ratio, ratio[0])  # one factor per horizon
    assert ratio[0] == pytest.approx(np.exp(0.3**2 / 2), rel=0.03)


def test_lhar_picks_up_the_leverage_effect():
    var, ret = _log_har_process(leverage=-0.4)
    train_end, anchors = var.index[3999], var.index[4000:4990]
    y = mean_ahead(var.to_numpy(), [1])[4000:4990, 0]
    loss = {}
    for name, returns in (("har_log", None), ("lhar_log", ret)):
        f = har_variance_forecast(var, train_end, anchors, [1], log_space=True, returns=returns)
        loss[name] = np.nanmean(y / f[:, 0] - np.log(y / f[:, 0]) - 1)
    assert loss["lhar_log"] < 0.97 * loss["har_log"]


def test_gjr_t_matches_arch_forecast_and_averages_the_path(sp500):
    ret, rv = _series(sp500[sp500.index.get_level_values("date") >= "2005-01-01"])
    ret, var = ret.iloc[1:], rv.iloc[1:] ** 2
    train_end = ret.index[1199]
    y = 100 * ret.iloc[:1200].to_numpy()
    res = arch_model(y, mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off")
    ref = res.forecast(horizon=5, start=0, reindex=False).variance.to_numpy() / 1e4  # [n, 5]
    vol = garch_forecast(ret, train_end, ret.index[:1200], range(1, 6), vol="GJR", dist="t")
    np.testing.assert_allclose(vol**2, ref, rtol=1e-9)
    mean5 = garch_variance_forecast(var, train_end, ret.index[:1200], [5], returns=ret, vol="GJR")
    scale = mean5[:, 0] / ref.mean(axis=1)  # the calibration factor, one per horizon
    np.testing.assert_allclose(scale, scale[0], rtol=1e-9)
    assert 0.3 < scale[0] < 1.5  # range variance sits below close-to-close variance


def test_variance_baselines_are_positive_and_dispatch_by_name(spx_small):
    bars = spx_small.xs("^GSPC", level="ticker")
    dates = bars.index
    out = {}
    for name in ("random_walk", "har", "har_log", "lhar_log", "garch", "gjr_garch"):
        out[name] = baseline_forecast(name, bars, "variance", dates[399], dates[400:450],
                                      [1, 5, 22], proxy="garman_klass")
        assert out[name].shape == (50, 3) and (out[name] > 0).all(), name
    assert not np.allclose(out["har_log"], out["lhar_log"])
    with pytest.raises(Exception, match="does not apply"):
        baseline_forecast("ar", bars, "variance", dates[399], dates[400:450], [1])


def test_signals_are_the_trailing_return_sums():
    r = pd.Series([0.01, -0.02, 0.03, 0.0, 0.01, 0.02], index=pd.bdate_range("2020-01-01", periods=6))
    rev = baseline_forecast("reversal_1", pd.DataFrame({"close": np.exp(np.r_[0, r.cumsum()])},
                            index=pd.bdate_range("2019-12-31", periods=7)), "log_return",
                            r.index[-1], r.index[-2:], [1, 5])
    np.testing.assert_allclose(rev, [[-0.01, -0.01], [-0.02, -0.02]], atol=1e-12)
    from qseq.backtest.baselines import signal_forecast

    mom = signal_forecast(r, r.index[-1], r.index[3:], [1], window=3, sign=1.0)
    np.testing.assert_allclose(mom[:, 0], [0.01, 0.04, 0.03], atol=1e-12)


def test_ridge_on_the_model_inputs_recovers_a_linear_target():
    from qseq.backtest.baselines import ridge_forecast
    from qseq.data.windows import Windows

    rng = np.random.default_rng(0)
    n, lookback = 3000, 4
    values = rng.normal(size=(n, 2)).astype(np.float32)
    # target h1 = 0.5 x (feature 0 at the anchor) - 0.3 x (feature 1 one bar earlier)
    y = np.full((n, 1), np.nan, dtype=np.float32)
    y[1:, 0] = 0.5 * values[1:, 0] - 0.3 * values[:-1, 1] + rng.normal(scale=0.01, size=n - 1)
    anchors = np.arange(lookback - 1, n)
    w = Windows(values, y, np.zeros(n, dtype=np.int64), pd.bdate_range("2000-01-03", periods=n)
                .to_numpy(), anchors, lookback, ("a", "b"), ("T",))
    pos = np.arange(len(anchors))
    out = ridge_forecast(w, pos[:2000], pos[2000:2400], pos[2400:])
    truth = y[anchors[pos[2400:]], 0]
    assert np.corrcoef(out[:, 0], truth)[0, 1] > 0.99
