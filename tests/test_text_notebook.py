"""examples/text_embeddings.ipynb is executed for real at a toy size (``QSEQ_EXAMPLE_SMALL=1``),
top to bottom, in a fresh kernel."""

from __future__ import annotations

import pytest
from _notebooks import run_notebook


@pytest.mark.slow
def test_text_notebook_runs_small(tmp_path, monkeypatch):
    text, outputs = run_notebook("text_embeddings.ipynb", tmp_path, monkeypatch)
    for needle in ("5-NN sector purity", "correlation baseline", "XOM - CVX + JPM ->",
                   "beam search, most likely paths", "DM test of CRPS", "rows with news"):
        assert needle in text, needle
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    assert (tmp_path / "ticker_vectors.txt").is_file() and (tmp_path / "sentiment.parquet").is_file()
