"""Order-book anomalies: injected spoofing / layering and quote-stuffing episodes, clock-sampled
book and message-rate features, and the reconstruction autoencoder against rolling z-score,
IsolationForest and PCA on the same features, scored by PR-AUC per kind.

The pipeline (:func:`evaluate_lob_anomalies`), one arrow per function:

    MessageStream (live messages + how its book is rebuilt)
      -> features of the clean stream on a clock (:func:`anomaly_features`)
      -> chronological split (train / validation / test), scaler fit on training rows only
      -> autoencoder (registry, ``kind="autoencoder"``) trained on the clean training windows
         with :func:`qseq.anomaly.training.fit_autoencoder`; baselines fit on the same rows
      -> per seed: episodes injected after the test start (:func:`inject`), the book rebuilt by
         the reconstruction engine, features and labels per sample, causal scores of every method
      -> PR-AUC (and point metrics at a threshold set on validation scores) per kind and overall

Injection uses :func:`qseq.lob.synthetic.inject_spoofing` and ``inject_quote_stuffing`` on the
live message stream; the book is then rebuilt from the messages: from empty for a synthetic
stream, and for a level-3 capture (the real Bitstamp sample) from its snapshot-seeded state by
:func:`qseq.lob.level3.level3_book` itself (snapshot seeds the state, crossing flashes left out).

Labels: a sample (clock tick ``g[s]``, covering events in ``(g[s-1], g[s]]``, the same rule
:func:`qseq.lob.features.sample` uses) is anomalous for a kind when an injected message of that
kind falls in it. Samples where an injected order only rests (between the samples of its
submission and its deletion: the book shows it, nothing happens) are neither: they are left out
of the metrics, as are samples touched only by another kind; ``all`` pools the kinds.

Message features (:data:`MESSAGE_FEATURES`, per sample interval, causal: a sample reads messages
up to its own grid time and the book of the previous sample): counts of submissions,
cancellations (types 2-3) and executions, the cancel-to-submit log ratio, the volume cancelled
by orders that lived less than ``short_life`` seconds, cancellations of orders that lived less
than ``flash_life``, the largest submission, the volume submitted and cancelled behind the best
``far_level`` levels, and the log change of the depth behind the touch. Counts are
variance-stabilised (``2 sqrt(n + 3/8)``: a log squeezes a 50-order burst into the noise of a
busy stream); volumes are in units of the median submission size of the training period
(``size_unit``), log1p-compressed, and so are the level sizes; level prices are left out by
default (they jump whenever a level empties and drown the placement signals).

Scores: every method but IsolationForest has a per-feature score (the autoencoder's and PCA's
causal contributions from :mod:`qseq.anomaly.scores`, each feature's rolling z-score);
``score_combine="calibrated"`` divides each by its 99% quantile on the validation samples and
takes the max, so a heavy-tailed feature does not outshout the others. ``score_on="messages"``
(the default) combines only the message-rate features' scores, and IsolationForest sees only
those columns: the level sizes and imbalances stay inputs of the autoencoder and PCA (the
context the messages are predicted from), but scored they add false alarms and almost no
signal (per-feature PR-AUC in bench/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qseq.config import (
    LOB_SCORE_COMBINE,
    LobAnomalyConfig,
)
from qseq.errors import ConfigError, DataError
from qseq.lob.anomaly_data import (
    HIT,
    KINDS,
    MESSAGE_FEATURES,
    MessageStream,
    _check_kinds,
    _tolerance,
    anomaly_features,
    inject,
    sample_labels,
    typical_size,
)
from qseq.lob.features import sample

if TYPE_CHECKING:
    import pandas as pd

    from qseq.data.windows import StandardScaler, Windows
    from qseq.lob.windows import LobSplit

log = logging.getLogger(__name__)

ALL = "all"
METHODS = ("autoencoder", "rolling_zscore", "isolation_forest", "pca")
COMBINE = LOB_SCORE_COMBINE


# ------------------------------------------------------------------------------ evaluation


@dataclass
class _Fitted:
    """Everything fit on the clean stream: the split, scaler, volume unit, models, thresholds."""

    config: LobAnomalyConfig
    split: LobSplit
    scaler: StandardScaler
    size_unit: float
    names: tuple[str, ...]
    models: dict
    thresholds: dict
    scales: dict
    scored: np.ndarray  # [C] columns whose scores count (``config.score_on``)


def _windows(values: np.ndarray, time: np.ndarray, names: tuple[str, ...], lookback: int,
             anchors: np.ndarray, source: str) -> Windows:
    from qseq.data.windows import Windows
    from qseq.lob.windows import to_datetime

    n = len(values)
    return Windows(values, np.zeros((n, 0), np.float32), np.zeros(n, np.int64), to_datetime(time),
                   anchors.astype(np.int64), lookback, names, (source or "order book",))


def _anchors(values: np.ndarray, lookback: int, rows: range) -> np.ndarray:
    """Rows of ``rows`` that end a window of ``lookback`` finite rows inside ``rows``."""
    bad = np.r_[0, np.cumsum(~np.isfinite(values).all(axis=1))]
    r = np.arange(rows.start + lookback - 1, rows.stop)
    return r[bad[r + 1] - bad[r + 1 - lookback] == 0]


def _scored_columns(names: tuple[str, ...], score_on: str) -> np.ndarray:
    """[C] positions in ``names`` of the features whose scores count."""
    if score_on == "all":
        return np.arange(len(names))
    return np.flatnonzero(np.isin(names, MESSAGE_FEATURES))


def _columns(windows: Windows, columns: np.ndarray) -> Windows:
    """``windows`` with only the feature ``columns``."""
    from dataclasses import replace

    return replace(windows, values=windows.values[:, columns],
                   feature_names=tuple(np.asarray(windows.feature_names)[columns]))


def _feature_scores(fitted: _Fitted, windows: Windows) -> dict[str, np.ndarray]:
    """[R, C] causal score of every row and scored column (``fitted.scored``) for the methods
    that have one (NaN where none): the autoencoder's and PCA's contributions
    (:func:`qseq.anomaly.scores.score_frame`, from windows of every input) and the rolling
    z-score of each feature alone."""
    from qseq.anomaly.scores import score_windows

    cfg, out, n = fitted.config, {}, len(windows.values)
    for name in ("autoencoder", "pca"):
        model, norms = fitted.models[name]
        frame = score_windows(model, windows, *norms, scale_window=cfg.score_window)
        out[name] = np.full((n, len(fitted.names)), np.nan)
        out[name][windows.anchors] = frame[list(windows.feature_names)].to_numpy()
    out["rolling_zscore"] = fitted.models["rolling_zscore"].feature_scores(windows)
    return {name: per[:, fitted.scored] for name, per in out.items()}


def _method_scores(fitted: _Fitted, windows: Windows) -> dict[str, np.ndarray]:
    """[R] causal score of every row per method (NaN where a method has none): the per-feature
    scores combined by ``config.score_combine`` (``calibrated``: each over its validation
    quantile ``fitted.scales``, then the max), and IsolationForest's own score."""
    from qseq.anomaly.scores import row_max

    out = {}
    for name, per in _feature_scores(fitted, windows).items():
        if fitted.config.score_combine == "calibrated":
            per = per / fitted.scales[name]
        if fitted.config.score_combine == "mean":
            none = np.isnan(per).all(axis=1)
            out[name] = np.where(none, np.nan, per.mean(axis=1))
        else:
            out[name] = row_max(per)
    forest = fitted.models["isolation_forest"]
    out["isolation_forest"] = forest.row_scores(_columns(windows, fitted.scored))
    return {name: out[name] for name in METHODS}


def fit_detectors(stream: MessageStream, config: LobAnomalyConfig, *,
                  device: str = "auto") -> tuple[_Fitted, np.ndarray]:
    """Fit the autoencoder and the baselines on the clean stream's training samples; set every
    method's threshold on its validation scores. Returns the fitted state and the grid [S]."""
    import torch

    from qseq.anomaly.baselines import IsolationForestBaseline, RollingZScore, fit_pca_reconstruction
    from qseq.anomaly.scores import feature_scale, fit_normalisers
    from qseq.anomaly.thresholds import calibrate
    from qseq.anomaly.training import fit_autoencoder
    from qseq.lob.windows import fit_scaler, lob_splits
    from qseq.models import ModelConfig, build_model

    book = stream.book()
    sampled, _ = sample(book, config.sampling)
    grid = sampled.time
    split = lob_splits(len(grid), train=config.train_frac, val=config.val_frac,
                       purge=config.lookback)
    if config.zscore_window >= split.val.start:
        raise DataError(f"zscore_window of {config.zscore_window} samples leaves the rolling "
                        f"z-score no score before validation ({split.val.start} samples); use a "
                        "smaller zscore_window or a longer stream")
    size_unit = typical_size(stream.messages, grid[split.train.stop - 1])
    values, names, grid = anomaly_features(stream.messages, book, config, size_unit=size_unit)
    scaler = fit_scaler(values, split)
    scaled = scaler.transform(values)
    train_rows, val_rows = (_anchors(scaled, config.lookback, r) for r in (split.train, split.val))
    if len(train_rows) < 64 or len(val_rows) < 20:
        raise DataError(f"{len(grid)} samples of {config.sampling} leave {len(train_rows)} training "
                        f"and {len(val_rows)} validation windows (need >= 64 and >= 20); use a "
                        "longer stream or a shorter sampling interval")
    train = _windows(scaled, grid, names, config.lookback, train_rows, stream.source)
    val = _windows(scaled, grid, names, config.lookback, val_rows, stream.source)
    mc = ModelConfig(input_size=len(names), horizons=1, hidden_size=config.hidden_size,
                     num_layers=config.num_layers, lookback=config.lookback,
                     mask_steps=config.mask_steps)
    torch.manual_seed(config.seed)
    model = build_model(config.model, mc, kind="autoencoder")
    fit_autoencoder(model, train, val, config.train, seed=config.seed, device=device,
                    last_bar_weight=config.last_bar_weight)
    model.cpu().eval()
    pca = fit_pca_reconstruction(train, config.hidden_size, config.seed)
    scored = _scored_columns(names, config.score_on)
    models = {"autoencoder": (model, fit_normalisers(model, train)),
              "pca": (pca, fit_normalisers(pca, train)),
              "rolling_zscore": RollingZScore(config.zscore_window).fit(train),
              "isolation_forest": IsolationForestBaseline(seed=config.seed).fit(
                  _columns(train, scored))}
    fitted = _Fitted(config, split, scaler, size_unit, names, models, {}, {}, scored)
    every = _windows(scaled, grid, names, config.lookback,
                     _anchors(scaled, config.lookback, range(0, len(grid))), stream.source)
    fitted.scales = {k: feature_scale(v[val_rows]) for k, v in _feature_scores(fitted, every).items()}
    scores = _method_scores(fitted, every)
    fitted.thresholds = {k: calibrate(v[val_rows], config.target_far, "quantile").value
                         for k, v in scores.items()}
    log.info("fitted %s on %d training windows (%d features, %d scored)", config.model,
             len(train_rows), len(names), len(scored))
    return fitted, grid


def _runs(mask: np.ndarray) -> np.ndarray:
    """[S] int64 id of each run of consecutive True (-1 where False)."""
    start = mask & ~np.r_[False, mask[:-1]]
    return np.where(mask, np.cumsum(start) - 1, -1)


def evaluate_lob_anomalies(stream: MessageStream, config: LobAnomalyConfig | None = None, *,
                           kinds: Sequence[str] = KINDS, seeds: Sequence[int] = (0, 1, 2),
                           episodes: int = 20, size_multiple: float = 10.0,
                           burst_orders: int = 50, device: str = "auto") -> pd.DataFrame:
    """Fit every method on the clean ``stream`` (:func:`fit_detectors`), then per seed inject
    ``episodes`` of each of ``kinds`` into the test period (:func:`inject`, with
    ``size_multiple`` and ``burst_orders``), rebuild the book and score it.

    Returns one row per (method, kind, seed); kind ``all`` pools the kinds. Columns: method,
    kind, seed, events (runs of labelled samples), positives, samples, chance (the positive
    share: a random score's PR-AUC), and :func:`qseq.anomaly.evaluate.detection_metrics`
    (pr_auc; precision, recall, f1, pa_f1, detected at the validation-calibrated threshold).
    ``frame.attrs``: source, synthetic, sampling, features.
    """
    from qseq.anomaly.evaluate import detection_metrics

    config = config or LobAnomalyConfig()
    kinds = _check_kinds(kinds)
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError("give at least one injection seed")
    fitted, clean_grid = fit_detectors(stream, config, device=device)
    test_start = clean_grid[fitted.split.test.start]
    rows = []
    for seed in seeds:
        injected = inject(stream, kinds, start_time=test_start, seed=seed, episodes=episodes,
                          size_multiple=size_multiple, burst_orders=burst_orders)
        book = stream.book(injected.messages, injected.kind != 0)
        values, _, grid = anomaly_features(injected.messages, book, config,
                                           size_unit=fitted.size_unit)
        scaled = fitted.scaler.transform(values)
        windows = _windows(scaled, grid, fitted.names, config.lookback,
                           _anchors(scaled, config.lookback, range(0, len(grid))), stream.source)
        scores = _method_scores(fitted, windows)
        labels = sample_labels(grid, injected, _tolerance(np.r_[grid, injected.messages.time]))
        test = np.zeros(len(grid), bool)
        test[fitted.split.test.start:] = True
        touched = np.any([labels[k] > 0 for k in kinds], axis=0)
        for kind in (*kinds, ALL):
            positive = np.any([labels[k] == HIT for k in (kinds if kind == ALL else (kind,))],
                              axis=0)
            use = test & (positive | ~touched)
            event = _runs(positive)[use]
            for method, score in scores.items():
                ok = np.isfinite(score[use])
                metrics = detection_metrics(score[use][ok], event[ok], fitted.thresholds[method])
                rows.append({"method": method, "kind": kind, "seed": seed,
                             "positives": int((event[ok] >= 0).sum()), "samples": int(ok.sum()),
                             "chance": float((event[ok] >= 0).mean()), **metrics})
        log.info("seed %d: %s", seed, {r["method"]: round(r["pr_auc"], 3) for r in rows[-4:]})
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.attrs.update(source=stream.source, synthetic=stream.synthetic, sampling=config.sampling,
                       features=list(fitted.names), model=config.model,
                       scored=[fitted.names[j] for j in fitted.scored])
    return frame


def summary(results: pd.DataFrame, metric: str = "pr_auc") -> pd.DataFrame:
    """``metric`` per kind (rows: each kind, then ``all``) and method (columns), the mean over
    seeds with ``<method> sd`` (standard deviation over seeds), ``chance`` (the mean positive
    share, a random score's PR-AUC), ``ae wins`` and ``ae seeds won`` (see
    :func:`qseq.anomaly.evaluate.summary_table`)."""
    from qseq.anomaly.evaluate import summary_table

    table = summary_table(results, metric).drop(index="mean over kinds")
    table = table.loc[[k for k in (*KINDS, ALL) if k in table.index]]
    table.insert(0, "chance", results.groupby("kind")["chance"].mean().loc[table.index])
    return table
