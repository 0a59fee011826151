"""``qseq lob stream``: incremental order-book rows equal the batch columns bitwise, the window
stream equals ``LobForecaster.predict``, the recurrent stream equals the model run over every
sample since the start, state stays constant, and the CLI replays and writes forecasts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from qseq.config import TrainConfig
from qseq.errors import ConfigError, DataError, NotFittedError
from qseq.lob.book import Book
from qseq.lob.features import FEATURES, feature_matrix, sample
from qseq.lob.labels import probabilities
from qseq.lob.model import LobForecaster
from qseq.lob.stream import MODES, LobStream, replay
from qseq.lob.stream_features import IncrementalBookFeatures
from qseq.lob.synthetic import simulate

PROBS = ["p_down", "p_stationary", "p_up"]


@pytest.fixture(scope="module")
def book() -> Book:
    return simulate(1500, levels=4, seed=0)[1]


def holes(book: Book, seed: int = 0) -> Book:
    """``book`` with empty sides, empty deeper levels and a one-sided start (forward fills)."""
    rng = np.random.default_rng(seed)
    ap, bp = book.ask_price.copy(), book.bid_price.copy()
    asz, bsz = book.ask_size.copy(), book.bid_size.copy()
    for i in rng.choice(np.arange(5, len(book)), 40, replace=False):
        if rng.random() < 0.5:
            ap[i], asz[i] = np.nan, 0.0  # the ask side empties
        else:
            bp[i, 2:], bsz[i, 2:] = np.nan, 0.0  # deeper bid levels empty
    ap[:3], asz[:3] = np.nan, 0.0
    return Book(book.time, ap, asz, bp, bsz, source="holes", synthetic=True)


def _fit(book: Book, model: str = "gru", **params) -> LobForecaster:
    settings = dict(levels=3, lookback=10, horizons=(5, 10), hidden_size=8,
                    train=TrainConfig(epochs=1), device="cpu")
    return LobForecaster(model=model, **{**settings, **params}).fit(book)


@pytest.fixture(scope="module")
def gru(book) -> LobForecaster:
    return _fit(book)


_FITTED: dict[str, LobForecaster] = {}
OTHERS = {  # return head + clock sampling, seq2seq classifier, torch re-run, an ensemble
    "lstm_return_100ms": ("lstm", dict(target="return", sampling="100ms")),
    "seq2seq": ("seq2seq", {}),
    "bigru": ("bigru", {}),
    "gru_ensemble": ("gru", dict(ensemble=2, num_layers=2)),
}


def _other(name: str, book: Book) -> LobForecaster:
    if name not in _FITTED:
        model, params = OTHERS[name]
        _FITTED[name] = _fit(book, model, **params)
    return _FITTED[name]


def _batch_rows(forecaster: LobForecaster, book: Book) -> tuple[np.ndarray, np.ndarray]:
    """Scaled model inputs [S, F] of every sample and the sample times [S]."""
    cfg = forecaster.config
    sampled, index = sample(book, cfg.sampling)
    values, _ = feature_matrix(book, sampled, index, features=cfg.features, levels=cfg.levels,
                               prices=cfg.prices)
    return forecaster.scaler_.transform(values), sampled.time


def _outputs(forecaster: LobForecaster, raw: torch.Tensor) -> np.ndarray:
    raw = raw.detach().numpy()
    if forecaster.config.target == "direction":
        return probabilities(raw)
    return forecaster.target_scaler_.inverse(raw)


def _stream_all(stream: LobStream, book: Book) -> list:
    samples = []
    for i in range(len(book)):
        samples += stream.step(book.time[i], book.ask_price[i], book.ask_size[i],
                               book.bid_price[i], book.bid_size[i])
    return samples + stream.flush()


# -- features ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sampling", ["event", "100ms", "1s"])
@pytest.mark.parametrize("prices", ["relative", "raw"])
def test_incremental_rows_equal_feature_matrix_bitwise(book, sampling, prices):
    events = holes(book)
    sampled, index = sample(events, sampling)
    want, names = feature_matrix(events, sampled, index, features=FEATURES, levels=3,
                                 prices=prices)
    inc = IncrementalBookFeatures(FEATURES, 3, prices, sampling)  # every feature streams
    got = []
    for i in range(len(events)):
        got += inc.event(events.time[i], events.ask_price[i], events.ask_size[i],
                         events.bid_price[i], events.bid_size[i])
    got += inc.flush()
    assert inc.names == names
    assert [g[0] for g in got] == sampled.time.tolist()
    assert [g[1] for g in got] == index.tolist()
    assert np.isnan(want).any() and np.isfinite(want[-1]).all()  # leading rows unfilled
    np.testing.assert_array_equal(np.stack([g[2] for g in got]), want)


# -- model outputs ----------------------------------------------------------------------------
def test_window_stream_equals_predict(gru, book):
    want = gru.predict(book)
    got, latency = replay(gru, book, mode="window")
    assert (latency.mode, latency.engine, latency.events) == ("window", "kernel", len(book))
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["time"].to_numpy(), want["time"].to_numpy())
    np.testing.assert_array_equal(got["k"].to_numpy(), want["k"].to_numpy())
    np.testing.assert_allclose(got[PROBS].to_numpy(), want[PROBS].to_numpy(), atol=1e-6)
    assert (got["label"] == want["label"]).mean() > 0.999  # ties within 1e-6 aside
    rerun, latency = replay(gru, book, mode="window", engine="torch", events=300)
    assert latency.engine == "torch"
    np.testing.assert_allclose(rerun[PROBS].to_numpy(), want[PROBS].to_numpy()[:len(rerun)],
                               atol=1e-6)


def test_recurrent_stream_equals_the_model_over_every_sample_since_the_start(gru, book):
    x, _ = _batch_rows(gru, book)
    first = int(np.flatnonzero(np.isfinite(x).all(axis=1))[0])
    model = gru.model_
    with torch.inference_mode():
        out, _ = model.rnn(torch.from_numpy(x[first:])[None])  # [1, S, hidden]
        want = _outputs(gru, model.head(out[0]))  # [S, K, 3]
    stream = LobStream(gru)
    assert stream.mode == "recurrent" and stream.engine == "kernel"
    samples = _stream_all(stream, book)
    assert all(s.output is None for s in samples[:first])
    got = np.stack([s.output for s in samples[first:]])
    np.testing.assert_allclose(got, want, atol=1e-6)
    # the recurrent forecast differs from the fixed window's once history is carried
    window = replay(gru, book, mode="window")[0][PROBS].to_numpy().reshape(-1, 2, 3)
    assert np.abs(got[-len(window):] - window).max() > 1e-4


@pytest.mark.parametrize("name", list(OTHERS))
def test_every_engine_matches_its_batch_promise(name, book):
    forecaster = _other(name, book)
    cols = PROBS if forecaster.config.target == "direction" else ["y_hat"]
    want = forecaster.predict(book)
    got, latency = replay(forecaster, book, mode="window")
    assert latency.engine == ("torch" if name == "bigru" else "kernel")
    np.testing.assert_array_equal(got["time"].to_numpy(), want["time"].to_numpy())
    np.testing.assert_allclose(got[cols].to_numpy(), want[cols].to_numpy(), atol=1e-6,
                               rtol=1e-5)
    if name == "bigru":
        with pytest.raises(ConfigError, match="cannot carry a recurrent state"):
            LobStream(forecaster, "recurrent")
        assert LobStream(forecaster).mode == "window"
        return
    x, _ = _batch_rows(forecaster, book)
    first = int(np.flatnonzero(np.isfinite(x).all(axis=1))[0])
    samples = _stream_all(LobStream(forecaster, "recurrent"), book)
    for end in (first + 1, first + 7, len(x) // 2, len(x)):  # expanding windows
        with torch.inference_mode():
            raw = forecaster.model_(torch.from_numpy(x[first:end])[None]).y_hat[0]
        np.testing.assert_allclose(samples[end - 1].output, _outputs(forecaster, raw),
                                   atol=1e-6, rtol=1e-5)


# -- O(1), determinism, bad input -------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_state_size_does_not_grow_with_the_events_seen(gru, book, mode):
    stream = LobStream(gru, mode)
    _stream_all(stream, Book(book.time[:50], *(a[:50] for a in (
        book.ask_price, book.ask_size, book.bid_price, book.bid_size))))
    early = stream.nbytes()
    stream.reset()
    _stream_all(stream, book)
    assert stream.nbytes() == early > 0


def test_replays_are_deterministic_and_reset_starts_over(gru, book):
    first, _ = replay(gru, book)
    again, _ = replay(gru, book)
    pd.testing.assert_frame_equal(first, again)
    stream = LobStream(gru)
    a = [s.output for s in _stream_all(stream, book)]
    stream.reset()
    b = [s.output for s in _stream_all(stream, book)]
    assert all((x is None and y is None) or np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_bad_input_gives_clear_errors(gru, book):
    stream = LobStream(gru)
    row = (book.ask_price[0], book.ask_size[0], book.bid_price[0], book.bid_size[0])
    with pytest.raises(DataError, match="the model reads 3 levels"):
        stream.update(0.0, row[0][:2], *row[1:])
    stream.update(book.time[0], *row)
    with pytest.raises(DataError, match="before the previous event"):
        stream.update(book.time[0] - 1, *row)
    with pytest.raises(DataError, match="not finite"):
        stream.update(float("nan"), *row)
    with pytest.raises(ConfigError, match="unknown stream mode 'fast'"):
        LobStream(gru, "fast")
    with pytest.raises(ConfigError, match="engine 'torch' cannot run mode 'recurrent'"):
        LobStream(gru, "recurrent", engine="torch")
    with pytest.raises(ConfigError, match="unknown stream engine 'gpu'"):
        LobStream(gru, engine="gpu")
    with pytest.raises(NotFittedError):
        LobStream(LobForecaster(model="gru", levels=3))
    shallow = Book(book.time, *(a[:, :2] for a in (book.ask_price, book.ask_size,
                                                      book.bid_price, book.bid_size)))
    with pytest.raises(DataError, match="has 2 levels but the model reads 3"):
        replay(gru, shallow)
    with pytest.raises(ConfigError, match="events must be a count"):
        replay(gru, book, events=0)


# -- CLI --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(gru, tmp_path_factory):
    return gru.save(tmp_path_factory.mktemp("ckpt") / "lob_synthetic_gru")


@pytest.fixture
def cli():
    from qseq.cli.lob import lob
    from qseq.cli.lob_stream import stream_cmd
    from qseq.cli.main import main

    if "stream" not in lob.commands:  # until qseq.cli.lob registers it
        lob.add_command(stream_cmd)

    def run(capsys, *args: str) -> tuple[int, str, str]:
        code = main(["lob", "stream", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_cli_modes_are_the_library_modes():
    from qseq.cli.lob_stream import STREAM_MODES

    assert STREAM_MODES == MODES


@pytest.mark.parametrize("mode", MODES)
def test_cli_replays_and_writes_forecasts(cli, capsys, checkpoint, gru, tmp_path, mode):
    code, out, err = cli(capsys, "--checkpoint", str(checkpoint), "--synthetic", "700",
                         "--synthetic-seed", "3", "--events", "600", "--mode", mode,
                         "--out", str(tmp_path))
    assert code == 0, err
    assert "SYNTHETIC" in out and "median µs" in out and "p99 µs" in out
    assert "last forecast" in out and mode in out
    (parquet,) = tmp_path.glob("lob_stream_*_gru.parquet")
    frame, csv = pd.read_parquet(parquet), pd.read_csv(parquet.with_suffix(".csv"))
    want, _ = replay(gru, simulate(700, levels=3, seed=3)[1], mode=mode, events=600)
    pd.testing.assert_frame_equal(frame, want)
    np.testing.assert_allclose(csv[PROBS].to_numpy(), want[PROBS].to_numpy(), atol=1e-6)
    assert len(list(tmp_path.iterdir())) == 2  # no temporary files left


def test_cli_bad_input_gives_one_line(cli, capsys, checkpoint, tmp_path):
    from qseq.lob.lobster_write import write_lobster

    def one_line(*args: str) -> str:
        code, _, err = cli(capsys, *args)
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), err
        return lines[0]

    assert "no checkpoint folder" in one_line("--checkpoint", str(tmp_path / "nope"),
                                              "--synthetic", "100")
    other = tmp_path / "other"
    shutil.copytree(checkpoint, other)
    saved = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**saved, "kind": "forecaster"}))
    assert "not an order-book model" in one_line("--checkpoint", str(other),
                                                      "--synthetic", "100")
    messages, shallow = simulate(300, levels=2, seed=0)
    msg_path, _ = write_lobster(tmp_path, messages, shallow)
    assert "levels=3 but the file has 2" in one_line("--checkpoint", str(checkpoint),
                                                     "--messages", str(msg_path))
    assert "'fast' is not one of" in one_line("--checkpoint", str(checkpoint), "--synthetic",
                                              "100", "--mode", "fast")
