"""Forecast metrics, strategy metrics and the Diebold-Mariano test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from qseq.errors import DataError
from qseq.metrics import diebold_mariano, forecast_metrics, qlike, strategy_metrics


def _frame(y_hat, y_true, dates=None, tickers=None, horizon=1, fold=None) -> pd.DataFrame:
    n = len(y_hat)
    return pd.DataFrame({
        "date": pd.bdate_range("2021-01-01", periods=n) if dates is None else dates,
        "ticker": ["X"] * n if tickers is None else tickers,
        "horizon": horizon,
        "y_hat": np.asarray(y_hat, dtype=float),
        "y_true": np.asarray(y_true, dtype=float),
        "fold": np.zeros(n, dtype=int) if fold is None else fold,
    })


# ---- forecast metrics ------------------------------------------------------------------------


def test_mse_mae_and_directional_known_answer():
    y_true = [0.01, -0.02, 0.03, -0.01, 0.0, 0.02]
    y_hat = [0.02, -0.01, -0.01, 0.01, 0.05, 0.0]
    m = forecast_metrics(_frame(y_hat, y_true)).loc[1]
    err = np.subtract(y_hat, y_true)
    assert m["n"] == 6
    assert m["mse"] == pytest.approx(np.mean(err**2))
    assert m["mae"] == pytest.approx(np.mean(np.abs(err)))
    # non-zero outcomes: 5; right signs: rows 0 and 1 (row 5 forecasts 0 -> wrong)
    assert m["dir_n"] == 5 and m["dir_acc"] == pytest.approx(2 / 5)
    assert m["dir_pvalue"] == pytest.approx(stats.binomtest(2, 5).pvalue)


def test_a_zero_forecast_takes_no_side():
    """The random walk forecasts 0: directional accuracy does not apply (NaN, shown as n/a),
    rather than 0%."""
    m = forecast_metrics(_frame([0.0] * 6, [0.01, -0.02, 0.03, -0.01, 0.0, 0.02])).loc[1]
    assert m["dir_n"] == 5
    assert all(np.isnan(m[c]) for c in ("dir_acc", "dir_ci_low", "dir_ci_high", "dir_pvalue"))


def test_skill_table_compares_with_the_naive_forecast():
    from qseq.metrics import skill_table

    rng = np.random.default_rng(0)
    y_true = rng.normal(0, 0.01, 300)
    good = y_true + rng.normal(0, 0.002, 300)  # a forecast that knows most of the outcome
    table = skill_table(_frame(good, y_true), np.zeros(300))
    assert list(table.index) == ["1", "all"]
    row = table.loc["1"]
    assert row["baseline_mse"] == pytest.approx(np.mean(y_true**2))
    assert row["mse_ratio"] == pytest.approx(row["mse"] / row["baseline_mse"]) and row["mse_ratio"] < 0.1
    assert row["dm_stat"] < 0 and row["dm_pvalue"] < 1e-6
    assert row["dir_ci_low"] > 0.5


def test_directional_wilson_interval_matches_formula():
    rng = np.random.default_rng(3)
    y_true = rng.normal(size=400)
    y_hat = np.where(rng.random(400) < 0.6, y_true, -y_true)  # 60% right by construction
    m = forecast_metrics(_frame(y_hat, y_true)).loc[1]
    k, n, z = m["dir_acc"] * 400, 400, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert m["dir_ci_low"] == pytest.approx(centre - half)
    assert m["dir_ci_high"] == pytest.approx(centre + half)
    assert m["dir_ci_low"] > 0.5 and m["dir_pvalue"] < 1e-3


def test_one_ticker_gets_a_per_fold_time_series_correlation_named_as_such():
    rng = np.random.default_rng(4)
    n = 90
    y_true = rng.normal(size=n)
    y_hat = y_true + rng.normal(size=n)
    fold = np.repeat([0, 1, 2], 30)
    m = forecast_metrics(_frame(y_hat, y_true, fold=fold)).loc[1]
    ics = [np.corrcoef(y_hat[fold == f], y_true[fold == f])[0, 1] for f in range(3)]
    rics = [stats.spearmanr(y_hat[fold == f], y_true[fold == f])[0] for f in range(3)]
    assert "ic" not in m.index and "rank_ic" not in m.index  # not a cross-sectional IC
    assert m["fold_corr_periods"] == 3
    assert m["fold_corr"] == pytest.approx(np.mean(ics))
    assert m["fold_corr_ir"] == pytest.approx(np.mean(ics) / np.std(ics, ddof=1))
    assert m["fold_rank_corr"] == pytest.approx(np.mean(rics))
    assert m["fold_rank_corr_ir"] == pytest.approx(np.mean(rics) / np.std(rics, ddof=1))


def test_cross_sectional_ic_per_date_with_two_horizons():
    rng = np.random.default_rng(5)
    dates = np.repeat(pd.bdate_range("2021-01-01", periods=20), 8)
    tickers = np.tile(list("ABCDEFGH"), 20)
    y_true = rng.normal(size=160)
    y_hat = np.where(np.arange(160) % 3 == 0, rng.normal(size=160), y_true)  # two thirds informative
    frames = [_frame(y_hat, y_true, dates=dates, tickers=tickers, horizon=1),
              _frame(-y_hat, y_true, dates=dates, tickers=tickers, horizon=5)]
    m = forecast_metrics(pd.concat(frames))
    per_date = [stats.spearmanr(y_hat[dates == d], y_true[dates == d])[0] for d in np.unique(dates)]
    assert m.loc[1, "ic_periods"] == 20
    # Newey-West t of the mean daily IC: with horizon 1 and 20 dates, 4 * (0.2)^(2/9) -> 2 lags
    from qseq.metrics import newey_west_variance

    daily = np.asarray(per_date, dtype=float)
    expected_t = daily.mean() / np.sqrt(newey_west_variance(daily, 2) / len(daily))
    assert m.loc[1, "rank_ic_t"] == pytest.approx(expected_t)
    assert m.loc[1, "rank_ic"] == pytest.approx(np.mean(per_date))
    assert m.loc[5, "rank_ic"] == pytest.approx(-np.mean(per_date))
    assert list(m.index) == [1, 5]


def test_qlike_known_answer_and_guards():
    y = np.array([0.01, 0.02, 0.015])
    f = np.array([0.01, 0.01, 0.03])
    ratio = (y / f) ** 2
    assert qlike(y, f) == pytest.approx(np.mean(ratio - np.log(ratio) - 1))
    assert qlike(y, y) == pytest.approx(0.0)
    assert qlike(np.array([0.0, 0.01]), np.array([0.02, 0.01])) == pytest.approx(0.0)  # zero RV left out
    with pytest.raises(DataError, match="positive volatility forecasts"):
        qlike(y, np.array([0.01, -0.01, 0.02]))


def test_qlike_on_variances_and_a_dm_test_on_qlike():
    from qseq.metrics import dm_test, target_losses

    v = np.array([1e-4, 4e-4, 2.25e-4])
    f = np.array([1e-4, 1e-4, 9e-4])
    assert qlike(v, f, variance=True) == pytest.approx(qlike(np.sqrt(v), np.sqrt(f)))
    np.testing.assert_allclose(target_losses(v, f, "variance"),
                               v / f - np.log(v / f) - 1)
    np.testing.assert_allclose(target_losses(v, f, "log_return"), (f - v) ** 2)
    with pytest.raises(DataError, match="positive variance forecasts"):
        qlike(v, -f, variance=True)
    # QLIKE prefers the forecast that is right in ratio even where squared error does not
    rng = np.random.default_rng(0)
    truth = np.exp(rng.normal(np.log(1e-4), 1.0, 600))
    noisy = truth * rng.chisquare(1, 600)  # a realized proxy: truth times chi2(1) noise
    good, flat = truth, np.full(600, noisy.mean())
    res = diebold_mariano(noisy, good, flat, loss="qlike")
    assert res.statistic < 0 and res.p_value < 0.01
    d = target_losses(noisy, good, "variance") - target_losses(noisy, flat, "variance")
    assert dm_test(d).statistic == pytest.approx(res.statistic)


def test_forecast_metrics_for_vol_target_reports_qlike():
    y = np.array([0.01, 0.02, 0.015, 0.012])
    m = forecast_metrics(_frame(y * 1.1, y), target="realized_vol").loc[1]
    assert m["qlike"] == pytest.approx(qlike(y, y * 1.1))
    assert "dir_acc" not in m.index


def test_forecast_metrics_rejects_missing_columns():
    with pytest.raises(DataError, match="lacks columns"):
        forecast_metrics(pd.DataFrame({"y_hat": [1.0]}))


# ---- strategy metrics ------------------------------------------------------------------------


def _result(net, exposure=None, turnover=None) -> pd.DataFrame:
    net = np.asarray(net, dtype=float)
    return pd.DataFrame({
        "net_return": net,
        "turnover": np.zeros(net.size) if turnover is None else turnover,
        "gross_exposure": np.ones(net.size) if exposure is None else exposure,
    }, index=pd.bdate_range("2021-01-01", periods=net.size))


def test_strategy_metrics_known_answers():
    net = np.array([0.10, -0.20, 0.05, 0.0, 0.10])
    m = strategy_metrics(_result(net, exposure=[1, 1, 1, 0, 1], turnover=[1.0, 0, 0.5, 0, 0]),
                         periods_per_year=252)
    equity = np.cumprod(1 + net)  # 1.1, 0.88, 0.924, 0.924, 1.0164
    assert m["total_return"] == pytest.approx(equity[-1] - 1)
    assert m["ann_return"] == pytest.approx(equity[-1] ** (252 / 5) - 1)
    assert m["ann_vol"] == pytest.approx(np.std(net, ddof=1) * np.sqrt(252))
    assert m["sharpe"] == pytest.approx(net.mean() / np.std(net, ddof=1) * np.sqrt(252))
    assert m["sortino"] == pytest.approx(net.mean() / np.sqrt(0.04 / 5) * np.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(0.88 / 1.1 - 1)  # -20%
    assert m["calmar"] == pytest.approx(m["ann_return"] / 0.2)
    assert m["turnover"] == pytest.approx(1.5 / 5 * 252)
    assert m["hit_rate"] == pytest.approx(3 / 4)  # the flat bar is not counted
    assert m["n_periods"] == 5


def test_drawdown_counts_a_loss_on_the_first_bar():
    m = strategy_metrics(_result([-0.1, 0.05]))
    assert m["max_drawdown"] == pytest.approx(-0.1)


def test_strategy_metrics_without_losses_or_variance_gives_nan_ratios():
    m = strategy_metrics(_result([0.01, 0.01, 0.01]))
    assert np.isnan(m["sortino"]) and np.isnan(m["sharpe"]) and np.isnan(m["calmar"])
    assert m["max_drawdown"] == 0.0


# ---- Diebold-Mariano -------------------------------------------------------------------------


def _reference_dm(y, a, b, h):
    """Independent recomputation: HAC (Newey-West, h-1 lags) standard error of the mean loss
    differential from a statsmodels OLS on a constant, then the HLN factor."""
    d = (a - y) ** 2 - (b - y) ** 2
    n = d.size
    fit = sm.OLS(d, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": h - 1, "use_correction": False})
    dm = fit.params[0] / fit.bse[0] * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return dm, 2 * stats.t.sf(abs(dm), n - 1)


@pytest.mark.parametrize("h", [1, 3, 5])
def test_dm_matches_independent_recomputation(h):
    rng = np.random.default_rng(h)
    y = rng.normal(size=300)
    a = y + rng.normal(scale=1.0, size=300)
    b = y + np.convolve(rng.normal(size=300 + h), np.ones(h) / h, "valid")[:300] * 1.3
    res = diebold_mariano(y, a, b, horizon=h)
    dm, p = _reference_dm(y, a, b, h)
    assert res.n == 300
    assert res.statistic == pytest.approx(dm, rel=1e-10)
    assert res.p_value == pytest.approx(p, rel=1e-10)


def test_dm_clearly_better_model_is_significant_and_negative():
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    good = y + rng.normal(scale=0.3, size=500)
    res = diebold_mariano(y, good, 0.0, horizon=1)  # vs a zero (random-walk) forecast
    assert res.statistic < 0 and res.p_value < 1e-6
    flipped = diebold_mariano(y, 0.0, good, horizon=1, loss="absolute")
    assert flipped.statistic > 0 and flipped.p_value < 1e-6


def test_dm_identical_noise_is_rarely_significant():
    rejections = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        y = rng.normal(size=250)
        a, b = rng.normal(size=250), rng.normal(size=250)
        rejections += diebold_mariano(y, a, b, horizon=2).p_value < 0.05
    assert rejections <= 6  # about 5% expected; 6/40 leaves room for chance


def test_dm_input_errors():
    with pytest.raises(DataError, match="complete pairs"):
        diebold_mariano(np.ones(3), np.ones(3), np.zeros(3), horizon=5)


def test_skill_verdict_says_plainly_whether_there_is_evidence():
    from qseq.metrics import skill_verdict

    table = pd.DataFrame({"dm_stat": [-3.0, -0.5], "dm_pvalue": [0.01, 0.6],
                          "pt_pvalue": [0.5, 0.6]}, index=["1", "2"])
    # Holm: the smallest p (0.01) is multiplied by 2 tests -> 0.02 < 0.05
    assert skill_verdict(table).startswith("Evidence of skill at 5%: the model beats the random "
                                           "walk in squared error at h=1 (Holm-adjusted DM p 0.02)")
    # at 1% the same evidence is not enough
    assert skill_verdict(table, alpha=0.01).startswith("No evidence of skill at 1%")
    noise = table.assign(dm_stat=[0.4, -0.2], dm_pvalue=[0.7, 0.8])
    verdict = skill_verdict(noise)
    assert verdict.startswith("No evidence of skill at 5%") and "Holm-adjusted DM p 1)" in verdict
    worse = table.assign(dm_stat=[4.0, 0.1], dm_pvalue=[0.001, 0.9])
    assert "significantly worse at h=1" in skill_verdict(worse)
    signs = noise.assign(pt_pvalue=[0.001, 0.6])
    assert "direction beyond the base rates at h=1" in skill_verdict(signs)
    assert skill_verdict(table.assign(dm_pvalue=np.nan)).startswith("Skill cannot be judged")


def test_pesaran_timmermann_known_answers():
    from qseq.metrics import pesaran_timmermann

    rng = np.random.default_rng(1)
    y = rng.normal(0.001, 0.01, 2000)  # a rising market: 54% up days
    # "always up" is right more than half the time but carries no information
    assert np.isnan(pesaran_timmermann(y, np.ones_like(y))[1])
    stat, p = pesaran_timmermann(y, rng.normal(size=2000))  # independent signs
    assert abs(stat) < 3 and p > 0.001
    stat, p = pesaran_timmermann(y, y + rng.normal(0, 0.01, 2000))  # informative signs
    assert stat > 5 and p < 1e-6
    # hand-computed: 4 of 6 right, Py = 1/2, Px = 1/2 -> P* = 1/2 ... n too small: NaN
    assert np.isnan(pesaran_timmermann([1, -1, 1, -1, 1, -1], [1, -1, 1, 1, -1, -1])[0])


def test_newey_west_variance_known_answer():
    from qseq.metrics import newey_west_variance

    d = np.array([1.0, -1.0, 2.0, 0.0, -2.0])
    dc = d - d.mean()
    g0, g1 = dc @ dc / 5, dc[1:] @ dc[:-1] / 5
    assert newey_west_variance(d, 0) == pytest.approx(g0)
    assert newey_west_variance(d, 1) == pytest.approx(g0 + 2 * 0.5 * g1)


def test_volatility_verdict_names_the_loss_and_leaves_out_signs():
    from qseq.metrics import skill_verdict

    table = pd.DataFrame({"dm_stat": [-0.5, 1.0], "dm_pvalue": [0.4, 0.3]}, index=["1", "22"])
    text = skill_verdict(table, baseline="lhar log", loss="QLIKE")
    assert text.startswith("No evidence of skill at 5%: no horizon beats lhar log in QLIKE")
    assert "Pesaran" not in text  # no directional test for a variance forecast
    wins = skill_verdict(table.assign(dm_pvalue=[0.001, 0.3]), baseline="lhar log", loss="QLIKE")
    assert wins == ("Evidence of skill at 5%: the model beats lhar log in QLIKE at h=1 "
                    "(Holm-adjusted DM p 0.002).")


def test_evaluation_verdicts_skip_an_absent_random_walk():
    from qseq.backtest.evaluate import Evaluation

    rows = [("gru", "forecast", "1", "qlike", 0.38, ""), ("lhar_log", "forecast", "1", "qlike", 0.40, ""),
            ("har_log", "forecast", "1", "qlike", 0.42, ""),
            ("gru", "dm", "1", "dm_stat", -3.0, "lhar_log"),
            ("gru", "dm", "1", "dm_pvalue", 0.003, "lhar_log"),
            ("gru", "dm", "1", "dm_stat", -4.0, "har_log"), ("gru", "dm", "1", "dm_pvalue", 0.001, "har_log")]
    metrics = pd.DataFrame(rows, columns=["model", "kind", "horizon", "metric", "value", "benchmark"])
    ev = Evaluation(metrics, pd.DataFrame(), model="gru", target="variance")
    assert ev.strongest_baseline(1) == "lhar_log"
    assert ev.verdicts() == ("Against the strongest baseline at h=1, lhar_log: Evidence of skill at "
                             "5%: the model beats lhar log in QLIKE at h=1 (Holm-adjusted DM p 0.003).")
