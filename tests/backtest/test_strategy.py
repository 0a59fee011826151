"""Position rules, cross-sectional ranking and the lagged backtest with costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qseq.backtest.strategy import (
    backtest,
    buy_and_hold,
    cross_sectional_positions,
    signal_positions,
    trailing_vol,
)
from qseq.errors import ConfigError, DataError


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2020-01-01", periods=n)


# ---- single-ticker rules ---------------------------------------------------------------------


def test_sign_rule_and_nan_is_flat():
    s = pd.Series([0.3, -0.1, 0.0, np.nan], index=_dates(4))
    np.testing.assert_array_equal(signal_positions(s, "sign").to_numpy(), [1.0, -1.0, 0.0, 0.0])


def test_threshold_rule_is_flat_inside_the_band():
    s = pd.Series([0.3, -0.1, 0.05, -0.2, 0.2], index=_dates(5))
    pos = signal_positions(s, "threshold", threshold=0.2)
    np.testing.assert_array_equal(pos.to_numpy(), [1.0, 0.0, 0.0, -1.0, 1.0])


def test_vol_scaled_rule_divides_scales_and_caps():
    s = pd.Series([0.01, -0.02, 0.03, 0.01], index=_dates(4))
    vol = pd.Series([0.02, 0.01, 0.01, np.nan], index=_dates(4))
    pos = signal_positions(s, "vol_scaled", vol=vol, scale=0.5, cap=1.0)
    np.testing.assert_allclose(pos.to_numpy(), [0.25, -1.0, 1.0, 0.0])  # -1.0 and 1.5 hit the cap


def test_cap_applies_to_sign_rule_and_long_only_drops_shorts():
    s = pd.Series([0.3, -0.1], index=_dates(2))
    np.testing.assert_array_equal(signal_positions(s, "sign", cap=0.5).to_numpy(), [0.5, -0.5])
    np.testing.assert_array_equal(signal_positions(s, "sign", long_only=True).to_numpy(), [1.0, 0.0])


def test_rule_errors():
    s = pd.Series([0.1], index=_dates(1))
    with pytest.raises(ConfigError, match="unknown position rule"):
        signal_positions(s, "magic")
    with pytest.raises(ConfigError, match="needs vol"):
        signal_positions(s, "vol_scaled")
    with pytest.raises(DataError, match="vol must be > 0"):
        signal_positions(s, "vol_scaled", vol=pd.Series([0.0], index=_dates(1)))


def test_trailing_vol_uses_only_past_bars():
    r = pd.Series(np.random.default_rng(0).normal(size=50), index=_dates(50))
    vol = trailing_vol(r, 10)
    assert vol.iloc[:9].isna().all()
    assert vol.iloc[20] == pytest.approx(r.iloc[11:21].std())
    changed = r.copy()
    changed.iloc[30:] += 5.0
    pd.testing.assert_series_equal(trailing_vol(changed, 10).iloc[:30], vol.iloc[:30])


# ---- cross-sectional ---------------------------------------------------------------------------


def test_cross_sectional_long_short_weights():
    sig = pd.DataFrame([[0.5, 0.1, -0.3, 0.2, -0.9]], index=_dates(1), columns=list("ABCDE"))
    w = cross_sectional_positions(sig, k=2).iloc[0]
    np.testing.assert_allclose(w.to_numpy(), [0.25, 0.0, -0.25, 0.25, -0.25])
    assert w.sum() == pytest.approx(0.0) and w.abs().sum() == pytest.approx(1.0)


def test_cross_sectional_long_only():
    sig = pd.DataFrame([[0.5, 0.1, -0.3, 0.2]], index=_dates(1), columns=list("ABCD"))
    w = cross_sectional_positions(sig, k=2, long_only=True).iloc[0]
    np.testing.assert_allclose(w.to_numpy(), [0.5, 0.0, 0.0, 0.5])


def test_cross_sectional_too_few_valid_tickers_is_flat():
    sig = pd.DataFrame([[0.5, np.nan, -0.3, np.nan], [0.5, 0.4, -0.3, 0.1]], index=_dates(2),
                       columns=list("ABCD"))
    w = cross_sectional_positions(sig, k=2)
    assert (w.iloc[0] == 0).all()  # 2 valid < 2k = 4
    np.testing.assert_allclose(w.iloc[1].to_numpy(), [0.25, 0.25, -0.25, -0.25])
    lo = cross_sectional_positions(sig, k=2, long_only=True)
    np.testing.assert_allclose(lo.iloc[0].to_numpy(), [0.5, 0.0, 0.5, 0.0])  # 2 valid >= k


def test_cross_sectional_ties_share_the_boundary_slot():
    # B, C, D tie for the second long slot: each gets a third of it; shorts E and F are clear.
    sig = pd.DataFrame([[0.9, 0.5, 0.5, 0.5, -1.0, -2.0]], index=_dates(1), columns=list("ABCDEF"))
    w = cross_sectional_positions(sig, k=2).iloc[0]
    np.testing.assert_allclose(w.to_numpy(), [0.25, 0.25 / 3, 0.25 / 3, 0.25 / 3, -0.25, -0.25])
    assert w.sum() == pytest.approx(0.0) and w.abs().sum() == pytest.approx(1.0)
    # Independent of column order.
    shuffled = cross_sectional_positions(sig[list("DFBAEC")], k=2).iloc[0]
    pd.testing.assert_series_equal(shuffled[list("ABCDEF")], w)


def test_cross_sectional_identical_signals_give_no_position():
    sig = pd.DataFrame([[0.0] * 6], index=_dates(1), columns=list("ABCDEF"))
    assert (cross_sectional_positions(sig, k=2) == 0).all().all()


def test_cross_sectional_bad_k():
    with pytest.raises(ConfigError, match="positive integer"):
        cross_sectional_positions(pd.DataFrame([[1.0]]), k=0)


def test_buy_and_hold_weights():
    d = _dates(3)
    assert (buy_and_hold(d, ["SPY"]) == 1.0).all().all()
    np.testing.assert_allclose(buy_and_hold(d, ["A", "B", "C", "D"]).to_numpy(), 0.25)


# ---- backtest --------------------------------------------------------------------------------


def test_position_earns_the_next_bar_not_the_current_one():
    """A position that 'knows' today's return (long on up days, short on down days) must earn
    nothing from it: it earns the next bar's return."""
    d = _dates(6)
    r = pd.DataFrame({"X": [0.0, 0.02, -0.01, 0.03, -0.02, 0.01]}, index=d)
    cheat = np.sign(r)  # decided at the close of the bar whose return it already knows
    res = backtest(cheat, r)
    expected = np.sign(r["X"]).shift(1) * np.expm1(r["X"])  # held over the NEXT bar
    np.testing.assert_allclose(res["gross_return"].to_numpy(), expected.iloc[1:].to_numpy())
    # Versus the lookahead P&L it would have had if positions earned their own bar:
    assert res["gross_return"].sum() < np.expm1(r["X"].abs()).iloc[1:].sum()
    assert list(res.index) == list(d[1:])


def test_buy_and_hold_equity_matches_the_price_path():
    rng = np.random.default_rng(1)
    d = _dates(40)
    r = pd.DataFrame({"X": rng.normal(0, 0.01, 40)}, index=d)
    res = backtest(buy_and_hold(d, ["X"]), r)
    price = np.exp(r["X"].cumsum())
    np.testing.assert_allclose(res["equity"].to_numpy(), (price / price.iloc[0]).iloc[1:].to_numpy())
    assert res["turnover"].iloc[0] == 1.0 and (res["turnover"].iloc[1:] == 0).all()


def test_costs_and_slippage_known_answer():
    d = _dates(5)
    r = pd.DataFrame({"A": [0.0, 0.01, 0.02, -0.01, 0.0], "B": [0.0, -0.02, 0.01, 0.0, 0.03]}, index=d)
    w = pd.DataFrame({"A": [0.5, -0.5, -0.5, 0.0], "B": [0.5, 0.5, 0.0, 1.0]}, index=d[:4])
    res = backtest(w, r, cost_bps=10, slippage_bps=5)
    # trades at closes d0..d3: entry |0.5|+|0.5| = 1; |−1|+0 = 1; 0+|−0.5| = 0.5; |0.5|+|1| = 1.5
    np.testing.assert_allclose(res["turnover"].to_numpy(), [1.0, 1.0, 0.5, 1.5])
    np.testing.assert_allclose(res["cost"].to_numpy(), np.array([1.0, 1.0, 0.5, 1.5]) * 15e-4)
    simple = np.expm1(r.to_numpy())
    gross = [0.5 * simple[1, 0] + 0.5 * simple[1, 1], -0.5 * simple[2, 0] + 0.5 * simple[2, 1],
             -0.5 * simple[3, 0], simple[4, 1]]
    np.testing.assert_allclose(res["gross_return"].to_numpy(), gross)
    np.testing.assert_allclose(res["net_return"].to_numpy(), np.array(gross) - res["cost"].to_numpy())
    np.testing.assert_allclose(res["gross_exposure"].to_numpy(), [1.0, 1.0, 0.5, 1.0])
    np.testing.assert_allclose(res["equity"].to_numpy(), np.cumprod(1 + res["net_return"].to_numpy()))


def test_flat_book_costs_nothing_and_missing_returns_earn_nothing():
    d = _dates(4)
    r = pd.DataFrame({"A": [0.0, np.nan, 0.02, 0.01]}, index=d)
    res = backtest(pd.DataFrame({"A": [1.0, 1.0, 1.0]}, index=d[:3]), r, cost_bps=10)
    np.testing.assert_allclose(res["gross_return"].to_numpy(), [0.0, np.expm1(0.02), np.expm1(0.01)])
    zero = backtest(pd.DataFrame({"A": [0.0, 0.0]}, index=d[:2]), r, cost_bps=10)
    assert (zero[["gross_return", "cost", "turnover"]] == 0).all().all()


def test_backtest_input_errors():
    d = _dates(3)
    r = pd.DataFrame({"A": [0.0, 0.01, 0.02]}, index=d)
    with pytest.raises(DataError, match="no returns"):
        backtest(pd.DataFrame({"B": [1.0]}, index=d[:1]), r)
    with pytest.raises(DataError, match="not a bar"):
        backtest(pd.DataFrame({"A": [1.0]}, index=[pd.Timestamp("1990-01-01")]), r)
    with pytest.raises(ConfigError, match="cost_bps"):
        backtest(pd.DataFrame({"A": [1.0]}, index=d[:1]), r, cost_bps=-1)
