"""examples/research_volatility_anomaly.ipynb is executed for real on a small slice
(``QSEQ_EXAMPLE_SMALL=1``: two test years, tiny models), top to bottom, in a fresh kernel."""

from __future__ import annotations

import pytest
from _notebooks import run_notebook


@pytest.mark.slow
def test_research_notebook_runs_on_a_small_slice(tmp_path, monkeypatch):
    text, _ = run_notebook("research_volatility_anomaly.ipynb", tmp_path, monkeypatch, timeout=900)
    for needle in ("QLIKE relative to LHAR-log", "gjr_garch", "Diebold-Mariano p-values on QLIKE",
                   "per calendar year", "Against the strongest baseline", "mean over kinds",
                   "isolation_forest", "flag rate after the normal period"):
        assert needle in text, needle
