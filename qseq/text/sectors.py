"""Sector evaluation of ticker embeddings: k-NN sector purity, its chance level, the silhouette
score, the correlation-neighbour baseline and a 2-D map coloured by sector.

Tickers without a sector are left out everywhere: they are neither scored nor counted as
anyone's neighbour. Neighbours by vectors are by cosine similarity.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import pandas as pd

from qseq.errors import DataError
from qseq.text.ticker2vec import SentenceConfig, market_residuals, training_returns

if TYPE_CHECKING:
    import plotly.graph_objects as go


class HasVectors(Protocol):
    """Anything with ``tokens`` (V names) and ``matrix`` [V, D], e.g. ``qseq.text.vectors.Vectors``."""

    tokens: tuple[str, ...]
    matrix: np.ndarray


Neighbours = Mapping[str, Sequence[str]]
Source = HasVectors | Neighbours


def bundled_sectors() -> pd.Series:
    """The bundled sector table of the 524-ticker panel as a Series: ticker -> sector."""
    from qseq.data.bundled import load_sectors

    return load_sectors().drop_duplicates("ticker").set_index("ticker")["sector"]


def read_sectors(path: str | Path) -> pd.Series:
    """A user's sector table (CSV with ``ticker`` and ``sector`` columns, any case) as a Series
    ticker -> sector; tickers are upper-cased, rows without a sector dropped."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"sector table {path} not found; pass a CSV with ticker,sector columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read sector table {path}: {exc}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("ticker", "sector") if c not in frame.columns]
    if missing:
        raise DataError(f"sector table {path} lacks columns {missing} (has {list(frame.columns)}); "
                        "it needs ticker and sector")
    frame = frame.dropna(subset=["ticker", "sector"]).drop_duplicates("ticker")
    return pd.Series(frame["sector"].astype(str).to_numpy(),
                     index=frame["ticker"].astype(str).str.strip().str.upper(), name="sector")


def _as_series(sectors: pd.Series | Mapping[str, str]) -> pd.Series:
    series = sectors if isinstance(sectors, pd.Series) else pd.Series(dict(sectors), dtype=object)
    series = series.dropna()
    series.index = series.index.astype(str)
    return series


def _labelled(vectors: HasVectors, sectors: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The tokens with a sector, their unit vectors [N, D] and sector labels [N]."""
    rows = [i for i, t in enumerate(vectors.tokens) if t in sectors.index]
    if len(rows) < 2:
        raise DataError(f"only {len(rows)} of {len(vectors.tokens)} tokens have a sector; "
                        "check that the sector table uses the same ticker names")
    tokens = [vectors.tokens[i] for i in rows]
    matrix = np.asarray(vectors.matrix, dtype=np.float64)[rows]  # [N, D]
    if not np.isfinite(matrix).all():
        raise DataError("the vectors hold NaN or inf (did training diverge? lower lr)")
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return tokens, unit, sectors.reindex(tokens).to_numpy()


def nearest_neighbours(vectors: HasVectors, sectors: pd.Series | Mapping[str, str], k: int = 5
                       ) -> dict[str, list[str]]:
    """Each ticker with a sector -> its ``k`` nearest tickers with a sector (cosine, self
    excluded), nearest first."""
    tokens, unit, _ = _labelled(vectors, _as_series(sectors))
    sim = unit @ unit.T  # [N, N]
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # [N, k]
    return {t: [tokens[j] for j in row] for t, row in zip(tokens, order, strict=True)}


def sector_purity(source: Source, sectors: pd.Series | Mapping[str, str], k: int = 5) -> float:
    """Mean share of each ticker's ``k`` nearest neighbours that share its sector.

    source:  vectors (``tokens`` + ``matrix`` [V, D]; cosine neighbours) or neighbour lists
             (ticker -> other tickers, nearest first; entries without a sector are skipped
             and the first ``k`` that have one are scored).
    sectors: ticker -> sector; tickers without one are excluded as queries and neighbours.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    table = _as_series(sectors)
    lists = (nearest_neighbours(source, table, k) if hasattr(source, "matrix")
             else source)  # type: ignore[arg-type]
    shares = []
    for ticker, nbrs in lists.items():  # type: ignore[union-attr]
        if ticker not in table.index:
            continue
        scored = [n for n in nbrs if n in table.index and n != ticker][:k]
        if len(scored) < k:
            raise DataError(f"{ticker!r} has {len(scored)} neighbour(s) with a sector; need k={k}")
        shares.append(np.mean([table[n] == table[ticker] for n in scored]))
    if not shares:
        raise DataError("no ticker of the source has a sector")
    return float(np.mean(shares))


def chance_purity(sectors: pd.Series | Mapping[str, str], tickers: Sequence[str] | None = None
                  ) -> float:
    """Expected purity of random neighbours: mean over tickers of (n_sector - 1) / (N - 1),
    over ``tickers`` (default: all) that have a sector."""
    table = _as_series(sectors)
    if tickers is not None:
        table = table[table.index.isin([str(t) for t in tickers])]
    n = len(table)
    if n < 2:
        raise DataError(f"chance purity needs at least 2 tickers with a sector, got {n}")
    counts = table.map(table.value_counts())
    return float(((counts - 1) / (n - 1)).mean())


def silhouette(vectors: HasVectors, sectors: pd.Series | Mapping[str, str]) -> float:
    """Silhouette score (cosine distance, sklearn) of the vectors grouped by sector, in [-1, 1]."""
    from sklearn.metrics import silhouette_score

    _, unit, labels = _labelled(vectors, _as_series(sectors))
    if len(set(labels)) < 2:
        raise DataError("silhouette needs at least two sectors among the tokens")
    return float(silhouette_score(unit, labels, metric="cosine"))


def correlation_neighbours(panel: pd.DataFrame, config: SentenceConfig = SentenceConfig(), *,
                           residual: bool = True, min_periods: int = 20) -> dict[str, list[str]]:
    """The baseline: each ticker -> all others by decreasing correlation of daily close-to-close
    log returns (minus the market of ``config.market`` when ``residual``) over the training
    range and universe of ``config`` (its order, return kinds and horizons are not used).
    Pairs with fewer than ``min_periods`` common days come last. Score with
    :func:`sector_purity`."""
    returns = training_returns(panel, config)  # [days, K]
    if residual:
        returns = market_residuals(returns, config.market)
    corr = returns.corr(min_periods=min_periods).to_numpy()  # [K, K]
    corr = np.where(np.isnan(corr), -np.inf, corr)
    np.fill_diagonal(corr, -np.inf)
    order = np.argsort(-corr, axis=1, kind="stable")[:, :-1]  # self (or a NaN pair) last
    tickers = [str(t) for t in returns.columns]
    return {t: [tickers[j] for j in row] for t, row in zip(tickers, order, strict=True)}


def sector_map(vectors: HasVectors, sectors: pd.Series | Mapping[str, str], *,
               method: Literal["pca", "tsne"] = "pca", title: str = "ticker embeddings",
               seed: int = 0) -> go.Figure:
    """A 2-D map of the vectors (PCA, or t-SNE on cosine distance), one trace per sector
    (tickers without one as "no sector"); hover shows the ticker. Names are HTML-escaped."""
    import plotly.graph_objects as go

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    table = _as_series(sectors)
    matrix = np.asarray(vectors.matrix, dtype=np.float64)  # [V, D]
    if method == "pca":
        from qseq.anomaly.report import project_2d

        xy = project_2d(matrix)  # [V, 2]
    else:
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, metric="cosine", init="pca", random_state=seed,
                  perplexity=min(30.0, max(2.0, (len(matrix) - 1) / 3))).fit_transform(matrix)
    groups = np.array([table.get(t, "no sector") for t in vectors.tokens], dtype=object)
    names = np.array([html.escape(t) for t in vectors.tokens], dtype=object)
    fig = go.Figure()
    for group in sorted(set(groups)):
        mine = groups == group
        fig.add_trace(go.Scatter(x=xy[mine, 0], y=xy[mine, 1], mode="markers",
                                 name=html.escape(str(group)), text=list(names[mine]),
                                 hovertemplate="%{text}<extra>" + html.escape(str(group))
                                 + "</extra>"))
    axis = "PC" if method == "pca" else "t-SNE "
    fig.update_layout(title=html.escape(title), template="plotly_white",
                      xaxis_title=f"{axis}1", yaxis_title=f"{axis}2")
    return fig
