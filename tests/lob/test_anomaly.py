"""Order-book anomalies: injected episodes land on the samples they hit, features never read
later messages, the autoencoder beats chance on an obvious case, the real sample's book is
rebuilt as level3_book builds it, and bad input fails with one clear error."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from qseq.config import LobAnomalyConfig
from qseq.errors import ConfigError, DataError
from qseq.lob.anomaly import evaluate_lob_anomalies, summary
from qseq.lob.anomaly_data import (
    HIT,
    KINDS,
    RESTING,
    anomaly_features,
    inject,
    message_features,
    price_tick,
    sample_labels,
    synthetic_stream,
    typical_size,
)
from qseq.lob.book import Messages
from qseq.lob.features import sample

HAS_SAMPLE = importlib.util.find_spec("ob_analytics") is not None
FIELDS = ("time", "event_type", "order_id", "size", "price", "direction")
SMALL = LobAnomalyConfig(levels=5, sampling="1s", lookback=8, hidden_size=8, score_window=50,
                         zscore_window=50, train={"epochs": 2, "lr": 5e-3, "patience": 2})


@pytest.fixture(scope="module")
def stream():
    return synthetic_stream(8000, levels=5, seed=3)  # about 130 s, SYNTHETIC


def _cut(m: Messages, n: int) -> Messages:
    return Messages(*(getattr(m, f)[:n] for f in FIELDS))


def test_the_rebuilt_synthetic_book_is_the_simulated_one(stream):
    from qseq.lob.synthetic import simulate

    _, simulated = simulate(8000, levels=5, seed=3)
    rebuilt = stream.book()
    assert rebuilt.synthetic and stream.synthetic and stream.tick == 0.01
    np.testing.assert_array_equal(rebuilt.bid_size, simulated.bid_size)
    np.testing.assert_array_equal(np.nan_to_num(rebuilt.ask_price), np.nan_to_num(simulated.ask_price))


def test_labels_mark_exactly_the_samples_injected_messages_fall_in(stream):
    start = float(stream.messages.time[4000])
    injected = inject(stream, start_time=start, seed=1, episodes=4)
    m = injected.messages
    assert np.all(np.diff(m.time) >= 0) and len(np.unique(m.order_id[injected.kind > 0])) == \
        (injected.kind > 0).sum() // 2  # every injected order: one submission, one deletion
    assert m.time[injected.kind > 0].min() >= start
    assert np.array_equal(m.order_id[injected.kind == 0], stream.messages.order_id)
    sampled, _ = sample(stream.book(m, injected.kind != 0), "1s")
    grid = sampled.time
    labels = sample_labels(grid, injected, 1e-9)
    for code, kind in enumerate(KINDS, start=1):
        times = m.time[injected.kind == code]
        hit = np.array([np.any((times > (grid[s - 1] if s else -np.inf)) & (times <= grid[s]))
                        for s in range(len(grid))])   # the slow rule: events in (g[s-1], g[s]]
        assert hit.any() and np.array_equal(labels[kind] == HIT, hit), kind
        assert not labels[kind][grid < start].any()
    spans = labels["spoofing"]
    assert (spans == RESTING).any()  # a spoof order rests over several 1-s samples ...
    edge = np.diff(np.r_[0, (spans > 0).astype(int), 0])
    for first, stop in zip(np.flatnonzero(edge == 1), np.flatnonzero(edge == -1), strict=True):
        assert spans[first] == HIT  # ... from its submission to its deletion (unless that
        assert spans[stop - 1] == HIT or stop == len(grid)  # comes after the last sample)


def test_features_before_a_time_ignore_every_later_message(stream):
    config = replace(SMALL, sampling="250ms")
    unit = typical_size(stream.messages, float(stream.messages.time[3000]))
    full, names, grid = anomaly_features(stream.messages, stream.book(), config, size_unit=unit)
    cut = 5000
    t = float(stream.messages.time[cut])
    short = _cut(stream.messages, cut)
    head, _, head_grid = anomaly_features(short, stream.book(short), config, size_unit=unit)
    injected = inject(stream, start_time=t, seed=0, episodes=5)
    other, _, other_grid = anomaly_features(injected.messages,
                                            stream.book(injected.messages, injected.kind > 0),
                                            config, size_unit=unit)
    n = int((grid < t).sum())
    assert n > 100 and len(names) == full.shape[1]
    for values, times in ((head, head_grid), (other, other_grid)):
        np.testing.assert_array_equal(times[:n], grid[:n])
        np.testing.assert_array_equal(values[:n], full[:n])
    common = min(len(other), len(full))
    assert not np.array_equal(other[n:common], full[n:common])  # the injection shows after t


def test_message_features_count_what_happened_in_each_interval():
    from qseq.lob.book import Book

    # two samples at t=1 and t=2; bid levels 10.00 / 9.99 / 9.98 before the second
    grid = np.array([1.0, 2.0])
    bids = np.array([[10.0, 9.99, 9.98], [10.0, 9.99, 9.98]])
    asks = bids + 0.05
    sampled = Book(grid, asks, np.ones((2, 3)), bids, np.ones((2, 3)))
    m = Messages(time=np.array([0.5, 1.5, 1.6, 1.7, 1.8]),
                 event_type=np.array([1, 1, 3, 1, 2], np.int8),
                 order_id=np.array([1, 2, 2, 3, 1]), size=np.array([1.0, 4.0, 4.0, 2.0, 1.0]),
                 price=np.array([10.0, 9.97, 9.97, 10.0, 10.0]),
                 direction=np.array([1, 1, 1, 1, 1], np.int8))
    names = ("submissions", "cancellations", "short_cancel_volume", "flash_cancels",
             "max_submit_size", "far_submit_volume", "far_cancel_volume")
    got = message_features(m, sampled, size_unit=2.0, flash_life=0.5, names=names)
    counts = np.array([[1, 0], [2, 2]])  # per sample: submissions, cancellations
    np.testing.assert_allclose(got[:, :2], 2 * np.sqrt(counts + 0.375))
    # second sample: order 2 (4 shares = 2 units, 3 levels better: far) lived 0.1 s; order 1
    # (0.5 units at the touch) lived 1.3 s
    np.testing.assert_allclose(got[1, 2:], [np.log1p(2.5), 2 * np.sqrt(1.375), np.log1p(2.0),
                                            np.log1p(2.0), np.log1p(2.0)])
    np.testing.assert_allclose(got[0, 2:], [0, 2 * np.sqrt(0.375), np.log1p(0.5), 0, 0])


def test_the_autoencoder_finds_obvious_episodes_far_above_chance():
    stream = synthetic_stream(12000, levels=5, seed=0)  # about 200 s, SYNTHETIC
    config = replace(SMALL, sampling="500ms")
    results = evaluate_lob_anomalies(stream, config, seeds=(0,), episodes=8, size_multiple=30.0,
                                     burst_orders=80, device="cpu")
    assert set(results["method"]) == {"autoencoder", "rolling_zscore", "isolation_forest", "pca"}
    assert set(results["kind"]) == {*KINDS, "all"} and results.attrs["synthetic"]
    assert set(results.attrs["scored"]) < set(results.attrs["features"])
    ae = results[(results["method"] == "autoencoder")].set_index("kind")
    assert (ae["pr_auc"] > 0.6).all() and (ae["pr_auc"] > 5 * ae["chance"]).all(), ae
    table = summary(results)
    assert list(table.index) == [*KINDS, "all"] and "chance" in table.columns


def test_mask_steps_reaches_the_autoencoder(stream):
    from qseq.lob.anomaly import fit_detectors

    fitted, _ = fit_detectors(stream, replace(SMALL, sampling="250ms", mask_steps=3), device="cpu")
    model = fitted.models["autoencoder"][0]
    assert model.mask_last and model.config.mask_steps == 3


def test_score_on_messages_combines_only_the_message_features(stream):
    from qseq.lob.anomaly import (
        _anchors,
        _feature_scores,
        _method_scores,
        _windows,
        fit_detectors,
    )
    from qseq.lob.anomaly_data import MESSAGE_FEATURES

    config = replace(SMALL, sampling="250ms")
    assert config.score_on == "messages"  # the default
    fits = {on: fit_detectors(stream, replace(config, score_on=on), device="cpu")[0]
            for on in ("messages", "all")}
    names = fits["all"].names
    messages = [n for n in config.features if n in MESSAGE_FEATURES]
    assert [names[j] for j in fits["messages"].scored] == messages
    assert len(names) > len(messages) and list(fits["all"].scored) == list(range(len(names)))
    assert fits["messages"].models["isolation_forest"].forest_.n_features_in_ == len(messages)
    assert fits["all"].models["isolation_forest"].forest_.n_features_in_ == len(names)
    values, _, grid = anomaly_features(stream.messages, stream.book(), config,
                                       size_unit=fits["all"].size_unit)
    scaled = fits["all"].scaler.transform(values)
    rows = _anchors(scaled, config.lookback, range(len(grid)))
    win = _windows(scaled, grid, names, config.lookback, rows, "test")
    per = {on: _feature_scores(f, win) for on, f in fits.items()}
    assert per["messages"]["rolling_zscore"].shape == (len(grid), len(messages))
    assert np.isfinite(per["messages"]["autoencoder"][rows]).all()
    # the autoencoder and PCA still see every input: the message columns score as before
    for method in ("autoencoder", "pca", "rolling_zscore"):
        np.testing.assert_array_equal(per["messages"][method],
                                      per["all"][method][:, fits["messages"].scored])
    combined = _method_scores(fits["messages"], win)["autoencoder"]
    calibrated = per["messages"]["autoencoder"] / fits["messages"].scales["autoencoder"]
    scored = rows[rows >= config.zscore_window]  # every method has a score there
    np.testing.assert_allclose(combined[scored], calibrated[scored].max(axis=1))


@pytest.mark.skipif(not HAS_SAMPLE, reason="needs ob-analytics (the Bitstamp sample)")
def test_the_real_sample_is_rebuilt_like_level3_book_and_takes_injections():
    from qseq.lob.anomaly_data import bitstamp_stream
    from qseq.lob.level3 import load_bitstamp_sample

    stream = bitstamp_stream(levels=5)
    reference = load_bitstamp_sample(5)
    rebuilt = stream.book()
    assert not stream.synthetic and stream.tick == 1.0 == price_tick(stream.messages)
    np.testing.assert_array_equal(rebuilt.time, reference.time)
    np.testing.assert_array_equal(rebuilt.bid_size, reference.bid_size)
    np.testing.assert_array_equal(np.nan_to_num(rebuilt.ask_price),
                                  np.nan_to_num(reference.ask_price))
    start = float(stream.messages.time[len(stream.messages) // 2])
    injected = inject(stream, start_time=start, seed=0, episodes=5)
    book = stream.book(injected.messages, injected.kind > 0)
    assert len(book) > len(rebuilt) and not book.crossed[book.time < start].any()
    spoofs = int((injected.kind == 1).sum())  # 3 layers x (submit, delete) per episode; an
    assert spoofs % 6 == 0 and 0 < spoofs <= 30  # episode the book runs onto at once is skipped
    assert (injected.kind == 2).sum() == 500


def test_bad_input_says_what_is_wrong(stream):
    with pytest.raises(ConfigError, match="unknown anomaly kind 'spoof'.*spoofing"):
        inject(stream, ["spoof"], start_time=0.0)
    with pytest.raises(ConfigError, match="episodes must be an integer >= 1"):
        inject(stream, start_time=0.0, episodes=0)
    with pytest.raises(DataError, match="no message at or after"):
        inject(stream, start_time=1e9)
    with pytest.raises(ConfigError, match="clock interval"):
        LobAnomalyConfig(sampling="event")
    with pytest.raises(ConfigError, match="unknown order-book anomaly feature 'spred_bps'"):
        LobAnomalyConfig(features=("spred_bps",))
    with pytest.raises(ConfigError, match="unknown autoencoder 'lstm'"):
        LobAnomalyConfig(model="lstm")
    with pytest.raises(ConfigError, match="train_frac"):
        LobAnomalyConfig(train_frac=0.9, val_frac=0.1)
    with pytest.raises(ConfigError, match="mask_steps 50 must be below the lookback"):
        LobAnomalyConfig(mask_steps=50)
    with pytest.raises(ConfigError, match="mask_steps 5 needs a masked autoencoder.*not lstm_ae"):
        LobAnomalyConfig(model="lstm_ae", mask_steps=5)
    with pytest.raises(ConfigError, match="mask_steps must be an integer >= 1"):
        LobAnomalyConfig(mask_steps=0)
    with pytest.raises(ConfigError, match="unknown score_on 'msgs'.*messages"):
        LobAnomalyConfig(score_on="msgs")
    with pytest.raises(ConfigError, match="score_on 'messages' needs a message-rate feature"):
        LobAnomalyConfig(features=("imbalance",))
    assert LobAnomalyConfig(features=("imbalance",), score_on="all").score_on == "all"
    with pytest.raises(DataError, match="size_unit"):
        message_features(stream.messages, stream.book(), size_unit=0.0)
    with pytest.raises(DataError, match="leave"):
        evaluate_lob_anomalies(synthetic_stream(800, levels=5), SMALL, seeds=(0,))
    with pytest.raises(DataError, match="zscore_window of 5000 samples"):
        evaluate_lob_anomalies(stream, replace(SMALL, zscore_window=5000), seeds=(0,))
    with pytest.raises(ConfigError, match="at least one injection seed"):
        evaluate_lob_anomalies(stream, SMALL, seeds=())


# -- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, capsys):
    """``qseq lob anomaly`` through qseq's entry point."""
    from qseq.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["lob", "anomaly", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_cli_prints_and_writes_the_table(cli, tmp_path):
    out_file = tmp_path / "t.parquet"
    code, out, err = cli("--synthetic", "8000", "--synthetic-seed", "3", "--levels", "5",
                         "--sampling", "250ms", "--lookback", "8", "--hidden-size", "8",
                         "--zscore-window", "50", "--score-window", "50", "--epochs", "1",
                         "--seeds", "0", "--episodes", "4", "--device", "cpu",
                         "--out", str(out_file))
    assert code == 0, err
    assert "SYNTHETIC" in out and "autoencoder" in out and "chance" in out
    flat = " ".join(out.split())
    assert "scored: 9 of 24 inputs (score_on messages: submissions, cancellations," in flat, flat
    import pandas as pd

    table = pd.read_parquet(out_file)
    runs = pd.read_parquet(tmp_path / "t_runs.parquet")
    assert list(table["kind"]) == [*KINDS, "all"] and table["synthetic"].all()
    assert set(runs["method"]) >= {"autoencoder", "rolling_zscore", "isolation_forest"}


@pytest.mark.parametrize(("args", "message"), [
    ((), "give one order-book source"),
    (("--messages", "AAPL_2012-06-21_34200_57600_message_10.csv"), "anomaly injection needs"),
    (("--synthetic", "100", "--bitstamp-sample"), "--bitstamp-sample and --synthetic"),
    (("--synthetic", "100", "--seeds", "a"), "--seeds must be whole numbers"),
    (("--synthetic", "100", "--inject", "spoofing,boom"), "unknown anomaly kind 'boom'"),
    (("--synthetic", "100", "--sampling", "event"), "clock interval"),
    (("--synthetic", "100", "--out", "x.txt"), "--out must end in .csv or .parquet"),
    (("--synthetic", "100", "--features", "imbalance"), "score_on 'messages' needs a message-rate"),
])
def test_cli_mistakes_give_one_line(cli, args, message):
    code, _, err = cli(*args)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and message in lines[0], err
