"""Streaming inference: equal to the window forecasts over a long replay, also after a restore."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import qseq
from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.models import MODELS
from qseq.stream import IncrementalFeatures

STREAMING = sorted(n for n, s in MODELS.items() if s.streams)


def _fit(panel, model="gru", **kw):
    params = dict(lookback=20, horizons=3, hidden_size=8, num_layers=2,
                  train=qseq.TrainConfig(epochs=1, batch_size=64), seed=0, device="cpu")
    params.update(kw)
    return qseq.Forecaster(model, **params).fit(panel)


def _bars(panel, ticker):
    frame = panel.xs(ticker, level="ticker")
    return [{"date": d, **dict(zip(frame.columns, v, strict=True))}
            for d, v in zip(frame.index, frame.to_numpy(), strict=True)]


def test_incremental_features_match_the_batch_features(spx_small):
    from qseq.data.features import compute_features

    names = ("log_return", "log_volume_change", "volume_zscore_10", "parkinson_vol_5",
             "garman_klass_vol_7", "log_parkinson_var_1", "log_parkinson_var_5",
             "log_garman_klass_var_1", "log_garman_klass_var_22")
    want = compute_features(spx_small, names).to_numpy()
    inc = IncrementalFeatures(names)
    got = []
    for bar in _bars(spx_small, "^GSPC"):
        row = inc.update(bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"])
        got.append(row if row is not None else [np.nan] * len(names))
    got = np.asarray(got)
    ready = np.isfinite(want).all(axis=1)
    assert np.array_equal(ready, np.isfinite(got).all(axis=1))
    np.testing.assert_allclose(got[ready], want[ready], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model", STREAMING)
def test_window_stream_equals_full_window_forecasts_with_restore(model, spx_small, tmp_path):
    f = _fit(spx_small, model)
    want = f.predict(spx_small).pivot(index="date", columns="horizon", values="y_hat")
    bars = _bars(spx_small, "^GSPC")
    stream = f.stream(mode="window")
    got = {}
    for i, bar in enumerate(bars):
        if i == 300:  # save, throw away, restore: the replay must not notice
            stream.save(tmp_path / "s")
            stream = qseq.Forecaster.load(f.save(tmp_path / "m")).stream()
            stream = type(stream).load(stream.forecaster, tmp_path / "s")
        out = stream.update(bar)
        if out is not None:
            got[bar["date"]] = out
    got = pd.DataFrame(got).T
    assert len(got) == len(want) > 500
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("model", ["gru", "lstm", "lstm_peephole", "seq2seq"])
def test_stateful_stream_equals_reencoding_everything_since_start(model, spx_small, tmp_path):
    """The O(1) stream: one carried state, equal to the model run over every bar since the
    stream started, over a 600-bar replay with a save and restore half-way."""
    f = _fit(spx_small, model)
    frame = spx_small.iloc[:600]
    feats = qseq.data.features.compute_features(frame, f.config.features).to_numpy()
    stream = f.stream(mode="stateful")
    outs = []
    for i, bar in enumerate(_bars(frame, "^GSPC")):
        if i == 300:
            stream.save(tmp_path / "s")
            stream = type(stream).load(qseq.Forecaster.load(f.save(tmp_path / "m")), tmp_path / "s")
        outs.append(stream.update(bar))
    start = int(np.flatnonzero(np.isfinite(feats).all(axis=1))[0])
    x = torch.tensor(f.scaler_x_.transform(feats[start:]))[None]  # all bars since the start
    with torch.no_grad():
        for end in (5, 60, 200, 299, 301, 450, len(x[0])):
            y = f.model_(x[:, :end]).y_hat.numpy()
            np.testing.assert_allclose(outs[start + end - 1], f.scaler_y_.inverse(y)[0], atol=1e-5)


def test_multi_ticker_streams_use_their_embedding(two_stocks):
    f = _fit(two_stocks, "gru")
    want = f.predict(two_stocks, last_only=True)
    lasts = {}
    for ticker in ("AAPL", "MSFT"):
        lasts[ticker] = f.stream(ticker).warmup(two_stocks)  # the forecast at the last bar
        np.testing.assert_allclose(lasts[ticker], want[want["ticker"] == ticker]["y_hat"].to_numpy(),
                                   atol=1e-5)
    assert not np.allclose(lasts["AAPL"], lasts["MSFT"])


def test_quantile_stream(spx_small):
    f = _fit(spx_small, "gru", quantiles=(0.1, 0.5, 0.9))
    last = f.stream(history=spx_small).warmup(spx_small)
    want = f.predict(spx_small, last_only=True)
    assert last.shape == (3, 3)
    np.testing.assert_allclose(last[:, 1], want["y_hat"].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(last[:, 2], want["q0.9"].to_numpy(), atol=1e-5)


@pytest.mark.parametrize("model", ["bigru", "attn_seq2seq"])
def test_models_that_cannot_stream_say_why(model, spx_small):
    f = _fit(spx_small, model, num_layers=1)
    with pytest.raises(ConfigError, match="cannot stream"):
        f.stream()


def test_bad_bars_and_tickers(spx_small):
    f = _fit(spx_small)
    stream = f.stream()
    with pytest.raises(DataError, match="positive"):
        stream.update({"open": 1, "high": 2, "low": 0.5, "close": -1, "volume": 1})
    with pytest.raises(DataError, match="inconsistent"):
        stream.update({"open": 1, "high": 1.1, "low": 0.9, "close": 1.5, "volume": 1})
    with pytest.raises(DataError, match="not seen in training"):
        f.stream("AAPL")


@pytest.mark.parametrize("model", ["lstm_seq2seq", "lstm_peephole"])
def test_quantile_streams_equal_window_forecasts(model, spx_small):
    """Quantile heads (and, for seq2seq, the decoder feeding back its median) in the stream."""
    f = _fit(spx_small, model, quantiles=(0.1, 0.5, 0.9))
    want = f.predict(spx_small)
    stream = f.stream()
    outs = {bar["date"]: stream.update(bar) for bar in _bars(spx_small, "^GSPC")}
    last = want["date"].max()
    got = outs[last]
    rows = want[want["date"] == last].sort_values("horizon")
    assert got.shape == (3, 3) and (np.diff(got, axis=1) >= 0).all()
    np.testing.assert_allclose(got[:, 0], rows["q0.1"], atol=1e-5)
    np.testing.assert_allclose(got[:, 1], rows["y_hat"], atol=1e-5)
    np.testing.assert_allclose(got[:, 2], rows["q0.9"], atol=1e-5)


@pytest.mark.parametrize("model", ["lstm_peephole", "rnn"])
def test_multi_ticker_embedding_in_every_cell(model, two_stocks):
    f = _fit(two_stocks, model)
    want = f.predict(two_stocks, last_only=True)
    for ticker in ("AAPL", "MSFT"):
        np.testing.assert_allclose(f.stream(ticker).warmup(two_stocks),
                                   want[want["ticker"] == ticker]["y_hat"].to_numpy(), atol=1e-5)


@pytest.mark.parametrize("model", ["lstm", "seq2seq"])
def test_stateful_stream_restores_exactly(model, spx_small, tmp_path):
    f = _fit(spx_small, model)
    bars = _bars(spx_small, "^GSPC")
    straight = f.stream(mode="stateful")
    want = [straight.update(bar) for bar in bars]
    stream = f.stream(mode="stateful")
    got = [stream.update(bar) for bar in bars[:250]]
    stream.save(tmp_path / "s")
    stream = type(stream).load(f, tmp_path / "s")
    assert stream.mode == "stateful" and stream.last_date == str(bars[249]["date"])
    got += [stream.update(bar) for bar in bars[250:]]
    np.testing.assert_array_equal(np.stack(got[300:]), np.stack(want[300:]))


def test_stream_of_another_model_is_refused(spx_small, tmp_path):
    stream = _fit(spx_small, "gru").stream()
    for bar in _bars(spx_small, "^GSPC")[:50]:
        stream.update(bar)
    stream.save(tmp_path / "s")
    other = _fit(spx_small, "gru", lookback=30)
    with pytest.raises(CheckpointError, match="belongs to another model"):
        type(stream).load(other, tmp_path / "s")


def _blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_stream_updates_run_on_one_blas_thread_until_the_last_stream_closes(spx_small, monkeypatch):
    from threadpoolctl import threadpool_limits

    from qseq.stream_kernel import Kernel

    f = _fit(spx_small, "gru")
    seen = []
    step = Kernel.step

    def recording_step(self, row):
        seen.append(_blas_threads())
        return step(self, row)

    monkeypatch.setattr(Kernel, "step", recording_step)
    bars = _bars(spx_small, "^GSPC")[:40]
    with threadpool_limits(limits=2, user_api="blas"):  # a host whose BLAS pool has 2 threads
        f.stream().update(bars[0])  # a stream dropped at once gives its pin back
        assert _blas_threads() == {2}
        first, second = f.stream(), f.stream(mode="stateful")
        for bar in bars:
            first.update(bar)
            second.update(bar)
        first.close()
        first.close()  # idempotent
        assert _blas_threads() == {1}  # the second stream still holds the pin
        with second:
            second.update(bars[-1])
        assert _blas_threads() == {2}
        del first, second
    assert seen and all(threads == {1} for threads in seen)


def test_cross_sectional_features_cannot_stream():
    from qseq.errors import ConfigError

    with pytest.raises(ConfigError, match="read every ticker of the panel"):
        IncrementalFeatures(("log_return", "excess_return_5"))
