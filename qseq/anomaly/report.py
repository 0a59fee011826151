"""The anomaly report: a self-contained plotly HTML page (plotly.js inlined, opens offline).

Panels: prices with events marked, the score timeline with the threshold, per-feature
contributions, and (for panels) the learned ticker embeddings projected to 2-D, coloured by
sector when a sector table is given. Every data-derived string is HTML-escaped.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from qseq.report import write_page

# Well-known market stress days, drawn for orientation on the score timeline (not labels).
MARKET_EVENTS = {
    "2001-09-17": "reopening after 9/11",
    "2008-09-15": "Lehman bankruptcy",
    "2008-10-10": "Oct 2008 crash week",
    "2010-05-06": "flash crash",
    "2011-08-08": "US downgrade sell-off",
    "2015-08-24": "2015-08-24 sell-off",
    "2018-02-05": "Feb 2018 volatility spike",
}
MAX_SHADED_EVENTS = 300


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """[K, E] -> [K, 2]: coordinates on the first two principal components (centred SVD)."""
    centred = vectors - vectors.mean(axis=0)
    if vectors.shape[1] < 2:
        return np.column_stack([centred[:, 0], np.zeros(len(vectors))])
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :2] * s[:2]


def _events_table(events: pd.DataFrame, limit: int = 200) -> str:
    cols = ["ticker", "start", "end", "bars", "peak_date", "peak_score", "contributions"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for rec in events.sort_values("peak_score", ascending=False).head(limit)[cols].to_dict("records"):
        cells = []
        for c in cols:
            v = rec[c]
            text = (str(pd.Timestamp(v).date()) if c in ("start", "end", "peak_date")
                    else f"{v:.1f}" if c == "peak_score" else str(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table border='1' cellspacing='0' cellpadding='3'><tr>{head}</tr>"
            + "".join(rows) + "</table>")


def anomaly_report(
    *,
    title: str,
    ticker: str,
    close: pd.Series,
    scores: pd.DataFrame,
    events: pd.DataFrame,
    threshold: float,
    features: list[str],
    train_end: str | None,
    embeddings: pd.DataFrame | None,
    sectors: pd.Series | None,
    notes: list[str],
    out: str | Path,
) -> Path:
    """Write the report for ``ticker``.

    close:      close prices of ``ticker`` indexed by date
    scores:     per-bar scores of ``ticker`` (date, score, one contribution column per feature)
    events:     events of ``ticker`` (see :func:`qseq.anomaly.events.merge_events`)
    embeddings: [K, E] ticker embeddings indexed by ticker (None: no embedding panel)
    sectors:    sector per ticker (index: ticker), to colour the embeddings
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    has_emb = embeddings is not None and len(embeddings) > 1
    rows = 4 if has_emb else 3
    titles = [f"{ticker}: close with detected events", "anomaly score (log scale) and threshold",
              "per-feature contribution to the score"]
    if has_emb:
        titles.append("learned ticker embeddings (first two principal components)")
    fig = make_subplots(rows=rows, cols=1, vertical_spacing=0.06, subplot_titles=titles)
    fig.add_trace(go.Scatter(x=close.index, y=close.to_numpy(), name="close", mode="lines"),
                  row=1, col=1)
    if len(events):
        peaks = pd.to_datetime(events["peak_date"])
        fig.add_trace(go.Scatter(
            x=peaks, y=close.reindex(peaks).to_numpy(), mode="markers", name="event peak",
            marker={"color": "red", "size": 7},
            text=[html.escape(str(c)) for c in events["contributions"]]), row=1, col=1)
        for rec in events.nlargest(MAX_SHADED_EVENTS, "peak_score").to_dict("records"):
            for r in (1, 2):
                fig.add_vrect(x0=rec["start"], x1=pd.Timestamp(rec["end"]) + pd.Timedelta(days=1),
                              fillcolor="red", opacity=0.15, line_width=0, row=r, col=1)
    dates = pd.to_datetime(scores["date"])
    fig.add_trace(go.Scatter(x=dates, y=scores["score"], name="score", mode="lines",
                             line={"width": 1}), row=2, col=1)
    fig.add_trace(go.Scatter(x=[dates.min(), dates.max()], y=[threshold, threshold], mode="lines",
                             name=f"threshold {threshold:.3g}", line={"dash": "dash"}), row=2, col=1)
    lo, hi = dates.min(), dates.max()
    for day, label in MARKET_EVENTS.items():
        if lo <= pd.Timestamp(day) <= hi:
            fig.add_vline(x=pd.Timestamp(day), line_dash="dot", line_color="grey", row=2, col=1)
            fig.add_annotation(x=pd.Timestamp(day), y=1, yref="y2 domain", text=html.escape(label),
                               showarrow=False, textangle=-90, xanchor="right", font={"size": 9})
    if train_end is not None:
        fig.add_vline(x=pd.Timestamp(train_end), line_color="black", row=2, col=1)
        fig.add_annotation(x=pd.Timestamp(train_end), y=0, yref="y2 domain", showarrow=False,
                           text="end of normal (training + calibration) period", xanchor="left",
                           font={"size": 9})
    fig.update_yaxes(type="log", row=2, col=1)
    n_feat = max(len(features), 1)
    for name in features:
        fig.add_trace(go.Scatter(x=dates, y=scores[name] / n_feat, name=html.escape(name),
                                 mode="lines", stackgroup="contrib", line={"width": 0.5}),
                      row=3, col=1)
    if has_emb:
        xy = project_2d(embeddings.to_numpy(dtype=np.float64))
        names = embeddings.index.astype(str)
        groups = (sectors.reindex(names).fillna("unknown sector").to_numpy()
                  if sectors is not None else np.full(len(names), "ticker"))
        for group in sorted(set(groups)):
            mine = groups == group
            fig.add_trace(go.Scatter(x=xy[mine, 0], y=xy[mine, 1], mode="markers",
                                     name=html.escape(str(group)),
                                     text=[html.escape(n) for n in names[mine]]), row=4, col=1)
    fig.update_layout(title=html.escape(title), height=350 * rows, template="plotly_white")
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    return write_page(out, title, notes, body + f"<h2>Events of {html.escape(ticker)} (largest "
                                               f"first)</h2>{_events_table(events)}")
