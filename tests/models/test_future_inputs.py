"""Known-future calendar inputs through the seq2seq decoders: a known task where they are the
only signal, the serving paths (predict_array, streams, checkpoints) and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.calendar import sessions_between
from qseq.errors import ConfigError, DataError
from qseq.models import MODELS


def monday_panel(seed: int = 0) -> pd.DataFrame:
    """NYSE sessions 2012-2018 whose return is +1% on the first session of a week (Monday, or
    Tuesday after a Monday holiday) and -0.25% otherwise, plus noise; volume is pure noise."""
    rng = np.random.default_rng(seed)
    dates = sessions_between("2012-01-03", "2018-12-31")
    gap = np.diff(dates.values).astype("timedelta64[D]").astype(int)
    first = np.concatenate([[True], gap > 1])  # the session after a weekend or holiday
    r = np.where(first, 0.01, -0.0025) + rng.normal(0, 0.004, len(dates))
    close = 100 * np.exp(np.cumsum(r))
    volume = np.exp(rng.normal(13, 0.3, len(dates)))
    frame = pd.DataFrame({"date": dates, "ticker": "SYN", "open": close, "high": close,
                          "low": close, "close": close, "volume": volume})
    return frame.set_index(["date", "ticker"])


def fit(panel, model="seq2seq", **kw) -> qseq.Forecaster:
    params = dict(lookback=10, horizons=3, features=("log_volume_change",), hidden_size=16,
                  num_layers=1, train=qseq.TrainConfig(epochs=12, batch_size=64, lr=3e-3),
                  seed=0, device="cpu")
    params.update(kw)
    return qseq.Forecaster(model, **params).fit(panel)


def test_calendar_inputs_carry_a_signal_the_window_does_not_have():
    """The inputs (volume noise) say nothing about the target; the day of the week of the
    forecast date says a lot. With the known-future inputs the decoder learns it."""
    panel = monday_panel()
    with_cal = fit(panel, future_features=("day_of_week", "gap_days"))
    without = fit(panel)
    mse = {name: float(f.metrics_["test"].loc["all", "mse"])
           for name, f in (("with", with_cal), ("without", without))}
    assert mse["with"] < 0.5 * mse["without"], mse
    out = with_cal.predict(panel)
    last = out[out["date"] == out["date"].max()]  # forecasts beyond the panel's end
    assert last["y_true"].isna().all() and last["y_hat"].notna().all()


@pytest.mark.parametrize("model", sorted(n for n, s in MODELS.items() if s.future_inputs))
def test_every_decoder_model_takes_them_and_serves_them(model, spx_small, tmp_path):
    f = fit(spx_small, model, features=("log_return",), num_layers=1, hidden_size=8,
            future_features=("day_of_week", "month"), train=qseq.TrainConfig(epochs=1))
    assert f.model_config_.future_size == 4
    want = f.predict(spx_small, last_only=True)["y_hat"].to_numpy()
    feats = qseq.data.features.compute_features(spx_small, ("log_return",)).to_numpy()[-10:]
    last_day = spx_small.index.get_level_values("date")[-1]
    np.testing.assert_allclose(f.predict_array(feats, anchor_date=last_day)[0], want, atol=1e-5)
    with pytest.raises(DataError, match="anchor_date"):
        f.predict_array(feats)
    # a different anchor date changes the forecast: the inputs are used
    assert not np.allclose(f.predict_array(feats, anchor_date="2012-07-02")[0], want, atol=1e-7)
    loaded = qseq.Forecaster.load(f.save(tmp_path / "m"))
    assert loaded.config.future_features == ("day_of_week", "month")
    np.testing.assert_array_equal(loaded.predict(spx_small, last_only=True)["y_hat"].to_numpy(),
                                  want)


@pytest.mark.parametrize("model", ["seq2seq", "lstm_seq2seq"])
def test_streams_with_calendar_inputs_equal_the_window_forecasts(model, spx_small):
    f = fit(spx_small, model, features=("log_return",), future_features=("day_of_week", "gap_days"),
            train=qseq.TrainConfig(epochs=1))
    want = f.predict(spx_small).pivot(index="date", columns="horizon", values="y_hat")
    frame = spx_small.xs("^GSPC", level="ticker")
    stream = f.stream()
    got = {}
    for date, values in zip(frame.index, frame.to_numpy(), strict=True):
        out = stream.update({"date": date, **dict(zip(frame.columns, values, strict=True))})
        if out is not None:
            got[date] = out
    got = pd.DataFrame(got).T
    assert len(got) == len(want) > 500
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy(), atol=1e-5)
    with pytest.raises(DataError, match="give every bar a date"):
        stream.update({"open": 1, "high": 1, "low": 1, "close": 1, "volume": 1})


def test_models_without_a_decoder_refuse_them():
    with pytest.raises(ConfigError, match="no decoder for known-future inputs.*seq2seq"):
        qseq.Forecaster("gru", future_features=("month",))
    with pytest.raises(ConfigError, match="unknown known-future features"):
        qseq.Forecaster("seq2seq", future_features=("holidays",))


def test_panels_share_one_calendar_table(two_stocks):
    f = fit(two_stocks, features=("log_return",), future_features=("month", "turn_of_month"),
            train=qseq.TrainConfig(epochs=1))
    last = f.predict(two_stocks, last_only=True)
    day = two_stocks.index.get_level_values("date").max()
    feats = qseq.data.features.compute_features(two_stocks, ("log_return",))
    for ticker in ("AAPL", "MSFT"):
        x = feats.xs(ticker, level="ticker").to_numpy()[-10:]
        want = last[last["ticker"] == ticker]["y_hat"].to_numpy()
        np.testing.assert_allclose(f.predict_array(x, ticker, anchor_date=day)[0], want, atol=1e-5)
