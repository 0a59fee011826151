"""Panel validation and the explicit repair policies (NaN handling, OHLC consistency).

Nothing is ever back-filled: a repair may only use the past (forward fill) or drop rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from qseq import constants
from qseq.errors import DataError

log = logging.getLogger(__name__)
NanPolicy = Literal["raise", "drop", "ffill"]
OhlcPolicy = Literal["raise", "clip", "drop"]
NAN_POLICIES = constants.NAN_POLICIES
OHLC_POLICIES = constants.OHLC_POLICIES
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Issue:
    ticker: str
    date: pd.Timestamp | None
    column: str
    problem: str
    fix: str

    def message(self) -> str:
        when = "" if self.date is None else f" {self.date.date()}"
        return f"{self.ticker}{when} {self.column}: {self.problem}; {self.fix}"


@dataclass
class ValidationReport:
    """Per-ticker summary and every issue found. ``ok`` is True when there are no issues."""

    summary: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def raise_if_failed(self) -> None:
        if self.issues:
            extra = f" (and {len(self.issues) - 1} more issues)" if len(self.issues) > 1 else ""
            raise DataError(self.issues[0].message() + extra)


def _first(mask: pd.Series) -> tuple[str, pd.Timestamp]:
    date, ticker = mask[mask].index[0]
    return str(ticker), pd.Timestamp(date)


def bars_are_clean(values: np.ndarray, columns: list[str]) -> bool:
    """True when bars ``values`` [R, C] (float64, ``columns`` naming C) pass every row check of
    :func:`validate_panel`: no NaN, prices > 0, volume >= 0, high/low containing open and close.
    The numpy fast path; :func:`validate_panel` names the first offending row when it fails."""
    with np.errstate(invalid="ignore"):
        if np.isnan(values).any():
            return False
        prices = [columns.index(c) for c in ("open", "high", "low", "close") if c in columns]
        if prices and (values[:, prices] <= 0).any():
            return False
        if "volume" in columns and (values[:, columns.index("volume")] < 0).any():
            return False
        if {"open", "high", "low", "close"} <= set(columns):
            hi, lo = _ohlc_masks(values, columns)
            if hi.any() or lo.any():
                return False
    return True


def validate_panel(
    panel: pd.DataFrame, min_rows: int = 1, raise_on_error: bool = True
) -> ValidationReport:
    """Check a canonical panel (see :mod:`qseq.data.schema`).

    Checks: ``(date, ticker)`` MultiIndex with tz-naive datetimes, unique and sorted; no NaN;
    prices > 0; volume >= 0; ``high >= max(open, close)``, ``low <= min(open, close)``;
    at least ``min_rows`` rows per ticker. Errors name the ticker, date and column.
    """
    issues: list[Issue] = []
    idx = panel.index
    if not isinstance(idx, pd.MultiIndex) or list(idx.names) != ["date", "ticker"]:
        raise DataError(
            f"expected a panel indexed by (date, ticker), got index names {list(idx.names)}; "
            "build it with qseq.load_prices or qseq.data.normalize_prices"
        )
    dates = idx.get_level_values("date")
    if not isinstance(dates, pd.DatetimeIndex) or dates.tz is not None:
        raise DataError("panel dates must be tz-naive datetimes; use qseq.data.normalize_prices")
    if "close" not in panel.columns:
        raise DataError(f"panel has no close column (columns: {list(panel.columns)})")
    if idx.has_duplicates:
        date, ticker = idx[idx.duplicated()][0]
        issues.append(Issue(str(ticker), pd.Timestamp(date), "date", "duplicate row",
                            "keep one row per ticker and date"))
    if not idx.is_monotonic_increasing:
        d = idx.get_level_values("date").to_numpy()
        t = pd.factorize(idx.get_level_values("ticker"), sort=True)[0]
        smaller = (d[1:] < d[:-1]) | ((d[1:] == d[:-1]) & (t[1:] < t[:-1]))
        date, ticker = idx[int(np.argmax(smaller)) + 1]
        issues.append(Issue(str(ticker), pd.Timestamp(date), "date",
                            "index is not sorted (first row out of order)",
                            "sort with panel.sort_index()"))

    # numpy first: the pandas look-ups that name the first bad row run only when a check fails
    cols = list(panel.columns)
    arr = panel.to_numpy(dtype=np.float64, na_value=np.nan)
    col_bad = dict(zip(cols, np.isnan(arr).any(axis=0), strict=True))
    for col in cols:
        if not col_bad[col]:
            continue
        nan = panel[col].isna()
        t, d = _first(nan)
        issues.append(Issue(t, d, col, f"missing value ({int(nan.sum())} in total)",
                            "load with nan_policy='drop' or 'ffill' (CLI: --nan-policy)"))
    prices = [c for c in ("open", "high", "low", "close") if c in panel.columns]
    for col in prices:
        if not (arr[:, cols.index(col)] <= 0).any():
            continue
        bad = panel[col] <= 0
        t, d = _first(bad)
        issues.append(Issue(t, d, col, f"price {panel.loc[(d, t), col]} is not positive",
                            "remove or correct the row"))
    if "volume" in panel.columns and (arr[:, cols.index("volume")] < 0).any():
        t, d = _first(panel["volume"] < 0)
        issues.append(Issue(t, d, "volume", "volume is negative", "remove or correct the row"))
    if {"open", "high", "low", "close"} <= set(panel.columns):
        hi, lo = _ohlc_violations(panel, arr)
        for col, bad in (("high", hi), ("low", lo)):
            if bad.any():
                t, d = _first(bad)
                rel = "below max(open, close)" if col == "high" else "above min(open, close)"
                issues.append(Issue(t, d, col, f"{col} is {rel} ({int(bad.sum())} rows)",
                                    "load with ohlc_policy='clip' or 'drop' (CLI: --ohlc-policy)"))

    used = np.unique(idx.codes[1])  # ticker level codes: sorted, like the level itself
    names = idx.levels[1][used]
    codes = np.searchsorted(used, idx.codes[1])
    day = dates.to_numpy()
    rows = np.bincount(codes, minlength=len(names))
    start = np.full(len(names), np.datetime64("NaT"), dtype=day.dtype)
    end = start.copy()
    order = np.lexsort((day, codes))  # by ticker, then date
    bounds = np.r_[0, np.cumsum(rows)]
    start[:] = day[order[bounds[:-1]]] if len(day) else start
    end[:] = day[order[bounds[1:] - 1]] if len(day) else end
    summary = pd.DataFrame({"rows": rows, "start": start, "end": end},
                           index=pd.Index(names, name="ticker"))
    for ticker, n_rows in summary["rows"].items():
        if n_rows < min_rows:
            issues.append(Issue(str(ticker), None, "rows",
                                f"{n_rows} rows, at least {min_rows} needed",
                                "use a longer date range or a shorter lookback/horizon"))
    report = ValidationReport(summary=summary, issues=issues)
    if raise_on_error:
        report.raise_if_failed()
    return report


def _ohlc_masks(values: np.ndarray, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """[R] bool: high below max(open, close), low above min(open, close) (relative tolerance)."""
    o, h, lo_, c = (values[:, columns.index(k)] for k in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        return h < np.maximum(o, c) * (1 - _REL_TOL), lo_ > np.minimum(o, c) * (1 + _REL_TOL)


def _ohlc_violations(panel: pd.DataFrame, arr: np.ndarray | None = None
                     ) -> tuple[pd.Series, pd.Series]:
    """:func:`_ohlc_masks` as bool Series on the panel's index. ``arr``: the panel's values as
    float64 [R, C] when the caller has them already."""
    arr = panel.to_numpy(np.float64, na_value=np.nan) if arr is None else arr
    hi, lo = _ohlc_masks(arr, list(panel.columns))
    return pd.Series(hi, index=panel.index), pd.Series(lo, index=panel.index)


def _with_notes(result: pd.DataFrame, source: pd.DataFrame, *notes: str | None) -> pd.DataFrame:
    """``result`` carrying ``source``'s attrs, with ``notes`` logged and appended to
    ``attrs["notes"]``."""
    kept = [n for n in notes if n]
    for note in kept:
        log.info("%s", note)
    result.attrs = {**source.attrs, "notes": [*source.attrs.get("notes", []), *kept]}
    return result


def repair_note(did: str, rows: pd.Index, why: str = "") -> str | None:
    """One line saying what a repair did to which rows of a ``(date, ticker)`` index, e.g.
    ``"ohlc_policy='clip' clipped high/low on 3 rows of SPY (first: 2001-01-02, ...)"``;
    ``None`` when ``rows`` is empty."""
    if len(rows) == 0:
        return None
    tickers = rows.get_level_values("ticker").unique()
    one = len(tickers) == 1
    first = [str(pd.Timestamp(d).date()) if one else f"{t} {pd.Timestamp(d).date()}"
             for d, t in rows[:3]]
    who = tickers[0] if one else f"{len(tickers)} tickers"
    plural = "row" if len(rows) == 1 else "rows"
    more = ", ..." if len(rows) > 3 else ""
    return (f"{did} {len(rows)} {plural} of {who} ({why + '; ' if why else ''}"
            f"first: {', '.join(first)}{more})")


def apply_nan_policy(panel: pd.DataFrame, policy: NanPolicy) -> pd.DataFrame:
    """``raise`` leaves NaN for validation to report; ``drop`` removes rows with any NaN;
    ``ffill`` carries the last observed value forward within each ticker (never backwards),
    then drops the leading rows that have no past to fill from. The rows a repair changed are
    logged and noted in ``attrs["notes"]`` (count and first dates)."""
    if policy not in NAN_POLICIES:
        raise DataError(f"unknown nan_policy {policy!r}; choose one of {list(NAN_POLICIES)}")
    if policy == "raise":
        return panel
    missing = panel.isna().any(axis=1).to_numpy()
    filled = panel.groupby(level="ticker", sort=False).ffill() if policy == "ffill" else panel
    kept = filled.notna().all(axis=1).to_numpy()
    tag = f"nan_policy='{policy}'"
    return _with_notes(
        filled[kept], panel,
        repair_note(f"{tag} forward-filled", panel.index[missing & kept]),
        repair_note(f"{tag} dropped", panel.index[~kept],
                    "missing values" + (" with no earlier value" if policy == "ffill" else "")),
    )


def apply_ohlc_policy(panel: pd.DataFrame, policy: OhlcPolicy) -> pd.DataFrame:
    """``clip`` widens high/low to contain open and close; ``drop`` removes offending rows.
    The rows a repair changed are logged and noted in ``attrs["notes"]`` (count and first
    dates)."""
    if policy not in OHLC_POLICIES:
        raise DataError(f"unknown ohlc_policy {policy!r}; choose one of {list(OHLC_POLICIES)}")
    if policy == "raise" or not {"open", "high", "low", "close"} <= set(panel.columns):
        return panel
    hi, lo = _ohlc_violations(panel)
    bad = (hi | lo).to_numpy()
    if policy == "drop":
        return _with_notes(panel[~bad], panel, repair_note(
            "ohlc_policy='drop' dropped", panel.index[bad], "high/low do not contain open and close"))
    out = panel.copy()
    out["high"] = np.maximum(panel["high"], np.maximum(panel["open"], panel["close"]))
    out["low"] = np.minimum(panel["low"], np.minimum(panel["open"], panel["close"]))
    return _with_notes(out, panel, repair_note("ohlc_policy='clip' clipped high/low on",
                                               panel.index[bad]))


def drop_short_tickers(panel: pd.DataFrame, min_rows: int, keep: tuple[str, ...] = ()
                       ) -> tuple[pd.DataFrame, list[str]]:
    """``panel`` without the tickers that have fewer than ``min_rows`` bars (too short for one
    window), and the dropped names, sorted. Tickers in ``keep`` stay whatever their length, so
    a check downstream names them. ``panel.attrs`` (provenance) is kept."""
    counts = panel.groupby(level="ticker", sort=True).size()
    short = [str(t) for t, n in counts.items() if n < min_rows and t not in keep]
    if not short:
        return panel, []
    out = panel[~panel.index.get_level_values("ticker").isin(short)]
    out.attrs = dict(panel.attrs)
    return out, short
