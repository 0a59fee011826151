"""LobForecaster on synthetic books: fit, scores beside the baselines, checkpoints, causality,
determinism, return targets, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.config import LobConfig, TrainConfig
from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.lob.book import Book
from qseq.lob.model import LobForecaster
from qseq.lob.synthetic import simulate

SMALL = dict(levels=3, lookback=12, horizons=(5, 20), hidden_size=8,
             train=TrainConfig(epochs=2, batch_size=128, lr=3e-3, patience=2))


@pytest.fixture(scope="module")
def book() -> Book:
    return simulate(6000, levels=5, seed=3)[1]


@pytest.fixture(scope="module")
def fitted(book) -> LobForecaster:
    return LobForecaster(model="gru", device="cpu", **SMALL).fit(book)


def test_fit_scores_the_model_beside_both_baselines(fitted):
    test = fitted.metrics_["test"]
    assert list(test.index.get_level_values("k").unique()) == [5, 20]
    assert set(test.index.get_level_values("method")) == {"model", "majority", "logistic_imbalance"}
    assert ((test["macro_f1"] >= 0) & (test["macro_f1"] <= 1)).all()
    assert (test["n"] > 0).all() and set(fitted.metrics_) == {"val", "test"}
    assert fitted.source_["synthetic"] and fitted.model_config_.classes == 3
    assert fitted.model_config_.book_levels == 3
    assert len(fitted.feature_names_) == fitted.model_config_.input_size


def test_checkpoint_round_trip_gives_the_same_forecasts(fitted, book, tmp_path):
    path = fitted.save(tmp_path / "ckpt")
    loaded = LobForecaster.load(path, device="cpu")
    a, b = fitted.predict(book), loaded.predict(book)
    assert len(a) > 0 and a.columns.tolist() == b.columns.tolist()
    assert np.allclose(a[["p_down", "p_stationary", "p_up"]], b[["p_down", "p_stationary", "p_up"]])
    assert loaded.alpha_ == fitted.alpha_ and loaded.feature_names_ == fitted.feature_names_
    assert loaded.metrics_["test"].equals(fitted.metrics_["test"])
    from qseq.anomaly import AnomalyDetector

    with pytest.raises(CheckpointError, match="order book checkpoint, not an anomaly"):
        AnomalyDetector.load(path)


def test_predict_at_a_time_ignores_later_events(fitted, book):
    cut = 4000
    later = Book(book.time, book.ask_price.copy(), book.ask_size.copy(), book.bid_price.copy(),
                 book.bid_size.copy(), book.halted, book.source, book.synthetic)
    later.ask_size[cut:] *= 3.0
    later.bid_price[cut:] -= 0.05
    a, b = fitted.predict(book), fitted.predict(later)
    t_cut = book.time[cut - 1]
    cols = ["p_down", "p_stationary", "p_up"]
    early_a, early_b = a[a.time <= t_cut], b[b.time <= t_cut]
    assert len(early_a) > 1000
    assert np.allclose(early_a[cols].to_numpy(), early_b[cols].to_numpy(), atol=1e-6)
    assert not np.allclose(a[cols].to_numpy()[-100:], b[cols].to_numpy()[-100:])


def test_same_seed_same_model(book):
    a = LobForecaster(model="gru", device="cpu", **SMALL).fit(book)
    b = LobForecaster(model="gru", device="cpu", **SMALL).fit(book)
    assert a.metrics_["test"].equals(b.metrics_["test"])


def test_deeplob_and_return_targets_fit(book):
    f = LobForecaster(model="deeplob", device="cpu", **SMALL).fit(book)
    assert f.metrics_["test"].loc[(5, "model"), "n"] > 0
    r = LobForecaster(model="lstm", target="return", device="cpu", **SMALL).fit(book)
    test = r.metrics_["test"]
    assert set(test.index.get_level_values("method")) == {"model", "zero", "linear_imbalance"}
    assert {"mse", "mse_ratio", "corr"} <= set(test.columns)
    out = r.predict(book)
    assert "y_hat" in out and np.isfinite(out["y_hat"]).all()


def test_train_stride_fits_on_every_nth_window_and_scores_on_all(book, monkeypatch):
    import qseq.train

    seen = []
    real = qseq.train.fit_model

    def spy(*args, **kwargs):
        seen.append((kwargs["train"].anchors.copy(), len(kwargs["val"])))
        return real(*args, **kwargs)

    monkeypatch.setattr(qseq.train, "fit_model", spy)
    full = LobForecaster(model="gru", device="cpu", **SMALL).fit(book)
    strided = LobForecaster(model="gru", device="cpu", train_stride=4, **SMALL).fit(book)
    (all_rows, n_val), (every_4th, n_val_strided) = seen
    np.testing.assert_array_equal(every_4th, all_rows[::4])
    assert n_val == n_val_strided  # validation keeps every window
    np.testing.assert_array_equal(full.metrics_["test"]["n"], strided.metrics_["test"]["n"])
    for baseline in ("majority", "logistic_imbalance"):  # fit on every training window
        np.testing.assert_array_equal(full.metrics_["test"].xs(baseline, level="method"),
                                      strided.metrics_["test"].xs(baseline, level="method"))
    with pytest.raises(ConfigError, match="train_stride must be an integer >= 1"):
        LobConfig(train_stride=0)


def test_bad_configuration_and_data_name_the_problem(book):
    with pytest.raises(ConfigError, match="unknown order-book model 'lstm_ae'"):
        LobConfig(model="lstm_ae")
    with pytest.raises(ConfigError, match="unknown order-book feature 'vwap'"):
        LobConfig(features="ofi,vwap")
    with pytest.raises(ConfigError, match="alpha must be a number"):
        LobConfig(alpha="big")
    with pytest.raises(DataError, match="has 5 levels but the model uses 10"):
        LobForecaster(levels=10, device="cpu").fit(book)
    with pytest.raises(DataError, match="no training windows|leave no rows"):
        LobForecaster(model="gru", levels=3, lookback=3000, horizons=(5,), device="cpu").fit(book)
