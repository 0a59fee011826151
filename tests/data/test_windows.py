"""Sliding windows, the chronological split with its purge gap, and scaler leakage
(qseq.data.windows and the way qseq.forecaster.Forecaster.fit uses them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.data.features import compute_features, compute_targets
from qseq.data.validate import validate_panel
from qseq.data.windows import (
    StandardScaler,
    chronological_split,
    make_windows,
    rows_covered,
)
from qseq.errors import ConfigError, DataError

from ._helpers import perturb_after

FEATS = ["log_return", "log_volume_change", "parkinson_vol_5"]
ROLLING_FEATS = ["log_return", "log_volume_change", "parkinson_vol_5", "volume_zscore_5",
                 "garman_klass_vol_5"]
LOOKBACK = 10
HORIZONS = [1, 3]


def reference_windows(panel, features, lookback, horizons, target="log_return", require_targets=True):
    """x, y, ticker names and anchor dates built with an explicit loop over every candidate anchor."""
    feats = compute_features(panel, features)
    targ = compute_targets(panel, target, horizons)
    xs, ys, names, dates = [], [], [], []
    for t in pd.unique(feats.index.get_level_values("ticker")):
        f = feats.xs(t, level="ticker").to_numpy(dtype=np.float32)
        y = targ.xs(t, level="ticker").to_numpy(dtype=np.float32)
        d = feats.xs(t, level="ticker").index.to_numpy()
        for a in range(lookback - 1, len(f)):
            window = f[a - lookback + 1 : a + 1]
            if not np.isfinite(window).all():
                continue
            if require_targets and not np.isfinite(y[a]).all():
                continue
            xs.append(window)
            ys.append(y[a])
            names.append(t)
            dates.append(d[a])
    return np.stack(xs), np.stack(ys), np.array(names), np.array(dates)


@pytest.fixture
def one_ticker(sp500):
    return sp500.iloc[2000:2500].copy()


def test_shapes_and_dtypes(two_tickers):
    w = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS)
    n = len(w)
    assert n > 1000
    assert w.x.shape == (n, LOOKBACK, len(FEATS)) and w.x.dtype == np.float32
    assert w.y.shape == (n, len(HORIZONS)) and w.y.dtype == np.float32
    assert w.ticker.shape == (n,) and w.ticker.dtype == np.int64
    assert w.anchor_date.shape == (n,) and np.issubdtype(w.anchor_date.dtype, np.datetime64)
    assert w.values.shape == (len(two_tickers), len(FEATS))
    assert w.targets.shape == (len(two_tickers), len(HORIZONS))
    assert w.tickers == ("AAPL", "MSFT") and w.feature_names == tuple(FEATS)


@pytest.mark.parametrize("require_targets", [True, False])
def test_windows_equal_a_python_loop(two_tickers, require_targets):
    w = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS, require_targets=require_targets)
    x, y, names, dates = reference_windows(two_tickers, FEATS, LOOKBACK, HORIZONS,
                                           require_targets=require_targets)
    np.testing.assert_array_equal(w.x, x)
    np.testing.assert_array_equal(w.y, y)  # NaN == NaN for the trailing bars without targets
    assert list(np.asarray(w.tickers)[w.ticker]) == list(names)
    np.testing.assert_array_equal(w.anchor_date, dates)


@pytest.mark.parametrize("target", ["cum_log_return", "realized_vol"])
def test_windows_equal_a_python_loop_other_targets(two_tickers, target):
    w = make_windows(two_tickers, FEATS, 5, [2], target=target)
    x, y, _, dates = reference_windows(two_tickers, FEATS, 5, [2], target=target)
    np.testing.assert_array_equal(w.x, x)
    np.testing.assert_array_equal(w.y, y)
    np.testing.assert_array_equal(w.anchor_date, dates)


def test_strided_and_x_are_views(one_ticker):
    w = make_windows(one_ticker, FEATS, LOOKBACK, HORIZONS)
    s = w.strided()
    assert s.shape == (len(w.values) - LOOKBACK + 1, LOOKBACK, len(FEATS))
    assert np.shares_memory(s, w.values)
    np.testing.assert_array_equal(s[7], w.values[7 : 7 + LOOKBACK])
    assert np.all(np.diff(w.anchors) == 1)
    assert np.shares_memory(w.x, w.values)  # no per-window copy for one ticker
    x, _, _, _ = reference_windows(one_ticker, FEATS, LOOKBACK, HORIZONS)
    np.testing.assert_array_equal(w.x, x)


def test_no_window_crosses_tickers(two_tickers):
    w = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS, require_targets=False)
    for a in w.anchors:
        block = w.row_ticker[a - LOOKBACK + 1 : a + 1]
        assert (block == block[-1]).all()
    # Each ticker's first anchor is its first row whose whole window has features.
    first_msft = int(np.flatnonzero(w.row_ticker == 1)[0])
    msft_anchors = w.anchors[w.ticker == 1]
    # rows 0..3 have no parkinson_vol_5 (and row 0 no log_return): first full window ends at row 4 + L - 1
    assert msft_anchors[0] == first_msft + 4 + LOOKBACK - 1
    assert np.isnan(w.values[first_msft, 0])


def test_windows_with_nan_features_are_excluded(two_tickers):
    panel = two_tickers.copy()
    row = (panel.index.get_level_values("date").unique()[200], "AAPL")
    panel.loc[row, "volume"] = np.nan  # log_volume_change NaN at that bar and the next
    base = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS)
    w = make_windows(panel, FEATS, LOOKBACK, HORIZONS)
    for a in w.anchors:
        assert np.isfinite(w.values[a - LOOKBACK + 1 : a + 1]).all()
    assert len(base) - len(w) == LOOKBACK + 1  # windows covering either of the two NaN bars
    x, y, _, _ = reference_windows(panel, FEATS, LOOKBACK, HORIZONS)
    np.testing.assert_array_equal(w.x, x)
    np.testing.assert_array_equal(w.y, y)


def test_require_targets_false_keeps_the_last_bars(two_tickers):
    kept = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS, require_targets=False)
    need = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS)
    assert len(kept) - len(need) == 2 * max(HORIZONS)
    last_rows = [int(np.flatnonzero(kept.row_ticker == i)[-1]) for i in (0, 1)]
    for r in last_rows:
        assert r in kept.anchors and r not in need.anchors
    tail = kept.y[np.isin(kept.anchors, last_rows)]
    assert np.isnan(tail).all()
    assert np.isfinite(need.y).all()


def test_ticker_vocabulary(two_tickers):
    w = make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS, tickers=["MSFT", "AAPL", "IBM"])
    assert w.tickers == ("MSFT", "AAPL", "IBM")
    first = w.ticker[w.anchor_date == w.anchor_date.min()]
    assert sorted(first) == [0, 1]
    assert (w.row_ticker[: len(w.values) // 2] == 1).all()  # ticker-major rows: AAPL first, id 1
    with pytest.raises(DataError, match=r"tickers \['MSFT'\] were not seen in training"):
        make_windows(two_tickers, FEATS, LOOKBACK, HORIZONS, tickers=["AAPL"])


def test_bad_lookback(two_tickers):
    with pytest.raises(ConfigError, match="lookback must be >= 1"):
        make_windows(two_tickers, FEATS, 0, HORIZONS)


def test_subset_and_with_values_share_rows(one_ticker):
    w = make_windows(one_ticker, FEATS, LOOKBACK, HORIZONS)
    sub = w.subset(np.arange(5, 15))
    assert sub.values is w.values and len(sub) == 10
    np.testing.assert_array_equal(sub.x, w.x[5:15])
    scaled = w.with_values(w.values * 2)
    np.testing.assert_array_equal(scaled.x, w.x * 2)
    assert scaled.anchors is w.anchors


def test_rows_covered(one_ticker):
    w = make_windows(one_ticker, FEATS, LOOKBACK, HORIZONS)
    sub = w.subset(np.array([0, 1, 40]))
    covered = rows_covered(sub)
    want = np.zeros(len(w.values), dtype=bool)
    for a in sub.anchors:
        want[a - LOOKBACK + 1 : a + 1] = True
    np.testing.assert_array_equal(covered, want)


# -- chronological split ---------------------------------------------------------------------


@pytest.mark.parametrize("horizons", [[1], [1, 3], [5], [1, 2, 10]])
def test_split_is_ordered_disjoint_and_purged(two_tickers, horizons):
    w = make_windows(two_tickers, FEATS, LOOKBACK, horizons)
    gap = max(horizons)
    split = chronological_split(w, 0.15, 0.15, gap=gap)
    parts = (split.train, split.val, split.test)
    assert all(len(p) > 50 for p in parts)
    assert not set(split.train) & set(split.val) and not set(split.val) & set(split.test)
    assert not set(split.train) & set(split.test)
    dates = [w.anchor_date[p] for p in parts]
    assert dates[0].max() < dates[1].min() and dates[1].max() < dates[2].min()
    rows = w.anchors
    for tid in range(len(w.tickers)):
        mine = [rows[p][w.ticker[p] == tid] for p in parts]
        assert mine[1].min() - mine[0].max() > gap
        assert mine[2].min() - mine[1].max() > gap
        # With no holes in the data, exactly `gap` anchors are purged at each boundary (the
        # last ones of the earlier segment: their targets would reach the later one).
        assert mine[1].min() - mine[0].max() == gap + 1
        for early, late in ((mine[0], mine[1]), (mine[1], mine[2]), (mine[0], mine[2])):
            early_targets = {a + k for a in early for k in horizons}
            late_targets = {a + k for a in late for k in horizons}
            assert not early_targets & late_targets
            assert max(early_targets) < min(late_targets)
    n = len(np.unique(w.anchor_date))
    assert abs(len(np.unique(dates[0])) + gap - 0.7 * n) <= 1


def test_split_fraction_errors(one_ticker):
    w = make_windows(one_ticker, FEATS, LOOKBACK, HORIZONS)
    for val, test in ((0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)):
        with pytest.raises(ConfigError, match="must be in"):
            chronological_split(w, val, test)
    with pytest.raises(DataError, match="only 2 window dates"):
        chronological_split(w.subset(np.array([0, 1])), 0.15, 0.15)


def test_split_without_validation(one_ticker):
    w = make_windows(one_ticker, FEATS, LOOKBACK, HORIZONS)
    split = chronological_split(w, 0.0, 0.2, gap=3)
    assert len(split.val) == 0 and len(split.train) > 0 and len(split.test) > 0
    assert w.anchors[split.test].min() - w.anchors[split.train].max() > 3


# -- scaler leakage --------------------------------------------------------------------------


def _fit_scalers(panel, features, horizons):
    """Exactly what Forecaster.fit does between make_windows and training."""
    w = make_windows(panel, features, LOOKBACK, horizons)
    split = chronological_split(w, 0.15, 0.15, gap=max(horizons))
    train_w = w.subset(split.train)
    sx = StandardScaler().fit(w.values[rows_covered(train_w)])
    sy = StandardScaler().fit(train_w.y)
    return w, split, train_w, sx, sy


def _perturb_after_rows(panel, w, last_row_by_ticker, rng, wild=True):
    """Perturb every bar of each ticker dated after that ticker's row ``last_row_by_ticker``."""
    out = panel
    for tid, row in last_row_by_ticker.items():
        cut = pd.Timestamp(w.row_date[row])
        out = perturb_after(out, cut, rng, tickers=[w.tickers[tid]])
    if wild:
        later = np.zeros(len(out), dtype=bool)
        for tid, row in last_row_by_ticker.items():
            later |= np.asarray((out.index.get_level_values("ticker") == w.tickers[tid])
                                & (out.index.get_level_values("date") > pd.Timestamp(w.row_date[row])))
        out = out.copy()
        for col in ("open", "high", "low", "close"):
            out.loc[later, col] = out.loc[later, col].to_numpy() * 1e6
        out.loc[later, "volume"] = out.loc[later, "volume"].to_numpy() + 1e15
    assert validate_panel(out).ok
    return out


def _last_train_rows(w, train_w, extra=0):
    return {tid: int(train_w.anchors[train_w.ticker == tid].max()) + extra for tid in range(len(w.tickers))}


SCALER_CASES = [
    pytest.param("one", ROLLING_FEATS, id="one-ticker-all-features"),
    pytest.param("two", ["log_return", "log_volume_change"], id="two-tickers"),
    pytest.param("two", ROLLING_FEATS, id="two-tickers-rolling"),
]


@pytest.mark.parametrize(("which", "features"), SCALER_CASES)
def test_scaler_x_ignores_everything_after_the_last_training_input(one_ticker, two_tickers, which,
                                                                   features):
    panel = one_ticker if which == "one" else two_tickers
    w, split, train_w, sx, _ = _fit_scalers(panel, features, HORIZONS)
    covered = rows_covered(train_w)
    last = _last_train_rows(w, train_w)
    for tid, row in last.items():
        rows_t = np.flatnonzero(w.row_ticker == tid)
        assert covered[row] and not covered[row + 1 : rows_t[-1] + 1].any()
    rng = np.random.default_rng(0)
    perturbed = _perturb_after_rows(panel, w, last, rng)
    w2, split2, _, sx2, _ = _fit_scalers(perturbed, features, HORIZONS)
    for a, b in zip(split2.__dict__.values(), split.__dict__.values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.array_equal(sx2.mean_, sx.mean_) and np.array_equal(sx2.std_, sx.std_)
    assert not np.array_equal(w2.values[~covered], w.values[~covered], equal_nan=True)


@pytest.mark.parametrize(("which", "features"), SCALER_CASES[:2])
def test_scaler_y_ignores_everything_after_the_last_training_target(one_ticker, two_tickers, which,
                                                                    features):
    panel = one_ticker if which == "one" else two_tickers
    w, split, train_w, sx, sy = _fit_scalers(panel, features, HORIZONS)
    last = _last_train_rows(w, train_w, extra=max(HORIZONS))
    perturbed = _perturb_after_rows(panel, w, last, np.random.default_rng(1))
    _, split2, _, sx2, sy2 = _fit_scalers(perturbed, features, HORIZONS)
    np.testing.assert_array_equal(split2.train, split.train)
    assert np.array_equal(sy2.mean_, sy.mean_) and np.array_equal(sy2.std_, sy.std_)
    assert np.array_equal(sx2.mean_, sx.mean_) and np.array_equal(sx2.std_, sx.std_)


def test_scaler_sees_training_rows(one_ticker):
    w, _, train_w, sx, sy = _fit_scalers(one_ticker, FEATS, HORIZONS)
    row = int(train_w.anchors[len(train_w) // 2])
    date = pd.Timestamp(w.row_date[row])
    panel = one_ticker.copy()
    panel.loc[(date, "^GSPC"), ["open", "high", "low", "close"]] *= 1.5
    panel.loc[(date, "^GSPC"), "volume"] *= 3
    _, _, _, sx2, sy2 = _fit_scalers(panel, FEATS, HORIZONS)
    assert not np.array_equal(sx2.mean_, sx.mean_)
    assert not np.array_equal(sx2.std_, sx.std_)
    assert not np.array_equal(sy2.mean_, sy.mean_)


def test_standard_scaler_known_values():
    data = np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0], [5.0, 5.0]])
    sc = StandardScaler().fit(data)
    np.testing.assert_array_equal(sc.mean_, [3.0, 5.0])
    np.testing.assert_allclose(sc.std_, [np.sqrt(8 / 3), 1.0])  # constant column: std 1, not 0
    z = sc.transform(data)
    assert z.dtype == np.float32
    np.testing.assert_allclose(sc.inverse(z.astype(np.float64)), data, rtol=1e-6)
    with pytest.raises(DataError, match="cannot fit a scaler on 1 rows"):
        StandardScaler().fit(data[:1])


# -- through the real Forecaster ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gspc500(sp500):
    return sp500.iloc[3000:3500].copy()


def _fit(panel):
    return qseq.Forecaster("gru", lookback=16, horizons=3, hidden_size=8, num_layers=1,
                           train=qseq.TrainConfig(epochs=1)).fit(panel)


@pytest.fixture(scope="module")
def fitted(gspc500):
    return _fit(gspc500)


def test_forecaster_scalers_ignore_validation_and_test_rows(gspc500, fitted):
    fc = fitted
    val_start = pd.Timestamp(fc.split_dates_["val"][0])
    train_end = pd.Timestamp(fc.split_dates_["train"][1])
    dates = gspc500.index.get_level_values("date")
    # The purge gap: at least 3 bars (max horizon) between the last train and first val anchor.
    assert ((dates > train_end) & (dates < val_start)).sum() >= 3
    perturbed = perturb_after(gspc500, val_start - pd.Timedelta(days=1), np.random.default_rng(0))
    later = np.asarray(dates >= val_start)
    perturbed.loc[later, "volume"] = perturbed.loc[later, "volume"].to_numpy() + 1e15
    assert not np.array_equal(perturbed["close"].to_numpy()[later], gspc500["close"].to_numpy()[later])
    fc2 = _fit(perturbed)
    assert fc2.split_dates_ == fc.split_dates_
    for a, b in ((fc.scaler_x_, fc2.scaler_x_), (fc.scaler_y_, fc2.scaler_y_)):
        assert np.array_equal(a.mean_, b.mean_) and np.array_equal(a.std_, b.std_)


def test_forecaster_scalers_do_see_training_rows(gspc500, fitted):
    fc = fitted
    train_mid = pd.Timestamp(fc.split_dates_["train"][0]) + pd.Timedelta(days=60)
    panel = gspc500.copy()
    row = panel.index[panel.index.get_level_values("date") >= train_mid][0]
    panel.loc[row, ["open", "high", "low", "close"]] *= 1.2
    fc2 = _fit(panel)
    assert not np.array_equal(fc.scaler_x_.mean_, fc2.scaler_x_.mean_)
    assert not np.array_equal(fc.scaler_y_.mean_, fc2.scaler_y_.mean_)
