"""examples/order_books.ipynb is executed for real on a short synthetic book
(``QSEQ_EXAMPLE_SMALL=1``), top to bottom, in a fresh kernel."""

from __future__ import annotations

import pytest
from _notebooks import run_notebook


@pytest.mark.slow
def test_order_book_notebook_runs_on_a_short_synthetic_book(tmp_path, monkeypatch):
    text, _ = run_notebook("order_books.ipynb", tmp_path, monkeypatch)
    for needle in ("synthetic: True", "reconstruction equals the order-book file: True",
                   "logistic_imbalance", "diff_vs_baseline", "verdict:", "p_down"):
        assert needle in text, needle
