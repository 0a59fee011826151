"""Sliding windows over a panel, chronological splits with a purge gap, and the scaler.

Rows are kept once, ticker-major, in ``values [R, F]``; a window is the index of its last
input bar (its *anchor*). ``x`` for anchors ``a`` is the strided view
``values[a - lookback + 1 : a + 1]``: no per-sample copy exists until a batch is gathered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.data.calendar_features import future_inputs, warn_if_not_nyse
from qseq.data.features import compute_features, compute_targets
from qseq.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class Windows:
    """Windows over a panel.

    values:     [R, F] float32 features of every row (ticker-major), scaled or raw
    targets:    [R, H] float32 forward targets at every row (NaN where unknown)
    row_ticker: [R] int64 ticker id of every row
    row_date:   [R] datetime64 date of every row
    anchors:    [N] int64 row of the last input bar of each window
    future:     [D, H, C] float32 known-future (calendar) inputs per distinct row date, or None
    row_day:    [R] int64 index of each row's date into ``future`` (None without it)
    """

    values: np.ndarray
    targets: np.ndarray
    row_ticker: np.ndarray
    row_date: np.ndarray
    anchors: np.ndarray
    lookback: int
    feature_names: tuple[str, ...]
    tickers: tuple[str, ...]
    future: np.ndarray | None = None
    row_day: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.anchors)

    def strided(self) -> np.ndarray:
        """[R - lookback + 1, lookback, F] view: window ``i`` ends at row ``i + lookback - 1``."""
        view = np.lib.stride_tricks.sliding_window_view(self.values, self.lookback, axis=0)
        return view.transpose(0, 2, 1)

    @property
    def x(self) -> np.ndarray:
        """[N, lookback, F]; a view when the anchors are consecutive rows, else a gather."""
        start = self.anchors - self.lookback + 1
        if len(start) and np.all(np.diff(start) == 1):
            return self.strided()[start[0] : start[-1] + 1]
        return self.strided()[start]

    @property
    def y(self) -> np.ndarray:
        """[N, H]"""
        return self.targets[self.anchors]

    @property
    def ticker(self) -> np.ndarray:
        """[N] ticker ids (index into ``tickers``)"""
        return self.row_ticker[self.anchors]

    @property
    def future_x(self) -> np.ndarray | None:
        """[N, H, C] known-future inputs of each window, or None."""
        if self.future is None:
            return None
        return self.future[self.row_day[self.anchors]]

    @property
    def anchor_date(self) -> np.ndarray:
        """[N] datetime64 date of the last input bar"""
        return self.row_date[self.anchors]

    def subset(self, mask_or_index: np.ndarray) -> Windows:
        return Windows(self.values, self.targets, self.row_ticker, self.row_date,
                       self.anchors[mask_or_index], self.lookback, self.feature_names,
                       self.tickers, self.future, self.row_day)

    def tidy(self, horizons: Sequence[int], y_hat: np.ndarray, y_true: np.ndarray | None = None,
             **columns: object) -> pd.DataFrame:
        """The tidy forecast frame of these windows (see :func:`tidy_frame`); y_true defaults
        to the windows' own targets."""
        names = np.asarray(self.tickers, dtype=object)[self.ticker]
        return tidy_frame(self.anchor_date, names, horizons, y_hat,
                          self.y if y_true is None else y_true, **columns)

    def with_values(self, values: np.ndarray, targets: np.ndarray | None = None) -> Windows:
        return Windows(values, self.targets if targets is None else targets, self.row_ticker,
                       self.row_date, self.anchors, self.lookback, self.feature_names,
                       self.tickers, self.future, self.row_day)


def tidy_frame(anchor_date: np.ndarray, tickers: np.ndarray, horizons: Sequence[int],
               y_hat: np.ndarray, y_true: np.ndarray | None = None, **columns: object) -> pd.DataFrame:
    """The tidy forecast frame: one row per (window, horizon), the one layout every forecast
    takes (predict, walk-forward folds, baselines).

    anchor_date, tickers: [N]; y_hat, y_true (default NaN: not known yet): [N, H]. Columns: date
    (the anchor bar), ticker, horizon, y_hat, y_true, then ``columns`` ([N, H] arrays are
    flattened the same way; scalars are repeated).
    """
    n, h = len(anchor_date), len(horizons)
    y_true = np.full((n, h), np.nan) if y_true is None else y_true
    if np.shape(y_hat) != (n, h) or np.shape(y_true) != (n, h):
        raise DataError(f"expected y_hat and y_true of shape [{n}, {h}], got "
                        f"{list(np.shape(y_hat))} and {list(np.shape(y_true))}")
    extra = {k: (np.asarray(v, dtype=np.float64).reshape(-1) if np.ndim(v) == 2 else v)
             for k, v in columns.items()}
    return pd.DataFrame({
        "date": np.repeat(np.asarray(anchor_date), h),
        "ticker": np.repeat(np.asarray(tickers, dtype=object), h),
        "horizon": np.tile(np.asarray(horizons, dtype=np.int64), n),
        "y_hat": np.asarray(y_hat, dtype=np.float64).reshape(-1),
        "y_true": np.asarray(y_true, dtype=np.float64).reshape(-1),
        **extra,
    })


def make_windows(
    panel: pd.DataFrame,
    features: Sequence[str],
    lookback: int,
    horizons: Sequence[int],
    target: str = "log_return",
    tickers: Sequence[str] | None = None,
    require_targets: bool = True,
    proxy: str = "parkinson",
    future_features: Sequence[str] = (),
    exchange: str = "XNYS",
) -> Windows:
    """Build windows over every ticker of ``panel``.

    A row is an anchor when its ``lookback`` bars belong to one ticker and have finite features,
    and (if ``require_targets``) all its horizon targets are known. ``tickers`` fixes the ticker
    vocabulary (ids); tickers outside it raise. ``future_features`` adds known-future calendar
    inputs (:mod:`qseq.data.calendar_features`) of the H forecast dates of every row, dated
    by the ``exchange`` calendar.
    """
    if lookback < 1:
        raise ConfigError(f"lookback must be >= 1, got {lookback}")
    feats = compute_features(panel, features)
    targ = compute_targets(panel, target, horizons, proxy)
    names = feats.index.get_level_values("ticker")
    vocab = tuple(tickers) if tickers is not None else tuple(pd.unique(names))
    lookup = {t: i for i, t in enumerate(vocab)}
    unknown = sorted(set(pd.unique(names)) - set(lookup))
    if unknown:
        raise DataError(f"tickers {unknown} were not seen in training (known: {list(vocab)})")
    row_ticker = np.asarray(pd.Index(vocab).get_indexer(names), dtype=np.int64)
    values = feats.to_numpy(dtype=np.float32, copy=True)
    targets = targ.to_numpy(dtype=np.float32, copy=True)

    pos = feats.groupby(level="ticker", sort=False).cumcount().to_numpy()
    finite_row = np.isfinite(values).all(axis=1)
    # bad rows in the trailing window, via a cumulative count
    bad = np.concatenate([[0], np.cumsum(~finite_row)])
    idx = np.arange(len(values))
    lo = np.maximum(idx - lookback + 1, 0)
    window_ok = (bad[idx + 1] - bad[lo] == 0) & (pos >= lookback - 1)
    if require_targets:
        window_ok &= np.isfinite(targets).all(axis=1)
    anchors = np.flatnonzero(window_ok).astype(np.int64)
    row_date = feats.index.get_level_values("date").to_numpy()
    future = row_day = None
    if future_features:
        days, row_day = np.unique(row_date.astype("datetime64[D]"), return_inverse=True)
        note = warn_if_not_nyse(days, exchange=exchange)
        if note:
            log.warning(note)
        future = future_inputs(days, horizons, future_features, exchange=exchange)
        row_day = row_day.astype(np.int64).reshape(-1)
    return Windows(values, targets, row_ticker, row_date, anchors, lookback, tuple(features),
                   vocab, future, row_day)


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # positions into Windows.anchors
    val: np.ndarray
    test: np.ndarray


def purged_split(
    windows: Windows, calendar: pd.DatetimeIndex | np.ndarray, bounds: Sequence[tuple[int, int]],
    max_horizon: int, embargo: int = 0,
) -> list[np.ndarray]:
    """Window positions of consecutive segments of ``calendar``, purged: the one purge rule.

    calendar: sorted unique dates; bounds: ``(first, last)`` calendar positions (inclusive) of
    each segment, in time order. A window belongs to segment k when its anchor date lies in
    ``bounds[k]``; unless k is the last segment, all its targets must also be known and its
    last target bar (``max_horizon`` bars of the same ticker after the anchor) must fall more
    than ``embargo`` bars before the next segment starts. So no target of an earlier segment
    reaches a later one, on any ticker, even where a ticker has holes. The last segment (a test
    block) keeps windows whose targets are not known yet.
    """
    calendar = pd.DatetimeIndex(calendar)
    anchor_pos = calendar.searchsorted(windows.anchor_date)
    target_row = windows.anchors + max_horizon
    in_range = target_row < len(windows.row_date)
    safe_row = np.where(in_range, target_row, 0)
    same = in_range & (windows.row_ticker[safe_row] == windows.ticker)
    target_pos = np.where(same, calendar.searchsorted(windows.row_date[safe_row]),
                          np.iinfo(np.int64).max)
    known = np.isfinite(windows.y).all(axis=1)
    out = []
    for k, (first, last) in enumerate(bounds):
        mask = (anchor_pos >= first) & (anchor_pos <= last)
        if k + 1 < len(bounds):
            mask &= known & (target_pos < bounds[k + 1][0] - embargo)
        out.append(np.flatnonzero(mask))
    return out


def chronological_split(
    windows: Windows, val_frac: float = 0.15, test_frac: float = 0.15, gap: int = 1
) -> Split:
    """Split windows by anchor date into train / validation / test, purged by
    :func:`purged_split` with ``gap`` as the longest horizon.

    Segment boundaries fall on anchor dates: training takes the first ``1 - val_frac -
    test_frac`` of them, validation the next ``val_frac``. Windows at the end of the training
    and validation segments whose targets would reach the next segment are dropped.
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ConfigError(f"val_frac={val_frac} and test_frac={test_frac} must be in [0, 1) "
                          "and sum to less than 1")
    unique = np.unique(windows.anchor_date)
    if len(unique) < 3:
        raise DataError(f"only {len(unique)} window dates; need more data to split")
    n = len(unique)
    n_train = int(round(n * (1 - val_frac - test_frac)))
    n_val = int(round(n * val_frac))
    d_train = unique[max(n_train - 1, 0)]
    d_val = unique[min(max(n_train + n_val - 1, 0), n - 1)]
    calendar = pd.DatetimeIndex(np.unique(windows.row_date))
    p_train, p_val = calendar.searchsorted(d_train), calendar.searchsorted(d_val)
    train, val, test = purged_split(
        windows, calendar, [(0, p_train), (p_train + 1, p_val), (p_val + 1, len(calendar) - 1)],
        max_horizon=gap)
    return Split(train, val, test)


def rows_covered(windows: Windows) -> np.ndarray:
    """[R] bool: rows that appear in the input window of at least one anchor."""
    marks = np.zeros(len(windows.values) + 1, dtype=np.int64)
    np.add.at(marks, windows.anchors - windows.lookback + 1, 1)
    np.add.at(marks, windows.anchors + 1, -1)
    return np.cumsum(marks[:-1]) > 0


@dataclass
class StandardScaler:
    """Per-column standardisation. ``fit`` takes the rows it may see; fitted state ends in ``_``."""

    mean_: np.ndarray | None = None
    std_: np.ndarray | None = None

    def fit(self, data: np.ndarray) -> StandardScaler:
        data = np.asarray(data, dtype=np.float64)
        if len(data) < 2:
            raise DataError(f"cannot fit a scaler on {len(data)} rows; use more training data")
        self.mean_ = np.nanmean(data, axis=0)
        std = np.nanstd(data, axis=0)
        self.std_ = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, data: np.ndarray) -> np.ndarray:
        return ((data - self.mean_) / self.std_).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean_.tolist(), "std": self.std_.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> StandardScaler:
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["std"], dtype=np.float64))

    def inverse(self, data: np.ndarray) -> np.ndarray:
        """Undo ``transform``. data: [N, C], or [N, C, Q] (quantiles of each column)."""
        if data.ndim == 3:
            return data * self.std_[None, :, None] + self.mean_[None, :, None]
        return data * self.std_ + self.mean_
