"""ticker2vec: word embeddings for tickers, learned from "market sentences".

Each training day's cross-section becomes a sentence: the tickers sorted by that day's return
(``order="return"``) or by the residual after the market (``order="residual"``), for each
return kind (close-to-close, open-to-close, close-to-open) and horizon (the last 1, 2, 3
days). Tickers that move together land close in the sorted order on many days, so they share
context windows and a skip-gram / CBOW / GloVe model gives them nearby vectors. Evaluation
(sector purity, silhouette, the correlation baseline, the 2-D map) is in
:mod:`qseq.text.sectors`.

Leakage: only bars dated on or before the end of the training range are read (the first
``first_frac`` of the panel's dates, or the dates up to ``train_end``); the market beta, the
per-ticker scale and the ticker universe are fitted on those days too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from qseq.config import (  # the sentence settings are declared once, with the other configs
    MARKETS,
    METHOD_DEFAULTS,
    ORDERS,
    RETURNS,
    EmbedConfig,
    SentenceConfig,
)
from qseq.errors import ConfigError, DataError

if TYPE_CHECKING:
    from qseq.text.vectors import Vectors

__all__ = ["MARKETS", "METHOD_DEFAULTS", "ORDERS", "RETURNS", "SentenceConfig", "market_residuals",
           "market_sentences", "ordering_signals", "ticker2vec", "ticker2vec_from_config",
           "training_returns"]


def training_returns(panel: pd.DataFrame, config: SentenceConfig = SentenceConfig(),
                     kind: str = "close") -> pd.DataFrame:
    """Daily log returns of one ``kind`` (see :data:`RETURNS`) over the training range.

    panel: long frame indexed (date, ticker) with ``close`` (and ``open`` for the intraday and
    overnight kinds). Returns [days - 1, tickers] (NaN where a ticker has no bar; day one of
    the range has no previous close and is dropped for every kind), restricted to the tickers
    with a close-to-close return on at least ``config.min_coverage`` of the days. Nothing
    after the training range is read.
    """
    if kind not in RETURNS:
        raise ConfigError(f"kind must be one of {list(RETURNS)}, got {kind!r}")
    need = ["close"] if kind == "close" else ["open", "close"]
    missing = [c for c in need if c not in panel.columns]
    if missing or list(panel.index.names) != ["date", "ticker"]:
        raise DataError(f"expected a panel indexed (date, ticker) with columns {need}, got index "
                        f"{list(panel.index.names)} and columns {list(panel.columns)}")
    dates = panel.index.get_level_values("date").unique().sort_values()
    last = (pd.Timestamp(config.train_end) if config.train_end is not None
            else dates[max(int(len(dates) * config.first_frac), 1) - 1])
    inside = panel[panel.index.get_level_values("date") <= last]
    log_close = np.log(_wide(inside, "close"))  # [D, K]
    if len(log_close) < 3:
        raise DataError(f"the training range holds {len(log_close)} day(s) up to {last.date()}; "
                        "need at least 3 (raise first_frac or move end later)")
    close_ret = log_close.diff().iloc[1:]  # [D-1, K]
    keep = close_ret.notna().mean() >= config.min_coverage
    if keep.sum() < 2:
        raise DataError(f"only {int(keep.sum())} ticker(s) have returns on {config.min_coverage:.0%}"
                        " of the training days; lower min_coverage")
    if kind == "close":
        out = close_ret
    else:
        log_open = np.log(_wide(inside, "open"))
        out = (log_close - log_open if kind == "intraday" else log_open - log_close.shift()).iloc[1:]
    return out.loc[:, keep]


def _wide(panel: pd.DataFrame, column: str) -> pd.DataFrame:
    """[dates, tickers] of one positive price column (non-positive prices -> NaN)."""
    wide = panel[column].unstack("ticker").sort_index()
    return wide.where(wide > 0)


def market_residuals(returns: pd.DataFrame, market: str = "equal") -> pd.DataFrame:
    """[days, tickers] returns minus the market: the day's equal-weight mean (``"equal"``) or
    beta x that mean with beta the per-ticker OLS slope over these days (``"beta"``)."""
    if market not in MARKETS:
        raise ConfigError(f"market must be one of {list(MARKETS)}, got {market!r}")
    mkt = returns.mean(axis=1)  # [days]
    if market == "equal":
        return returns.sub(mkt, axis=0)
    x = returns.to_numpy()
    seen = ~np.isnan(x)
    m = np.where(seen, mkt.to_numpy()[:, None], np.nan)  # the market on each ticker's days
    m_c = np.nan_to_num(m - np.nanmean(m, axis=0))
    x_c = np.nan_to_num(x - np.nanmean(x, axis=0))
    beta = (m_c * x_c).sum(axis=0) / np.maximum((m_c**2).sum(axis=0), 1e-18)  # [K]
    return returns - np.outer(mkt.to_numpy(), beta)


def ordering_signals(panel: pd.DataFrame, config: SentenceConfig = SentenceConfig()
                     ) -> dict[str, pd.DataFrame]:
    """The daily quantities the sentences sort by, one per ``config.returns`` kind:
    [days, tickers] (residual) log returns over the training range, divided by each ticker's
    training standard deviation when ``config.scale``."""
    signals = {}
    for kind in config.returns:
        signal = training_returns(panel, config, kind)
        if config.order == "residual":
            signal = market_residuals(signal, config.market)
        if config.scale:
            signal = signal / signal.std().replace(0.0, np.nan)
        signals[kind] = signal
    return signals


def market_sentences(panel: pd.DataFrame, config: SentenceConfig = SentenceConfig()
                     ) -> list[list[str]]:
    """One sentence per training day, return kind and horizon: the tickers sorted by ascending
    signal (the sum of the last ``h`` daily signals for horizon ``h``).

    panel:  long frame indexed (date, ticker) with ``close`` (and ``open``).
    Returns sentences ordered by kind, then horizon, then date; each a list of ticker strings.
    A ticker without a value that day is left out; ties keep ticker order. With
    ``config.chunk`` each ordering is cut into consecutive pieces of ``chunk`` tickers (a last
    piece of one ticker is dropped: it has no context).
    """
    sentences: list[list[str]] = []
    for signal in ordering_signals(panel, config).values():  # [days, K] each
        tickers = np.asarray(signal.columns.astype(str))
        for h in config.horizons:
            summed = signal.rolling(int(h), min_periods=int(h)).sum().iloc[int(h) - 1:]
            for row in summed.to_numpy():  # [K]
                seen = np.flatnonzero(~np.isnan(row))
                ordered = tickers[seen[np.argsort(row[seen], kind="stable")]].tolist()
                if config.chunk is None:
                    sentences.append(ordered)
                else:
                    sentences.extend(ordered[i:i + config.chunk]
                                     for i in range(0, len(ordered), config.chunk)
                                     if len(ordered) - i > 1)
    return sentences


def ticker2vec(
    panel: pd.DataFrame,
    *,
    sentences: SentenceConfig = SentenceConfig(),
    method: Literal["skipgram", "cbow", "glove"] = "glove",
    dim: int = 32,
    window: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    negative: int = 5,
    subsample: float = 0.0,
    batch_size: int = 8192,
    seed: int = 0,
    progress: bool = False,
) -> Vectors:
    """Ticker embeddings [K, dim] from the market sentences of ``panel``.

    method:    ``"glove"`` (fast here: the [K, K] co-occurrence matrix is small whatever the
               window), ``"skipgram"`` or ``"cbow"`` (word2vec with negative sampling; the
               cost grows with the window)
    window:    context half-width in tickers of the sorted order; ``window``, ``epochs`` and
               ``lr`` default to the method's row of :data:`METHOD_DEFAULTS` (tuned on the
               bundled 524-ticker panel, see ``bench/ticker2vec_eval.py``)
    negative, subsample, batch_size: word2vec only. Every ticker is about equally frequent
               (once per sentence), so subsampling is off by default: word2vec's 1e-3 would
               drop 15% of a 500-ticker corpus and 98% of a 16-ticker one. A batch of 8192
               examples runs several times faster per epoch than word2vec's 2048 on CPU (a
               small vocabulary wants a smaller batch: the trainer damps rows repeated often
               within one batch)
    Returns :class:`qseq.text.vectors.Vectors` over the tickers of the training universe.
    """
    if method not in METHOD_DEFAULTS:
        raise ConfigError(f"method must be one of {list(METHOD_DEFAULTS)}, got {method!r}")
    defaults = METHOD_DEFAULTS[method]
    window = defaults["window"] if window is None else window
    epochs = defaults["epochs"] if epochs is None else epochs
    lr = defaults["lr"] if lr is None else lr
    corpus = market_sentences(panel, sentences)
    if method == "glove":
        from qseq.text.glove import train_glove

        return train_glove(corpus, dim=dim, window=int(window), epochs=int(epochs), lr=lr,
                           seed=seed, progress=progress)
    from qseq.text.word2vec import train_word2vec

    return train_word2vec(corpus, dim=dim, window=int(window), negative=negative,
                          sg=method == "skipgram", subsample=subsample, epochs=int(epochs), lr=lr,
                          batch_size=batch_size, seed=seed, progress=progress)


def ticker2vec_from_config(panel: pd.DataFrame, config: EmbedConfig,
                           progress: bool = False) -> Vectors:
    """:func:`ticker2vec` with the settings of an :class:`qseq.config.EmbedConfig` (what
    ``qseq embed tickers`` and pipelines pass)."""
    return ticker2vec(panel, sentences=config.sentences, method=config.method, dim=config.dim,
                      window=config.window, epochs=config.epochs, lr=config.lr,
                      negative=config.negative, subsample=config.subsample,
                      batch_size=config.batch_size, seed=config.seed, progress=progress)
