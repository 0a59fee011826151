"""Walk-forward folds over the trading calendar, with a purge gap and an embargo.

Positions count bars of the panel's calendar (the sorted union of its dates). Fold ``i`` tests
the anchors in a block of ``test_bars`` bars (or one calendar period, ``test_period``) and is
trained on anchors whose *targets* all end at least ``embargo + 1`` bars before the block
starts; the last training anchor also sits at least ``purge`` bars before it (``purge >=
max(horizons)``, so no training target can reach into the test block even on a ticker with
gaps). The model is refit at the start of every block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.config import WalkForwardConfig
from qseq.data.windows import Windows, purged_split
from qseq.errors import ConfigError, DataError


@dataclass(frozen=True)
class Fold:
    """One fold, as calendar positions (inclusive) and dates."""

    index: int
    train_start: int
    train_end: int  # last anchor position allowed for training (before the target check)
    test_start: int
    test_end: int
    dates: pd.DatetimeIndex

    @property
    def test_first_date(self) -> pd.Timestamp:
        return self.dates[self.test_start]

    @property
    def test_last_date(self) -> pd.Timestamp:
        return self.dates[self.test_end]

    @property
    def train_first_date(self) -> pd.Timestamp:
        return self.dates[self.train_start]


def make_folds(dates: pd.DatetimeIndex, config: WalkForwardConfig, max_horizon: int) -> list[Fold]:
    """Folds over the sorted unique ``dates`` (the calendar)."""
    purge = max_horizon if config.purge is None else config.purge
    if purge < max_horizon:
        raise ConfigError(f"walk_forward.purge={purge} is shorter than the longest horizon "
                          f"({max_horizon}); training targets would overlap the test block")
    dates = pd.DatetimeIndex(dates)
    n = len(dates)
    gap = purge + config.embargo
    first = config.train_bars + gap
    if config.first_test is not None:
        first = max(first, int(dates.searchsorted(pd.Timestamp(config.first_test))))
    if first >= n:
        raise DataError(f"{n} bars leave no test block after {config.train_bars} training bars "
                        f"and a gap of {gap}; use fewer walk_forward.train_bars or more data")
    if config.test_period is None:
        starts = list(range(first, n, config.test_bars))
    else:  # the first bar of each calendar period from ``first`` on
        code = {"year": "Y", "quarter": "Q", "month": "M"}[config.test_period]
        period = dates.to_period(code)
        opens = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
        starts = [first] + [int(p) for p in opens if p > first]
    ends = [s - 1 for s in starts[1:]] + [n - 1]
    folds = []
    for i, (start, stop) in enumerate(zip(starts, ends, strict=True)):
        train_end = start - 1 - gap
        train_start = 0 if config.train_window == "expanding" else max(0, train_end - config.train_bars + 1)
        folds.append(Fold(i, train_start, train_end, start, stop, dates))
    if config.max_folds is not None:
        folds = [Fold(j, f.train_start, f.train_end, f.test_start, f.test_end, dates)
                 for j, f in enumerate(folds[-config.max_folds:])]
    return folds


@dataclass(frozen=True)
class FoldWindows:
    """Window positions (into ``Windows.anchors``) of one fold."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def fold_windows(windows: Windows, fold: Fold, config: WalkForwardConfig, max_horizon: int) -> FoldWindows:
    """Training / validation / test window positions of ``fold``, purged by
    :func:`qseq.data.windows.purged_split` (training targets end more than ``embargo`` bars
    before the test block). Validation is the last ``val_frac`` of the training dates."""
    bounds = [(fold.train_start, fold.train_end), (fold.test_start, fold.test_end)]
    train, test = purged_split(windows, fold.dates, bounds, max_horizon, config.embargo)
    val = np.zeros(0, dtype=np.int64)
    if config.val_frac > 0 and len(train):
        train_dates = np.unique(fold.dates.searchsorted(windows.anchor_date[train]))
        n_val = int(round(len(train_dates) * config.val_frac))
        if n_val >= 1 and len(train_dates) - n_val > max_horizon:
            val_start = int(train_dates[-n_val])
            bounds = [(fold.train_start, val_start - 1), (val_start, fold.train_end), bounds[1]]
            train, val, test = purged_split(windows, fold.dates, bounds, max_horizon, config.embargo)
    return FoldWindows(train, val, test)
