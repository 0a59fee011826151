"""The notebook facade: ``Forecaster(model=..., lookback=..., horizons=...)`` with ``fit``,
``predict``, ``save`` and ``load`` over a price panel. The CLI calls exactly these methods."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from qseq import __version__
from qseq.checkpoint import config_fields, load_weights, read_config, save_checkpoint
from qseq.data.calendar_features import check_future_features, future_inputs, future_size
from qseq.data.features import TARGETS, parkinson_bar_vol, parse_feature
from qseq.data.validate import validate_panel
from qseq.data.windows import (
    StandardScaler,
    Windows,
    chronological_split,
    make_windows,
    rows_covered,
)
from qseq.errors import ConfigError, DataError, NotFittedError
from qseq.metrics import forecast_metrics
from qseq.models import ModelConfig, build_model, get_spec, list_models
from qseq.train import (
    EpochLog,
    TrainConfig,
    TrainResult,
    fit_model,
    predict_outputs,
    predict_windows,
    resolve_device,
)

log = logging.getLogger(__name__)
DEFAULT_FEATURES = ("log_return", "log_volume_change")
MIN_TRAIN_WINDOWS = 64


def _horizons(value: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"horizon must be >= 1, got {value}")
        return tuple(range(1, int(value) + 1))
    try:
        hs = tuple(sorted({int(h) for h in value}))
    except (TypeError, ValueError):
        raise ConfigError(f"horizons must be an int or a list of ints, got {value!r}") from None
    if not hs or hs[0] < 1:
        raise ConfigError(f"horizons must be positive integers, got {value!r}")
    return hs


@dataclass(frozen=True)
class ForecastSpec:
    """What is forecast, from what: everything that shapes the windows."""

    model: str = "gru"
    lookback: int = 64
    horizons: tuple[int, ...] = (1, 2, 3, 4, 5)
    features: tuple[str, ...] = DEFAULT_FEATURES
    target: str = "log_return"
    val_frac: float = 0.15
    test_frac: float = 0.15
    future_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        model = get_spec(self.model)
        if not isinstance(self.lookback, int) or self.lookback < 2:
            raise ConfigError(f"lookback must be an integer >= 2, got {self.lookback!r}")
        if self.target not in TARGETS:
            raise ConfigError(f"unknown target {self.target!r}; choose one of {list(TARGETS)}")
        for name in self.features:
            parse_feature(name)
        if len(set(self.features)) != len(self.features):
            raise ConfigError(f"features listed twice: {list(self.features)}")
        check_future_features(self.future_features)
        if self.future_features and not model.future_inputs:
            takes = sorted(n for n in list_models() if get_spec(n).future_inputs)
            raise ConfigError(f"model {self.model!r} has no decoder for known-future inputs "
                              f"(future_features); use one of {takes}")


class Forecaster:
    """Multi-horizon forecaster over a panel of one or many tickers.

    ``fit(panel)`` splits the windows chronologically (train / validation / test with a purge
    gap of max(horizons) bars), fits the scalers on training rows only, and trains the model
    with early stopping on validation loss. Fitted attributes end in ``_``.
    """

    def __init__(
        self,
        model: str = "gru",
        *,
        lookback: int = 64,
        horizons: int | Sequence[int] = 5,
        features: Sequence[str] = DEFAULT_FEATURES,
        target: str = "log_return",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        ticker_dim: int = 8,
        quantiles: Sequence[float] = (),
        future_features: Sequence[str] = (),
        train: TrainConfig | None = None,
        val_frac: float = 0.15,
        test_frac: float = 0.15,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.spec = ForecastSpec(model=model, lookback=lookback, horizons=_horizons(horizons),
                                 features=tuple(features), target=target, val_frac=val_frac,
                                 test_frac=test_frac, future_features=tuple(future_features))
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.ticker_dim = ticker_dim
        self.quantiles = tuple(float(q) for q in quantiles)
        ModelConfig(input_size=1, horizons=1, quantiles=self.quantiles)  # validate now
        self.train_config = train if train is not None else TrainConfig()
        self.seed = seed
        resolve_device(device)  # fail now, not after data preparation
        self.device = device

    # -- fitting -------------------------------------------------------------------------
    def fit(
        self,
        panel: pd.DataFrame,
        *,
        progress: bool = False,
        on_epoch: Callable[[EpochLog], None] | None = None,
        resume_dir: str | Path | None = None,
    ) -> Forecaster:
        """Fit on a panel indexed by (date, ticker). Returns ``self``.

        With ``resume_dir``, training state is saved there after every epoch and a fit that was
        interrupted resumes where it stopped (same data and configuration).
        """
        spec = self.spec
        h_max = max(spec.horizons)
        self._scaler_cache = None
        validate_panel(panel, min_rows=spec.lookback + h_max + 2)
        windows = make_windows(panel, spec.features, spec.lookback, spec.horizons, spec.target,
                               future_features=spec.future_features)
        split = chronological_split(windows, spec.val_frac, spec.test_frac, gap=h_max)
        if len(split.train) < MIN_TRAIN_WINDOWS:
            raise DataError(
                f"only {len(split.train)} training windows (need >= {MIN_TRAIN_WINDOWS}); "
                "use a longer date range or a shorter --lookback/--horizon"
            )
        scaled = self.fit_windows(windows, split.train, split.val, progress=progress,
                                  on_epoch=on_epoch, resume_dir=resume_dir)
        dates = windows.anchor_date
        self.split_dates_ = {
            name: [str(pd.Timestamp(dates[idx].min()).date()),
                   str(pd.Timestamp(dates[idx].max()).date())] if len(idx) else None
            for name, idx in (("train", split.train), ("val", split.val), ("test", split.test))
        }
        self.metrics_ = {
            name: self._metrics(scaled.subset(idx), panel)
            for name, idx in (("val", split.val), ("test", split.test)) if len(idx)
        }
        self.data_fingerprint_ = panel_fingerprint(panel)
        return self

    def fit_windows(
        self,
        windows: Windows,
        train: np.ndarray,
        val: np.ndarray,
        *,
        warm_start: nn.Module | None = None,
        epochs: int | None = None,
        tune: np.ndarray | None = None,
        progress: bool = False,
        on_epoch: Callable[[EpochLog], None] | None = None,
        resume_dir: str | Path | None = None,
    ) -> Windows:
        """Fit scalers and model on the windows at positions ``train`` (early stopping on ``val``).

        The scalers see the rows inside training windows only. ``warm_start`` copies the weights
        of an already trained model of the same configuration (walk-forward fine-tuning);
        ``epochs`` overrides the training configuration's epoch count; ``tune`` (positions, a
        subset of ``train``) restricts the model's training windows while the scalers still
        fit on all of ``train``. Returns the windows scaled with the fitted scalers (targets
        included), for evaluation.
        """
        spec = self.spec
        train_w = windows.subset(train)
        self._scaler_cache = None
        self.scaler_x_ = StandardScaler().fit(windows.values[rows_covered(train_w)])
        self.scaler_y_ = StandardScaler().fit(train_w.y)
        scaled = windows.with_values(self.scaler_x_.transform(windows.values),
                                     self.scaler_y_.transform(windows.targets))
        self.tickers_ = windows.tickers
        self.model_config_ = ModelConfig(
            input_size=len(spec.features), horizons=len(spec.horizons),
            hidden_size=self.hidden_size, num_layers=self.num_layers, dropout=self.dropout,
            n_tickers=len(windows.tickers), ticker_dim=self.ticker_dim,
            quantiles=self.quantiles, lookback=spec.lookback,
            future_size=future_size(spec.future_features),
        )
        torch.manual_seed(self.seed)
        self.model_ = build_model(spec.model, self.model_config_)
        if warm_start is not None:
            self.model_.load_state_dict(warm_start.state_dict())
        config = self.train_config if epochs is None else replace(self.train_config, epochs=epochs)
        callback = on_epoch
        bar = None
        if progress and on_epoch is None:
            from qseq.progress import epoch_progress

            bar = epoch_progress(config.epochs)
            callback = bar.update
        try:
            self.result_: TrainResult = fit_model(
                self.model_, scaled.subset(train if tune is None else tune),
                scaled.subset(val) if len(val) else None,
                config, seed=self.seed, device=self.device, on_epoch=callback,
                state_dir=resume_dir,
            )
        finally:
            if bar is not None:
                bar.close()
        self.model_.cpu()
        return scaled

    def predict_scaled(self, scaled: Windows) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Forecasts in target units for already-scaled windows, and the attention weights.

        Returns y_hat [N, H] (quantile models [N, H, Q]) and a dict that may hold
        ``attention`` [N, H, T] (temporal) and ``feature_attention`` [N, T, F].
        """
        self._check_fitted()
        out = predict_outputs(self.model_, scaled)
        y_hat = self.scaler_y_.inverse(out.pop("y_hat"))
        return y_hat, out

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this Forecaster is not fitted; call fit(panel) or "
                                 "Forecaster.load(path) first")

    def _baseline(self, windows: Windows, panel: pd.DataFrame) -> np.ndarray:
        """Naive forecast: zero for return targets, the last bar's volatility for realized_vol."""
        if self.spec.target != "realized_vol":
            return np.zeros((len(windows), len(self.spec.horizons)))
        frame = panel.reorder_levels(["ticker", "date"]).sort_index()
        vol = parkinson_bar_vol(frame).to_numpy()
        return np.repeat(vol[windows.anchors][:, None], len(self.spec.horizons), axis=1)

    def _point_index(self) -> int | None:
        q = self.quantiles
        return min(range(len(q)), key=lambda i: abs(q[i] - 0.5)) if q else None

    def _metrics(self, scaled: Windows, panel: pd.DataFrame) -> pd.DataFrame:
        y_hat = self.scaler_y_.inverse(predict_windows(self.model_, scaled))
        y_true = self.scaler_y_.inverse(scaled.y)
        band = None
        if y_hat.ndim == 3:
            band = (y_hat[..., 0], y_hat[..., -1])
            y_hat = y_hat[..., self._point_index()]
        frame = forecast_metrics(y_true, y_hat, self._baseline(scaled, panel), self.spec.horizons,
                                 directional=self.spec.target != "realized_vol")
        if band is not None:
            inside = (y_true >= band[0]) & (y_true <= band[1])
            frame["coverage"] = [*inside.mean(axis=0), inside.mean()]
            frame["nominal"] = self.quantiles[-1] - self.quantiles[0]
        return frame

    # -- prediction ----------------------------------------------------------------------
    def predict(self, panel: pd.DataFrame, *, last_only: bool = False) -> pd.DataFrame:
        """Forecasts for every window of ``panel`` (or only each ticker's latest bar).

        Returns a tidy frame with columns date (the anchor bar), ticker, horizon, y_hat, y_true
        (NaN where the future is not in the panel), in target units (log returns by default).
        Quantile models add one column per level (``q0.1``, ``q0.5``, ...); y_hat is then the
        level closest to the median.
        """
        self._check_fitted()
        spec = self.spec
        validate_panel(panel, min_rows=spec.lookback + 1)
        windows = make_windows(panel, spec.features, spec.lookback, spec.horizons, spec.target,
                               tickers=self.tickers_, require_targets=False,
                               future_features=spec.future_features)
        if last_only:
            last = pd.Series(windows.anchors).groupby(windows.ticker).max().to_numpy()
            windows = windows.subset(np.isin(windows.anchors, last))
        if len(windows) == 0:
            raise DataError(f"no complete {spec.lookback}-bar window in the data; "
                            "provide more history")
        scaled = windows.with_values(self.scaler_x_.transform(windows.values))
        y_hat = self.scaler_y_.inverse(predict_windows(self.model_, scaled))
        n, h = y_hat.shape[:2]
        levels = {}
        if y_hat.ndim == 3:
            levels = {f"q{q:g}": y_hat[..., i].reshape(-1).astype(np.float64)
                      for i, q in enumerate(self.quantiles)}
            y_hat = y_hat[..., self._point_index()]
        return pd.DataFrame({
            "date": np.repeat(windows.anchor_date, h),
            "ticker": np.repeat(np.asarray(self.tickers_, dtype=object)[windows.ticker], h),
            "horizon": np.tile(np.asarray(spec.horizons), n),
            "y_hat": y_hat.reshape(-1).astype(np.float64),
            "y_true": windows.y.reshape(-1).astype(np.float64),
            **levels,
        })

    def predict_array(
        self, x: np.ndarray, ticker: str | Sequence[str] | None = None,
        anchor_date: Any = None,
    ) -> np.ndarray:
        """Fast path for serving: forecast from raw (unscaled) feature windows.

        x: [T, F] or [B, T, F] features as :func:`qseq.data.features.compute_features` gives
        them, in ``self.spec.features`` order. ticker: one name or B names (needed when the
        model was fitted on several tickers). anchor_date: the date of each window's last bar
        (one date or B dates), needed by models with known-future calendar inputs. Returns
        y_hat [B, H] (quantile models: [B, H, Q]) in target units.
        No pandas and no copies beyond the batch itself.
        """
        self._check_fitted()
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if xt.dim() == 2:
            xt = xt.unsqueeze(0)
        if xt.dim() != 3 or xt.shape[-1] != len(self.spec.features):
            raise DataError(f"expected x of shape [batch, time, {len(self.spec.features)}], "
                            f"got {list(xt.shape)}")
        ids = None
        if ticker is not None:
            names = [ticker] * len(xt) if isinstance(ticker, str) else list(ticker)
            lookup = {t: i for i, t in enumerate(self.tickers_)}
            missing = [t for t in names if t not in lookup]
            if missing:
                raise DataError(f"tickers {missing} were not seen in training "
                                f"(known: {list(self.tickers_)})")
            ids = torch.tensor([lookup[t] for t in names])
        extra = {}
        if self.spec.future_features:
            if anchor_date is None:
                raise DataError("this model takes calendar inputs of the forecast dates; pass "
                                "anchor_date (the date of each window's last bar)")
            days = np.atleast_1d(np.asarray(anchor_date, dtype="datetime64[D]"))
            if len(days) == 1:
                days = np.repeat(days, len(xt))
            if len(days) != len(xt):
                raise DataError(f"got {len(days)} anchor dates for {len(xt)} windows")
            extra["future"] = torch.from_numpy(
                future_inputs(days, self.spec.horizons, self.spec.future_features))
        mx, sx, my, sy = self._scaler_tensors()
        with torch.inference_mode():
            y = self.model_((xt - mx) / sx, ids, **extra).y_hat
        if y.dim() == 3:
            return (y * sy[:, None] + my[:, None]).numpy()
        return (y * sy + my).numpy()

    def stream(self, ticker: str | None = None, *, mode: str = "window",
               history: pd.DataFrame | None = None):
        """A :class:`qseq.stream.Stream` for one ticker, warmed up on ``history`` if given.

        ``stream.update(bar)`` then returns the forecast at each new bar without re-encoding
        the window (see :mod:`qseq.stream` for the two modes).
        """
        from qseq.stream import Stream

        self._check_fitted()
        if ticker is None:
            if len(self.tickers_) != 1:
                raise ConfigError(f"pick a ticker: one of {list(self.tickers_)}")
            ticker = self.tickers_[0]
        stream = Stream(self, ticker, mode)
        if history is not None:
            stream.warmup(history)
        return stream

    def _scaler_tensors(self) -> tuple[torch.Tensor, ...]:
        cached = getattr(self, "_scaler_cache", None)
        if cached is None:
            cached = tuple(torch.as_tensor(a, dtype=torch.float32) for a in (
                self.scaler_x_.mean_, self.scaler_x_.std_, self.scaler_y_.mean_, self.scaler_y_.std_))
            self._scaler_cache = cached
        return cached

    # -- persistence ---------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "qseq_version": __version__,
            "model": self.spec.model,
            "spec": asdict(self.spec),
            "model_config": asdict(self.model_config_),
            "train": asdict(self.train_config),
            "seed": self.seed,
            "tickers": list(self.tickers_),
            "features": list(self.spec.features),
            "scaler_x": self.scaler_x_.to_dict(),
            "scaler_y": self.scaler_y_.to_dict(),
            "split_dates": self.split_dates_,
            "metrics": {k: v.reset_index().to_dict(orient="records")
                        for k, v in self.metrics_.items()},
            "training": self.result_.to_dict(),
            "data_fingerprint": self.data_fingerprint_,
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into ``directory``."""
        return save_checkpoint(directory, self.model_, self.config_dict())

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> Forecaster:
        """Rebuild from the registry and load the weights strictly."""
        cfg = read_config(directory)
        with config_fields(directory, "re-train the model"):
            spec = cfg["spec"]
            self = cls(spec["model"], lookback=spec["lookback"], horizons=spec["horizons"],
                       features=spec["features"], target=spec["target"],
                       val_frac=spec["val_frac"], test_frac=spec["test_frac"],
                       future_features=spec.get("future_features", ()),
                       train=TrainConfig(**cfg["train"]), seed=cfg["seed"], device=device)
            mc = ModelConfig(**cfg["model_config"])
            self.hidden_size, self.num_layers = mc.hidden_size, mc.num_layers
            self.dropout, self.ticker_dim = mc.dropout, mc.ticker_dim
            self.quantiles = tuple(mc.quantiles)
            self.model_config_ = mc
            self.tickers_ = tuple(cfg["tickers"])
            self.scaler_x_ = StandardScaler.from_dict(cfg["scaler_x"])
            self.scaler_y_ = StandardScaler.from_dict(cfg["scaler_y"])
            self.split_dates_ = cfg["split_dates"]
            self.metrics_ = {k: pd.DataFrame(v).set_index("horizon")
                             for k, v in cfg["metrics"].items()}
            self.result_ = TrainResult.from_dict(cfg["training"])
            self.data_fingerprint_ = cfg["data_fingerprint"]
        model = build_model(self.spec.model, mc)
        self.model_ = load_weights(directory, model, cfg).eval()
        return self


def panel_fingerprint(panel: pd.DataFrame) -> str:
    """sha256 over the panel's index and values: same data, same fingerprint."""
    hashed = pd.util.hash_pandas_object(panel, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(panel.columns).encode()).hexdigest()
