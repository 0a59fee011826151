"""Labelled injection does exactly what each kind says; baselines and metrics known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qseq.anomaly.baselines import IsolationForestBaseline, RollingZScore, fit_pca_reconstruction
from qseq.anomaly.evaluate import detection_metrics, neighbour_purity, point_adjust
from qseq.anomaly.inject import KINDS, inject_anomalies
from qseq.anomaly.training import reconstruction_errors
from qseq.data.validate import validate_panel
from qseq.errors import ConfigError, DataError

from .conftest import TEST_START


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_only_what_it_says(spx, kind):
    out, labels = inject_anomalies(spx, [kind], TEST_START, per_ticker=3, seed=5)
    validate_panel(out)  # still valid OHLCV
    before = spx.index.get_level_values("date") < pd.Timestamp(TEST_START)
    pd.testing.assert_frame_equal(out[before], spx[before].astype(np.float64))
    assert labels["kind"].eq(kind).all() and labels["event"].nunique() == 3
    assert (labels["date"] >= pd.Timestamp(TEST_START)).all()
    a, b = spx.droplevel("ticker").astype(float), out.droplevel("ticker")
    changed = ~np.isclose(a.to_numpy(), b.to_numpy()).all(axis=1)
    changed_days = set(a.index[changed])
    labelled = set(labels["date"])
    if kind in ("spike", "stale", "volume_surge"):
        assert changed_days == labelled
    else:  # level shifts, splits and bursts move later prices too
        assert min(changed_days) == min(labelled)
    jump = np.log(b["close"]).diff() - np.log(a["close"]).diff()  # extra log return per bar
    for _, ev in labels.groupby("event"):
        t, size = ev["date"].iloc[0], ev["size"].iloc[0]
        if kind == "split":
            assert jump[t] == pytest.approx(-np.log(size))
            assert b.loc[t, "volume"] / b["volume"].shift(1)[t] == pytest.approx(
                size * a.loc[t, "volume"] / a["volume"].shift(1)[t])
        if kind in ("level_shift", "spike"):
            assert abs(jump[t]) > 0.01
        if kind == "stale":
            assert len(ev) == int(size) and (b.loc[ev["date"], ["open", "high", "low"]].nunique() == 1).all()
        if kind == "volume_surge":
            assert np.allclose(b.loc[ev["date"], "volume"], a.loc[ev["date"], "volume"] * size)
    again, labels2 = inject_anomalies(spx, [kind], TEST_START, per_ticker=3, seed=5)
    pd.testing.assert_frame_equal(again, out)


def test_injection_bad_input(spx):
    with pytest.raises(ConfigError, match="unknown anomaly kind 'glitch'"):
        inject_anomalies(spx, ["glitch"], TEST_START)
    with pytest.raises(DataError, match="too few"):
        inject_anomalies(spx, ["spike"], TEST_START, per_ticker=50)
    with pytest.raises(DataError, match="250 bars of history"):
        inject_anomalies(spx, ["spike"], "2009-06-01")


def _windows(values):
    from qseq.data.windows import Windows

    n = len(values)
    return Windows(values.astype(np.float32), np.zeros((n, 1), np.float32), np.zeros(n, np.int64),
                   pd.bdate_range("2020-01-01", periods=n).to_numpy(),
                   np.arange(7, n, dtype=np.int64), 8, ("a", "b"), ("T",))


def test_rolling_zscore_known_answer():
    values = np.zeros((30, 2))
    values[:, 0] = np.tile([1.0, -1.0], 15)
    values[25, 1] = 3.0
    z = RollingZScore(window=10).row_scores(_windows(values))
    assert np.isnan(z[:10]).all()
    sd = np.std(np.tile([1.0, -1.0], 5), ddof=1)
    assert z[12] == pytest.approx(1 / sd)  # past mean 0, past std of +-1
    # feature 1 had zero variance before: its z is undefined (not infinite) and left out
    assert z[25] == pytest.approx(abs(values[25, 0]) / sd)


def test_isolation_forest_and_full_pca():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 2))
    values[250] = [8.0, -8.0]
    w = _windows(values)
    s = IsolationForestBaseline(seed=0).fit(w.subset(np.arange(200))).row_scores(w)
    assert np.argmax(s) == 250
    pca = fit_pca_reconstruction(w, n_components=16)  # all components: exact reconstruction
    row_err, _ = reconstruction_errors(pca, w)
    assert np.nanmax(row_err) < 1e-9


def test_point_adjust_and_metrics_known_answer():
    event = np.array([-1, 0, 0, 0, -1, 1, -1, -1])
    score = np.array([0, 0, 5, 0, 5, 0, 0, 0], dtype=float)
    assert point_adjust(score > 1, event).tolist() == [0, 1, 1, 1, 1, 0, 0, 0]
    m = detection_metrics(score, event, 1.0)
    assert (m["precision"], m["recall"]) == (0.5, 0.25)
    assert m["pa_f1"] == pytest.approx(2 * 0.75 * 0.75 / 1.5)  # P 3/4, R 3/4 after adjusting
    assert m["detected"] == 0.5 and m["events"] == 2


def test_neighbour_purity():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    labels = np.repeat([0, 1, 2], 10)
    clustered = centres[labels] + rng.normal(scale=0.1, size=(30, 3))
    r = neighbour_purity(clustered, labels, k=3, n_perm=200)
    assert r["purity"] == 1.0 and r["chance"] == pytest.approx(9 / 29) and r["p_value"] < 0.01
    noise = neighbour_purity(rng.normal(size=(30, 3)), labels, k=3, n_perm=200)
    assert noise["purity"] < 0.6 and noise["p_value"] > 0.01


def test_summary_table_means_spread_and_verdict_known_answer():
    from qseq.anomaly.evaluate import summary_table

    pr = {("spike", 0): (0.9, 0.5, 0.1, 0.3), ("spike", 1): (0.7, 0.6, 0.2, 0.3),
          ("stale", 0): (0.2, 0.4, 0.1, 0.1), ("stale", 1): (0.6, 0.2, 0.1, 0.1)}
    methods = ("autoencoder", "rolling_zscore", "isolation_forest", "pca")
    res = pd.DataFrame([{"method": m, "kind": k, "seed": s, "pr_auc": v[i]}
                        for (k, s), v in pr.items() for i, m in enumerate(methods)])
    t = summary_table(res)
    assert list(t.index) == ["spike", "stale", "mean over kinds"]
    assert t.loc["spike", "autoencoder"] == pytest.approx(0.8)
    assert t.loc["spike", "autoencoder sd"] == pytest.approx(0.1)
    assert t.loc["stale", "rolling_zscore"] == pytest.approx(0.3)
    # mean over kinds per seed (AE: 0.55, 0.65), then over seeds
    assert t.loc["mean over kinds", "autoencoder"] == pytest.approx(0.6)
    assert t.loc["mean over kinds", "autoencoder sd"] == pytest.approx(0.05)
    assert t["ae wins"].tolist() == [True, True, True]
    assert t["ae seeds won"].tolist() == ["2/2", "1/2", "2/2"]  # stale seed 0: 0.2 < 0.4
