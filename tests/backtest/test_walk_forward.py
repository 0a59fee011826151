"""Walk-forward engine: fold layout, leakage per fold, stitching, warm starts, resume, engines."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from qseq.backtest import walk_forward as wf_module
from qseq.backtest.folds import WalkForwardConfig, fold_windows, make_folds
from qseq.backtest.walk_forward import WalkForwardSpec, run_walk_forward
from qseq.config import ForecastConfig
from qseq.data.sources import load_prices
from qseq.data.windows import StandardScaler, make_windows, rows_covered
from qseq.errors import ConfigError, DataError
from qseq.train import TrainConfig


@pytest.fixture(scope="module")
def spy() -> pd.DataFrame:
    return load_prices("SPY", start="2013-01-01", offline=True)


def tiny_spec(**over) -> WalkForwardSpec:
    folds = over.pop("folds", WalkForwardConfig(train_bars=600, test_bars=150, val_frac=0.1))
    base = dict(model="gru", lookback=8, horizons=(1, 2, 3), hidden_size=4, num_layers=1,
                features=("log_return", "log_volume_change"), train=TrainConfig(epochs=1, batch_size=128),
                folds=folds, baselines=("random_walk", "ar"), permutation_repeats=1, seed=3)
    base.update(over)
    forecast = {k: base.pop(k) for k in list(base) if k in ForecastConfig.__dataclass_fields__}
    return WalkForwardSpec(forecast=ForecastConfig(**forecast), **base)


def test_fold_layout_known_answer():
    dates = pd.bdate_range("2020-01-01", periods=100)
    cfg = WalkForwardConfig(train_bars=50, test_bars=10, purge=3, embargo=2)
    folds = make_folds(dates, cfg, max_horizon=3)
    assert [(f.test_start, f.test_end) for f in folds] == [(55, 64), (65, 74), (75, 84), (85, 94), (95, 99)]
    assert [f.train_end for f in folds] == [49, 59, 69, 79, 89]
    assert all(f.train_start == 0 for f in folds)
    rolling = make_folds(dates, WalkForwardConfig(train_window="rolling", train_bars=50, test_bars=10,
                                                  purge=3), max_horizon=3)
    assert [(f.train_start, f.train_end) for f in rolling][:2] == [(0, 49), (10, 59)]
    last_two = make_folds(dates, WalkForwardConfig(train_bars=50, test_bars=10, max_folds=2), 3)
    assert [f.test_start for f in last_two] == [83, 93]


def test_calendar_year_folds_refit_on_each_years_first_bar():
    dates = pd.bdate_range("2015-06-01", "2018-12-31")
    cfg = WalkForwardConfig(train_bars=100, test_period="year", first_test="2016-01-01", purge=22)
    folds = make_folds(dates, cfg, max_horizon=22)
    assert [str(f.test_first_date.date()) for f in folds] == [
        "2016-01-01", "2017-01-02", "2018-01-01"]
    assert [str(f.test_last_date.date()) for f in folds] == [
        "2016-12-30", "2017-12-29", "2018-12-31"]
    assert all(f.train_end == f.test_start - 1 - 22 for f in folds)
    # without first_test the first block starts after train_bars + purge, mid-year
    early = make_folds(dates, WalkForwardConfig(train_bars=100, test_period="year"), 22)
    assert early[0].test_start == 122 and str(early[1].test_first_date.date()) == "2016-01-01"
    with pytest.raises(ConfigError, match="test_period"):
        WalkForwardConfig(test_period="week")


def test_purge_shorter_than_horizon_and_too_little_data_are_refused():
    dates = pd.bdate_range("2020-01-01", periods=100)
    with pytest.raises(ConfigError, match="shorter than the longest horizon"):
        make_folds(dates, WalkForwardConfig(train_bars=50, purge=2), max_horizon=5)
    with pytest.raises(DataError, match="no test block"):
        make_folds(dates, WalkForwardConfig(train_bars=200), max_horizon=5)
    with pytest.raises(ConfigError, match="refit"):
        WalkForwardConfig(refit="sometimes")


def test_fold_windows_respect_purge_embargo_and_validation_gap(spy):
    w = make_windows(spy, ("log_return",), 8, (1, 2, 3), require_targets=False)
    dates = pd.DatetimeIndex(np.unique(spy.index.get_level_values("date")))
    cfg = WalkForwardConfig(train_bars=400, test_bars=50, embargo=4, val_frac=0.2)
    for fold in make_folds(dates, cfg, 3)[:4]:
        fw = fold_windows(w, fold, cfg, 3)
        train_last_target = dates.searchsorted(w.row_date[w.anchors[fw.train] + 3]).max()
        val_last_target = dates.searchsorted(w.row_date[w.anchors[fw.val] + 3]).max()
        assert train_last_target < dates.searchsorted(w.row_date[w.anchors[fw.val]]).min()
        assert val_last_target <= fold.test_start - 1 - 4
        test_pos = dates.searchsorted(w.anchor_date[fw.test])
        assert test_pos.min() == fold.test_start and test_pos.max() == fold.test_end


def test_each_fold_is_leakage_free_and_stitched(spy):
    spec = tiny_spec()
    res = run_walk_forward(spy, spec)
    folds = res.folds
    assert len(folds) >= 3
    for _, f in folds.iterrows():
        # no training (or validation) target reaches the test block; the scaler saw training rows only
        assert f["train_last_target"] < f["test_first"]
        assert f["scaler_last_row"] < f["test_first"]
    # the scaler statistics are exactly those of the fold's training rows
    f = spec.forecast
    w = make_windows(spy, f.features, f.lookback, f.horizons, require_targets=False)
    dates = pd.DatetimeIndex(np.unique(spy.index.get_level_values("date")))
    fold = make_folds(dates, spec.folds, 3)[1]
    fw = fold_windows(w, fold, spec.folds, 3)
    expected = StandardScaler().fit(w.values[rows_covered(w.subset(fw.train))])
    np.testing.assert_allclose(folds.loc[1, "scaler_x_mean"], expected.mean_, rtol=1e-12)

    fc = res.forecasts
    assert list(fc.columns) == ["date", "ticker", "horizon", "y_hat", "y_true", "fold", "model"]
    assert set(fc["model"]) == {"gru", "random_walk", "ar"}
    assert not fc.duplicated(["date", "ticker", "horizon", "model"]).any()
    for _, f in folds.iterrows():
        dates_in = fc.loc[fc["fold"] == f["fold"], "date"]
        assert str(dates_in.min().date()) == f["test_first"] and str(dates_in.max().date()) == f["test_last"]
    # y_true is the realised log return h bars after the anchor
    close = spy.xs("SPY", level="ticker")["close"]
    r = np.log(close).diff()
    row = fc[(fc["model"] == "gru") & (fc["horizon"] == 2)].iloc[10]
    assert row["y_true"] == pytest.approx(r.iloc[r.index.get_loc(row["date"]) + 2], rel=1e-5)
    assert (fc.loc[fc["model"] == "random_walk", "y_hat"] == 0).all()
    assert set(res.importance["method"]) == {"permutation"}  # a GRU has no attention


def test_future_perturbation_leaves_earlier_folds_unchanged(spy):
    spec = tiny_spec(baselines=("random_walk",))
    base = run_walk_forward(spy, spec)
    cut = pd.Timestamp(base.folds["test_last"].iloc[1]) + pd.Timedelta(days=1)
    shocked = spy.copy()
    after = shocked.index.get_level_values("date") >= cut
    rng = np.random.default_rng(0)
    factor = np.exp(np.cumsum(rng.normal(0, 0.03, after.sum())))
    for col in ("open", "high", "low", "close"):
        shocked.loc[after, col] = shocked.loc[after, col].to_numpy() * factor
    shocked.loc[after, "volume"] = shocked.loc[after, "volume"].to_numpy() * 3
    moved = run_walk_forward(shocked, spec)
    early = base.forecasts["fold"] <= 1
    cols = ["date", "ticker", "horizon", "y_hat", "fold", "model"]  # y_true of the last anchors is future
    moved_early = moved.forecasts["fold"] <= 1
    pd.testing.assert_frame_equal(base.forecasts.loc[early, cols].reset_index(drop=True),
                                  moved.forecasts.loc[moved_early, cols].reset_index(drop=True))
    late = base.forecasts["fold"] >= 3
    assert not np.allclose(base.forecasts.loc[late, "y_hat"], moved.forecasts.loc[late, "y_hat"])


def test_variance_target_walk_forward_is_leakage_free(sp500):
    """The 22-day mean-variance target reaches 22 bars ahead: a shock to the bars after a fold's
    test block leaves that fold's model, baselines and forecasts unchanged."""
    panel = sp500[(sp500.index.get_level_values("date") >= "2009-01-01")
                  & (sp500.index.get_level_values("date") <= "2012-12-31")]
    spec = tiny_spec(target="variance", proxy="garman_klass", horizons=(1, 5, 22),
                     features=("log_return", "log_garman_klass_var_1", "log_garman_klass_var_5"),
                     baselines=("random_walk", "lhar_log", "gjr_garch"), permutation_repeats=0,
                     folds=WalkForwardConfig(train_bars=400, test_period="year",
                                             first_test="2011-01-01"))
    base = run_walk_forward(panel, spec)
    assert set(base.forecasts["model"]) == {"gru", "random_walk", "lhar_log", "gjr_garch"}
    assert (base.forecasts["y_hat"] > 0).all()
    cut = pd.Timestamp("2012-01-01")
    shocked = panel.copy()
    after = shocked.index.get_level_values("date") >= cut
    for col in ("open", "high", "low", "close"):
        shocked.loc[after, col] *= 1.5
    shocked.loc[after, "high"] *= 1.05  # wider ranges: a different variance after the cut
    moved = run_walk_forward(shocked, spec)
    first = (base.forecasts["fold"] == 0) & (base.forecasts["date"] < cut - pd.Timedelta(days=40))
    cols = ["date", "ticker", "horizon", "y_hat", "y_true", "model"]
    pd.testing.assert_frame_equal(base.forecasts.loc[first, cols].reset_index(drop=True),
                                  moved.forecasts.loc[first, cols].reset_index(drop=True))
    late = base.forecasts["fold"] == 1
    assert not np.allclose(base.forecasts.loc[late, "y_hat"], moved.forecasts.loc[late, "y_hat"])


def test_warm_start_fine_tunes_the_previous_weights(spy):
    cfg = WalkForwardConfig(train_bars=600, test_bars=150, refit="warm", warm_epochs=1)
    res = run_walk_forward(spy, tiny_spec(folds=cfg, train=TrainConfig(epochs=3, batch_size=128)))
    info = res.folds
    assert not info["warm_start"].iloc[0] and info["warm_start"].iloc[1:].all()
    assert info["epochs_run"].iloc[0] == 3 and (info["epochs_run"].iloc[1:] == 1).all()
    full = run_walk_forward(spy, tiny_spec(train=TrainConfig(epochs=3, batch_size=128)))
    first = res.forecasts["fold"] == 0
    # fold 0 is identical; later folds differ because they start from fold 0's weights
    np.testing.assert_array_equal(res.forecasts.loc[first, "y_hat"], full.forecasts.loc[first, "y_hat"])
    later = (res.forecasts["fold"] == 1) & (res.forecasts["model"] == "gru")
    assert not np.allclose(res.forecasts.loc[later, "y_hat"], full.forecasts.loc[later, "y_hat"])


def test_warm_bars_fine_tune_on_recent_windows_with_scalers_on_all(spy):
    cfg = WalkForwardConfig(train_bars=600, test_bars=150, refit="warm", warm_epochs=1,
                            warm_bars=100, val_frac=0.0)
    res = run_walk_forward(spy, tiny_spec(folds=cfg, baselines=()))
    info = res.folds
    assert info["n_fit"].iloc[0] == info["n_train"].iloc[0]  # the first fit sees everything
    later = info.iloc[1:]
    assert (later["n_fit"] <= 100).all() and (later["n_fit"] >= 90).all()
    assert (later["n_train"] > 600).all()
    # the scalers still see every training row: same statistics as an all-window warm start
    whole = run_walk_forward(spy, tiny_spec(folds=WalkForwardConfig(
        train_bars=600, test_bars=150, refit="warm", warm_epochs=1, val_frac=0.0), baselines=()))
    assert info["scaler_x_mean"].tolist() == whole.folds["scaler_x_mean"].tolist()
    assert (whole.folds["n_fit"] == whole.folds["n_train"]).all()
    with pytest.raises(ConfigError, match="warm_bars must be a positive integer"):
        WalkForwardConfig(refit="warm", warm_bars=0)


def test_interrupted_run_resumes_finished_folds_with_identical_results(spy, tmp_path, monkeypatch):
    spec = tiny_spec(baselines=("random_walk",))
    reference = run_walk_forward(spy, spec)
    real = wf_module.run_fold
    calls = []

    def crash_on_fold_2(fold, *args, **kwargs):
        if fold.index == 2:
            raise KeyboardInterrupt
        calls.append(fold.index)
        return real(fold, *args, **kwargs)

    monkeypatch.setattr(wf_module, "run_fold", crash_on_fold_2)
    with pytest.raises(KeyboardInterrupt):
        run_walk_forward(spy, spec, work_dir=tmp_path)
    assert calls == [0, 1]

    def counting(fold, *args, **kwargs):
        calls.append(fold.index)
        return real(fold, *args, **kwargs)

    calls.clear()
    monkeypatch.setattr(wf_module, "run_fold", counting)
    resumed = run_walk_forward(spy, spec, work_dir=tmp_path)
    assert calls[0] == 2 and 0 not in calls and 1 not in calls
    pd.testing.assert_frame_equal(reference.forecasts, resumed.forecasts, check_dtype=False)
    # a changed spec does not reuse the old folds
    calls.clear()
    run_walk_forward(spy, tiny_spec(baselines=("random_walk",), seed=4), work_dir=tmp_path)
    assert calls[:2] == [0, 1]


def test_attention_models_report_feature_and_temporal_attention(spy):
    spec = tiny_spec(model="da_rnn", features=("log_return", "log_volume_change", "parkinson_vol"),
                     future_features=("day_of_week", "gap_days"),  # calendar inputs to the decoder
                     baselines=(), folds=WalkForwardConfig(train_bars=600, test_bars=300, max_folds=2))
    res = run_walk_forward(spy, spec)
    assert res.forecasts["y_hat"].notna().all()
    assert set(res.importance["method"]) == {"attention", "permutation"}
    att = res.importance[res.importance["method"] == "attention"]
    assert set(att["feature"]) == set(spec.forecast.features)
    np.testing.assert_allclose(att.groupby("fold")["value"].sum(), 1.0, rtol=1e-5)
    heat = res.heatmap
    assert set(heat["lag"]) == set(range(spec.forecast.lookback)) and set(heat["horizon"]) == {1, 2, 3}
    np.testing.assert_allclose(heat.groupby(["fold", "horizon"])["weight"].sum(), 1.0, rtol=1e-5)


def test_parallel_engines_submit_the_longest_folds_first():
    dates = pd.bdate_range("2020-01-01", periods=100)
    folds = make_folds(dates, WalkForwardConfig(train_bars=50, test_bars=10, purge=3), max_horizon=3)
    tasks = [wf_module.Task("panel", ("A", "B"), (f.index,)) for f in folds]
    assert wf_module.largest_first(tasks, folds) == [4, 3, 2, 1, 0]  # expanding: later is longer
    rolling = make_folds(dates, WalkForwardConfig(train_window="rolling", train_bars=50,
                                                  test_bars=10, purge=3), max_horizon=3)
    assert wf_module.largest_first(tasks, rolling) == [0, 1, 2, 3, 4]  # equal sizes keep order


def test_process_pool_gives_the_same_results(spy):
    spec = tiny_spec(baselines=("random_walk",), threads=1,
                     folds=WalkForwardConfig(train_bars=600, test_bars=300))
    local = run_walk_forward(spy, spec)
    pooled = run_walk_forward(spy, spec, workers=2)
    pd.testing.assert_frame_equal(local.forecasts, pooled.forecasts)


def test_pool_workers_share_the_cpus(spy, monkeypatch):
    """threads=0 in a pool: each worker gets an equal share of the CPUs, never torch's default
    of all of them per worker (2 workers x all cores oversubscribes the machine)."""
    from qseq import runtime

    monkeypatch.setattr(runtime, "busy_besides_us", lambda: 0)  # an idle host, whatever it is now
    spec = tiny_spec(baselines=("random_walk",), threads=0,
                     folds=WalkForwardConfig(train_bars=600, test_bars=300))
    pooled = run_walk_forward(spy, spec, workers=2)
    assert pooled.timings["workers"] == 2
    assert (pooled.folds["threads"] == max(1, wf_module.usable_cpus() // 2)).all()
    local = run_walk_forward(spy, spec)
    # in this process each fit takes qseq's policy: the cores free right now (all, when idle)
    assert (local.folds["threads"] == runtime.default_threads()).all()
    np.testing.assert_allclose(local.forecasts["y_hat"], pooled.forecasts["y_hat"], rtol=1e-4, atol=1e-7)


def test_auto_workers_one_per_cpu_at_most_one_per_task(monkeypatch):
    monkeypatch.setattr(wf_module, "usable_cpus", lambda: 4)
    assert wf_module.resolve_workers("auto", 10) == 4
    assert wf_module.resolve_workers("auto", 3) == 3
    assert wf_module.resolve_workers("auto", 1) == 1  # one task: run it here, no pool
    assert wf_module.resolve_workers(2, 1) == 2


def test_usable_cpus_follows_the_affinity_mask_then_the_cpu_count(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert wf_module.usable_cpus() == 3  # a cpuset-limited container, not the machine's total
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert wf_module.usable_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert wf_module.usable_cpus() == 1


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True])
def test_bad_worker_counts_name_the_fix(bad):
    with pytest.raises(ConfigError, match="workers must be an integer >= 1 or 'auto'"):
        run_walk_forward(pd.DataFrame(), tiny_spec(), workers=bad)


def test_bad_engine_and_workers():
    with pytest.raises(ConfigError, match="unknown engine"):
        run_walk_forward(pd.DataFrame(), tiny_spec(), engine="spark")
    with pytest.raises(ConfigError, match="baselines"):
        tiny_spec(baselines=("har",))


def test_cross_validation_on_the_facade_equals_the_engine_and_evaluates_without_a_spec(spy):
    """Forecaster.cross_validation / qseq.walk_forward take the forecaster's own config; the
    result scores with evaluate() and a report is written from it, no pipeline spec needed."""
    import qseq
    from qseq.backtest.evaluate import evaluate
    from qseq.backtest.report import write_report
    from qseq.config import CostsConfig
    from qseq.forecaster import Forecaster

    spec = tiny_spec(baselines=("random_walk",), permutation_repeats=0)
    forecaster = Forecaster(spec.forecast)
    via_facade = forecaster.cross_validation(spy, folds=spec.folds, baselines=spec.baselines)
    via_function = qseq.walk_forward(forecaster, spy, folds=spec.folds, baselines=spec.baselines)
    via_engine = run_walk_forward(spy, spec)
    pd.testing.assert_frame_equal(via_facade.forecasts, via_engine.forecasts)
    pd.testing.assert_frame_equal(via_function.forecasts, via_engine.forecasts)
    assert not hasattr(forecaster, "model_")  # cross-validation leaves the estimator unfitted
    assert list(via_facade.forecasts.columns) == ["date", "ticker", "horizon", "y_hat", "y_true",
                                                  "fold", "model"]
    ev = evaluate(via_facade, spy, costs=CostsConfig(bps=5.0))
    assert ev.model == "gru" and set(ev.metrics["model"]) >= {"gru", "random_walk", "buy_and_hold"}
    cheap = evaluate(via_facade.forecasts, spy, costs=CostsConfig(bps=0.0))  # a bare tidy frame

    def total(e):
        m = e.metrics
        return m[(m["kind"] == "strategy") & (m["metric"] == "total_return") & (m["model"] == "gru")
                 ]["value"].iloc[0]

    assert total(cheap) > total(ev)  # same positions, lower costs
    with pytest.raises(ConfigError, match="not in the forecasts"):
        evaluate(via_facade, spy, model="lstm")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        page = write_report(f"{tmp}/r.html", via_facade, ev, notes=["<b>escaped</b>"]).read_text()
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page and "fig-equity" in page


def test_cross_sectional_baselines_and_excess_target():
    """Market-neutral targets with reversal / momentum signals and a pooled ridge on the model's
    own inputs: every model is scored by daily cross-sectional rank IC."""
    import qseq
    from qseq.data import bundled

    stocks5 = bundled.load_dataset("stocks5")
    panel = stocks5[stocks5.index.get_level_values("date") >= "2009-01-01"]
    spec = tiny_spec(target="excess_cum_log_return", horizons=(1, 5),
                     features=("excess_return", "excess_return_5", "log_volume_change"),
                     baselines=("random_walk", "reversal_1", "reversal_5", "momentum_20", "ridge"),
                     permutation_repeats=0,
                     folds=WalkForwardConfig(train_bars=600, test_bars=200, val_frac=0.15))
    res = run_walk_forward(panel, spec)
    fc = res.forecasts
    assert set(fc["model"]) == {"gru", "random_walk", "reversal_1", "reversal_5", "momentum_20", "ridge"}
    truth = fc[(fc["model"] == "gru") & (fc["horizon"] == 5)].groupby("date")["y_true"]
    full = truth.count() == 5  # dates where every ticker has a window
    assert full.sum() > 100
    np.testing.assert_allclose(truth.sum()[full].to_numpy(), 0.0, atol=1e-6)  # market-neutral
    assert fc.loc[fc["model"] == "ridge", "y_hat"].notna().all()
    rev = fc[(fc["model"] == "reversal_1") & (fc["horizon"] == 1)].iloc[0]
    close = panel.xs(rev["ticker"], level="ticker")["close"]
    assert rev["y_hat"] == pytest.approx(-np.log(close.loc[:rev["date"]].iloc[-1]
                                                  / close.loc[:rev["date"]].iloc[-2]))
    ev = qseq.evaluate(res, panel, strategy=qseq.StrategyConfig(kind="cross_sectional", k=1))
    m = ev.metrics
    ranks = m[(m["kind"] == "forecast") & (m["metric"] == "rank_ic_t")]
    assert set(ranks["model"]) >= {"gru", "reversal_5", "ridge"}
    with pytest.raises(ConfigError, match="ar baseline"):
        tiny_spec(target="excess_log_return", baselines=("ar",))


@pytest.fixture(scope="module")
def indices() -> pd.DataFrame:
    """^GSPC and ^IXIC, 2009-2012: two series for a pooled model."""
    return load_prices(["^GSPC", "^IXIC"], start="2009-01-01", end="2012-12-31", offline=True)


def _variance_spec(**folds) -> WalkForwardSpec:
    return tiny_spec(target="variance", proxy="parkinson", horizons=(1, 5),
                     features=("log_return", "log_parkinson_var_1", "log_parkinson_var_5"),
                     baselines=("random_walk", "lhar_log"), permutation_repeats=0,
                     folds=WalkForwardConfig(train_bars=400, test_period="year",
                                             first_test="2011-01-01", **folds))


def test_score_tickers_forecast_one_ticker_of_a_pooled_model(indices):
    """The other tickers only train the panel model: the scored ticker's forecasts are exactly
    the unrestricted run's, and nothing is forecast or scored for the others."""
    every = run_walk_forward(indices, _variance_spec())
    scored = run_walk_forward(indices, _variance_spec(score_tickers="^gspc"))
    assert scored.spec.folds.score_tickers == ("^GSPC",)
    assert set(every.forecasts["ticker"]) == {"^GSPC", "^IXIC"}
    assert set(scored.forecasts["ticker"]) == {"^GSPC"}
    assert set(scored.forecasts["model"]) == {"gru", "random_walk", "lhar_log"}
    want = every.forecasts[every.forecasts["ticker"] == "^GSPC"].reset_index(drop=True)
    pd.testing.assert_frame_equal(scored.forecasts.reset_index(drop=True), want)
    # and the pooled model is not the ^GSPC-only one
    alone = run_walk_forward(indices.xs("^GSPC", level="ticker", drop_level=False), _variance_spec())
    gru = alone.forecasts["model"] == "gru"
    assert not np.allclose(alone.forecasts.loc[gru, "y_hat"],
                           scored.forecasts.loc[scored.forecasts["model"] == "gru", "y_hat"])


def test_score_tickers_pooled_model_is_leakage_free(indices):
    """Shock every ticker's bars after 2011 (the unscored one too): the 2011 fold's forecasts of
    the scored ticker are unchanged."""
    spec = _variance_spec(score_tickers=("^GSPC",))
    base = run_walk_forward(indices, spec)
    shocked = indices.copy()
    after = shocked.index.get_level_values("date") >= "2012-01-01"
    rng = np.random.default_rng(5)
    widen = rng.uniform(1.0, 1.5, after.sum())
    shocked.loc[after, "high"] *= widen
    shocked.loc[after, "volume"] *= 2
    moved = run_walk_forward(shocked, spec)
    cut = pd.Timestamp("2011-11-15")  # the 5-bar targets of later anchors see 2012
    early = (base.forecasts["fold"] == 0) & (base.forecasts["date"] < cut)
    cols = ["date", "ticker", "horizon", "y_hat", "y_true", "model"]
    pd.testing.assert_frame_equal(base.forecasts.loc[early, cols].reset_index(drop=True),
                                  moved.forecasts.loc[early, cols].reset_index(drop=True))
    late = base.forecasts["fold"] == 1
    assert not np.allclose(base.forecasts.loc[late, "y_hat"], moved.forecasts.loc[late, "y_hat"])


def test_score_tickers_per_ticker_trains_only_scored_tickers(indices):
    res = run_walk_forward(indices, tiny_spec(
        per_ticker=True, baselines=("random_walk",), permutation_repeats=0,
        folds=WalkForwardConfig(train_bars=600, test_bars=200, score_tickers=("^IXIC",))))
    assert set(res.folds["group"]) == {"^IXIC"}
    assert set(res.forecasts["ticker"]) == {"^IXIC"}


def test_bad_score_tickers_name_the_problem(indices):
    with pytest.raises(DataError, match=r"score_tickers \['SPY'\] are not in the data"):
        run_walk_forward(indices, _variance_spec(score_tickers=("SPY",)))
    with pytest.raises(ConfigError, match="walk_forward.score_tickers: invalid ticker '../x'"):
        WalkForwardConfig(score_tickers=("../x",))
    assert WalkForwardConfig(score_tickers="spy, ^gspc").score_tickers == ("SPY", "^GSPC")
    assert WalkForwardConfig(score_tickers="").score_tickers == ()  # the CLI's empty value
