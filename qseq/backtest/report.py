"""The backtest report: one self-contained plotly HTML page per pipeline run.

Figures (each a ``<div id="fig-NAME">``, listed in :data:`FIGURES`): equity curves vs
baselines, drawdowns, rolling Sharpe, forecast vs actual per horizon, feature importance
(attention vs permutation), importance drift across folds, the lag x horizon attention heatmap
and the fold timeline; plus the metrics table with the Diebold-Mariano tests. Every piece of
data-derived text is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qseq.backtest.importance import overall_importance, rank_agreement
from qseq.report import write_page

if TYPE_CHECKING:
    from qseq.backtest.evaluate import Evaluation
    from qseq.backtest.walk_forward import WalkForwardResult

FIGURES = ("equity", "drawdown", "rolling_sharpe", "forecast_vs_actual", "importance",
           "importance_drift", "attention_heatmap", "fold_timeline")


def _figures(result: WalkForwardResult, ev: Evaluation, rolling_sharpe_bars: int) -> dict[str, object]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs: dict[str, object] = {}
    eq = ev.equity
    for name, column, title in (("equity", "equity", "Equity after costs (growth of 1)"),
                                ("drawdown", "drawdown", "Drawdown"),
                                ("rolling_sharpe", "rolling_sharpe",
                                 f"Rolling Sharpe ({rolling_sharpe_bars} bars)")):
        fig = go.Figure()
        for model, part in eq.groupby("model", sort=False):
            fig.add_trace(go.Scatter(x=part["date"], y=part[column], name=str(model), mode="lines"))
        if eq.empty:
            fig.add_annotation(text="no strategy for a volatility target", showarrow=False)
        figs[name] = fig.update_layout(title=title)

    fc = result.forecasts
    first = sorted(pd.unique(fc["ticker"]))[0]
    horizons = sorted(pd.unique(fc["horizon"]))[:5]
    fig = make_subplots(rows=len(horizons), cols=1, shared_xaxes=True,
                        subplot_titles=[f"{first}: horizon {h}" for h in horizons])
    for row, h in enumerate(horizons, start=1):
        part = fc[(fc["ticker"] == first) & (fc["horizon"] == h)]
        truth = part.drop_duplicates("date")
        fig.add_trace(go.Scatter(x=truth["date"], y=truth["y_true"], name="actual", mode="lines",
                                 line={"width": 1, "color": "#999"}, showlegend=row == 1), row=row, col=1)
        for model, mp in part.groupby("model", sort=False):
            fig.add_trace(go.Scatter(x=mp["date"], y=mp["y_hat"], name=str(model), mode="lines",
                                     showlegend=row == 1, legendgroup=str(model)), row=row, col=1)
    figs["forecast_vs_actual"] = fig.update_layout(title="Out-of-sample forecast vs actual",
                                                   height=260 * len(horizons))

    imp = result.importance
    overall = overall_importance(imp)
    fig = go.Figure()
    for method, part in overall.groupby("method", sort=False):
        # attention weights sum to 1, permutation is a relative MSE increase: scale each to its max
        top = part["value"].abs().max()
        fig.add_trace(go.Bar(x=part["feature"], y=part["value"] / top if top else part["value"],
                             name=f"{method} (scaled to max)"))
    agreement = rank_agreement(imp)
    label = ("permutation importance only (the model has no feature attention)"
             if "attention" not in set(overall["method"]) else
             f"Spearman rank agreement {agreement['spearman']:.2f}" if agreement else "")
    figs["importance"] = fig.update_layout(title=f"Feature importance: {label}", barmode="group")

    fig = go.Figure()
    for (method, feature), part in imp.groupby(["method", "feature"], sort=False):
        per_fold = part.groupby("fold")["value"].mean()
        fig.add_trace(go.Scatter(x=per_fold.index, y=per_fold.to_numpy(), mode="lines+markers",
                                 name=f"{method}: {feature}"))
    figs["importance_drift"] = fig.update_layout(title="Importance by fold", xaxis_title="fold")

    heat = result.heatmap
    fig = go.Figure()
    if not heat.empty:
        w = heat.assign(weighted=heat["weight"] * heat["n"]).groupby(["horizon", "lag"])
        grid = (w["weighted"].sum() / w["n"].sum()).unstack("lag")
        fig.add_trace(go.Heatmap(z=grid.to_numpy(), x=[f"lag {c}" for c in grid.columns],
                                 y=[f"h{result.spec.forecast.horizons[i - 1]}" for i in grid.index]))
        fig.update_layout(title="Temporal attention: mean weight per lag (0 = last bar) and horizon")
    else:
        fig.add_annotation(text="this model has no temporal attention", showarrow=False)
        fig.update_layout(title="Temporal attention")
    figs["attention_heatmap"] = fig

    folds = result.folds.drop_duplicates("fold")
    fig = go.Figure()
    for i, f in enumerate(folds.itertuples(index=False)):
        for start, end, color, label in ((f.train_first, f.train_last_target, "#9ecae1", "train"),
                                         (f.test_first, f.test_last, "#fd8d3c", "test")):
            fig.add_trace(go.Scatter(x=[start, end], y=[f.fold, f.fold], mode="lines",
                                     line={"width": 6, "color": color}, name=label,
                                     showlegend=i == 0))
    figs["fold_timeline"] = fig.update_layout(title="Folds: training span (to last target) and test block",
                                              yaxis_title="fold", height=max(300, 12 * len(folds)))
    for fig in figs.values():
        fig.update_layout(template="plotly_white")
    return figs


def _metrics_table(ev: Evaluation) -> str:
    m = ev.metrics
    keep = m[(m["horizon"].isin(["1", ""])) | (m["kind"] == "dm")]
    wide = keep.pivot_table(index=["kind", "model", "benchmark", "horizon"], columns="metric",
                            values="value", aggfunc="first").reset_index()
    return _html_table(wide)


def _loss_tables(ev: Evaluation) -> str:
    """Volatility targets: QLIKE per model and horizon, and the model's per-year loss ratio
    against each baseline (< 1: the model wins that year)."""
    from qseq.metrics import VOL_TARGETS

    m = ev.metrics
    if ev.target not in VOL_TARGETS:
        return ""
    q = m[(m["kind"] == "forecast") & (m["metric"] == "qlike")]
    table = q.pivot_table(index="model", columns="horizon", values="value", aggfunc="first")
    table = table[sorted(table.columns, key=int)]
    table.columns = [f"QLIKE h={c}" for c in table.columns]
    out = f"<h2>QLIKE by horizon (lower is better)</h2>{_html_table(table.reset_index())}"
    yearly = m[m["kind"] == "yearly"]
    if not yearly.empty:
        wide = yearly.pivot_table(index=["benchmark", "horizon"], columns="metric", values="value",
                                  aggfunc="first").reset_index()
        wide = wide.sort_values(["benchmark", "horizon"], key=lambda c: c.map(
            lambda v: int(v) if str(v).isdigit() else v))
        out += (f"<h2>{html.escape(ev.model)} loss / baseline loss per calendar year "
                f"(&lt; 1: {html.escape(ev.model)} wins)</h2>{_html_table(wide)}")
    return out


def _html_table(wide: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in wide.columns)
    body = []
    for row in wide.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("" if np.isnan(v) else f"{v:.4g}")
            else:
                cells.append(str(v))
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table class='metrics'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_report(out: str | Path, result: WalkForwardResult, ev: Evaluation, *,
                 title: str | None = None, notes: Sequence[str] = (),
                 rolling_sharpe_bars: int = 126) -> Path:
    """Write the walk-forward report of ``result`` scored by ``ev`` to ``out`` atomically.
    ``notes`` are extra lines for the header (data source, spec hash, ...). Returns the path."""
    figs = _figures(result, ev, rolling_sharpe_bars)
    parts = []
    for i, name in enumerate(FIGURES):
        parts.append(figs[name].to_html(full_html=False, include_plotlyjs=i == 0, div_id=f"fig-{name}"))
    cfg, folds = result.spec.forecast, result.spec.folds
    title = title or f"{cfg.model} walk-forward"
    target = f"{cfg.target} ({cfg.proxy} proxy)" if cfg.target == "variance" else cfg.target
    every = f"every {folds.test_bars} bars" if folds.test_period is None else f"every {folds.test_period}"
    facts = [f"model {cfg.model}, lookback {cfg.lookback}, horizons {list(cfg.horizons)}, "
             f"target {target}, seed {cfg.seed}"
             + (f", ensemble of {cfg.ensemble}" if cfg.ensemble > 1 else ""),
             f"walk-forward: {result.folds['fold'].nunique()} folds, {folds.train_window} training "
             f"window, refit {folds.refit} {every}",
             *([f"scored: {', '.join(folds.score_tickers)} (the panel's other tickers only "
                "train the model)"] if folds.score_tickers else []),
             *notes]
    body = (f"<h2>Metrics (horizon 1, strategy, Diebold-Mariano vs baselines)</h2>{_metrics_table(ev)}"
            + _loss_tables(ev) + "".join(parts)
            + f"<script type='application/json' id='qseq-figures'>{json.dumps(list(FIGURES))}</script>")
    return write_page(out, title, facts, body)
