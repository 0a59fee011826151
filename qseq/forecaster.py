"""The notebook facade: ``Forecaster(model=..., lookback=..., horizons=...)`` with ``fit``,
``predict``, ``save`` and ``load`` over a price panel. The CLI calls exactly these methods."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from qseq.config import DEFAULT_FEATURES, ForecastConfig
from qseq.errors import ConfigError, DataError
from qseq.estimator import Estimator, split_dates

if TYPE_CHECKING:
    from torch import nn

    from qseq.backtest.walk_forward import WalkForwardResult
    from qseq.config import WalkForwardConfig
    from qseq.data.windows import Windows
    from qseq.train import EpochLog

log = logging.getLogger(__name__)
__all__ = ["DEFAULT_FEATURES", "Forecaster", "panel_fingerprint"]
MIN_TRAIN_WINDOWS = 64


class Forecaster(Estimator):
    """Multi-horizon forecaster over a panel of one or many tickers.

    ``Forecaster(model="gru", lookback=64, horizons=5, ...)`` or ``Forecaster(config)``: the
    keywords are the fields of :class:`qseq.config.ForecastConfig` (one declaration, shared
    with walk-forward runs, pipeline specs and the CLI). ``fit(panel)`` splits the windows
    chronologically (train / validation / test, purged by max(horizons) bars), fits the scalers
    on training rows only, and trains the model with early stopping on validation loss.
    Fitted attributes end in ``_``.
    """

    config_class = ForecastConfig
    kind = "forecaster"
    config: ForecastConfig

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
        interrupted resumes where it stopped (same data and configuration). Sets ``metrics_``
        (validation and test accuracy against the naive forecast, see
        :func:`qseq.metrics.skill_table`) and ``split_dates_``.
        """
        from qseq.data.validate import validate_panel
        from qseq.data.windows import chronological_split

        cfg = self.config
        h_max = max(cfg.horizons)
        validate_panel(panel, min_rows=cfg.lookback + h_max + 2)
        windows = self.windows(panel)
        split = chronological_split(windows, cfg.val_frac, cfg.test_frac, gap=h_max)
        if len(split.train) < MIN_TRAIN_WINDOWS:
            raise DataError(
                f"only {len(split.train)} training windows (need >= {MIN_TRAIN_WINDOWS}); "
                "use a longer date range or a shorter --lookback/--horizon"
            )
        self.fit_windows(windows, split.train, split.val, progress=progress, on_epoch=on_epoch,
                         resume_dir=resume_dir)
        dates = windows.anchor_date
        self.split_dates_ = split_dates(dates, train=split.train, val=split.val, test=split.test)
        self.metrics_ = {name: self._metrics(windows.subset(idx), panel)
                         for name, idx in (("val", split.val), ("test", split.test)) if len(idx)}
        self.data_fingerprint_ = panel_fingerprint(panel)
        return self

    def windows(self, panel: pd.DataFrame, *, require_targets: bool = True) -> Windows:
        """Unscaled windows of ``panel`` under this config (the fitted ticker vocabulary, once
        fitted). x [N, lookback, F], y [N, H]."""
        from qseq.data.windows import make_windows

        cfg = self.config
        if cfg.sentiment is not None:
            from qseq.text.sentiment_table import join_sentiment_file

            panel = join_sentiment_file(panel, cfg.sentiment)
        return make_windows(panel, cfg.features, cfg.lookback, cfg.horizons, cfg.target,
                            tickers=getattr(self, "tickers_", None),
                            require_targets=require_targets, future_features=cfg.future_features,
                            exchange=cfg.exchange, proxy=cfg.proxy)

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
    ) -> Forecaster:
        """Fit scalers and model on the windows at positions ``train`` (early stopping on ``val``).

        The scalers see the rows inside training windows only. ``warm_start`` copies the weights
        of an already trained model of the same configuration (walk-forward fine-tuning);
        ``epochs`` overrides the training configuration's epoch count; ``tune`` (positions, a
        subset of ``train``) restricts the model's training windows while the scalers still
        fit on all of ``train``. Sets the fitted attributes (``split_dates_`` from the anchor
        dates of ``train`` and ``val``; ``metrics_`` empty) and returns ``self``.
        """

        from qseq.data.calendar_features import future_size
        from qseq.data.windows import StandardScaler, rows_covered
        from qseq.models import ModelConfig
        from qseq.models.ensemble import build_ensemble
        from qseq.train import fit_model

        cfg = self.config
        train_w = windows.subset(train)
        self._scaler_cache = None
        self.scaler_x_ = StandardScaler().fit(windows.values[rows_covered(train_w)])
        self.scaler_y_ = StandardScaler().fit(self._model_units(train_w.y))
        self.calibration_ = None
        scaled = self.scale(windows, targets=True)
        self.tickers_ = windows.tickers
        self.model_config_ = ModelConfig(
            input_size=len(cfg.features), horizons=len(cfg.horizons),
            hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, dropout=cfg.dropout,
            n_tickers=len(windows.tickers), ticker_dim=cfg.ticker_dim,
            quantiles=cfg.quantiles, lookback=cfg.lookback,
            future_size=future_size(cfg.future_features), highway=cfg.highway,
        )
        self.model_ = build_ensemble(cfg.model, self.model_config_, cfg.seed, cfg.ensemble)
        if warm_start is not None:
            self.model_.load_state_dict(warm_start.state_dict())
        else:
            self._init_embeddings(self.model_)
            if cfg.highway:
                init_highway(self.model_, scaled.subset(train))
        train_cfg = cfg.train if epochs is None else replace(cfg.train, epochs=epochs)
        # members fitted one after another report their epochs one after another
        sequential = cfg.ensemble if not getattr(self.model_, "grouped", True) else 1
        self.result_ = self._train(
            fit_model, train_cfg.epochs * sequential, progress=progress, on_epoch=on_epoch,
            model=self.model_,
            train=scaled.subset(train if tune is None else tune),
            val=scaled.subset(val) if len(val) else None, config=train_cfg, seed=cfg.seed,
            device=self.device, state_dir=resume_dir, target_scale=self._target_scale())
        fitted = train
        if train_cfg.final_fit == "all" and len(val) and warm_start is None and tune is None:
            # early stopping chose each member's epoch count; now learn from the latest data too
            counts = self.result_.member_best_epochs or [self.result_.best_epoch]
            fitted = np.union1d(train, val)
            self.model_ = build_ensemble(cfg.model, self.model_config_, cfg.seed, cfg.ensemble)
            self._init_embeddings(self.model_)
            if cfg.highway:
                init_highway(self.model_, scaled.subset(fitted))
            fit_model(self.model_, scaled.subset(fitted), None, train_cfg, seed=cfg.seed,
                      device=self.device, member_epochs=counts, target_scale=self._target_scale())
        self.model_.cpu().eval()
        if self.log_target:  # held-out windows when there are any, else the fitted ones
            held_out = val if len(val) and fitted is train else fitted
            self.calibration_ = self._calibrate(windows.subset(held_out))
        dates = windows.anchor_date
        self.split_dates_ = split_dates(dates, train=train, val=val)
        self.metrics_ = {}
        self.data_fingerprint_ = None
        return self

    def scale(self, windows: Windows, *, targets: bool = False) -> Windows:
        """``windows`` with features (and, with ``targets``, targets) in the fitted scalers'
        units: what the model reads."""
        if not hasattr(self, "scaler_x_"):
            self._check_fitted()
        y = self.scaler_y_.transform(self._model_units(windows.targets)) if targets else None
        return windows.with_values(self.scaler_x_.transform(windows.values), y)

    # -- the variance target, modelled in log space ---------------------------------------
    @property
    def log_target(self) -> bool:
        """Whether the model reads and predicts the log of the target (``variance``)."""
        return self.config.target == "variance"

    def _target_scale(self) -> list[float] | None:
        """[H] the log-variance targets' scale (for the QLIKE loss); None for other targets."""
        return self.scaler_y_.std_.tolist() if self.log_target else None

    def _model_units(self, y: np.ndarray) -> np.ndarray:
        """Targets [..., H] as the model learns them: ln(variance) for ``variance``."""
        if not self.log_target:
            return y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(y)

    def _target_units(self, y: np.ndarray) -> np.ndarray:
        """Unscaled model outputs [N, H] (or [N, H, Q]) back in target units.

        For ``variance`` the model predicts ``m = E[ln v]`` (with the MSE or Huber loss; with
        ``loss: qlike`` it is pulled towards ``ln E[v]``, and ``c_h`` ends near 1); ``exp(m)``
        is then a median, not a mean (by Jensen it is low by about ``exp(s^2 / 2)``, ~5% at
        one day). The point
        forecast is ``exp(m) * c_h`` with ``c_h = mean(v / exp(m))`` over the validation windows
        (Duan's 1983 smearing estimate; it is also the scale that minimises QLIKE there), so
        forecasts are positive by construction and unbiased in variance. Quantile levels are
        ``exp`` of the log quantiles (a monotone map keeps quantiles), without the factor.
        """
        if not self.log_target:
            return y
        calib = getattr(self, "calibration_", None)
        c = np.ones(y.shape[1]) if calib is None else np.asarray(calib, dtype=np.float64)
        out = np.exp(np.asarray(y, dtype=np.float64))
        return out if out.ndim == 3 else out * c

    def _calibrate(self, windows: Windows) -> list[float]:
        """The smearing factors ``c_h`` [H] of :meth:`_target_units` on ``windows``."""
        from qseq.metrics import qlike_scale
        from qseq.train import predict_outputs

        raw = predict_outputs(self.model_, self.scale(windows))["y_hat"]
        point, _ = self._point_and_levels(raw)  # quantile models: the level nearest the median
        median = np.exp(self.scaler_y_.inverse(point).astype(np.float64))
        return [float(c) for c in qlike_scale(windows.y, median)]

    def _metrics(self, windows: Windows, panel: pd.DataFrame) -> pd.DataFrame:
        from qseq.metrics import skill_table

        frame, _ = self.forecast_windows(windows)
        naive = self._naive(windows, panel).reshape(-1)
        table = skill_table(frame, naive, target=self.config.target)
        q = self.config.quantiles
        if q:
            lo, hi = frame[f"q{q[0]:g}"], frame[f"q{q[-1]:g}"]
            inside = ((frame["y_true"] >= lo) & (frame["y_true"] <= hi)).groupby(frame["horizon"]).mean()
            table["coverage"] = [*inside.to_numpy(), float(((frame["y_true"] >= lo)
                                                             & (frame["y_true"] <= hi)).mean())]
            table["nominal"] = q[-1] - q[0]
        return table

    def verdict(self, split: str | None = None, alpha: float = 0.05) -> str:
        """One sentence: is there evidence at level ``alpha`` that this model beats the random
        walk on the held-out ``split`` (default ``test``, else ``val``)? See
        :func:`qseq.metrics.skill_verdict` (Holm-adjusted Diebold-Mariano across horizons and
        the directional accuracy's Wilson interval)."""
        from qseq.metrics import loss_name, skill_verdict

        self._check_fitted()
        split = split or ("test" if "test" in self.metrics_ else "val")
        if split not in self.metrics_:
            raise ConfigError(f"no {split} metrics; this fit has {sorted(self.metrics_) or 'none'}")
        table = self.metrics_[split]
        if "dm_pvalue" not in table.columns:
            return "Skill cannot be judged: this checkpoint predates the significance tests; refit it."
        from qseq.metrics import VOL_TARGETS

        naive = ("persistence (the last bar's value)" if self.config.target in VOL_TARGETS
                 else "the random walk")
        return skill_verdict(table, alpha=alpha, baseline=naive, loss=loss_name(self.config.target))

    def _naive(self, windows: Windows, panel: pd.DataFrame) -> np.ndarray:
        """[N, H] the random walk of the target at each window's anchor: a zero return, or the
        last bar's volatility for ``realized_vol``."""
        from qseq.backtest.baselines import naive_forecast

        return naive_forecast(panel, self.config.target, windows, self.config.proxy)

    # -- prediction ----------------------------------------------------------------------
    def forecast_windows(self, windows: Windows, positions: np.ndarray | None = None,
                         ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """Forecasts of unscaled ``windows`` (those at ``positions``, default all).

        Returns the tidy frame (date, ticker, horizon, y_hat, y_true and, for quantile models,
        one column per level ``q0.1``, ...; y_hat is then the level closest to the median) and
        the model's attention weights, if it has any: ``attention`` [N, H, T] and
        ``feature_attention`` [N, T, F].
        """
        from qseq.train import predict_outputs

        self._check_fitted()
        if positions is not None:
            windows = windows.subset(positions)
        out = predict_outputs(self.model_, self.scale(windows))
        y_hat, levels = self._point_and_levels(self._target_units(self.scaler_y_.inverse(out.pop("y_hat"))))
        return windows.tidy(self.config.horizons, y_hat, **levels), out

    def _point_and_levels(self, y_hat: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A point forecast [N, H] and the quantile levels ``{"q0.1": [N, H], ...}`` of model
        output y_hat ([N, H], or [N, H, Q] for quantile models: the point is the level closest
        to the median)."""
        if y_hat.ndim != 3:
            return y_hat, {}
        q = self.config.quantiles
        levels = {f"q{level:g}": y_hat[..., i] for i, level in enumerate(q)}
        return y_hat[..., min(range(len(q)), key=lambda i: abs(q[i] - 0.5))], levels

    def predict(self, panel: pd.DataFrame, *, last_only: bool = False) -> pd.DataFrame:
        """Forecasts for every window of ``panel`` (or only each ticker's latest bar).

        Returns a tidy frame with columns date (the anchor bar), ticker, horizon, y_hat, y_true
        (NaN where the future is not in the panel), in target units (log returns by default),
        plus one column per quantile level for quantile models. With ``last_only``, only the
        tail each ticker's last window needs is validated and featurised.
        """
        from qseq.data.validate import validate_panel

        self._check_fitted()
        cfg = self.config
        if last_only and not self._cross_sectional:  # tails suffice for per-ticker features
            rows = self._tail_rows(panel)
            fast = self._latest_from_rows(panel, rows)
            if fast is not None:
                return fast
            panel = panel.iloc[rows]
        validate_panel(panel, min_rows=cfg.lookback + 1)
        windows = self.windows(panel, require_targets=False)
        if last_only:
            last = pd.Series(windows.anchors).groupby(windows.ticker).max().to_numpy()
            windows = windows.subset(np.isin(windows.anchors, last))
        if len(windows) == 0:
            raise DataError(f"no complete {cfg.lookback}-bar window in the data; "
                            "provide more history")
        return self.forecast_windows(windows)[0]

    @property
    def _cross_sectional(self) -> bool:
        """Whether a feature reads every ticker on each date, or the news table (then no
        per-ticker tail path)."""
        from qseq.data.features import CROSS_SECTIONAL_FEATURES, NEWS_FEATURES, parse_feature

        wide = (*CROSS_SECTIONAL_FEATURES, *NEWS_FEATURES)
        return any(parse_feature(n)[0] in wide for n in self.config.features)

    def _tail_rows(self, panel: pd.DataFrame) -> np.ndarray:
        """Positions of each ticker's last rows, enough for its last window's features
        (trailing windows only, so they equal the features computed on the whole panel)."""
        from qseq.data.features import parse_feature

        warmup = max(parse_feature(name)[1] for name in self.config.features) + 1
        keep = self.config.lookback + warmup + 1
        if not isinstance(panel.index, pd.MultiIndex) or "ticker" not in panel.index.names:
            return np.arange(len(panel))  # validate_panel names the problem
        codes = np.asarray(panel.index.codes[panel.index.names.index("ticker")])
        order = np.argsort(codes, kind="stable")  # each ticker's rows, in their date order
        counts = np.bincount(codes)
        counts = counts[counts > 0]  # level values without rows
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        rank = np.arange(len(order)) - np.repeat(starts, counts)  # position within its ticker
        mask = np.zeros(len(order), dtype=bool)
        mask[order[rank >= np.repeat(counts, counts) - keep]] = True
        return np.flatnonzero(mask)

    def _latest_from_rows(self, panel: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame | None:
        """The latest-bar forecast straight from the panel's arrays at ``rows``, or None when
        any check fails (then the caller's :func:`validate_panel` names the problem): the
        panel's index is a sorted, unique, tz-naive (date, ticker) index, and the bars at
        ``rows`` pass :func:`qseq.data.validate.bars_are_clean`."""
        from qseq.data.validate import bars_are_clean

        idx = panel.index
        columns = ["open", "high", "low", "close", "volume"]
        if (not isinstance(idx, pd.MultiIndex) or list(idx.names) != ["date", "ticker"]
                or not set(columns) <= set(panel.columns) or not idx.is_monotonic_increasing
                or not idx.is_unique or getattr(idx.levels[0], "tz", None) is not None
                or not isinstance(idx.levels[0], pd.DatetimeIndex)):
            return None
        frame = panel if list(panel.columns) == columns else panel[columns]  # skip a copy
        values = frame.to_numpy(np.float64, na_value=np.nan)[rows]
        codes = np.asarray(idx.codes[1])[rows]
        if (not len(rows) or not bars_are_clean(values, columns)
                or (np.bincount(codes)[np.unique(codes)] < self.config.lookback + 1).any()):
            return None
        return self._predict_latest(values, codes, idx.levels[1],
                                    idx.get_level_values("date").to_numpy()[rows])

    def _predict_latest(self, bars: np.ndarray, raw: np.ndarray, tickers: pd.Index,
                        days: np.ndarray) -> pd.DataFrame:
        """The forecast from each ticker's last bar of validated tail ``bars`` [R, 5] (open,
        high, low, close, volume; ticker codes ``raw`` [R] into ``tickers``; dates ``days`` [R]):
        features by the streaming code (:class:`qseq.stream.IncrementalFeatures`, equal to the
        batch features), then :meth:`predict_array`. No per-call pandas windowing."""
        from qseq.data.windows import tidy_frame
        from qseq.stream import IncrementalFeatures

        cfg = self.config
        used, first = np.unique(raw, return_index=True)
        used = used[np.argsort(first)]  # in order of first appearance
        names = [str(t) for t in tickers[used]]
        unseen = [t for t in names if t not in self.tickers_]
        if unseen:
            raise DataError(f"tickers {unseen} were not seen in training (known: {list(self.tickers_)})")
        xs, anchors = [], []
        for code, name in zip(used, names, strict=True):
            mine = np.flatnonzero(raw == code)
            features = IncrementalFeatures(cfg.features)
            rows = [features.update(*bar) for bar in bars[mine].tolist()][-cfg.lookback:]
            if len(rows) < cfg.lookback or any(r is None for r in rows):
                raise DataError(f"no complete {cfg.lookback}-bar window of finite features for "
                                f"{name} in the data; provide more history")
            xs.append(rows)
            anchors.append(days[mine[-1]])
        y_hat = self.predict_array(np.asarray(xs, dtype=np.float32),
                                   list(names) if len(self.tickers_) > 1 else None,
                                   anchor_date=np.asarray(anchors) if cfg.future_features else None)
        point, levels = self._point_and_levels(y_hat)
        return tidy_frame(np.asarray(anchors), np.asarray(names, dtype=object), cfg.horizons,
                          point, **levels)

    def predict_array(
        self, x: np.ndarray, ticker: str | Sequence[str] | None = None,
        anchor_date: Any = None,
    ) -> np.ndarray:
        """Fast path for serving: forecast from raw (unscaled) feature windows.

        x: [T, F] or [B, T, F] features as :func:`qseq.data.features.compute_features` gives
        them, in ``self.config.features`` order. ticker: one name or B names (needed when the
        model was fitted on several tickers). anchor_date: the date of each window's last bar
        (one date or B dates), needed by models with known-future calendar inputs. Returns
        y_hat [B, H] (quantile models: [B, H, Q]) in target units.
        No pandas and no copies beyond the batch itself.
        """
        import torch

        from qseq.data.calendar_features import future_inputs

        self._check_fitted()
        cfg = self.config
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if xt.dim() == 2:
            xt = xt.unsqueeze(0)
        if xt.dim() != 3 or xt.shape[-1] != len(cfg.features):
            raise DataError(f"expected x of shape [batch, time, {len(cfg.features)}], "
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
        if cfg.future_features:
            if anchor_date is None:
                raise DataError("this model takes calendar inputs of the forecast dates; pass "
                                "anchor_date (the date of each window's last bar)")
            days = np.atleast_1d(np.asarray(anchor_date, dtype="datetime64[D]"))
            if len(days) == 1:
                days = np.repeat(days, len(xt))
            if len(days) != len(xt):
                raise DataError(f"got {len(days)} anchor dates for {len(xt)} windows")
            extra["future"] = torch.from_numpy(
                future_inputs(days, cfg.horizons, cfg.future_features, exchange=cfg.exchange))
        from qseq.runtime import configure_torch_threads

        configure_torch_threads()
        mx, sx, my, sy = self._scaler_tensors()
        with torch.inference_mode():
            y = self.model_((xt - mx) / sx, ids, **extra).y_hat
        if y.dim() == 3:
            return self._target_units((y * sy[:, None] + my[:, None]).numpy())
        return self._target_units((y * sy + my).numpy())

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

    def _scaler_tensors(self) -> tuple[Any, ...]:
        cached = getattr(self, "_scaler_cache", None)
        if cached is None:
            import torch

            cached = tuple(torch.as_tensor(a, dtype=torch.float32) for a in (
                self.scaler_x_.mean_, self.scaler_x_.std_, self.scaler_y_.mean_, self.scaler_y_.std_))
            self._scaler_cache = cached
        return cached

    # -- walk-forward --------------------------------------------------------------------
    def cross_validation(
        self,
        panel: pd.DataFrame,
        *,
        folds: WalkForwardConfig | None = None,
        baselines: Sequence[str] = ("random_walk",),
        per_ticker: bool = False,
        permutation_repeats: int = 0,
        engine: str = "local",
        workers: int | str = 1,
        work_dir: str | Path | None = None,
    ) -> WalkForwardResult:
        """Walk-forward forecasts of ``panel`` with this forecaster's config, refit per fold
        (see :func:`qseq.walk_forward`). ``result.forecasts`` is the stitched out-of-sample
        tidy frame (date, ticker, horizon, y_hat, y_true, fold, model), baselines included;
        :func:`qseq.evaluate` scores it. This forecaster itself is left as it is."""
        from qseq.backtest.walk_forward import walk_forward

        return walk_forward(self.config, panel, folds=folds, baselines=baselines,
                            per_ticker=per_ticker, permutation_repeats=permutation_repeats,
                            engine=engine, workers=workers, work_dir=work_dir)

    # -- persistence ---------------------------------------------------------------------
    def _fitted_state(self) -> dict[str, Any]:
        return {
            "tickers": list(self.tickers_),
            "scaler_x": self.scaler_x_.to_dict(),
            "scaler_y": self.scaler_y_.to_dict(),
            "calibration": getattr(self, "calibration_", None),
            "split_dates": self.split_dates_,
            "metrics": {k: v.reset_index().to_dict(orient="records")
                        for k, v in self.metrics_.items()},
            "training": self.result_.to_dict(),
            "data_fingerprint": self.data_fingerprint_,
        }

    def _restore_state(self, saved: dict[str, Any]) -> None:
        from qseq.data.windows import StandardScaler
        from qseq.train import TrainResult

        self.tickers_ = tuple(saved["tickers"])
        self.scaler_x_ = StandardScaler.from_dict(saved["scaler_x"])
        self.scaler_y_ = StandardScaler.from_dict(saved["scaler_y"])
        self.calibration_ = saved.get("calibration")
        self.split_dates_ = saved["split_dates"]
        self.metrics_ = {k: pd.DataFrame(v).set_index("horizon") for k, v in saved["metrics"].items()}
        self.result_ = TrainResult.from_dict(saved["training"])
        self.data_fingerprint_ = saved["data_fingerprint"]

    def _build_model(self, model_config: Any) -> nn.Module:
        from qseq.models.ensemble import build_ensemble

        return build_ensemble(self.config.model, model_config, self.config.seed,
                              self.config.ensemble)

    @classmethod
    def _legacy_config(cls, saved: dict[str, Any]) -> dict[str, Any]:
        spec, mc = saved["spec"], saved["model_config"]
        return {"model": spec["model"], "lookback": spec["lookback"], "horizons": spec["horizons"],
                "features": spec["features"], "target": spec["target"],
                "future_features": spec.get("future_features", []), "val_frac": spec["val_frac"],
                "test_frac": spec["test_frac"], "hidden_size": mc["hidden_size"],
                "num_layers": mc["num_layers"], "dropout": mc["dropout"],
                "ticker_dim": mc["ticker_dim"], "quantiles": mc["quantiles"],
                "seed": saved["seed"], "train": saved["train"]}


def init_highway(model: nn.Module, windows: Windows) -> None:
    """Start a highway model as the least-squares linear model: the highway of every member
    gets the OLS fit of the (scaled) targets on the (scaled) last-bar inputs of ``windows``,
    and the recurrent head starts at zero, so training begins from the linear forecast and
    learns a correction to it. Quantile models keep their random start."""
    import torch

    members = list(getattr(model, "members", [model]))
    if members[0].config.quantiles or len(windows) == 0:
        return
    x = windows.values[windows.anchors].astype(np.float64)  # [N, F] the last bar of each window
    y = windows.y.astype(np.float64)  # [N, H]
    design = np.column_stack([x, np.ones(len(x))])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)  # [F + 1, H]
    with torch.no_grad():
        for m in members:
            m.highway.weight.copy_(torch.as_tensor(beta[:-1].T))
            m.highway.bias.copy_(torch.as_tensor(beta[-1]))
            m.head.weight.zero_()
            m.head.bias.zero_()


def panel_fingerprint(panel: pd.DataFrame) -> str:
    """sha256 over the panel's index and values: same data, same fingerprint."""
    hashed = pd.util.hash_pandas_object(panel, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(panel.columns).encode()).hexdigest()
