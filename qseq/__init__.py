"""qseq: recurrent and sequence-to-sequence forecasting for sequential market data."""

__version__ = "0.1.0"

from qseq.data import load_prices, validate_panel  # noqa: E402
from qseq.errors import DataError, QseqError  # noqa: E402
from qseq.forecaster import Forecaster  # noqa: E402
from qseq.models import list_models  # noqa: E402
from qseq.train import TrainConfig  # noqa: E402

__all__ = ["DataError", "Forecaster", "QseqError", "TrainConfig", "__version__", "list_models",
           "load_prices", "validate_panel"]
