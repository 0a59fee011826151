"""examples/quickstart.ipynb is executed for real, top to bottom, in a fresh kernel."""

from __future__ import annotations

import pytest
from _notebooks import run_notebook


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    text, _ = run_notebook("quickstart.ipynb", tmp_path, monkeypatch, small=False)
    assert "proxy for SPY" in text and "mse_ratio" in text and "model.safetensors" in text
    assert "AAPL" in text and "MSFT" in text
    assert "ForecastConfig(" in text and "buy_and_hold" in text  # the config and the walk-forward
