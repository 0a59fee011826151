"""Evaluation: detection metrics against injected labels, the harness that compares the
autoencoder with the baselines on the same data, and nearest-neighbour purity of embeddings.

Metrics (per bar over the test period):
- ``pr_auc``: average precision of the raw scores (threshold-free; plain, not point-adjusted).
- ``precision``/``recall``/``f1``: plain point-wise, at the calibrated threshold.
- ``pa_f1``: point-adjusted F1 (Xu et al., 2018): when any bar of an injected anomaly is
  flagged, all its bars count as detected; false alarms are unchanged. It flatters long
  anomalies, so it is reported beside, never instead of, the plain figures.
- ``detected``: share of injected anomalies with at least one flagged bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from qseq.anomaly.baselines import (
    IsolationForestBaseline,
    RollingZScore,
    fit_pca_reconstruction,
    row_score_frame,
)
from qseq.anomaly.detector import AnomalyDetector
from qseq.anomaly.inject import KINDS, inject_anomalies
from qseq.anomaly.scores import feature_scale, fit_normalisers, fit_units, score_windows
from qseq.anomaly.thresholds import calibrate
from qseq.data.windows import Windows
from qseq.errors import DataError

METHODS = ("autoencoder", "rolling_zscore", "isolation_forest", "pca")


def _prf(pred: np.ndarray, label: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(pred & label))
    precision = tp / max(float(pred.sum()), 1.0)
    recall = tp / max(float(label.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def point_adjust(pred: np.ndarray, event: np.ndarray) -> np.ndarray:
    """pred [M] bool, event [M] int (-1 = normal bar, else the anomaly id) -> adjusted pred."""
    pred = np.asarray(pred, dtype=bool).copy()
    hit = np.unique(event[pred & (event >= 0)])
    pred[np.isin(event, hit) & (event >= 0)] = True
    return pred


def detection_metrics(score: np.ndarray, event: np.ndarray, threshold: float) -> dict[str, float]:
    """Metrics for bar scores [M] against ``event`` ids [M] (-1 = normal bar)."""
    from sklearn.metrics import average_precision_score

    score = np.asarray(score, dtype=np.float64)
    label = event >= 0
    if not label.any() or label.all():
        raise DataError("metrics need both anomalous and normal bars")
    pred = score > threshold
    precision, recall, f1 = _prf(pred, label)
    _, _, pa_f1 = _prf(point_adjust(pred, event), label)
    detected = np.isin(np.unique(event[label]), event[pred & label]).mean()
    return {"events": int(len(np.unique(event[label]))), "pr_auc": float(average_precision_score(
        label, np.nan_to_num(score, nan=-np.inf))), "precision": precision, "recall": recall,
        "f1": f1, "pa_f1": pa_f1, "detected": float(detected)}


def neighbour_purity(vectors: np.ndarray, labels: np.ndarray, k: int = 5, n_perm: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Share of each point's ``k`` nearest neighbours (cosine) that carry its label.

    Returns ``purity``, ``chance`` (its expectation when labels are shuffled:
    mean over points of (n_label - 1) / (K - 1)) and ``p_value`` (one-sided, from ``n_perm``
    label permutations).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(vectors)
    if n <= k:
        raise DataError(f"neighbour purity needs more than k={k} points, got {n}")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    nbrs = np.argsort(-sim, axis=1)[:, :k]  # [K, k]
    codes = pd.factorize(labels)[0]

    def purity(c: np.ndarray) -> float:
        return float(np.mean(c[nbrs] == c[:, None]))

    observed = purity(codes)
    counts = np.bincount(codes)
    chance = float(np.mean((counts[codes] - 1) / (n - 1)))
    rng = np.random.default_rng(seed)
    perms = np.array([purity(rng.permutation(codes)) for _ in range(n_perm)])
    return {"purity": observed, "chance": chance,
            "p_value": float((1 + np.sum(perms >= observed)) / (1 + n_perm))}


def _in_span(dates: np.ndarray, span: list[str] | None) -> np.ndarray:
    if not span:
        return np.zeros(len(dates), dtype=bool)
    return (dates >= np.datetime64(span[0])) & (dates <= np.datetime64(span[1]))


def _labelled(frame: pd.DataFrame, labels: pd.DataFrame, test_start: pd.Timestamp) -> pd.DataFrame:
    frame = frame[pd.to_datetime(frame["date"]) >= test_start]
    ev = labels.set_index(["date", "ticker"])["event"]
    key = pd.MultiIndex.from_arrays([pd.to_datetime(frame["date"]), frame["ticker"]])
    return frame.assign(event=ev.reindex(key).fillna(-1).astype(int).to_numpy())


def evaluate_detectors(
    panel: pd.DataFrame,
    detector: AnomalyDetector,
    test_start: str | pd.Timestamp,
    *,
    kinds: Sequence[str] = KINDS,
    per_ticker: int = 8,
    seeds: Sequence[int] = (0,),
    zscore_window: int = 60,
) -> pd.DataFrame:
    """Fit ``detector`` on the clean ``panel`` (its normal period must end before
    ``test_start``), fit the baselines on the same training rows and calibrate every method's
    threshold on the same calibration bars (the last bars of the calibration windows), then
    for each kind and seed inject labelled anomalies after ``test_start`` and score every
    method on the test bars. PCA is scored by the autoencoder's own scoring code and settings;
    with ``score_combine="calibrated"`` the rolling z-score's per-feature |z| are combined the
    same way (each over its 99th percentile on the autoencoder's unit bars, then the max).

    Returns one row per (method, kind, seed) with :func:`detection_metrics`.
    """
    test_start = pd.Timestamp(test_start)
    detector.fit(panel)
    if pd.Timestamp(detector.train_end_) >= test_start:
        raise DataError(f"the detector's normal period ends {detector.train_end_}, not before "
                        f"the test period ({test_start.date()}); set train_end earlier")
    spec = detector.config
    scaled = detector.scaled_windows(panel)
    dates = scaled.anchor_date
    train = scaled.subset(_in_span(dates, detector.split_dates_["train"]))
    in_calib = _in_span(dates, detector.split_dates_["calibration"])  # [N] calibration anchors
    is_normal = dates <= np.datetime64(detector.train_end_)
    normal = scaled.subset(is_normal)

    row_methods = {"rolling_zscore": RollingZScore(zscore_window).fit(train),
                   "isolation_forest": IsolationForestBaseline(seed=spec.seed).fit(train)}
    pca = fit_pca_reconstruction(train, spec.hidden_size, spec.seed)
    pca_norms = fit_normalisers(pca, train)
    calibrated = spec.score_combine == "calibrated"
    calib_normal = in_calib[is_normal]
    pca_normal = score_windows(pca, normal, *pca_norms, scale_window=spec.score_window,
                               combine="max" if calibrated else spec.score_combine)
    # the calibrated combination's units for PCA and the z-score, from their own scores of
    # the same latest normal bars the autoencoder's come from
    pca_scale = zscore_scale = None
    if calibrated:
        in_units = _in_span(dates, detector.split_dates_["units"]) & is_normal
        pca_normal, pca_scale = fit_units(pca_normal, scaled.feature_names,
                                          np.flatnonzero(in_units[is_normal]))
        zs = row_methods["rolling_zscore"].feature_scores(scaled)[scaled.anchors[in_units]]
        zscore_scale = feature_scale(zs)

    def pca_scores(windows: Windows) -> pd.DataFrame:
        return score_windows(pca, windows, *pca_norms, scale_window=spec.score_window,
                             combine=spec.score_combine, scale=pca_scale)

    def row_scores(name: str, windows: Windows) -> np.ndarray:
        if name == "rolling_zscore":
            return row_methods[name].row_scores(windows, zscore_scale)
        return row_methods[name].row_scores(windows)

    thresholds = {"autoencoder": detector.threshold_.value,
                  "pca": calibrate(pca_normal["score"].to_numpy()[calib_normal],
                                   spec.target_far, spec.threshold).value}
    for name in row_methods:
        s = row_scores(name, scaled)[scaled.anchors[in_calib]]
        thresholds[name] = calibrate(s, spec.target_far, spec.threshold).value

    def score_all(injected: pd.DataFrame) -> dict[str, pd.DataFrame]:
        ws = detector.scaled_windows(injected)
        out = {"autoencoder": detector.score(injected), "pca": pca_scores(ws)}
        for name in row_methods:
            out[name] = row_score_frame(ws, row_scores(name, ws))
        return out

    rows = []
    for kind in kinds:
        for seed in seeds:
            injected, labels = inject_anomalies(panel, [kind], test_start, per_ticker=per_ticker,
                                                seed=seed)
            for name, frame in score_all(injected).items():
                frame = _labelled(frame[["date", "ticker", "score"]], labels, test_start)
                metrics = detection_metrics(frame["score"].to_numpy(), frame["event"].to_numpy(),
                                            thresholds[name])
                rows.append({"method": name, "kind": kind, "seed": seed, **metrics})
    return pd.DataFrame(rows)


BASELINES = tuple(m for m in METHODS if m != "autoencoder")


def summary_table(results: pd.DataFrame, metric: str = "pr_auc") -> pd.DataFrame:
    """``metric`` per kind (rows, then ``mean over kinds``) and method (columns): the mean over
    seeds, with ``<method> sd`` columns (standard deviation over seeds; the mean over kinds is
    taken per seed first), and ``ae wins`` (the autoencoder's mean above every baseline's) and
    ``ae seeds won`` (seeds on which it is above every baseline)."""
    per_seed = results.pivot_table(index=["kind", "seed"], columns="method", values=metric)
    per_seed = per_seed[[m for m in METHODS if m in per_seed.columns]]
    overall = per_seed.groupby(level="seed").mean()
    overall.index = pd.MultiIndex.from_product([["mean over kinds"], overall.index],
                                               names=["kind", "seed"])
    per_seed = pd.concat([per_seed, overall])
    kinds = list(dict.fromkeys(per_seed.index.get_level_values("kind")))
    grouped = per_seed.groupby(level="kind", sort=False)
    mean, sd = grouped.mean().loc[kinds], grouped.std(ddof=0).loc[kinds]
    table = mean.copy()
    for m in mean.columns:
        table[f"{m} sd"] = sd[m]
    others = [m for m in BASELINES if m in per_seed.columns]
    if "autoencoder" in per_seed.columns and others:
        table["ae wins"] = mean["autoencoder"] > mean[others].max(axis=1)
        won = per_seed["autoencoder"] > per_seed[others].max(axis=1)
        n = grouped.size().loc[kinds]
        table["ae seeds won"] = [f"{int(won.loc[k].sum())}/{int(n.loc[k])}" for k in kinds]
    return table
