"""The Forecaster facade: fit/predict contract, leakage, checkpoints, determinism."""

from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.errors import CheckpointError, ConfigError, DataError, NotFittedError


def _small(**kw) -> qseq.Forecaster:
    params = dict(lookback=16, horizons=3, hidden_size=8, num_layers=1,
                  train=qseq.TrainConfig(epochs=2, batch_size=64), seed=0, device="cpu")
    params.update(kw)
    return qseq.Forecaster(kw.pop("model", "gru"), **{k: v for k, v in params.items() if k != "model"})


@pytest.fixture
def fitted(spx_small):
    return _small().fit(spx_small)


def test_predict_returns_tidy_frame_with_true_future_returns(fitted, spx_small):
    out = fitted.predict(spx_small)
    assert list(out.columns) == ["date", "ticker", "horizon", "y_hat", "y_true"]
    assert set(out["horizon"]) == {1, 2, 3}
    assert (out["ticker"] == "^GSPC").all()
    close = spx_small["close"].droplevel("ticker")
    logret = np.log(close).diff()
    dates = close.index
    row = out[(out["horizon"] == 2)].iloc[10]
    i = dates.get_loc(row["date"])
    assert row["y_true"] == pytest.approx(logret.iloc[i + 2], rel=1e-6)
    # the last bars have no future: y_true NaN, y_hat present
    tail = out[out["date"] == dates[-1]]
    assert tail["y_true"].isna().all() and tail["y_hat"].notna().all()


def test_last_only_gives_one_anchor_per_ticker(fitted, spx_small):
    out = fitted.predict(spx_small, last_only=True)
    assert len(out) == 3 and (out["date"] == spx_small.index.get_level_values("date")[-1]).all()


def test_predictions_are_causal(fitted, spx_small):
    """Perturbing bars after t never changes forecasts made at or before t."""
    base = fitted.predict(spx_small)
    dates = spx_small.index.get_level_values("date")
    for cut in dates[[100, 300, 500]]:
        noisy = spx_small.copy()
        after = (noisy.index.get_level_values("date") > cut)
        noisy.loc[after, ["open", "high", "low", "close"]] *= 1.5
        noisy.loc[after, "volume"] *= 7
        got = fitted.predict(noisy)
        mask = base["date"] <= cut
        assert np.array_equal(base.loc[mask, "y_hat"].to_numpy(), got.loc[mask, "y_hat"].to_numpy())


def test_fit_is_deterministic(spx_small):
    a = _small().fit(spx_small).predict(spx_small)
    b = _small().fit(spx_small).predict(spx_small)
    pd.testing.assert_frame_equal(a, b)


def test_metrics_compare_with_the_random_walk(fitted):
    val = fitted.metrics_["val"]
    assert list(val.index) == ["1", "2", "3", "all"]
    assert {"mse", "baseline_mse", "mse_ratio", "dir_acc"} <= set(val.columns)
    pooled = val.loc["all"]
    assert pooled["mse_ratio"] == pytest.approx(pooled["mse"] / pooled["baseline_mse"])


def test_save_load_predict_identical(fitted, spx_small, tmp_path):
    path = fitted.save(tmp_path / "ckpt")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["qseq_version"] == qseq.__version__
    assert cfg["config"]["features"] == ["log_return", "log_volume_change"] and cfg["tickers"] == ["^GSPC"]
    assert len(cfg["scaler_x"]["mean"]) == 2 and len(cfg["scaler_y"]["std"]) == 3
    loaded = qseq.Forecaster.load(path, device="cpu")
    pd.testing.assert_frame_equal(fitted.predict(spx_small), loaded.predict(spx_small))
    # safetensors: 8-byte little-endian header length followed by a JSON header, no pickle
    raw = (path / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert json.loads(raw[8:8 + n])


def test_corrupt_or_mismatched_checkpoints_are_refused(fitted, tmp_path):
    path = fitted.save(tmp_path / "ckpt")
    weights = path / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="checksum differs"):
        qseq.Forecaster.load(path)
    weights.write_bytes(good)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model_config"]["hidden_size"] = 9
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        qseq.Forecaster.load(path)
    cfg["model_config"]["hidden_size"] = fitted.model_config_.hidden_size
    del cfg["training"]
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="lacks or mangles 'training'; re-train the model"):
        qseq.Forecaster.load(path)
    cfg["training"] = {"best_epoch": 1, "best_val_loss": None, "stopped_early": False}
    cfg["config"]["lookback"] = -3
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="config.json: .*lookback"):
        qseq.Forecaster.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        qseq.Forecaster.load(path)
    with pytest.raises(CheckpointError, match="config.json missing"):
        qseq.Forecaster.load(tmp_path / "nowhere")


def test_multi_ticker_panel_uses_ticker_embedding(two_stocks):
    f = _small().fit(two_stocks)
    assert f.model_.ticker_embedding is not None and f.tickers_ == ("AAPL", "MSFT")
    out = f.predict(two_stocks, last_only=True)
    assert sorted(out["ticker"].unique()) == ["AAPL", "MSFT"]
    aapl = two_stocks.xs("AAPL", level="ticker", drop_level=False)
    assert (f.predict(aapl)["ticker"] == "AAPL").all()
    # the latest-bar path (streaming features on each ticker's tail) equals the full windows
    full = f.predict(two_stocks)
    last = full[full["date"] == full.groupby("ticker")["date"].transform("max")]
    np.testing.assert_allclose(out.sort_values(["ticker", "horizon"])["y_hat"].to_numpy(),
                               last.sort_values(["ticker", "horizon"])["y_hat"].to_numpy(),
                               rtol=1e-5, atol=1e-7)
    other = two_stocks.rename(index={"MSFT": "IBM"}, level="ticker")
    with pytest.raises(DataError, match="not seen in training"):
        f.predict(other, last_only=True)


def test_unknown_ticker_at_predict_time(fitted, two_stocks):
    with pytest.raises(DataError, match="not seen in training"):
        fitted.predict(two_stocks)


def test_not_fitted_error_says_what_to_call():
    with pytest.raises(NotFittedError, match=r"call fit\(panel\)"):
        _small().predict(pd.DataFrame())


def test_too_little_data_is_a_clear_error(spx_small):
    with pytest.raises(DataError, match="at least"):
        _small(lookback=64).fit(spx_small.iloc[:60])
    with pytest.raises(DataError, match="training windows"):
        _small(lookback=60).fit(spx_small.iloc[:150])


@pytest.mark.parametrize("kw,msg", [
    (dict(model="nope"), "unknown model"), (dict(horizons=0), "horizon"),
    (dict(horizons=[0, 2]), "positive"), (dict(lookback=1), "lookback"),
    (dict(features=["alpha"]), "unknown feature"), (dict(target="price"), "unknown target"),
])
def test_bad_configuration(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        _small(**kw)


def test_horizon_list_and_realized_vol_target(spx_small):
    f = _small(horizons=[1, 5], target="realized_vol",
               features=["log_return", "parkinson_vol_10"]).fit(spx_small)
    out = f.predict(spx_small, last_only=True)
    assert list(out["horizon"]) == [1, 5]
    assert "dir_acc" not in f.metrics_["val"].columns


def test_checkpoints_of_the_old_layout_still_load(fitted, spx_small, tmp_path):
    """qseq 0.1 wrote its parameters as spec / model_config / train / seed; they load into
    the one config and predict exactly as before."""
    path = fitted.save(tmp_path / "new")
    cfg = json.loads((path / "config.json").read_text())
    new = cfg.pop("config")
    cfg.pop("kind")
    cfg["spec"] = {k: new[k] for k in ("model", "lookback", "horizons", "features", "target",
                                       "val_frac", "test_frac", "future_features")}
    cfg["train"], cfg["seed"] = new["train"], new["seed"]
    (path / "config.json").write_text(json.dumps(cfg))
    old = qseq.Forecaster.load(path)
    assert old.config == fitted.config
    pd.testing.assert_frame_equal(old.predict(spx_small), fitted.predict(spx_small))


def test_latest_bar_path_still_names_bad_data(fitted, spx_small):
    """The fast latest-bar path checks the bars it reads; a bad one gets validate_panel's
    message (ticker, date, column), not a wrong forecast."""
    bad = spx_small.copy()
    bad.iloc[-1, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(DataError, match="missing value"):
        fitted.predict(bad, last_only=True)
    bad = spx_small.copy()
    bad.iloc[-2, bad.columns.get_loc("high")] = bad["low"].iloc[-2] * 0.5
    with pytest.raises(DataError, match="high is below max"):
        fitted.predict(bad, last_only=True)
    with pytest.raises(DataError, match="rows, at least"):
        fitted.predict(spx_small.iloc[-10:], last_only=True)


def test_variance_target_trains_on_qlike(spx_small):
    """train.loss='qlike': the fit reads the log targets' scale and gives positive forecasts;
    the same seed gives the same forecasts, and the loss differs from the MSE fit's."""
    kw = dict(lookback=16, horizons=(1, 5), target="variance",
              features=("log_return", "log_parkinson_var_1", "log_parkinson_var_5"),
              hidden_size=8, num_layers=1, device="cpu")
    fits = [qseq.Forecaster("gru", train={"epochs": 2, "loss": loss}, **kw).fit(spx_small)
            for loss in ("qlike", "qlike", "mse")]
    last = [f.predict(spx_small, last_only=True)["y_hat"].to_numpy() for f in fits]
    assert (last[0] > 0).all()
    np.testing.assert_array_equal(last[0], last[1])
    assert not np.allclose(last[0], last[2])
    assert fits[0].result_.history[0].train_loss != fits[2].result_.history[0].train_loss


def test_variance_target_is_modelled_in_log_space_and_calibrated(spx_small, tmp_path):
    """target='variance': the model learns ln(mean variance of the next h bars); forecasts are
    exp(.) times the validation smearing factor, positive, and the same from every path."""
    from qseq.data.features import compute_targets

    fc = qseq.Forecaster("gru", lookback=16, horizons=(1, 5), target="variance", proxy="garman_klass",
                    features=("log_return", "log_garman_klass_var_1", "log_garman_klass_var_5"),
                    hidden_size=8, num_layers=1, train={"epochs": 2}, device="cpu").fit(spx_small)
    assert len(fc.calibration_) == 2 and all(0.2 < c < 5 for c in fc.calibration_)
    windows = fc.windows(spx_small)
    # the scaler saw log targets: scaled targets have mean ~0 on training windows
    assert np.all(np.abs(fc.scaler_y_.mean_ - np.log(windows.y).mean(axis=0)) < 1.0)
    frame = fc.predict(spx_small)
    assert (frame["y_hat"] > 0).all()
    want = compute_targets(spx_small, "variance", (1, 5), "garman_klass").droplevel("ticker")
    row = frame[frame["horizon"] == 5].iloc[20]
    assert row["y_true"] == pytest.approx(want.loc[row["date"], "h5"], rel=1e-5)
    last = fc.predict(spx_small, last_only=True)
    np.testing.assert_allclose(last["y_hat"], frame.groupby("horizon")["y_hat"].last(), rtol=1e-5)
    loaded = qseq.Forecaster.load(fc.save(tmp_path / "var"), device="cpu")
    assert loaded.calibration_ == fc.calibration_
    np.testing.assert_allclose(loaded.predict(spx_small, last_only=True)["y_hat"], last["y_hat"],
                               rtol=1e-6)
    stream = fc.stream(history=spx_small.iloc[:-1])
    bar = spx_small.iloc[-1]
    np.testing.assert_allclose(stream.update(dict(bar, date=spx_small.index[-1][0])),
                               last["y_hat"], rtol=1e-4)
    assert "in QLIKE" in fc.verdict()  # DM on the loss the target is scored with
    assert "qlike_ratio" in fc.metrics_["test"].columns
