"""The anomaly facade: ``AnomalyDetector(model=..., ...)`` with ``fit``, ``score``, ``detect``,
``save`` and ``load`` over a price panel of one or many tickers. The CLI calls exactly these.

Periods (by window end date): everything up to ``train_end`` is the *normal* period, split
chronologically into training / validation (early stopping) / calibration windows with a purge
gap of ``lookback`` bars, so no calibration window shares a bar with a training window. The
feature scaler and the per-ticker score normalisation see training rows only; the threshold
sees calibration rows only. Bars after ``train_end`` are what the detector is for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from qseq import __version__
from qseq.anomaly.events import merge_events
from qseq.anomaly.scores import TickerNormaliser, fit_normalisers, score_windows
from qseq.anomaly.thresholds import METHODS, Threshold, calibrate, check_far
from qseq.anomaly.training import fit_autoencoder
from qseq.checkpoint import config_fields, load_weights, read_config, save_checkpoint
from qseq.data.features import parse_feature
from qseq.data.validate import validate_panel
from qseq.data.windows import StandardScaler, Windows, chronological_split, make_windows, rows_covered
from qseq.errors import CheckpointError, ConfigError, DataError, NotFittedError
from qseq.models import ModelConfig, build_model, get_spec
from qseq.train import EpochLog, TrainConfig, TrainResult, resolve_device

log = logging.getLogger(__name__)
# price, volume and volatility: daily log return, log volume change, volume z-score (20 bars)
# and 5-bar Parkinson volatility (short, so a burst or a flat line shows within days).
DEFAULT_FEATURES = ("log_return", "log_volume_change", "volume_zscore", "parkinson_vol_5")
MIN_TRAIN_WINDOWS = 64


@dataclass(frozen=True)
class AnomalySpec:
    """What is reconstructed and how the normal period is used."""

    model: str = "lstm_ae"
    lookback: int = 32
    features: tuple[str, ...] = DEFAULT_FEATURES
    train_end: str | None = None
    val_frac: float = 0.1
    calib_frac: float = 0.2
    threshold: str = "pot"
    target_far: float = 0.01

    def __post_init__(self) -> None:
        get_spec(self.model, kind="autoencoder")
        if not isinstance(self.lookback, int) or self.lookback < 2:
            raise ConfigError(f"lookback must be an integer >= 2, got {self.lookback!r}")
        for name in self.features:
            parse_feature(name)
        if not self.features or len(set(self.features)) != len(self.features):
            raise ConfigError(f"features must be distinct and non-empty: {list(self.features)}")
        if self.train_end is not None:
            try:
                object.__setattr__(self, "train_end", str(pd.Timestamp(self.train_end).date()))
            except (ValueError, TypeError):
                raise ConfigError(f"bad train_end date {self.train_end!r}; use YYYY-MM-DD") from None
        if not (0 <= self.val_frac < 1 and 0 < self.calib_frac < 1
                and self.val_frac + self.calib_frac < 0.9):
            raise ConfigError(f"val_frac={self.val_frac} and calib_frac={self.calib_frac} must "
                              "leave at least 10% of the normal period for training")
        if self.threshold not in METHODS:
            raise ConfigError(f"unknown threshold method {self.threshold!r}; choose one of "
                              f"{list(METHODS)}")
        check_far(self.target_far)


class AnomalyDetector:
    """Reconstruction-based anomaly detector over a panel, one autoencoder for all tickers.

    ``fit(panel)`` trains on the normal period (up to ``train_end``; by default the first half
    of the dates), normalises scores per ticker and calibrates the threshold. ``score`` gives
    per-bar scores with per-feature contributions; ``detect`` merges flagged bars into events.
    Fitted attributes end in ``_``.
    """

    def __init__(
        self,
        model: str = "lstm_ae",
        *,
        lookback: int = 32,
        features: Sequence[str] = DEFAULT_FEATURES,
        train_end: str | pd.Timestamp | None = None,
        val_frac: float = 0.1,
        calib_frac: float = 0.2,
        threshold: str = "pot",
        target_far: float = 0.01,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        ticker_dim: int = 4,
        train: TrainConfig | None = None,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.spec = AnomalySpec(model=model, lookback=lookback, features=tuple(features),
                                train_end=None if train_end is None else str(train_end),
                                val_frac=val_frac, calib_frac=calib_frac, threshold=threshold,
                                target_far=target_far)
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.ticker_dim = ticker_dim
        ModelConfig(input_size=1, horizons=1, hidden_size=hidden_size, num_layers=num_layers,
                    dropout=dropout)  # validate now
        self.train_config = train if train is not None else TrainConfig()
        self.seed = seed
        resolve_device(device)
        self.device = device

    # -- fitting -------------------------------------------------------------------------
    def _windows(self, panel: pd.DataFrame, tickers: Sequence[str] | None = None) -> Windows:
        spec = self.spec
        return make_windows(panel, spec.features, spec.lookback, (1,), tickers=tickers,
                            require_targets=False)

    def _train_end(self, windows: Windows) -> pd.Timestamp:
        dates = np.unique(windows.anchor_date)
        if len(dates) < 4:
            raise DataError(f"only {len(dates)} window dates; need more data")
        if self.spec.train_end is None:
            return pd.Timestamp(dates[len(dates) // 2 - 1])
        end = pd.Timestamp(self.spec.train_end)
        if end < pd.Timestamp(dates[0]):
            raise DataError(f"train_end {end.date()} is before the first complete window "
                            f"({pd.Timestamp(dates[0]).date()}); pick a later date")
        return end

    def fit(self, panel: pd.DataFrame, *, progress: bool = False,
            on_epoch: Callable[[EpochLog], None] | None = None) -> AnomalyDetector:
        """Fit on a panel indexed by (date, ticker). Returns ``self``."""
        spec = self.spec
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
            input_size=len(spec.features), horizons=1, hidden_size=self.hidden_size,
            num_layers=self.num_layers, dropout=self.dropout, n_tickers=len(windows.tickers),
            ticker_dim=self.ticker_dim, lookback=spec.lookback)
        torch.manual_seed(self.seed)
        self.model_ = build_model(spec.model, self.model_config_, kind="autoencoder")
        bar = None
        callback = on_epoch
        if progress and on_epoch is None:
            from qseq.progress import epoch_progress

            bar = epoch_progress(self.train_config.epochs)
            callback = bar.update
        try:
            self.result_: TrainResult = fit_autoencoder(
                self.model_, scaled.subset(split.train),
                scaled.subset(split.val) if len(split.val) else None, self.train_config,
                seed=self.seed, device=self.device, on_epoch=callback)
        finally:
            if bar is not None:
                bar.close()
        self.model_.cpu().eval()

        self.bar_norm_, self.window_norm_ = fit_normalisers(self.model_, scaled.subset(split.train),
                                                            self.device)
        calib = self._score_scaled(scaled.subset(split.test))
        self.threshold_: Threshold = calibrate(calib["score"].to_numpy(), spec.target_far,
                                               spec.threshold)
        dates = normal.anchor_date
        self.split_dates_ = {
            name: [str(pd.Timestamp(dates[idx].min()).date()),
                   str(pd.Timestamp(dates[idx].max()).date())] if len(idx) else None
            for name, idx in (("train", split.train), ("val", split.val),
                              ("calibration", split.test))
        }
        self.train_end_ = str(end.date())
        return self

    # -- scoring -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this AnomalyDetector is not fitted; call fit(panel) or "
                                 "AnomalyDetector.load(path) first")

    def _score_scaled(self, scaled: Windows) -> pd.DataFrame:
        return score_windows(self.model_, scaled, self.bar_norm_, self.window_norm_, self.device)

    def scaled_windows(self, panel: pd.DataFrame) -> Windows:
        """Every complete window of ``panel`` (fitted ticker vocabulary), features scaled with
        the training scaler."""
        self._check_fitted()
        validate_panel(panel, min_rows=self.spec.lookback)
        windows = self._windows(panel, self.tickers_)
        if len(windows) == 0:
            raise DataError(f"no complete {self.spec.lookback}-bar window in the data; "
                            "provide more history")
        return windows.with_values(self.scaler_.transform(windows.values))

    def score(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Per-bar scores for every bar of ``panel`` inside a complete window.

        Columns: date, ticker, score (mean normalised squared reconstruction error; 1 = a
        typical training bar of that ticker), window_score (of the window ending on the bar),
        one contribution column per feature, and flag (score above the threshold).
        Sorted by ticker, then date.
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
        return merge_events(scores, self.threshold_.value, self.spec.features)

    def embeddings(self) -> pd.DataFrame | None:
        """The learned ticker embeddings [n_tickers, ticker_dim], indexed by ticker (None for a
        one-ticker model)."""
        self._check_fitted()
        weight = self.model_.embeddings()
        if weight is None:
            return None
        return pd.DataFrame(weight.detach().cpu().numpy().astype(np.float64),
                            index=pd.Index(self.tickers_, name="ticker"))

    # -- persistence ---------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "qseq_version": __version__,
            "kind": "anomaly_detector",
            "model": self.spec.model,
            "spec": asdict(self.spec),
            "model_config": asdict(self.model_config_),
            "train": asdict(self.train_config),
            "seed": self.seed,
            "tickers": list(self.tickers_),
            "features": list(self.spec.features),
            "scaler_x": self.scaler_.to_dict(),
            "bar_norm": self.bar_norm_.scale_.tolist(),
            "window_norm": self.window_norm_.scale_.tolist(),
            "threshold": self.threshold_.to_dict(),
            "train_end": self.train_end_,
            "split_dates": self.split_dates_,
            "training": self.result_.to_dict(),
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into ``directory``."""
        return save_checkpoint(directory, self.model_, self.config_dict())

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> AnomalyDetector:
        """Rebuild the autoencoder from the registry and load its weights strictly."""
        cfg = read_config(directory)
        if cfg.get("kind") != "anomaly_detector":
            raise CheckpointError(f"{directory} holds a {cfg.get('kind', 'forecaster')} "
                                  "checkpoint, not an anomaly detector")
        with config_fields(directory, "re-train the detector"):
            spec = cfg["spec"]
            mc = ModelConfig(**cfg["model_config"])
            self = cls(spec["model"], lookback=spec["lookback"], features=spec["features"],
                       train_end=spec["train_end"], val_frac=spec["val_frac"],
                       calib_frac=spec["calib_frac"], threshold=spec["threshold"],
                       target_far=spec["target_far"], hidden_size=mc.hidden_size,
                       num_layers=mc.num_layers, dropout=mc.dropout, ticker_dim=mc.ticker_dim,
                       train=TrainConfig(**cfg["train"]), seed=cfg["seed"], device=device)
            self.model_config_ = mc
            self.tickers_ = tuple(cfg["tickers"])
            self.scaler_ = StandardScaler.from_dict(cfg["scaler_x"])
            self.bar_norm_ = TickerNormaliser(scale_=np.asarray(cfg["bar_norm"]))
            self.window_norm_ = TickerNormaliser(scale_=np.asarray(cfg["window_norm"]))
            self.threshold_ = Threshold.from_dict(cfg["threshold"])
            self.train_end_ = cfg["train_end"]
            self.split_dates_ = cfg["split_dates"]
            self.result_ = TrainResult.from_dict(cfg["training"])
        model = build_model(self.spec.model, mc, kind="autoencoder")
        self.model_ = load_weights(directory, model, cfg).eval()
        return self
