"""Panel builders shared by the data-layer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[2] / "datasets"


def make_panel(rows: dict[str, list[tuple]], columns=("open", "high", "low", "close", "volume")):
    """Build a canonical panel from ``{ticker: [(date, *values), ...]}``."""
    records = [(pd.Timestamp(r[0]), t, *r[1:]) for t, rs in rows.items() for r in rs]
    frame = pd.DataFrame(records, columns=["date", "ticker", *columns])
    for c in columns:
        frame[c] = frame[c].astype("float64")
    return frame.set_index(["date", "ticker"]).sort_index()


def random_walk_panel(tickers=("AAA", "BBB"), n=60, seed=0, start="2021-01-04") -> pd.DataFrame:
    """Consistent synthetic OHLCV bars on business days (for known-answer tests)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    parts = []
    for t in tickers:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        open_ = close * np.exp(rng.normal(0, 0.01, n))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
        volume = rng.integers(0, 1_000_000, n).astype("float64")
        parts.append(pd.DataFrame({"date": dates, "ticker": t, "open": open_, "high": high, "low": low,
                                   "close": close, "volume": volume}))
    return pd.concat(parts, ignore_index=True).set_index(["date", "ticker"]).sort_index()


def history_bars(panel: pd.DataFrame, ticker: str, adj_close: pd.Series | None = None) -> pd.DataFrame:
    """One ticker of a canonical panel as ``yf.Ticker.history`` returns it: columns Open High Low
    Close [Adj Close] Volume (int64), a DatetimeIndex named ``Date``."""
    one = panel.xs(ticker, level="ticker")
    bars = pd.DataFrame({"Open": one["open"], "High": one["high"], "Low": one["low"],
                         "Close": one["close"]})
    if adj_close is not None:
        bars["Adj Close"] = adj_close.to_numpy()
    bars["Volume"] = one["volume"].astype("int64")
    bars.index = pd.DatetimeIndex(one.index, name="Date")
    return bars


def yf_download_frame(per_ticker: dict[str, pd.DataFrame], *, group_by: str = "column",
                      multi_level_index: bool = True, tz: str | None = None) -> pd.DataFrame:
    """Assemble per-ticker bars exactly as ``yfinance.download`` (1.x, multi.py) does."""
    dfs = {}
    for t, df in per_ticker.items():
        df = df.copy()
        if tz is not None:
            df.index = df.index.tz_localize(tz)
        dfs[t] = df
    idx = None
    for df in dfs.values():
        idx = df.index if idx is None else idx.union(df.index)
    dfs = {t: df.reindex(idx) for t, df in dfs.items()}
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    if not multi_level_index and len(dfs) == 1:
        data = data.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(None, axis=1)
    return data


def perturb_after(panel: pd.DataFrame, cut, rng: np.random.Generator, tickers=None) -> pd.DataFrame:
    """Copy of ``panel`` with every bar dated after ``cut`` (of ``tickers``, default all) changed
    wildly but consistently: prices scaled by random factors, high/low widened independently,
    volumes rescaled. ``cut=None`` perturbs every bar."""
    out = panel.copy()
    dates = out.index.get_level_values("date")
    mask = np.ones(len(out), dtype=bool) if cut is None else np.asarray(dates > pd.Timestamp(cut))
    if tickers is not None:
        mask &= np.asarray(out.index.get_level_values("ticker").isin(list(tickers)))
    n = int(mask.sum())
    factor = rng.uniform(0.3, 3.0, n)
    for col in ("open", "high", "low", "close"):
        if col in out.columns:
            out.loc[mask, col] = out.loc[mask, col].to_numpy() * factor
    if "high" in out.columns:
        out.loc[mask, "high"] = out.loc[mask, "high"].to_numpy() * rng.uniform(1.0, 1.2, n)
        out.loc[mask, "low"] = out.loc[mask, "low"].to_numpy() * rng.uniform(0.8, 1.0, n)
    if "volume" in out.columns:
        out.loc[mask, "volume"] = np.floor(out.loc[mask, "volume"].to_numpy() * rng.uniform(0.0, 50.0, n))
    return out
