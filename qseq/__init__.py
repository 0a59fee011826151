"""qseq: recurrent and sequence-to-sequence forecasting for sequential market data."""

__version__ = "0.1.0"

from qseq.anomaly import AnomalyDetector
from qseq.backtest.folds import WalkForwardConfig
from qseq.backtest.walk_forward import WalkForwardSpec, walk_forward
from qseq.data import load_prices, validate_panel
from qseq.errors import DataError, QseqError
from qseq.forecaster import Forecaster
from qseq.models import list_models
from qseq.train import TrainConfig

__all__ = ["AnomalyDetector", "DataError", "Forecaster", "QseqError", "TrainConfig", "WalkForwardConfig",
           "WalkForwardSpec", "__version__", "list_models", "load_prices", "validate_panel",
           "walk_forward"]
