"""Order-book sampling and features: mid-price, microprice, spread, depth, imbalance, order-flow
imbalance and returns, and the model-input columns (the LOBSTER tensor plus derived features).

Everything is causal: the state at a sample is the last book at or before its time, and the only
fill is a forward fill within the stream (the last known value), never a backward fill or a
full-sample statistic. Units: prices in dollars, sizes in shares (coins), times in seconds,
``*_bps`` columns in basis points of the mid-price, returns as log returns.

Empty levels (NaN price, size 0) count as depth 0. A missing best quote (an empty side) makes
mid, microprice and spread NaN at that event; :func:`book_features` forward-fills them (and the
prices) with the last state where both sides were quoted, unless ``fill=False``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qseq.config import LOB_DEFAULT_FEATURES, LOB_PRICES
from qseq.config import check_choice as _choice
from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book

EVENT = "event"
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s|min)?\s*$")

PRICE_MODES = LOB_PRICES
DEFAULT_FEATURES = LOB_DEFAULT_FEATURES


# -- sampling --------------------------------------------------------------------------------
def sampling_interval(every: str | float) -> float | None:
    """Seconds between clock samples, or None for event time.

    every: ``"event"``, a number of seconds (``0.1``), or a duration string (``"100ms"``,
    ``"1s"``, ``"0.5s"``, ``"2min"``; a bare number string means seconds).
    """
    if isinstance(every, str):
        if every.strip().lower() == EVENT:
            return None
        match = _DURATION.match(every.lower())
        seconds = float(match[1]) * _UNITS[match[2] or "s"] if match else None
    elif isinstance(every, (int, float)) and not isinstance(every, bool):
        seconds = float(every)
    else:
        seconds = None
    if seconds is None or not np.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"unknown sampling {every!r}; use 'event', a positive number of seconds "
                          "(0.1) or a duration such as '100ms', '1s', '2min'")
    return seconds


def sample(book: Book, every: str | float = EVENT, *, collapse: bool = False) -> tuple[Book, np.ndarray]:
    """The book on a sampling grid, and the source event of each sample.

    every="event": every event (``collapse=True`` keeps only the last of events sharing a
    timestamp). A clock interval (seconds or ``"100ms"``): grid ``t0, t0 + dt, ...`` from the
    first event's time ``t0`` up to the last event; each sample is the last book at or before
    its grid time (never a later event; float rounding below ``4 ulp`` of the times counts as
    "at"). Returns (sampled Book [S] with the grid times as ``time``, index [S] int64 of the
    source event of each sample).
    """
    _check_book(book)
    dt = sampling_interval(every)
    time = book.time
    if dt is None and not collapse:
        return book, np.arange(len(book), dtype=np.int64)  # every event: the book itself
    if dt is None:
        index = np.flatnonzero(np.append(time[1:] != time[:-1], True))
        grid = time[index]
    else:
        tol = 4 * np.spacing(np.abs(time).max())
        n_grid = int(np.floor((time[-1] - time[0] + tol) / dt)) + 1
        grid = time[0] + dt * np.arange(n_grid)
        index = np.searchsorted(time, grid + tol, side="right") - 1  # never -1: grid >= t0
    index = index.astype(np.int64)
    return _take(book, index, grid), index


def _take(book: Book, index: np.ndarray, time: np.ndarray) -> Book:
    halted = None if book.halted is None else book.halted[index]
    return Book(time, book.ask_price[index], book.ask_size[index], book.bid_price[index],
                book.bid_size[index], halted, book.source, book.synthetic)


def top_levels(book: Book, levels: int | None) -> Book:
    """The book cut to its best ``levels`` levels per side (None: all)."""
    if levels is None or levels == book.levels:
        return book
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= book.levels:
        raise ConfigError(f"levels must be an integer in [1, {book.levels}] (the book's depth), "
                          f"got {levels!r}")
    cut = slice(0, levels)
    return Book(book.time, book.ask_price[:, cut], book.ask_size[:, cut], book.bid_price[:, cut],
                book.bid_size[:, cut], book.halted, book.source, book.synthetic, book.extra)


def _check_book(book: Book) -> None:
    if len(book) == 0:
        raise DataError(f"order book {book.source or ''!r} has no events; read a non-empty file")
    if np.any(np.diff(book.time) < 0) or not np.all(np.isfinite(book.time)):
        raise DataError(f"order book {book.source or ''!r}: times must be finite and "
                        "non-decreasing; sort the events by time")


# -- features of one (sampled) book ----------------------------------------------------------
def mid_price(book: Book) -> np.ndarray:
    """[S] (best bid + best ask) / 2 in dollars; NaN where a side is empty."""
    return (book.bid_price[:, 0] + book.ask_price[:, 0]) / 2


def microprice(book: Book) -> np.ndarray:
    """[S] best prices weighted by the opposite side's size, in dollars:
    ``(bid * ask_size + ask * bid_size) / (ask_size + bid_size)``; NaN where a side is empty."""
    qa, qb = book.ask_size[:, 0], book.bid_size[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (book.bid_price[:, 0] * qa + book.ask_price[:, 0] * qb) / (qa + qb)


def spread(book: Book) -> np.ndarray:
    """[S] best ask - best bid in dollars; NaN where a side is empty."""
    return book.ask_price[:, 0] - book.bid_price[:, 0]


def to_bps(price: np.ndarray, mid: np.ndarray) -> np.ndarray:
    """Price differences (``[S]`` or ``[S, L]`` dollars) in basis points of the mid ``[S]``."""
    mid = mid if np.ndim(price) == 1 else mid[:, None]
    return price / mid * 1e4


def depth(book: Book) -> np.ndarray:
    """[S, L] shares quoted at each level, bid + ask (empty levels count 0)."""
    return book.bid_size + book.ask_size


def imbalance(book: Book) -> np.ndarray:
    """[S, L] level-wise ``(bid_size - ask_size) / (bid_size + ask_size)`` in [-1, 1]; 0 where
    both sides of the level are empty."""
    return _ratio(book.bid_size - book.ask_size, book.bid_size + book.ask_size)


def depth_imbalance(book: Book, k: int | None = None) -> np.ndarray:
    """Cumulative depth imbalance over the top levels: [S, L] (column ``j`` over levels
    ``1..j+1``), or [S] over the top ``k`` levels. 0 where those levels are all empty."""
    bid, ask = np.cumsum(book.bid_size, axis=1), np.cumsum(book.ask_size, axis=1)
    out = _ratio(bid - ask, bid + ask)
    return out if k is None else out[:, top_levels(book, k).levels - 1]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.shape(num)), where=den > 0)


def event_ofi(book: Book) -> np.ndarray:
    """[E, L] order-flow imbalance of each event at each level (Cont, Kukanov and Stoikov 2014;
    level ``m`` uses the ``m``-th prices and sizes, the multi-level OFI), in shares:

        e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1
              - 1{Pa_n <= Pa_n-1} qa_n + 1{Pa_n >= Pa_n-1} qa_n-1

    An empty bid level counts as price -inf and an empty ask as +inf, so a vanishing queue
    is flow out of it and a returning one flow into it. ``e_0 = 0`` (no previous state).
    """
    pb = np.where(np.isnan(book.bid_price), -np.inf, book.bid_price)
    pa = np.where(np.isnan(book.ask_price), np.inf, book.ask_price)
    qb, qa = book.bid_size, book.ask_size
    out = np.zeros(qb.shape)
    out[1:] = ((pb[1:] >= pb[:-1]) * qb[1:] - (pb[1:] <= pb[:-1]) * qb[:-1]
               - (pa[1:] <= pa[:-1]) * qa[1:] + (pa[1:] >= pa[:-1]) * qa[:-1])
    return out


def order_flow_imbalance(book: Book, index: np.ndarray | None = None) -> np.ndarray:
    """[S, L] order-flow imbalance summed over each sampling interval, per level (column 0 is
    the classic best-level OFI).

    book: the event-level book [E]; index: [S] source event of each sample (from
    :func:`sample`; None: every event). Sample ``s`` sums ``e_n`` over events
    ``index[s-1] < n <= index[s]`` (the first sample: all events up to ``index[0]``), with
    cumulative sums, so it sees no event after its own.
    """
    cum = np.cumsum(event_ofi(book), axis=0)  # [E, L]
    if index is None:
        index = np.arange(len(book))
    at = cum[index]
    return np.diff(at, axis=0, prepend=np.zeros((1, at.shape[1])))


def log_returns(mid: np.ndarray) -> np.ndarray:
    """[S] ``log(mid[s] / mid[s-1])``; NaN at the first sample and next to a missing mid."""
    out = np.full(len(mid), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.log(mid[1:] / mid[:-1])
    return out


def ffill(values: np.ndarray) -> np.ndarray:
    """Forward fill NaN along axis 0 ([S] or [S, C]): each NaN takes the last non-NaN value
    before it (causal); leading NaN stay NaN. Returns ``values`` itself when it has no NaN."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    if not nan.any():
        return values
    if values.ndim == 2:
        cols = np.flatnonzero(nan.any(axis=0))
        if len(cols) == 0:
            return values
        out = values.copy()
        out[:, cols] = _ffill_rows(values[:, cols], nan[:, cols])
        return out
    return _ffill_rows(values, nan)


def _ffill_rows(values: np.ndarray, nan: np.ndarray) -> np.ndarray:
    shape = (-1,) + (1,) * (values.ndim - 1)
    last = np.where(nan, 0, np.arange(len(values)).reshape(shape))
    np.maximum.accumulate(last, axis=0, out=last)
    return np.take_along_axis(values, last, axis=0)


# -- the model input columns -----------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    """What a feature column needs: the sampled book [S], the event book [E], the source
    event of each sample [S], and the (optionally forward-filled) mid [S]."""

    sampled: Book
    events: Book
    index: np.ndarray
    mid: np.ndarray


def _per_level(name: str, values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return values, [f"{name}_{j + 1}" for j in range(values.shape[1])]


_COLUMNS: dict[str, Callable[[_Context], tuple[np.ndarray, list[str]]]] = {
    "mid": lambda c: (c.mid[:, None], ["mid"]),
    "microprice": lambda c: (microprice(c.sampled)[:, None], ["microprice"]),
    "microprice_bps": lambda c: (to_bps(microprice(c.sampled) - c.mid, c.mid)[:, None],
                                 ["microprice_bps"]),
    "spread": lambda c: (spread(c.sampled)[:, None], ["spread"]),
    "spread_bps": lambda c: (to_bps(spread(c.sampled), c.mid)[:, None], ["spread_bps"]),
    "depth": lambda c: _per_level("depth", depth(c.sampled)),
    "imbalance": lambda c: _per_level("imbalance", imbalance(c.sampled)),
    "depth_imbalance": lambda c: _per_level("depth_imbalance", depth_imbalance(c.sampled)),
    "ofi": lambda c: (order_flow_imbalance(c.events, c.index)[:, :1], ["ofi"]),
    "mlofi": lambda c: _per_level("mlofi", order_flow_imbalance(c.events, c.index)),
    "log_return": lambda c: (log_returns(c.mid)[:, None], ["log_return"]),
}
# Derived feature names; level-wise ones expand to one column per level (``imbalance_1`` ...).
FEATURES = tuple(_COLUMNS)


def lob_columns(book: Book, levels: int | None = None) -> tuple[str, ...]:
    """Names of the LOBSTER tensor columns: ask price, ask size, bid price, bid size per level."""
    n = book.levels if levels is None else levels
    return tuple(f"{col}_{j + 1}" for j in range(n)
                 for col in ("ask_price", "ask_size", "bid_price", "bid_size"))


def feature_matrix(book: Book, sampled: Book, index: np.ndarray, *,
                   features: Sequence[str] = DEFAULT_FEATURES, levels: int | None = None,
                   prices: str = "relative", fill: bool = True) -> tuple[np.ndarray, tuple[str, ...]]:
    """[S, 4 L + D] float32 model-input columns of a sampled book, and their names.

    book: the event-level book [E] (order-flow imbalance is summed over its events); sampled,
    index: :func:`sample`'s output. Columns: the LOBSTER tensor (ask price, ask size, bid
    price, bid size per level, the best ``levels`` levels), then each feature of ``features``
    (level-wise ones expand to L columns). ``prices="relative"`` (default) gives level prices
    in bps from the current mid, stationary across days so a scaler fit on early blocks still
    fits late ones; ``"raw"`` gives dollars (DeepLOB's input, z-scored afterwards). An empty
    level's price is the price of the last non-empty level of its side (its size is 0).
    ``fill`` forward-fills NaN (an empty side) with the last quoted state.
    """
    _choice("prices", prices, PRICE_MODES)
    for name in features:
        _choice("order-book feature", name, FEATURES)
    if len(set(features)) != len(features):
        raise ConfigError(f"order-book features repeat a name: {list(features)}; list each once")
    sampled, book = top_levels(sampled, levels), top_levels(book, levels)
    mid = mid_price(sampled)
    if fill:
        mid = ffill(mid)
    ask = ffill(sampled.ask_price.T).T  # empty deeper levels take the inner level's price
    bid = ffill(sampled.bid_price.T).T
    if prices == "relative":
        ask, bid = to_bps(ask - mid[:, None], mid), to_bps(bid - mid[:, None], mid)
    tensor = np.empty((len(sampled), 4 * sampled.levels))
    tensor[:, 0::4], tensor[:, 1::4] = ask, sampled.ask_size
    tensor[:, 2::4], tensor[:, 3::4] = bid, sampled.bid_size
    blocks, names = [tensor], list(lob_columns(sampled))
    context = _Context(sampled, book, index, mid)
    for name in features:
        values, cols = _COLUMNS[name](context)
        blocks.append(values)
        names += cols
    values = np.concatenate(blocks, axis=1)
    if fill:
        values = ffill(values)
    return values.astype(np.float32), tuple(names)


def book_features(book: Book, *, sampling: str | float = EVENT,
                  features: Sequence[str] = DEFAULT_FEATURES, levels: int | None = None,
                  prices: str = "relative", fill: bool = True,
                  collapse: bool = False) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Sample ``book`` (:func:`sample`) and build its model-input columns
    (:func:`feature_matrix`). Returns (values [S, 4 L + D] float32, names, time [S] seconds)."""
    sampled, index = sample(book, sampling, collapse=collapse)
    values, names = feature_matrix(book, sampled, index, features=features, levels=levels,
                                   prices=prices, fill=fill)
    return values, names, sampled.time
