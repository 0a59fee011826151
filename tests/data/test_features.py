"""Causal features and forward targets (qseq.data.features)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qseq.data.features import (
    CROSS_SECTIONAL_FEATURES,
    DEFAULT_WINDOW,
    FEATURES,
    NEWS_FEATURES,
    TARGETS,
    compute_features,
    compute_targets,
    parse_feature,
)
from qseq.data.validate import validate_panel
from qseq.errors import ConfigError, DataError

from ._helpers import perturb_after, random_walk_panel

# bar features (the news features read the joined sentiment table: their causality is tested
# by perturbing headlines, in tests/text/test_sentiment_feature.py and test_sentiment.py)
BAR_FEATURES = [f for f in FEATURES if f not in NEWS_FEATURES]
ALL = [*BAR_FEATURES, *(f"{f}_5" for f in BAR_FEATURES)]
# features of one ticker's own bars (the cross-sectional ones read every ticker on a date)
PER_TICKER = [n for n in ALL if parse_feature(n)[0] not in CROSS_SECTIONAL_FEATURES]
ROLLING = {"volume_zscore", "parkinson_vol", "garman_klass_vol"}
def _marked(names):
    return list(names)


def _ticker(frame: pd.DataFrame, t: str) -> pd.DataFrame:
    return frame.xs(t, level="ticker")


# -- causality -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cuts(stocks5):
    dates = stocks5.index.get_level_values("date").unique()[:600]
    return list(dates[np.linspace(30, 580, 15).astype(int)])


def _assert_unchanged_up_to(before: pd.DataFrame, after: pd.DataFrame, cut, name: str) -> None:
    keep = before.index.get_level_values("date") <= cut
    assert keep.any()
    a = before.loc[keep, name].to_numpy()
    b = after.loc[keep, name].to_numpy()
    assert np.isfinite(a).sum() > 0
    assert np.array_equal(a, b, equal_nan=True), f"{name} changed at dates <= {cut.date()}"


@pytest.mark.parametrize("name", PER_TICKER)
def test_feature_is_causal_single_ticker(two_tickers, cuts, name):
    rng = np.random.default_rng(7)
    for t in ("AAPL", "MSFT"):
        panel = two_tickers[two_tickers.index.get_level_values("ticker") == t]
        base = compute_features(panel, [name])
        for cut in cuts:
            perturbed = perturb_after(panel, cut, rng)
            assert validate_panel(perturbed).ok
            after = compute_features(perturbed, [name])
            _assert_unchanged_up_to(base, after, cut, name)
            # ... and the perturbation really changes the feature after the cut
            later = base.index.get_level_values("date") > cut
            assert not np.array_equal(base.loc[later, name].to_numpy(), after.loc[later, name].to_numpy(),
                                      equal_nan=True)


@pytest.mark.parametrize("name", _marked(ALL))
def test_feature_is_causal_two_tickers(two_tickers, cuts, name):
    rng = np.random.default_rng(11)
    base = compute_features(two_tickers, [name])
    for cut in cuts:
        after = compute_features(perturb_after(two_tickers, cut, rng), [name])
        _assert_unchanged_up_to(base, after, cut, name)


@pytest.mark.parametrize("name", _marked(PER_TICKER))
def test_other_ticker_unaffected(two_tickers, name):
    rng = np.random.default_rng(3)
    base = compute_features(two_tickers, [name])
    for changed, other in (("MSFT", "AAPL"), ("AAPL", "MSFT")):
        for _ in range(15):
            after = compute_features(perturb_after(two_tickers, None, rng, tickers=[changed]), [name])
            assert not np.array_equal(_ticker(base, changed)[name], _ticker(after, changed)[name],
                                      equal_nan=True)
            assert np.array_equal(_ticker(base, other)[name].to_numpy(),
                                  _ticker(after, other)[name].to_numpy(),
                                  equal_nan=True), f"{other} changed when only {changed} did"


def test_two_ticker_features_match_per_ticker_within_rounding(two_tickers):
    # Whatever the last-bit noise above, the values agree with per-ticker computation closely.
    both = compute_features(two_tickers, PER_TICKER)
    for t in ("AAPL", "MSFT"):
        alone = compute_features(two_tickers[two_tickers.index.get_level_values("ticker") == t],
                                 PER_TICKER)
        np.testing.assert_allclose(_ticker(both, t).to_numpy(), _ticker(alone, t).to_numpy(),
                                   rtol=1e-9, atol=1e-12, equal_nan=True)


# -- known answers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    panel = random_walk_panel(("AAA", "BBB"), n=30, seed=5)
    panel.loc[(panel.index[6][0], "BBB"), "volume"] = 0.0  # a zero-volume day
    return panel


def _by_hand(panel: pd.DataFrame, per_bar, window: int, finish) -> dict[str, list[float]]:
    """Trailing-window statistic with an explicit loop, per ticker."""
    out = {}
    for t in sorted(panel.index.get_level_values("ticker").unique()):
        one = panel.xs(t, level="ticker")
        bars = [per_bar(one.iloc[i]) for i in range(len(one))]
        vals = []
        for i in range(len(one)):
            if i < window - 1:
                vals.append(math.nan)
            else:
                vals.append(finish(bars[i - window + 1 : i + 1], bars[i]))
        out[t] = vals
    return out


def test_output_layout(small):
    feats = compute_features(small, ["log_return", "parkinson_vol_5"])
    assert list(feats.index.names) == ["ticker", "date"]
    assert list(feats.columns) == ["log_return", "parkinson_vol_5"]
    assert (feats.dtypes == np.float64).all()
    assert list(feats.index.get_level_values("ticker")) == ["AAA"] * 30 + ["BBB"] * 30
    assert feats.index.get_level_values("date").is_monotonic_increasing is False  # two runs of dates
    for t in ("AAA", "BBB"):
        assert _ticker(feats, t).index.is_monotonic_increasing


def test_log_return(small):
    got = compute_features(small, ["log_return"])
    for t in ("AAA", "BBB"):
        want = np.log(small.xs(t, level="ticker")["close"]).diff().to_numpy()
        g = _ticker(got, t)["log_return"].to_numpy()
        assert np.isnan(g[0]) and np.isnan(want[0])
        np.testing.assert_allclose(g[1:], want[1:], rtol=0, atol=1e-14)


def test_first_bars_are_nan_per_ticker(small):
    feats = compute_features(small, ALL)
    for t in ("AAA", "BBB"):
        one = _ticker(feats, t)
        assert np.isnan(one["log_return"].iloc[0]) and np.isfinite(one["log_return"].iloc[1:]).all()
        assert np.isnan(one["log_volume_change"].iloc[0])
        for name in ("parkinson_vol_5", "garman_klass_vol_5", "volume_zscore_5"):
            assert one[name].iloc[:4].isna().all(), name
            assert np.isfinite(one[name].iloc[4:]).all(), name
        for name in ("parkinson_vol", "garman_klass_vol", "volume_zscore"):
            assert one[name].iloc[: DEFAULT_WINDOW - 1].isna().all(), name
            assert np.isfinite(one[name].iloc[DEFAULT_WINDOW - 1 :]).all(), name


def test_parkinson_vol(small):
    got = compute_features(small, ["parkinson_vol_5", "parkinson_vol"])
    for window, name in ((5, "parkinson_vol_5"), (20, "parkinson_vol")):
        want = _by_hand(small, lambda r: math.log(r["high"] / r["low"]) ** 2, window,
                        lambda w, _: math.sqrt(sum(w) / len(w) / (4 * math.log(2))))
        for t, vals in want.items():
            np.testing.assert_allclose(_ticker(got, t)[name], vals, rtol=1e-12, equal_nan=True)


def test_garman_klass_vol(small):
    got = compute_features(small, ["garman_klass_vol_5"])
    c = 2 * math.log(2) - 1
    want = _by_hand(small, lambda r: 0.5 * math.log(r["high"] / r["low"]) ** 2
                    - c * math.log(r["close"] / r["open"]) ** 2, 5,
                    lambda w, _: math.sqrt(max(sum(w) / len(w), 0.0)))
    for t, vals in want.items():
        np.testing.assert_allclose(_ticker(got, t)["garman_klass_vol_5"], vals, rtol=1e-10, equal_nan=True)


def test_volume_zscore(small):
    got = compute_features(small, ["volume_zscore_5"])

    def z(w, x):
        m = sum(w) / len(w)
        sd = math.sqrt(sum((v - m) ** 2 for v in w) / (len(w) - 1))
        return (x - m) / sd if sd > 0 else math.nan

    want = _by_hand(small, lambda r: math.log1p(r["volume"]), 5, z)
    for t, vals in want.items():
        np.testing.assert_allclose(_ticker(got, t)["volume_zscore_5"], vals, rtol=1e-9, atol=1e-12,
                                   equal_nan=True)


def test_volume_zscore_constant_volume_is_nan_not_inf():
    dates = pd.bdate_range("2021-01-04", periods=8)
    panel = pd.DataFrame({"close": 1.0, "volume": 500.0},
                         index=pd.MultiIndex.from_arrays([dates, ["X"] * 8], names=["date", "ticker"]))
    got = compute_features(panel, ["volume_zscore_3"])["volume_zscore_3"]
    assert got.isna().all()


def test_log_volume_change_uses_log1p(small):
    got = compute_features(small, ["log_volume_change"])
    for t in ("AAA", "BBB"):
        v = small.xs(t, level="ticker")["volume"].to_numpy()
        want = np.log1p(v[1:]) - np.log1p(v[:-1])
        g = _ticker(got, t)["log_volume_change"].to_numpy()
        assert np.isnan(g[0])
        np.testing.assert_array_equal(g[1:], want)
        assert np.isfinite(g[1:]).all()  # zero-volume days stay finite
    assert (small["volume"] == 0).any()


def test_first_log_return_of_second_ticker_is_nan(two_tickers):
    feats = compute_features(two_tickers, ["log_return", "log_volume_change"])
    msft = _ticker(feats, "MSFT")
    assert np.isnan(msft["log_return"].iloc[0]) and np.isnan(msft["log_volume_change"].iloc[0])
    assert feats["log_return"].isna().sum() == 2


def test_input_order_does_not_matter(small):
    shuffled = small.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(compute_features(shuffled, ["log_return", "log_volume_change"]),
                                  compute_features(small, ["log_return", "log_volume_change"]))


# -- targets ---------------------------------------------------------------------------------


def test_log_return_target(small):
    tg = compute_targets(small, "log_return", [1, 2, 5])
    assert list(tg.columns) == ["h1", "h2", "h5"] and list(tg.index.names) == ["ticker", "date"]
    lr = compute_features(small, ["log_return"])["log_return"]
    for t in ("AAA", "BBB"):
        r = _ticker(lr, t).to_numpy()
        one = _ticker(tg, t)
        for k in (1, 2, 5):
            col = one[f"h{k}"].to_numpy()
            np.testing.assert_array_equal(col[:-k], r[k:])
            assert np.isnan(col[-k:]).all()


def test_cum_log_return_target(small):
    tg = compute_targets(small, "cum_log_return", [1, 3])
    for t in ("AAA", "BBB"):
        c = small.xs(t, level="ticker")["close"].to_numpy()
        one = _ticker(tg, t)
        for k in (1, 3):
            col = one[f"h{k}"].to_numpy()
            np.testing.assert_allclose(col[:-k], np.log(c[k:] / c[:-k]), rtol=0, atol=1e-14)
            assert np.isnan(col[-k:]).all()


def test_realized_vol_target(small):
    tg = compute_targets(small, "realized_vol", [2])
    for t in ("AAA", "BBB"):
        one = small.xs(t, level="ticker")
        bar = np.abs(np.log(one["high"] / one["low"])).to_numpy() / math.sqrt(4 * math.log(2))
        col = _ticker(tg, t)["h2"].to_numpy()
        np.testing.assert_allclose(col[:-2], bar[2:], rtol=1e-15)
        assert np.isnan(col[-2:]).all()


@pytest.mark.parametrize("target", TARGETS)
def test_targets_do_not_leak_across_tickers(two_tickers, target):
    tg = compute_targets(two_tickers, target, [1, 4])
    aapl = _ticker(tg, "AAPL")
    assert aapl["h4"].iloc[-4:].isna().all() and aapl["h1"].iloc[-1:].isna().all()
    assert np.isfinite(aapl["h4"].iloc[:-4]).all()
    assert tg["h4"].isna().sum() == 8


def test_excess_return_is_the_return_over_the_date_mean(two_tickers):
    f = compute_features(two_tickers, ["log_return", "excess_return", "excess_return_3"])
    wide = f["log_return"].unstack("ticker")
    ex = f["excess_return"].unstack("ticker")
    np.testing.assert_allclose(ex["AAPL"], (wide["AAPL"] - wide["MSFT"]) / 2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ex.sum(axis=1).dropna(), 0.0, atol=1e-15)
    three = f["excess_return_3"].unstack("ticker")
    np.testing.assert_allclose(three["AAPL"].iloc[5], ex["AAPL"].iloc[3:6].sum(), rtol=1e-12)
    assert parse_feature("excess_return") == ("excess_return", 1)


@pytest.mark.parametrize("target", ["excess_log_return", "excess_cum_log_return"])
def test_excess_targets_are_market_neutral(two_tickers, target):
    raw = compute_targets(two_tickers, target.removeprefix("excess_"), [1, 3])
    ex = compute_targets(two_tickers, target, [1, 3])
    np.testing.assert_allclose(ex.groupby(level="date").sum().dropna(), 0.0, atol=1e-15)
    day = raw.xs("AAPL", level="ticker")["h3"] - raw.xs("MSFT", level="ticker")["h3"]
    np.testing.assert_allclose(ex.xs("AAPL", level="ticker")["h3"].dropna(), (day / 2).dropna(),
                               rtol=1e-12)


def test_unknown_target():
    with pytest.raises(ConfigError, match=r"unknown target 'price'; choose one of \['log_return'"):
        compute_targets(random_walk_panel(n=5), "price", [1])


# -- errors ----------------------------------------------------------------------------------


def test_parse_feature():
    assert parse_feature("parkinson_vol") == ("parkinson_vol", DEFAULT_WINDOW)
    assert parse_feature("parkinson_vol_10") == ("parkinson_vol", 10)
    assert parse_feature("log_return_5") == ("log_return", 5)
    with pytest.raises(ConfigError, match="window must be >= 2"):
        parse_feature("parkinson_vol_1")


@pytest.mark.parametrize("bad", ["rsi", "parkinson", "log_return_x", "Log_Return", ""])
def test_unknown_feature_lists_choices(bad):
    with pytest.raises(ConfigError) as info:
        compute_features(random_walk_panel(n=5), [bad])
    msg = str(info.value)
    assert f"unknown feature {bad!r}" in msg
    for name in FEATURES:
        assert name in msg


def test_no_features():
    with pytest.raises(ConfigError, match="at least one feature"):
        compute_features(random_walk_panel(n=5), [])


@pytest.mark.parametrize(("name", "missing"), [
    ("log_volume_change", "['volume']"), ("volume_zscore_5", "['volume']"),
    ("parkinson_vol", "['high', 'low']"), ("garman_klass_vol", "['open', 'high', 'low']"),
])
def test_feature_needing_missing_columns_on_vix(name, missing):
    from qseq.data.bundled import load_dataset

    vix = load_dataset("vix")
    assert list(vix.columns) == ["close"]
    with pytest.raises(DataError) as info:
        compute_features(vix, ["log_return", name])
    msg = str(info.value)
    assert f"needs columns {missing}" in msg and "['close']" in msg
    assert np.isfinite(compute_features(vix, ["log_return"])["log_return"].iloc[1:]).all()
