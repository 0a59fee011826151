"""examples/order_books.ipynb is executed for real on a short synthetic book
(``QSEQ_EXAMPLE_SMALL=1``), top to bottom, in a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "order_books.ipynb"


@pytest.mark.slow
def test_order_book_notebook_runs_on_a_short_synthetic_book(tmp_path, monkeypatch):
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
    for needle in ("synthetic: True", "reconstruction equals the order-book file: True",
                   "logistic_imbalance", "diff_vs_baseline", "verdict:", "p_down"):
        assert needle in text, needle
