"""Order-book summaries and plotly pages: what ``qseq lob inspect`` and ``qseq lob train`` write.

Pictures are downsampled to at most ``MAX_POINTS`` events (the state at evenly spaced events:
a long file's page stays small); every number in the tables comes from all events.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qseq.lob.book import Book

MAX_POINTS = 4000


def book_summary(book: Book) -> dict[str, Any]:
    """Counts and ranges of ``book`` [E]: events, levels, time span (s), crossed and halted
    rows, one-sided rows, the share of empty levels, median spread (dollars and bps), the mid
    range and how often the mid moves."""
    from qseq.lob.features import mid_price, spread, to_bps

    mid, spr = mid_price(book), spread(book)
    with np.errstate(invalid="ignore"):
        moves = np.diff(mid)
    finite = np.isfinite(mid)
    return {
        "source": book.source or "order book",
        "synthetic": bool(book.synthetic),
        "events": len(book),
        "levels": book.levels,
        "start_s": float(book.time[0]) if len(book) else float("nan"),
        "end_s": float(book.time[-1]) if len(book) else float("nan"),
        "crossed_rows": int(book.crossed.sum()),
        "halted_rows": int(book.halted.sum()) if book.halted is not None else 0,
        "one_sided_rows": int((~finite).sum()),
        "empty_level_share": float(np.mean(book.ask_size == 0) / 2 + np.mean(book.bid_size == 0) / 2),
        "median_spread": float(np.nanmedian(spr)) if finite.any() else float("nan"),
        "median_spread_bps": float(np.nanmedian(to_bps(spr, mid))) if finite.any() else float("nan"),
        "mid_min": float(np.nanmin(mid)) if finite.any() else float("nan"),
        "mid_max": float(np.nanmax(mid)) if finite.any() else float("nan"),
        "mid_move_share": float(np.mean(moves[np.isfinite(moves)] != 0)) if len(moves) else 0.0,
    }


def book_figure(book: Book) -> Any:
    """A plotly figure: mid-price and best quotes, spread, and the depth of each level (ask
    levels above, bid levels below), on at most :data:`MAX_POINTS` evenly spaced events."""
    from plotly.subplots import make_subplots

    from qseq.lob.features import mid_price, spread

    idx = np.unique(np.linspace(0, max(len(book) - 1, 0), min(len(book), MAX_POINTS)).astype(int))
    t = book.time[idx]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.45, 0.2, 0.35],
                        subplot_titles=("mid-price and best quotes", "spread",
                                        "depth by level (asks positive, bids negative)"))
    fig.add_scatter(x=t, y=mid_price(book)[idx], name="mid", row=1, col=1)
    fig.add_scatter(x=t, y=book.ask_price[idx, 0], name="best ask", line={"width": 1}, row=1, col=1)
    fig.add_scatter(x=t, y=book.bid_price[idx, 0], name="best bid", line={"width": 1}, row=1, col=1)
    fig.add_scatter(x=t, y=spread(book)[idx], name="spread", row=2, col=1)
    depth = np.concatenate([-book.bid_size[idx][:, ::-1], book.ask_size[idx]], axis=1).T
    labels = [f"bid {j}" for j in range(book.levels, 0, -1)] + [f"ask {j}" for j in range(1, book.levels + 1)]
    fig.add_heatmap(x=t, y=labels, z=depth, colorscale="RdBu", zmid=0, showscale=False, row=3, col=1)
    fig.update_xaxes(title_text="time (s)", row=3, col=1)
    fig.update_layout(height=800, title=html.escape(book.source or "order book"))
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:.4g}", escape=True)


def write_book_report(out: str | Path, book: Book, extra: dict[str, Any] | None = None) -> Path:
    """``qseq lob inspect``'s page: the summary (plus ``extra`` rows, e.g. the LOBSTER
    validation report) and :func:`book_figure`."""
    from qseq.report import write_page

    rows = {**book_summary(book), **(extra or {})}
    notes = ["SYNTHETIC order book (generated, not market data)"] if book.synthetic else []
    body = _table(pd.DataFrame({"value": pd.Series(rows, dtype=object).astype(str)}))
    body += book_figure(book).to_html(full_html=False, include_plotlyjs=True)
    return write_page(out, f"order book: {book.source or 'order book'}", notes, body)


def _confusion_html(what: str, frame: pd.DataFrame | None) -> str:
    """Confusion matrices per k and method (rows true, columns predicted), when ``frame``
    carries them (direction targets)."""
    from qseq.lob.labels import CLASSES

    found = {} if frame is None else frame.attrs.get("confusion", {})
    if not found:
        return ""
    out = f"<h2>confusion, {html.escape(what)} (rows: true class, columns: predicted)</h2>"
    for k, by_method in found.items():
        for method, counts in by_method.items():
            table = pd.DataFrame(counts, index=[f"true {c}" for c in CLASSES],
                                 columns=[f"pred {c}" for c in CLASSES])
            out += f"<h3>k={int(k)}, {html.escape(str(method))}</h3>{_table(table)}"
    return out


def write_training_report(out: str | Path, book: Book, forecaster: Any,
                          blocks: pd.DataFrame | None = None) -> Path:
    """``qseq lob train``'s page: the configuration, the test (and validation) scores of the
    model and the baselines per k, the block summary when run, and the book picture."""
    from qseq.config import to_dict
    from qseq.report import write_page

    cfg = forecaster.config
    notes = [f"data: {book.source or 'order book'}" + (" (SYNTHETIC)" if book.synthetic else ""),
             f"model: {cfg.model}, target: {cfg.target}, sampling: {cfg.sampling}, k: "
             f"{list(cfg.horizons)}, lookback: {cfg.lookback}, levels: {cfg.levels}",
             f"best epoch {forecaster.result_.best_epoch} of {len(forecaster.result_.history)}"]
    if forecaster.alpha_ is not None:
        notes.append(f"direction thresholds (fit on training rows): {forecaster.alpha_}")
    body = ""
    for split, frame in forecaster.metrics_.items():
        body += f"<h2>{html.escape(split)} scores</h2>{_table(frame)}"
    body += _confusion_html("test split", forecaster.metrics_.get("test"))
    if blocks is not None:
        body += f"<h2>chronological blocks (refit per block, 95% t intervals)</h2>{_table(blocks)}"
        body += _confusion_html("test blocks together", blocks)
    body += "<h2>configuration</h2>" + _table(pd.DataFrame(
        {"value": pd.Series(to_dict(cfg), dtype=object).astype(str)}))
    body += book_figure(book).to_html(full_html=False, include_plotlyjs=True)
    return write_page(out, f"order-book model: {cfg.model}", notes, body)
