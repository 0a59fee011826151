"""The anomaly facade: ``AnomalyDetector(model=..., ...)`` with ``fit``, ``score``, ``detect``,
``save`` and ``load`` over a price panel of one or many tickers. The CLI calls exactly these.

Periods (by window end date): everything up to ``train_end`` is the *normal* period, split
chronologically into training / validation (early stopping) / calibration windows with a purge
gap of ``lookback`` bars, so no calibration window shares a bar with a training window. The
feature scaler and the per-ticker score normalisation see training rows only; the threshold
sees calibration rows only. Bars after ``train_end`` are what the detector is for.

Scores are causal: a bar's score uses that bar and earlier ones only (its reconstruction as the
last bar of the window ending on it, scaled by the errors of the previous ``score_window`` bars;
see :mod:`qseq.anomaly.scores`), so later data never changes an earlier score.

With ``ensemble=N > 1`` the model is an :class:`~qseq.models.ensemble.Ensemble` of N
autoencoders, member k trained exactly as a lone detector with seed ``seed + k``; every error
(normalisers, threshold, scores) is that of the members' mean reconstruction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from qseq.anomaly.events import merge_events
from qseq.anomaly.scores import (
    MIN_UNIT_BARS,
    TickerNormaliser,
    fit_normalisers,
    fit_units,
    latest_rows,
    score_windows,
)
from qseq.anomaly.thresholds import Threshold, calibrate
from qseq.anomaly.training import fit_autoencoder
from qseq.config import ANOMALY_FEATURES as DEFAULT_FEATURES
from qseq.config import AnomalyConfig
from qseq.data.validate import validate_panel
from qseq.data.windows import StandardScaler, Windows, chronological_split, make_windows, rows_covered
from qseq.errors import ConfigError, DataError, NotFittedError
from qseq.estimator import Estimator, split_dates
from qseq.models import ModelConfig, build_model
from qseq.models.ensemble import Ensemble
from qseq.train import EpochLog, TrainResult

log = logging.getLogger(__name__)
__all__ = ["DEFAULT_FEATURES", "AnomalyDetector"]
MIN_TRAIN_WINDOWS = 64
SCORING = "last_bar_trailing_v1"  # the score layout a checkpoint's normalisers belong to


class AnomalyDetector(Estimator):
    """Reconstruction-based anomaly detector over a panel, one autoencoder for all tickers.

    ``AnomalyDetector(model="masked_lstm_ae", lookback=32, ...)`` or ``AnomalyDetector(config)``: the
    keywords are the fields of :class:`qseq.config.AnomalyConfig`. ``fit(panel)`` trains on the
    normal period (up to ``train_end``; by default the first half of the dates), normalises
    scores per ticker and calibrates the threshold. ``score`` gives per-bar scores with
    per-feature contributions; ``detect`` merges flagged bars into events. Fitted attributes
    end in ``_``.
    """

    config_class = AnomalyConfig
    kind = "anomaly_detector"
    retrain = "re-train the detector"
    config: AnomalyConfig

    # -- fitting -------------------------------------------------------------------------
    def _windows(self, panel: pd.DataFrame, tickers: Sequence[str] | None = None) -> Windows:
        spec = self.config
        return make_windows(panel, spec.features, spec.lookback, (1,), tickers=tickers,
                            require_targets=False)

    def _train_end(self, windows: Windows) -> pd.Timestamp:
        dates = np.unique(windows.anchor_date)
        if len(dates) < 4:
            raise DataError(f"only {len(dates)} window dates; need more data")
        if self.config.train_end is None:
            return pd.Timestamp(dates[len(dates) // 2 - 1])
        end = pd.Timestamp(self.config.train_end)
        if end < pd.Timestamp(dates[0]):
            raise DataError(f"train_end {end.date()} is before the first complete window "
                            f"({pd.Timestamp(dates[0]).date()}); pick a later date")
        return end

    def fit(self, panel: pd.DataFrame, *, progress: bool = False,
            on_epoch: Callable[[EpochLog], None] | None = None) -> AnomalyDetector:
        """Fit on a panel indexed by (date, ticker). Returns ``self``."""
        import torch

        spec = self.config
        validate_panel(panel, min_rows=spec.lookback + 2)
        windows = self._windows(panel)
        end = self._train_end(windows)
        normal = windows.subset(windows.anchor_date <= np.datetime64(end))
        split = chronological_split(normal, spec.val_frac, spec.calib_frac, gap=spec.lookback)
        if len(split.train) < MIN_TRAIN_WINDOWS:
            raise DataError(f"only {len(split.train)} training windows before {end.date()} (need "
                            f">= {MIN_TRAIN_WINDOWS}); use a later --train-end or a shorter lookback")
        if len(split.test) == 0:
            raise DataError(f"no calibration windows before {end.date()} (the purge gap of "
                            f"{spec.lookback} bars takes the whole calibration share); use a later "
                            "--train-end, a shorter --lookback or more history")
        train_w = normal.subset(split.train)
        self.scaler_ = StandardScaler().fit(windows.values[rows_covered(train_w)])
        scaled = normal.with_values(self.scaler_.transform(windows.values))
        self.tickers_ = windows.tickers
        self.model_config_ = ModelConfig(
            input_size=len(spec.features), horizons=1, hidden_size=spec.hidden_size,
            num_layers=spec.num_layers, dropout=spec.dropout, n_tickers=len(windows.tickers),
            ticker_dim=spec.ticker_dim, lookback=spec.lookback)
        torch.manual_seed(spec.seed)
        self.model_ = self._build_model(self.model_config_)
        self._init_embeddings(self.model_)
        self.result_: TrainResult = self._train(
            fit_autoencoder, spec.train.epochs, progress=progress, on_epoch=on_epoch,
            model=self.model_, train=scaled.subset(split.train),
            val=scaled.subset(split.val) if len(split.val) else None, config=spec.train,
            seed=spec.seed, device=self.device, last_bar_weight=spec.last_bar_weight)
        self.model_.cpu().eval()

        self.bar_norm_, self.window_norm_ = fit_normalisers(self.model_, scaled.subset(split.train),
                                                            self.device)
        # every normal window is scored so that calibration bars carry their trailing error
        # scale (earlier bars only); the threshold sees the calibration bars' scores only
        self.feature_scale_ = None
        calibrated = spec.score_combine == "calibrated"
        # one row per window, in anchor order
        normal_scores = self._score_scaled(scaled, "max" if calibrated else None)
        units = np.zeros(0, dtype=np.int64)
        if calibrated:  # each feature in units of its 99th percentile on the latest normal bars
            units = latest_rows(normal.anchor_date, max(len(split.test), MIN_UNIT_BARS))
            normal_scores, self.feature_scale_ = fit_units(normal_scores, spec.features, units)
        calib = normal_scores["score"].to_numpy()[split.test]
        self.threshold_: Threshold = calibrate(calib, spec.target_far, spec.threshold)
        dates = normal.anchor_date
        self.split_dates_ = split_dates(dates, train=split.train, val=split.val,
                                        calibration=split.test, units=units)
        self.train_end_ = str(end.date())
        return self

    # -- scoring -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this AnomalyDetector is not fitted; call fit(panel) or "
                                 "AnomalyDetector.load(path) first")

    def _score_scaled(self, scaled: Windows, combine: str | None = None) -> pd.DataFrame:
        return score_windows(self.model_, scaled, self.bar_norm_, self.window_norm_, self.device,
                             scale_window=self.config.score_window,
                             combine=combine or self.config.score_combine, scale=self.feature_scale_)

    def scaled_windows(self, panel: pd.DataFrame) -> Windows:
        """Every complete window of ``panel`` (fitted ticker vocabulary), features scaled with
        the training scaler."""
        self._check_fitted()
        validate_panel(panel, min_rows=self.config.lookback)
        windows = self._windows(panel, self.tickers_)
        if len(windows) == 0:
            raise DataError(f"no complete {self.config.lookback}-bar window in the data; "
                            "provide more history")
        return windows.with_values(self.scaler_.transform(windows.values))

    def score(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Per-bar scores for every bar of ``panel`` that ends a complete window.

        Columns: date, ticker, score (the largest per-feature contribution, or their mean with
        ``score_combine="mean"``), window_score (of the window ending on the bar), one
        contribution column per feature (squared reconstruction error over the ticker's
        training mean and over the mean of its previous ``score_window`` errors; about 1 on a
        typical bar; with ``score_combine="calibrated"`` then over its 99th percentile on the
        latest normal bars, ``split_dates_["units"]``, so 1 is as unusual as their top 1%), and
        flag (score above the threshold). Sorted by ticker, then date.
        A bar's score depends on bars up to it only; the first ``score_window`` scored bars of
        each ticker in ``panel`` use the training scale alone, so give that much history.
        """
        frame = self._score_scaled(self.scaled_windows(panel))
        frame["flag"] = frame["score"] > self.threshold_.value
        return frame

    def detect(self, panel: pd.DataFrame | None = None, *,
               scores: pd.DataFrame | None = None) -> pd.DataFrame:
        """Events (runs of consecutive flagged bars per ticker) of ``panel``, or of an already
        computed ``scores`` frame. Columns: ticker, start, end, bars, peak_date, peak_score,
        driver, contributions and ``share_<feature>`` (see :func:`merge_events`)."""
        self._check_fitted()
        if scores is None:
            if panel is None:
                raise ConfigError("detect needs a panel or a scores frame")
            scores = self.score(panel)
        return merge_events(scores, self.threshold_.value, self.config.features)

    def embeddings(self) -> pd.DataFrame | None:
        """The learned ticker embeddings [n_tickers, ticker_dim], indexed by ticker (None for a
        one-ticker model). Of an ensemble: the first member's (members trained from different
        seeds embed the tickers in unaligned coordinates, so their mean would mean nothing)."""
        self._check_fitted()
        model = self.model_.members[0] if isinstance(self.model_, Ensemble) else self.model_
        weight = model.embeddings()
        if weight is None:
            return None
        return pd.DataFrame(weight.detach().cpu().numpy().astype(np.float64),
                            index=pd.Index(self.tickers_, name="ticker"))

    # -- persistence ---------------------------------------------------------------------
    def _fitted_state(self) -> dict[str, Any]:
        return {
            "tickers": list(self.tickers_),
            "scaler_x": self.scaler_.to_dict(),
            "scoring": SCORING,
            "bar_norm": self.bar_norm_.scale_.tolist(),
            "window_norm": self.window_norm_.scale_.tolist(),
            "threshold": self.threshold_.to_dict(),
            "feature_scale": None if self.feature_scale_ is None else self.feature_scale_.tolist(),
            "train_end": self.train_end_,
            "split_dates": self.split_dates_,
            "training": self.result_.to_dict(),
        }

    def _restore_state(self, saved: dict[str, Any]) -> None:
        if saved.get("scoring") != SCORING:  # earlier checkpoints scored bars differently
            raise KeyError(f"'scoring' ({SCORING})")
        self.tickers_ = tuple(saved["tickers"])
        self.scaler_ = StandardScaler.from_dict(saved["scaler_x"])
        self.bar_norm_ = TickerNormaliser(stat="mean", scale_=np.asarray(saved["bar_norm"]))
        self.window_norm_ = TickerNormaliser(scale_=np.asarray(saved["window_norm"]))
        self.threshold_ = Threshold.from_dict(saved["threshold"])
        scale = saved.get("feature_scale")
        if scale is None and self.config.score_combine == "calibrated":
            raise KeyError("'feature_scale' (score_combine 'calibrated')")
        self.feature_scale_ = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.train_end_ = saved["train_end"]
        self.split_dates_ = saved["split_dates"]
        self.result_ = TrainResult.from_dict(saved["training"])

    def _build_model(self, model_config: ModelConfig) -> Any:
        """One autoencoder, or an :class:`Ensemble` of ``config.ensemble``: member 0 drawn from
        the current random state (``fit`` seeds it with ``seed``), member k >= 1 from seed
        ``seed + k`` without touching the global random state."""
        import torch

        spec = self.config
        members = [build_model(spec.model, model_config, kind="autoencoder")]
        for k in range(1, spec.ensemble):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed + k)
                members.append(build_model(spec.model, model_config, kind="autoencoder"))
        return members[0] if len(members) == 1 else Ensemble(members)

    @classmethod
    def _legacy_config(cls, saved: dict[str, Any]) -> dict[str, Any]:
        spec, mc = saved["spec"], saved["model_config"]
        return {**{k: spec[k] for k in ("model", "lookback", "features", "train_end", "val_frac",
                                        "calib_frac", "threshold", "target_far")},
                "hidden_size": mc["hidden_size"], "num_layers": mc["num_layers"],
                "dropout": mc["dropout"], "ticker_dim": mc["ticker_dim"],
                "seed": saved["seed"], "train": saved["train"]}
