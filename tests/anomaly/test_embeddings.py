"""Shared ticker embeddings learn groups: on a synthetic panel of three co-moving groups whose
dynamics differ, tickers of a group end up nearest to each other.

The detector sees one ticker's window at a time, so co-movement alone (same dates, same shocks)
is invisible to it; what the embedding can learn is how a ticker's windows look. The groups
differ in volatility level, return autocorrelation and how volume follows |return|.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.anomaly import AnomalyDetector
from qseq.anomaly.evaluate import neighbour_purity

GROUPS = {0: (0.005, 0.4, 0.0), 1: (0.03, -0.4, 0.0), 2: (0.012, 0.0, 3.0)}  # vol, AR(1), vol->volume
PER_GROUP = 4


def synthetic_panel(n_bars: int = 500, seed: int = 0) -> tuple[pd.DataFrame, dict[str, int]]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=n_bars)
    frames, group_of = [], {}
    for g, (vol, ar, coupling) in GROUPS.items():
        factor = rng.normal(size=n_bars)  # the group's common shock: its tickers co-move
        for i in range(PER_GROUP):
            name = f"G{g}T{i}"
            group_of[name] = g
            shock = 0.7 * factor + 0.3 * rng.normal(size=n_bars)
            ret = np.zeros(n_bars)
            for t in range(1, n_bars):
                ret[t] = ar * ret[t - 1] + vol * shock[t]
            close = 100 * np.exp(np.cumsum(ret))
            open_ = np.r_[100.0, close[:-1]]
            wick = np.abs(rng.normal(size=(2, n_bars))) * vol / 2
            high = np.maximum(open_, close) * np.exp(wick[0])
            low = np.minimum(open_, close) * np.exp(-wick[1])
            volume = 1e6 * np.exp(0.3 * rng.normal(size=n_bars) + coupling * np.abs(ret) / vol * 0.3)
            frames.append(pd.DataFrame({"date": dates, "ticker": name, "open": open_, "high": high,
                                        "low": low, "close": close, "volume": volume}))
    panel = pd.concat(frames).set_index(["date", "ticker"]).sort_index()
    return panel, group_of


def test_embeddings_cluster_by_group():
    panel, group_of = synthetic_panel()
    det = AnomalyDetector("gru_ae", lookback=16, hidden_size=8, ticker_dim=2, val_frac=0.1,
                          calib_frac=0.2, train_end="2016-06-30",
                          train=qseq.TrainConfig(epochs=4, batch_size=128, lr=1e-2),
                          device="cpu").fit(panel)
    emb = det.embeddings()
    labels = np.array([group_of[t] for t in emb.index])
    r = neighbour_purity(emb.to_numpy(), labels, k=PER_GROUP - 1, n_perm=500)
    assert r["chance"] == pytest.approx((PER_GROUP - 1) / (len(labels) - 1))
    assert r["purity"] >= 0.6 and r["p_value"] < 0.01, r
