"""Self-contained plotly HTML reports (plotly.js inlined, so they open offline)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from qseq._io import atomic_write_text

STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
         "td,th{border:1px solid #ddd;padding:2px 6px}")


def write_page(out: str | Path, title: str, notes: list[str] | tuple[str, ...], body: str) -> Path:
    """Write one self-contained HTML report page atomically: the escaped ``title`` and ``notes``
    (a list under the heading), then ``body`` (HTML the caller built, data already escaped)."""
    items = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><ul>{items}</ul>{body}</body></html>")
    out = Path(out)
    atomic_write_text(out, page)
    return out


def forecast_report(
    *,
    title: str,
    history: pd.Series,
    validation: pd.DataFrame,
    path_table: pd.DataFrame,
    metrics: pd.DataFrame,
    notes: list[str],
    out: str | Path,
) -> Path:
    """Write the forecast report.

    history:    close prices indexed by date (one ticker)
    validation: tidy frame (date, horizon, y_hat, y_true) over the validation period
    path_table: columns date, horizon, y_hat and (for return targets) price
    metrics:    validation metrics indexed by horizon (see :func:`qseq.metrics.forecast_metrics`)
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=3, cols=1, vertical_spacing=0.08,
        subplot_titles=("Price history and forecast path", "Validation: forecast vs actual "
                        "(horizon 1)", "Validation MSE by horizon: model vs random walk"),
    )
    tail = history.iloc[-750:]
    fig.add_trace(go.Scatter(x=tail.index, y=tail.to_numpy(), name="close", mode="lines"),
                  row=1, col=1)
    if "price" in path_table.columns:
        anchor = pd.DataFrame({"date": [tail.index[-1]], "price": [float(tail.iloc[-1])]})
        path = pd.concat([anchor, path_table[["date", "price"]]], ignore_index=True)
        fig.add_trace(go.Scatter(x=path["date"], y=path["price"], name="forecast path",
                                 mode="lines+markers"), row=1, col=1)
        if "price_lo" in path_table.columns:
            fig.add_trace(go.Scatter(x=path_table["date"], y=path_table["price_hi"], mode="lines",
                                     line={"width": 0}, showlegend=False), row=1, col=1)
            fig.add_trace(go.Scatter(x=path_table["date"], y=path_table["price_lo"], mode="lines",
                                     line={"width": 0}, fill="tonexty", name="price band"),
                          row=1, col=1)
    h1 = validation[validation["horizon"] == validation["horizon"].min()]
    fig.add_trace(go.Scatter(x=h1["date"], y=h1["y_true"], name="actual", mode="lines",
                             line={"width": 1}), row=2, col=1)
    fig.add_trace(go.Scatter(x=h1["date"], y=h1["y_hat"], name="forecast", mode="lines"),
                  row=2, col=1)
    q_cols = [c for c in h1.columns if c.startswith("q")]
    if len(q_cols) >= 2:
        fig.add_trace(go.Scatter(x=h1["date"], y=h1[q_cols[-1]], mode="lines", line={"width": 0},
                                 showlegend=False), row=2, col=1)
        fig.add_trace(go.Scatter(x=h1["date"], y=h1[q_cols[0]], mode="lines", line={"width": 0},
                                 fill="tonexty", name=f"{q_cols[0]}-{q_cols[-1]} band"),
                      row=2, col=1)
    per_h = metrics.drop(index="all", errors="ignore")
    fig.add_trace(go.Bar(x=[f"h{h}" for h in per_h.index], y=per_h["mse"], name="model MSE"),
                  row=3, col=1)
    fig.add_trace(go.Bar(x=[f"h{h}" for h in per_h.index], y=per_h["baseline_mse"],
                         name="random-walk MSE"), row=3, col=1)
    fig.update_layout(title=html.escape(title), height=1100, template="plotly_white")
    return write_page(out, title, notes, fig.to_html(full_html=False, include_plotlyjs=True))
