"""Shared fixtures for the data-layer tests: real bundled data, a private QSEQ_HOME, small panels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qseq.data.bundled import load_dataset


@pytest.fixture
def qseq_home(tmp_path, monkeypatch) -> Path:
    """A private, empty QSEQ_HOME so no test reads or writes the user's cache."""
    home = tmp_path / "qseq_home"
    monkeypatch.setenv("QSEQ_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    """Bundled ^GSPC daily OHLCV (real data), a canonical single-ticker panel."""
    return load_dataset("sp500")


@pytest.fixture(scope="session")
def stocks5() -> pd.DataFrame:
    return load_dataset("stocks5")


@pytest.fixture
def two_tickers(stocks5) -> pd.DataFrame:
    """AAPL and MSFT over their first 600 common dates (1200 rows, real data, no NaN)."""
    panel = stocks5[stocks5.index.get_level_values("ticker").isin(["AAPL", "MSFT"])]
    dates = panel.index.get_level_values("date").unique()[:600]
    return panel[panel.index.get_level_values("date").isin(dates)].copy()
