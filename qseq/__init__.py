"""qseq: recurrent and sequence-to-sequence forecasting for sequential market data.

``import qseq`` is cheap: the names below are imported on first use (PEP 562), so torch, pandas,
scipy and plotly load only when something that needs them is touched (``qseq.Forecaster``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qseq._lazy import lazy_exports

__version__ = "0.1.0"

from qseq.runtime import apply_env_defaults as _apply_env_defaults

_apply_env_defaults()  # a short OpenMP spin (GOMP_SPINCOUNT) unless set: before torch loads libgomp

# public name -> the module that defines it
_LAZY = {
    "AnomalyConfig": "qseq.config",
    "AnomalyDetector": "qseq.anomaly",
    "CostsConfig": "qseq.config",
    "DataError": "qseq.errors",
    "EmbedConfig": "qseq.config",
    "ForecastConfig": "qseq.config",
    "LobConfig": "qseq.config",
    "LobForecaster": "qseq.lob.model",
    "StrategyConfig": "qseq.config",
    "evaluate": "qseq.backtest.evaluate",
    "Forecaster": "qseq.forecaster",
    "QseqError": "qseq.errors",
    "CharRNNConfig": "qseq.config",
    "ScenarioConfig": "qseq.config",
    "SentimentConfig": "qseq.config",
    "TrainConfig": "qseq.config",  # re-exported by qseq.train, which loads torch
    "WalkForwardConfig": "qseq.config",
    "WalkForwardSpec": "qseq.backtest.walk_forward",
    "list_models": "qseq.models",
    "load_prices": "qseq.data",
    "validate_panel": "qseq.data",
    "walk_forward": "qseq.backtest.walk_forward",
}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from qseq.anomaly import AnomalyDetector
    from qseq.backtest.evaluate import evaluate
    from qseq.backtest.walk_forward import WalkForwardSpec, walk_forward
    from qseq.config import (
        AnomalyConfig,
        CharRNNConfig,
        CostsConfig,
        EmbedConfig,
        ForecastConfig,
        LobConfig,
        ScenarioConfig,
        SentimentConfig,
        StrategyConfig,
        TrainConfig,
        WalkForwardConfig,
    )
    from qseq.data import load_prices, validate_panel
    from qseq.errors import DataError, QseqError
    from qseq.forecaster import Forecaster
    from qseq.lob.model import LobForecaster
    from qseq.models import list_models

__all__ = ["AnomalyConfig", "AnomalyDetector", "CharRNNConfig", "CostsConfig", "DataError", "EmbedConfig",
           "ForecastConfig", "Forecaster", "LobConfig", "LobForecaster", "QseqError",
           "ScenarioConfig", "SentimentConfig", "StrategyConfig", "TrainConfig",
           "WalkForwardConfig", "WalkForwardSpec", "__version__", "evaluate", "list_models", "load_prices",
           "validate_panel", "walk_forward"]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
