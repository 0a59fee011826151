"""Scores with known answers, causal baseline inputs, and block evaluation with intervals."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.config import TrainConfig
from qseq.lob.evaluate import baseline_inputs, classification_scores, confusion, evaluate_blocks
from qseq.lob.synthetic import simulate
from qseq.lob.windows import lob_windows


def test_macro_f1_and_confusion_by_hand():
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 2, 2])
    # class 0: P 1/1, R 1/2 -> F1 2/3; class 1: P 2/3, R 2/3 -> 2/3; class 2: P 1/2, R 1 -> 2/3
    scores = classification_scores(y, p)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["macro_f1"] == pytest.approx(2 / 3)
    assert confusion(y, p).tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    # a class never predicted nor present still counts (F1 0), so always-stationary scores 1/3 * F1
    only = classification_scores(np.array([1, 1, 0]), np.array([1, 1, 1]))
    assert only["macro_f1"] == pytest.approx((0 + 0.8 + 0) / 3)


def test_baseline_inputs_are_causal():
    book = simulate(3000, levels=4, seed=1)[1]
    _, _, _, info = lob_windows(book, lookback=10, horizons=(5,))
    a = baseline_inputs(book, info, 10)
    book.ask_size[2000:] *= 2  # the future changes
    b = baseline_inputs(book, info, 10)
    rows = info.index < 2000
    assert np.array_equal(a[rows], b[rows]) and not np.array_equal(a[~rows], b[~rows])


def test_block_evaluation_reports_means_intervals_and_the_difference():
    from qseq.config import LobConfig

    book = simulate(8000, levels=3, seed=2)[1]
    cfg = LobConfig(model="gru", levels=3, lookback=10, horizons=(10,), hidden_size=8,
                    train=TrainConfig(epochs=1, batch_size=256))
    seen = []
    table = evaluate_blocks(book, cfg, 3, device="cpu", progress=lambda b, n: seen.append((b, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    model = table.loc[(10, "model")]
    base = table.loc[(10, "logistic_imbalance")]
    assert model["blocks"] == 3 and model["ci_low"] <= model["macro_f1"] <= model["ci_high"]
    assert model["diff_vs_baseline"] == pytest.approx(model["macro_f1"] - base["macro_f1"])
    assert 0 <= model["p_value"] <= 1
    assert np.isnan(base["diff_vs_baseline"])
    # accuracy is the mean over blocks; the confusion matrices pool the blocks' test windows
    assert 0 <= model["accuracy"] <= 1 and 0 <= base["accuracy"] <= 1
    pooled = {m: np.asarray(c) for m, c in table.attrs["confusion"][10].items()}
    assert set(pooled) == {"model", "majority", "logistic_imbalance"}
    totals = {m: int(c.sum()) for m, c in pooled.items()}
    assert len(set(totals.values())) == 1 and totals["model"] > 0  # the same test windows
    truth = {m: c.sum(axis=1).tolist() for m, c in pooled.items()}
    assert truth["model"] == truth["majority"] == truth["logistic_imbalance"]


def test_split_confusion_matches_the_scores_and_survives_a_checkpoint(tmp_path):
    from qseq.lob.model import LobForecaster

    book = simulate(6000, levels=3, seed=4)[1]
    model = LobForecaster(model="gru", levels=3, lookback=10, horizons=(5, 20), hidden_size=8,
                          train=TrainConfig(epochs=1, batch_size=256), device="cpu").fit(book)
    test = model.metrics_["test"]
    for k, by_method in test.attrs["confusion"].items():
        for method, counts in by_method.items():
            counts = np.asarray(counts)
            row = test.loc[(k, method)]
            assert counts.sum() == row["n"]
            assert np.trace(counts) / counts.sum() == pytest.approx(row["accuracy"])
    loaded = LobForecaster.load(model.save(tmp_path / "ckpt"), device="cpu")
    for k, by_method in test.attrs["confusion"].items():
        for method, counts in by_method.items():
            np.testing.assert_array_equal(loaded.metrics_["test"].attrs["confusion"][k][method],
                                          counts)
