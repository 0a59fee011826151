"""Order-book windows for the shared models: chronological blocks with a purge gap, a scaler fit
on training rows only, and :class:`qseq.data.windows.Windows` over the sampled book.

Rows are samples (events, or clock ticks); a window is the index of its last input row (its
anchor), so ``x [N, lookback, 4 L + D]`` stays a strided view of ``values [R, 4 L + D]``. A
window belongs to a segment only when all its input rows and all its label rows
(``anchor + 1 .. anchor + max k``) lie inside that segment, so nothing straddles a boundary;
``purge`` rows are cut from the end of every earlier segment on top of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qseq.config import check_choice as _choice
from qseq.data.windows import StandardScaler, Windows
from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book
from qseq.lob.features import DEFAULT_FEATURES, EVENT, feature_matrix, ffill, mid_price, sample
from qseq.lob.labels import (
    AUTO,
    TARGETS,
    check_horizons,
    class_counts,
    class_weights,
    direction_labels,
    resolve_alpha,
    return_targets,
    smoothed_change,
)


@dataclass(frozen=True)
class LobSplit:
    """Three chronological segments of sample rows, half-open ranges (``val`` may be empty)."""

    train: range
    val: range
    test: range

    def segments(self) -> dict[str, range]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def mask(self, name: str, n_samples: int) -> np.ndarray:
        """[n_samples] bool: the rows of segment ``name``."""
        out = np.zeros(n_samples, dtype=bool)
        seg = self.segments()[name]
        out[seg.start : seg.stop] = True
        return out


def _purged(edges: Sequence[int], purge: int) -> list[range]:
    """Segments ``[edges[j], edges[j+1])``, each but the last cut short by ``purge`` rows."""
    last = len(edges) - 2
    return [range(edges[j], max(edges[j + 1] - (purge if j < last else 0), edges[j]))
            for j in range(last + 1)]


def _check_purge(purge: int) -> None:
    if isinstance(purge, bool) or not isinstance(purge, (int, np.integer)) or purge < 0:
        raise ConfigError(f"purge must be an integer >= 0 (rows), got {purge!r}; "
                          "use at least lookback + max k")


def lob_splits(n_samples: int, *, train: float = 0.6, val: float = 0.2, purge: int) -> LobSplit:
    """Train / validation / test rows in time order: the first ``train`` share, the next
    ``val`` share (0: no validation), the rest; ``purge`` rows are dropped at the end of
    training and of validation. Use ``purge >= lookback + max k``."""
    _check_purge(purge)
    if not (0 < train < 1 and 0 <= val < 1 and train + val < 1):
        raise ConfigError(f"train={train} and val={val} must be shares in (0, 1) and [0, 1) "
                          "summing to less than 1")
    a, b = int(round(n_samples * train)), int(round(n_samples * (train + val)))
    if val > 0:
        tr, va, te = _purged([0, a, b, n_samples], purge)
    else:
        (tr, te), va = _purged([0, a, n_samples], purge), range(a, a)
    split = LobSplit(tr, va, te)
    _check_nonempty(split, val > 0, n_samples, purge, "use more samples, a smaller purge")
    return split


def block_folds(n_samples: int, n_blocks: int, purge: int, *, val: float = 0.2,
                expanding: bool = True) -> list[LobSplit]:
    """Folds over ``n_blocks`` contiguous test blocks, for evaluation with spread over blocks.

    The rows are cut into ``n_blocks + 1`` equal chunks; fold ``i`` tests on chunk ``i + 1``
    and trains on what precedes it (all earlier chunks when ``expanding``, else only the chunk
    just before: fixed width), its last ``val`` share held out for validation. ``purge`` rows
    are dropped before validation and before the test block.
    """
    _check_purge(purge)
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
        raise ConfigError(f"n_blocks must be an integer >= 1, got {n_blocks!r}")
    if not 0 <= val < 1:
        raise ConfigError(f"val must be a share in [0, 1), got {val}")
    edges = np.linspace(0, n_samples, n_blocks + 2).round().astype(int)
    folds = []
    for i in range(1, n_blocks + 1):
        start, end = (0 if expanding else int(edges[i - 1])), int(edges[i])
        cut = end - int(round((end - start) * val))
        bounds = [start, cut, end, int(edges[i + 1])] if val > 0 else [start, end, int(edges[i + 1])]
        segs = _purged(bounds, purge)
        split = LobSplit(*segs) if val > 0 else LobSplit(segs[0], range(end, end), segs[1])
        _check_nonempty(split, val > 0, n_samples, purge, "use fewer blocks, a smaller purge")
        folds.append(split)
    return folds


def _check_nonempty(split: LobSplit, want_val: bool, n: int, purge: int, fix: str) -> None:
    empty = [k for k, seg in split.segments().items() if len(seg) == 0 and (k != "val" or want_val)]
    if empty:
        raise DataError(f"{n} samples with purge {purge} leave no rows for {', '.join(empty)}; "
                        f"{fix} or a coarser split")


def fit_scaler(values: np.ndarray, split: LobSplit) -> StandardScaler:
    """A per-column z-score fit on the training rows of ``values [R, F]`` only."""
    return StandardScaler().fit(values[split.train.start : split.train.stop])


def to_datetime(time: np.ndarray, origin: str | np.datetime64 = "1970-01-01") -> np.ndarray:
    """[R] datetime64[ns] of float seconds after ``origin`` (the epoch for level-3 captures; pass
    the trading day for LOBSTER's seconds after midnight). Rounded to the nanosecond."""
    return np.datetime64(origin, "ns") + np.round(np.asarray(time) * 1e9).astype("timedelta64[ns]")


def segment_anchors(split: LobSplit, lookback: int, label_ahead: int, label_back: int,
                    ok_rows: np.ndarray, known: np.ndarray) -> dict[str, np.ndarray]:
    """Anchors [N] int64 per segment: rows ``r`` whose inputs ``r - lookback + 1 .. r`` and
    label span ``r - label_back .. r + label_ahead`` lie inside the segment, with finite inputs
    (``ok_rows [R]``) and known labels (``known [R]``)."""
    bad = np.concatenate([[0], np.cumsum(~ok_rows)])
    out = {}
    for name, seg in split.segments().items():
        first = seg.start + max(lookback - 1, label_back)
        rows = np.arange(first, max(seg.stop - label_ahead, first), dtype=np.int64)
        rows = rows[(bad[rows + 1] - bad[rows + 1 - lookback] == 0) & known[rows]]
        out[name] = rows
    return out


@dataclass
class LobWindowsInfo:
    """What :func:`lob_windows` fitted and chose.

    scaler:        z-score of the columns, fit on training rows only
    split:         the row segments used
    horizons:      k in samples
    alpha:         [K] direction thresholds (relative mid change), None for returns
    class_counts:  per segment, [K, 3] counts of down / stationary / up anchors (direction only)
    class_weights: [K, 3] inverse-frequency weights from training anchors (direction only)
    index:         [R] source event of each row; time: [R] seconds of each row
    """

    scaler: StandardScaler
    split: LobSplit
    horizons: tuple[int, ...]
    target: str
    sampling: str | float
    alpha: np.ndarray | None
    class_counts: dict[str, np.ndarray] | None
    class_weights: np.ndarray | None
    index: np.ndarray
    time: np.ndarray
    source: str
    synthetic: bool


def lob_windows(
    book: Book, *, lookback: int, horizons: int | Sequence[int], target: str = "direction",
    alpha: float | str = AUTO, reference: str = "current", sampling: str | float = EVENT,
    features: Sequence[str] = DEFAULT_FEATURES, levels: int | None = None,
    prices: str = "relative", fill: bool = True, collapse: bool = False, train: float = 0.6,
    val: float = 0.2, purge: int | None = None, split: LobSplit | None = None,
    origin: str | np.datetime64 = "1970-01-01",
) -> tuple[Windows, Windows, Windows, LobWindowsInfo]:
    """Train / validation / test windows over an order book.

    Samples the book (``sampling``, ``collapse``), builds the columns (:func:`qseq.lob.features.
    feature_matrix`: ``levels * 4`` LOBSTER columns, then ``features``), the targets at
    ``horizons`` k (samples ahead; ``target="direction"``: smoothed mid direction classes 0/1/2
    with threshold ``alpha`` and ``reference``, see :mod:`qseq.lob.labels`; ``"return"``: mid
    log return), splits rows by ``split`` or :func:`lob_splits` (``train``, ``val``, ``purge``,
    default ``lookback + max k``), fits the scaler and ``alpha="auto"`` on training rows only
    and applies them to every row. The three Windows share ``values [R, F]`` float32 (scaled)
    and ``targets [R, K]`` float32; ``row_ticker`` is 0 (one instrument), ``row_date`` the
    sample time after ``origin`` (:func:`to_datetime`).
    """
    if isinstance(lookback, bool) or not isinstance(lookback, (int, np.integer)) or lookback < 1:
        raise ConfigError(f"lookback must be an integer >= 1 (samples), got {lookback!r}")
    _choice("order-book target", target, TARGETS)
    ks = check_horizons(horizons)
    sampled, index = sample(book, sampling, collapse=collapse)
    values, names = feature_matrix(book, sampled, index, features=features, levels=levels,
                                   prices=prices, fill=fill)
    mid = ffill(mid_price(sampled)) if fill else mid_price(sampled)
    n = len(values)
    if split is None:
        split = lob_splits(n, train=train, val=val, purge=lookback + max(ks) if purge is None else purge)
    elif max(split.test.stop, split.val.stop, split.train.stop) > n:
        raise ConfigError(f"split reaches row {split.test.stop} but the sampled book has {n} rows; "
                          "build it with the same sampling")
    if target == "direction":
        change = smoothed_change(mid, ks, reference=reference)
        back = max(ks) - 1 if reference == "past" else 0
    else:
        change, back = return_targets(mid, ks), 0
    ok_rows = np.isfinite(values).all(axis=1)
    anchors = segment_anchors(split, lookback, max(ks), back, ok_rows,
                              np.isfinite(change).all(axis=1))
    thresholds = counts = weights = None
    if target == "direction":
        thresholds = resolve_alpha(change, alpha, anchors["train"])
        targets = direction_labels(change, thresholds)
        counts = {name: class_counts(targets[rows]) for name, rows in anchors.items()}
        weights = class_weights(targets[anchors["train"]])
    else:
        targets = change.astype(np.float32)
    scaler = fit_scaler(values, split)
    scaled, row_date = scaler.transform(values), to_datetime(sampled.time, origin)
    ticker, tickers = np.zeros(n, dtype=np.int64), (book.source or "order book",)
    train_w, val_w, test_w = (Windows(scaled, targets, ticker, row_date, anchors[name], lookback,
                                      names, tickers) for name in ("train", "val", "test"))
    info = LobWindowsInfo(scaler, split, ks, target, sampling, thresholds, counts, weights,
                          index, sampled.time, book.source, book.synthetic)
    return train_w, val_w, test_w, info
