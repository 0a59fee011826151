"""Market data: sources, validation, causal features and windows."""

from qseq.data.schema import normalize_prices, read_price_file
from qseq.data.sources import load_prices
from qseq.data.validate import ValidationReport, validate_panel

__all__ = ["ValidationReport", "load_prices", "normalize_prices", "read_price_file",
           "validate_panel"]
