"""examples/text_embeddings.ipynb is executed for real at a toy size (``QSEQ_EXAMPLE_SMALL=1``),
top to bottom, in a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "text_embeddings.ipynb"


@pytest.mark.slow
def test_text_notebook_runs_small(tmp_path, monkeypatch):
    monkeypatch.setenv("QSEQ_HOME", str(tmp_path))
    monkeypatch.setenv("QSEQ_EXAMPLE_SMALL", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs)
    for needle in ("5-NN sector purity", "correlation baseline", "XOM - CVX + JPM ->",
                   "beam search, most likely paths", "DM test of CRPS", "rows with news"):
        assert needle in text, needle
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    assert (tmp_path / "ticker_vectors.txt").is_file() and (tmp_path / "sentiment.parquet").is_file()
