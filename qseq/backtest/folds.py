"""Walk-forward folds over the trading calendar, with a purge gap and an embargo.

Positions count bars of the panel's calendar (the sorted union of its dates). Fold ``i`` tests
the anchors in a block of ``test_bars`` bars and is trained on anchors whose *targets* all end
at least ``embargo + 1`` bars before the block starts; the last training anchor also sits at
least ``purge`` bars before it (``purge >= max(horizons)``, so no training target can reach into
the test block even on a ticker with gaps). The model is refit at the start of every block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.data.windows import Windows, purged_split
from qseq.errors import ConfigError, DataError

TRAIN_WINDOWS = ("expanding", "rolling")
REFITS = ("full", "warm")


@dataclass(frozen=True)
class WalkForwardConfig:
    """How folds are laid out and refit.

    train_window: ``expanding`` (all bars since the start) or ``rolling`` (the last
                  ``train_bars`` bars)
    train_bars:   bars of training history before the first test block (and the rolling size)
    test_bars:    bars per test block; the model is refit every ``test_bars`` bars
    refit:        ``full`` (a fresh model per fold) or ``warm`` (fine-tune the previous fold's
                  weights for ``warm_epochs``)
    warm_bars:    with ``warm``, fine-tune on the windows of the last ``warm_bars`` training bars
                  only (None: the whole training window); scalers still see every training row
    purge:        bars between the last training anchor and the test block (None: max horizon)
    embargo:      extra bars dropped between training targets and the test block
    val_frac:     share of the training dates held out (after a purge gap) for early stopping
    max_folds:    keep only the last ``max_folds`` folds (None: all)
    first_test:   first test date (None: right after the initial ``train_bars``)
    """

    train_window: str = "expanding"
    train_bars: int = 756
    test_bars: int = 21
    refit: str = "full"
    warm_epochs: int = 3
    warm_bars: int | None = None
    purge: int | None = None
    embargo: int = 0
    val_frac: float = 0.1
    max_folds: int | None = None
    first_test: str | None = None

    def __post_init__(self) -> None:
        if self.train_window not in TRAIN_WINDOWS:
            raise ConfigError(f"train_window must be one of {list(TRAIN_WINDOWS)}, "
                              f"got {self.train_window!r}")
        if self.refit not in REFITS:
            raise ConfigError(f"refit must be one of {list(REFITS)}, got {self.refit!r}")
        for name in ("train_bars", "test_bars", "warm_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"walk_forward.{name} must be a positive integer, got {value!r}")
        if self.warm_bars is not None and (not isinstance(self.warm_bars, int) or self.warm_bars < 1):
            raise ConfigError(f"walk_forward.warm_bars must be a positive integer, got {self.warm_bars!r}")
        if self.purge is not None and (not isinstance(self.purge, int) or self.purge < 0):
            raise ConfigError(f"walk_forward.purge must be an integer >= 0, got {self.purge!r}")
        if not isinstance(self.embargo, int) or self.embargo < 0:
            raise ConfigError(f"walk_forward.embargo must be an integer >= 0, got {self.embargo!r}")
        if not 0 <= self.val_frac < 0.5:
            raise ConfigError(f"walk_forward.val_frac must be in [0, 0.5), got {self.val_frac}")
        if self.max_folds is not None and (not isinstance(self.max_folds, int) or self.max_folds < 1):
            raise ConfigError(f"walk_forward.max_folds must be a positive integer, got {self.max_folds!r}")


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

    @property
    def train_last_date(self) -> pd.Timestamp:
        return self.dates[self.train_end]


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
    folds = []
    for i, start in enumerate(range(first, n, config.test_bars)):
        train_end = start - 1 - gap
        train_start = 0 if config.train_window == "expanding" else max(0, train_end - config.train_bars + 1)
        folds.append(Fold(i, train_start, train_end, start, min(start + config.test_bars, n) - 1, dates))
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
