"""``LobForecaster``: a registry model fit on order-book windows, with the same training loop,
ensembles and checkpoints as the daily forecaster.

    book -> sample (event | clock) -> columns [S, 4 L + D] -> chronological split (purged)
         -> scaler and auto threshold fit on training rows -> Windows -> fit_model -> metrics

Direction targets train a 3-class head (weighted cross-entropy); return targets a regression
head (MSE on scaled returns). ``metrics_`` compares the model on validation and test rows with
the majority class and a logistic regression on order-flow and depth imbalance
(:mod:`qseq.lob.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from qseq.config import LobConfig
from qseq.data.windows import StandardScaler, Windows
from qseq.errors import ConfigError, DataError
from qseq.estimator import Estimator
from qseq.lob.book import Book
from qseq.lob.windows import LobSplit, LobWindowsInfo, lob_splits, lob_windows, segment_anchors, to_datetime


class LobForecaster(Estimator):
    """Order-book direction (or return) model: ``LobForecaster(model="deeplob", levels=10,
    horizons=(10, 20, 50), ...)`` (every field of :class:`qseq.config.LobConfig`).

    Fitted attributes: ``model_``, ``model_config_``, ``feature_names_``, ``scaler_``,
    ``alpha_`` ([K] thresholds, direction only), ``class_counts_``, ``metrics_`` (per split,
    see :func:`qseq.lob.evaluate.compare`), ``result_`` (training history), ``source_``.
    """

    config_class = LobConfig
    kind = "order_book"
    retrain = "re-train it with qseq lob train"

    # -- data ----------------------------------------------------------------------------
    def _split(self, n_samples: int) -> LobSplit:
        cfg = self.config
        purge = cfg.purge or cfg.lookback + max(cfg.horizons)
        return lob_splits(n_samples, train=1 - cfg.val_frac - cfg.test_frac, val=cfg.val_frac,
                          purge=purge)

    def windows(self, book: Book, split: LobSplit | None = None
                ) -> tuple[Windows, Windows, Windows, LobWindowsInfo]:
        """(train, val, test) scaled windows of ``book`` and what was fitted on its training
        rows. ``split`` (rows of the sampled book) replaces the config's fractions."""
        cfg = self.config
        if book.levels < cfg.levels:
            raise DataError(f"{book.source or 'the book'} has {book.levels} levels but the model "
                            f"uses {cfg.levels}; lower --levels or rebuild the book deeper")
        if split is None:
            from qseq.lob.features import sample

            split = self._split(len(sample(book, cfg.sampling)[0]))
        return lob_windows(book, lookback=cfg.lookback, horizons=cfg.horizons, target=cfg.target,
                           alpha=cfg.alpha_value, reference=cfg.reference, sampling=cfg.sampling,
                           features=cfg.features, levels=cfg.levels, prices=cfg.prices,
                           split=split)

    # -- fitting -------------------------------------------------------------------------
    def fit(self, book: Book, *, split: LobSplit | None = None, progress: bool = False,
            on_epoch: Callable[[Any], None] | None = None, state_dir: str | None = None
            ) -> LobForecaster:
        """Fit on the training rows of ``book``, early-stop on validation, then score validation
        and test rows against the baselines (``metrics_``)."""
        from qseq.lob.evaluate import compare
        from qseq.models import ModelConfig
        from qseq.train import fit_model

        cfg = self.config
        train, val, test, info = self.windows(book, split)
        for name, part in (("training", train), ("test", test)):
            if len(part) == 0:
                raise DataError(f"{book.source or 'the book'}: no {name} windows with lookback "
                                f"{cfg.lookback} and k up to {max(cfg.horizons)}; use a longer "
                                "book, a shorter lookback or smaller k")
        direction = cfg.target == "direction"
        self.model_config_ = ModelConfig(
            input_size=train.values.shape[1], horizons=len(cfg.horizons),
            hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, dropout=cfg.dropout,
            ticker_dim=cfg.ticker_dim, lookback=cfg.lookback, classes=3 if direction else 0,
            book_levels=cfg.levels)
        self.model_ = self._build_model(self.model_config_)
        self.feature_names_ = train.feature_names
        self.scaler_ = info.scaler
        self.alpha_ = None if info.alpha is None else [float(a) for a in info.alpha]
        self.class_counts_ = ({k: v.tolist() for k, v in info.class_counts.items()}
                              if info.class_counts else None)
        self.source_ = {"source": book.source, "synthetic": bool(book.synthetic),
                        "samples": int(len(info.time)), "events": int(len(book))}
        if not direction:  # regression on scaled returns: one scale per horizon, training rows
            self.target_scaler_ = StandardScaler().fit(train.y)
            train, val, test = (w.with_values(w.values, self.target_scaler_.transform(w.targets))
                                for w in (train, val, test))
        else:
            self.target_scaler_ = None
        fit_on = train if cfg.train_stride == 1 else train.subset(
            np.arange(0, len(train), cfg.train_stride))
        self.result_ = self._train(fit_model, cfg.train.epochs, progress=progress,
                                   on_epoch=on_epoch, model=self.model_, train=fit_on,
                                   val=val if len(val) else None, config=cfg.train, seed=cfg.seed,
                                   device=self.device, state_dir=state_dir)
        self.metrics_ = {name: compare(self, part, train, book, info)
                         for name, part in (("val", val), ("test", test)) if len(part)}
        return self

    def _build_model(self, model_config: Any) -> Any:
        from qseq.models.ensemble import build_ensemble

        return build_ensemble(self.config.model, model_config, self.config.seed,
                              self.config.ensemble)

    # -- prediction ----------------------------------------------------------------------
    def predict_windows(self, windows: Windows) -> np.ndarray:
        """Model outputs for scaled ``windows``: class probabilities [N, K, 3] (direction) or
        mid log returns [N, K] (return target)."""
        from qseq.train import predict_windows

        self._check_fitted()
        out = predict_windows(self.model_, windows, device=self.device)
        if self.config.target == "direction":
            from qseq.lob.labels import probabilities

            return probabilities(out)
        return self.target_scaler_.inverse(out)

    def predict(self, book: Book) -> pd.DataFrame:
        """Forecasts for every window of ``book`` (scaled with the training scaler, labelled
        with the fitted thresholds): one row per sample and horizon k with ``time``, ``k``,
        the class probabilities ``p_down``, ``p_stationary``, ``p_up`` and ``label`` (or
        ``y_hat`` for returns), and ``y_true`` where the future is in the book."""
        from qseq.lob.features import feature_matrix, ffill, mid_price, sample
        from qseq.lob.labels import direction_labels, return_targets, smoothed_change

        self._check_fitted()
        cfg = self.config
        sampled, index = sample(book, cfg.sampling)
        values, names = feature_matrix(book, sampled, index, features=cfg.features,
                                       levels=cfg.levels, prices=cfg.prices)
        if names != tuple(self.feature_names_):
            raise DataError(f"{book.source or 'the book'} gives columns {len(names)} that differ from "
                            f"the {len(self.feature_names_)} the model was trained on; use a book "
                            f"with at least {cfg.levels} levels")
        n = len(values)
        everything = LobSplit(range(n), range(n, n), range(n, n))
        rows = segment_anchors(everything, cfg.lookback, 0, 0, np.isfinite(values).all(axis=1),
                               np.ones(n, dtype=bool))["train"]  # every full window, live tail too
        mid = ffill(mid_price(sampled))
        if cfg.target == "direction":
            truth = direction_labels(smoothed_change(mid, cfg.horizons, reference=cfg.reference),
                                     np.asarray(self.alpha_))
        else:
            truth = return_targets(mid, cfg.horizons)
        windows = Windows(self.scaler_.transform(values), truth.astype(np.float32),
                          np.zeros(len(values), dtype=np.int64), to_datetime(sampled.time),
                          rows.astype(np.int64), cfg.lookback, tuple(names), ("order book",))
        out = self.predict_windows(windows)
        k = np.asarray(cfg.horizons)
        frame = {"time": np.repeat(sampled.time[rows], len(k)), "k": np.tile(k, len(rows))}
        if cfg.target == "direction":
            probs = out.reshape(-1, 3)
            frame.update(p_down=probs[:, 0], p_stationary=probs[:, 1], p_up=probs[:, 2],
                         label=probs.argmax(axis=1))
        else:
            frame["y_hat"] = out.reshape(-1)
        frame["y_true"] = truth[rows].reshape(-1)
        return pd.DataFrame(frame)

    # -- persistence ---------------------------------------------------------------------
    def _fitted_state(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names_),
            "scaler": self.scaler_.to_dict(),
            "target_scaler": None if self.target_scaler_ is None else self.target_scaler_.to_dict(),
            "alpha": self.alpha_,
            "class_counts": self.class_counts_,
            "source": self.source_,
            "metrics": {k: v.reset_index().to_dict(orient="records") for k, v in self.metrics_.items()},
            "confusion": {split: {str(k): {m: np.asarray(c).tolist() for m, c in by.items()}
                                  for k, by in frame.attrs.get("confusion", {}).items()}
                          for split, frame in self.metrics_.items()},
            "training": self.result_.to_dict(),
        }

    def _restore_state(self, saved: dict[str, Any]) -> None:
        from qseq.train import TrainResult

        try:
            self.feature_names_ = tuple(saved["feature_names"])
            self.scaler_ = StandardScaler.from_dict(saved["scaler"])
            target = saved.get("target_scaler")
            self.target_scaler_ = None if target is None else StandardScaler.from_dict(target)
            self.alpha_ = saved["alpha"]
            self.class_counts_ = saved.get("class_counts")
            self.source_ = saved["source"]
            self.metrics_ = {k: pd.DataFrame(v).set_index(["k", "method"])
                             for k, v in saved["metrics"].items()}
            for split, by_k in saved.get("confusion", {}).items():
                if by_k and split in self.metrics_:
                    self.metrics_[split].attrs["confusion"] = {
                        int(k): {m: [[int(v) for v in row] for row in c] for m, c in by.items()}
                        for k, by in by_k.items()}
            self.result_ = TrainResult.from_dict(saved["training"])
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"the checkpoint's fitted state is incomplete ({err}); "
                              f"{self.retrain}") from None
