"""The skeleton both estimators share (``Forecaster``, ``AnomalyDetector``): a frozen config
built from keywords, a fit-check, training with an optional progress bar, and persistence as
``model.safetensors`` + ``config.json`` (the config, then the fitted state).

Subclasses set ``config_class`` and ``kind``, build their model in ``_build_model`` and name
their fitted state in ``_fitted_state`` / ``_restore_state``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from qseq import __version__
from qseq.config import build, fields_of, from_dict, to_dict
from qseq.errors import CheckpointError, NotFittedError


def split_dates(dates: Any, **parts: Any) -> dict[str, list[str] | None]:
    """``{name: [first, last]}`` ISO dates of the anchor ``dates`` [N] at each part's positions
    (None for an empty part): what a fit records as ``split_dates_``."""
    import pandas as pd

    return {name: [str(pd.Timestamp(dates[idx].min()).date()),
                   str(pd.Timestamp(dates[idx].max()).date())] if len(idx) else None
            for name, idx in parts.items()}


class Estimator:
    """Base of the estimators: ``Estimator(config=None, *, device="auto", **params)``.

    ``params`` are fields of ``config_class`` (unknown names are errors naming the closest
    field); they replace the fields of ``config`` (default: the config's defaults).
    """

    config_class: ClassVar[type]
    kind: ClassVar[str]
    retrain: ClassVar[str] = "re-train the model"  # the fix a broken checkpoint's error names

    def __init__(self, config: Any = None, *, device: str = "auto", **params: Any) -> None:
        from qseq.train import resolve_device

        if isinstance(config, str):  # Forecaster("gru", ...): the model name
            params = {"model": config, **params}
            config = None
        self.config = build(self.config_class, config, **params)
        resolve_device(device)  # fail now, not after data preparation
        self.device = device

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_class" in cls.__dict__:
            # help(Forecaster) and notebooks show every config field as a keyword
            params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                      inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=None),
                      inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default="auto")]
            params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hint,
                                         default=f.default if f.default is not dataclasses.MISSING
                                         else f.default_factory())
                       for f, hint in fields_of(cls.config_class)]
            init = cls.__init__ if "__init__" in cls.__dict__ else None
            if init is None:
                def init(self: Estimator, config: Any = None, *, device: str = "auto",
                         **values: Any) -> None:
                    Estimator.__init__(self, config, device=device, **values)
                cls.__init__ = init  # type: ignore[method-assign]
            cls.__init__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # -- fitting -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit(panel) or "
                                 f"{type(self).__name__}.load(path) first")

    @staticmethod
    def _train(fit: Callable[..., Any], epochs: int, *, progress: bool,
               on_epoch: Callable[[Any], None] | None, **kwargs: Any) -> Any:
        """``fit(on_epoch=...)`` with a progress bar when asked and no callback is given."""
        bar = None
        callback = on_epoch
        if progress and on_epoch is None:
            from qseq.progress import epoch_progress

            bar = epoch_progress(epochs)
            callback = bar.update
        try:
            return fit(on_epoch=callback, **kwargs)
        finally:
            if bar is not None:
                bar.close()

    def _init_embeddings(self, model: Any) -> None:
        """Start the ticker embeddings of ``model`` from ``config.init_embeddings`` (a GloVe-format
        file of ticker vectors), for the tickers of ``tickers_`` it has; no-op without one."""
        path = getattr(self.config, "init_embeddings", None)
        if path is None:
            return
        import logging

        from qseq.errors import ConfigError
        from qseq.models.base import init_ticker_embeddings
        from qseq.text.vectors import load_glove

        if len(self.tickers_) < 2:
            raise ConfigError("init_embeddings needs a panel of several tickers (with one, the "
                              "model has no ticker embedding); drop --init-embeddings")
        vectors = load_glove(path)
        known = set(vectors.tokens)
        table = {t: vectors.vector(t) for t in self.tickers_ if t in known}
        if not table:
            raise ConfigError(f"{path} has vectors for none of the {len(self.tickers_)} tickers "
                              f"(e.g. {list(self.tickers_[:3])}); train them on this panel")
        found = init_ticker_embeddings(model, tuple(self.tickers_), table)
        logging.getLogger(__name__).info("ticker embeddings: %d of %d tickers start from %s",
                                         found, len(self.tickers_), path)

    # -- persistence ---------------------------------------------------------------------
    def _fitted_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_state(self, saved: dict[str, Any]) -> None:
        raise NotImplementedError

    def _build_model(self, model_config: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def _legacy_config(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """The config fields of a checkpoint written before the one-config layout."""
        raise KeyError("config")

    def config_dict(self) -> dict[str, Any]:
        """Everything ``config.json`` holds: version, kind, config, model shape, fitted state."""
        from dataclasses import asdict

        self._check_fitted()
        return {"qseq_version": __version__, "kind": self.kind, "config": to_dict(self.config),
                "model_config": asdict(self.model_config_), **self._fitted_state()}

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into ``directory``."""
        from qseq.checkpoint import save_checkpoint

        return save_checkpoint(directory, self.model_, self.config_dict())

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> Estimator:
        """Rebuild from the registry and load the weights strictly. Checkpoints of older qseq
        versions (their parameters in ``spec``/``train``/``seed``) load too."""
        from qseq.checkpoint import config_fields, load_weights, read_config
        from qseq.models import ModelConfig

        saved = read_config(directory)
        kind = saved.get("kind", "forecaster")
        if kind != cls.kind:
            def named(k: str) -> str:
                words = str(k).replace("_", " ")
                return f"{'an' if words[:1] in 'aeiou' else 'a'} {words}"

            raise CheckpointError(f"{directory} holds {named(kind)} checkpoint, not {named(cls.kind)}; "
                                  "load it with the matching class")
        with config_fields(directory, cls.retrain):
            values = saved["config"] if "config" in saved else cls._legacy_config(saved)
            self = cls(from_dict(cls.config_class, values), device=device)
            self.model_config_ = ModelConfig(**saved["model_config"])
            self._restore_state(saved)
        self.model_ = load_weights(directory, self._build_model(self.model_config_), saved).eval()
        return self
