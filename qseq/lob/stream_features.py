"""The model-input row of an order-book model, one event at a time:
:class:`IncrementalBookFeatures` gives, in O(levels) per event, the numbers
:func:`qseq.lob.features.feature_matrix` gives for that row (order-flow imbalance, forward fill
and clock sampling included; tests/lob/test_stream.py checks every column bitwise)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book
from qseq.lob.features import ffill, lob_columns, sampling_interval


def _div(num: float, den: float) -> float:
    """``num / den`` with IEEE results where numpy gives them (x / 0 is +-inf, 0 / 0 NaN)."""
    if den:
        return num / den
    if num != num or num == 0:
        return math.nan
    return math.copysign(math.inf, num) * math.copysign(1.0, den)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0 (as :func:`qseq.lob.features.imbalance`)."""
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


class _State:
    """One sample's book in the form the column formulas read: the best quotes as floats
    (dollars, shares), sizes per level [L], the filled mid, the OFI [L'] and the log return."""

    __slots__ = ("a0", "b0", "qa0", "qb0", "ask_size", "bid_size", "mid", "ofi", "log_return")


# The derived columns of qseq.lob.features._COLUMNS, on one sample's values (formulas written
# out on floats for speed; tests/lob/test_stream.py checks each against feature_matrix bitwise).
_ROW_COLUMNS = {
    "mid": lambda s: s.mid,
    "microprice": lambda s: _div(s.b0 * s.qa0 + s.a0 * s.qb0, s.qa0 + s.qb0),
    "microprice_bps": lambda s: _div(_div(s.b0 * s.qa0 + s.a0 * s.qb0, s.qa0 + s.qb0) - s.mid,
                                     s.mid) * 1e4,
    "spread": lambda s: s.a0 - s.b0,
    "spread_bps": lambda s: _div(s.a0 - s.b0, s.mid) * 1e4,
    "depth": lambda s: s.bid_size + s.ask_size,
    "imbalance": lambda s: _ratio(s.bid_size - s.ask_size, s.bid_size + s.ask_size),
    "depth_imbalance": lambda s: _ratio(np.cumsum(s.bid_size) - np.cumsum(s.ask_size),
                                        np.cumsum(s.bid_size) + np.cumsum(s.ask_size)),
    "ofi": lambda s: s.ofi[0],
    "mlofi": lambda s: s.ofi,
    "log_return": lambda s: s.log_return,
}
_PER_LEVEL = ("depth", "imbalance", "depth_imbalance", "mlofi")


class IncrementalBookFeatures:
    """The model-input columns of :func:`qseq.lob.features.feature_matrix`, one event at a time.

    ``event(time, ask_price, ask_size, bid_price, bid_size)`` (prices in dollars, NaN for an
    empty level; sizes in shares, 0 for an empty level; [>= levels] each, best first) returns
    the samples it completed as (time, event, row [4 L + D] float32): one per event with event
    sampling; with clock sampling every grid time ``t0 + i dt`` that this event shows has
    passed, each with the last book at or before it (as :func:`qseq.lob.features.sample`).
    ``flush()`` emits the grid times up to the last event at the end of a replay.

    State, O(levels) whatever the number of events: the last book, the running sum of the
    per-event order-flow imbalance and its value at the last sample, the last filled mid, and
    the last value of every column (the forward fill).

    Clock sampling counts an event within 4 ulp of a grid time as at it; the batch reads the
    ulp at the book's largest time, the stream at the largest time seen so far (the same
    number unless a session crosses a power of two seconds).
    """

    def __init__(self, features: tuple[str, ...], levels: int, prices: str = "relative",
                 sampling: str | float = "event") -> None:
        unknown = [n for n in features if n not in _ROW_COLUMNS]
        if unknown:
            raise ConfigError(f"order-book features {unknown} have no streaming form; "
                              f"streamable: {sorted(_ROW_COLUMNS)}")
        if prices not in ("relative", "raw"):
            raise ConfigError(f"unknown prices {prices!r}; choose one of ['relative', 'raw']")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ConfigError(f"levels must be an integer >= 1, got {levels!r}")
        self.features, self.levels, self.prices = tuple(features), levels, prices
        self.dt = sampling_interval(sampling)
        names = list(lob_columns(Book(np.zeros(1), *(np.zeros((1, levels)),) * 4)))
        self.layout: list[tuple[Any, int]] = []  # (column formula, first column)
        for name in self.features:
            self.layout.append((_ROW_COLUMNS[name], len(names)))
            names += ([f"{name}_{j + 1}" for j in range(levels)] if name in _PER_LEVEL
                      else [name])
        self.names = tuple(names)
        # OFI is summed over these levels: all for mlofi, the best for ofi, none otherwise
        self.ofi_levels = (levels if "mlofi" in features else 1 if "ofi" in features else 0)
        self.reset()

    def reset(self) -> None:
        """Forget every event (a new session)."""
        width = len(self.names)
        self.events = 0
        self.book: tuple[np.ndarray, ...] | None = None  # ask price, ask size, bid price, bid size
        self.quotes: list[float] = []  # OFI levels of the last event: bid, ask prices, sizes
        self.cum_ofi = [0.0] * self.ofi_levels  # sum of the per-event OFI over all events
        self.cum_at_sample = [0.0] * self.ofi_levels  # its value at the last sample
        self.mid = math.nan  # filled mid of the last sample (dollars)
        self.samples = 0
        self.row, self.last = np.empty(width), np.full(width, np.nan)  # last: the fill values
        self.prices_buf = np.empty((self.levels, 2))  # [L, ask | bid]
        self.t0 = self.t_last = math.nan
        self.tol = 0.0
        self.next_grid = 0

    @property
    def width(self) -> int:
        return len(self.names)

    def _arrays(self, values: tuple[Any, ...]) -> list[np.ndarray]:
        levels, out = self.levels, []
        for name, array in zip(("ask_price", "ask_size", "bid_price", "bid_size"), values,
                               strict=True):
            if type(array) is not np.ndarray or array.dtype != np.float64:
                array = np.asarray(array, dtype=np.float64)
            if array.ndim != 1 or len(array) < levels:
                raise DataError(f"event {self.events}: {name} has shape {list(array.shape)} but "
                                f"the model reads {levels} levels; stream a book with at least "
                                f"{levels} levels")
            out.append(array[:levels])
        return out

    def event(self, time: float, ask_price: Any, ask_size: Any, bid_price: Any, bid_size: Any
              ) -> list[tuple[float, int, np.ndarray]]:
        book = self._arrays((ask_price, ask_size, bid_price, bid_size))
        time = float(time)
        if not math.isfinite(time) or time < self.t_last:
            raise DataError(f"event {self.events}: time {time} is not finite or before the "
                            f"previous event's {self.t_last}; feed events in time order")
        out = []
        if self.dt is not None:
            if self.events == 0:
                self.t0 = time
            self.tol = 4 * float(np.spacing(max(abs(self.t0), abs(time))))
            while self.t0 + self.dt * self.next_grid + self.tol < time:  # grid time passed
                out.append(self._sample(self.t0 + self.dt * self.next_grid))
                self.next_grid += 1
        if self.ofi_levels:
            self._add_ofi(book)
        self.book, self.t_last = book, time
        self.events += 1
        if self.dt is None:
            out.append(self._sample(time))
        return out

    def _add_ofi(self, book: list[np.ndarray]) -> None:
        """cum_ofi += e_n of :func:`qseq.lob.features.event_ofi` (empty bid -inf, empty ask
        +inf; e_0 = 0), on floats: the same IEEE operations in the same order."""
        n = self.ofi_levels
        pa, qa, pb, qb = (a[:n].tolist() for a in book)
        pb = [-math.inf if p != p else p for p in pb]
        pa = [math.inf if p != p else p for p in pa]
        if self.quotes:
            pb0, pa0, qb0, qa0 = self.quotes
            cum = self.cum_ofi
            for j in range(n):
                cum[j] += ((pb[j] >= pb0[j]) * qb[j] - (pb[j] <= pb0[j]) * qb0[j]
                           - (pa[j] <= pa0[j]) * qa[j] + (pa[j] >= pa0[j]) * qa0[j])
        self.quotes = [pb, pa, qb, qa]

    def flush(self) -> list[tuple[float, int, np.ndarray]]:
        """Clock sampling: the grid times up to the last event not yet emitted (the batch
        samples them all); nothing for event sampling."""
        if self.dt is None or not self.events:
            return []
        n_grid = int(np.floor((self.t_last - self.t0 + self.tol) / self.dt)) + 1
        out = []
        while self.next_grid < n_grid:
            out.append(self._sample(self.t0 + self.dt * self.next_grid))
            self.next_grid += 1
        return out

    def _sample(self, time: float) -> tuple[float, int, np.ndarray]:
        """The row of the current book as a sample at ``time``."""
        ap, asz, bp, bsz = self.book
        row, levels = self.row, self.levels
        s = _State()
        s.a0, s.b0, s.qa0, s.qb0 = float(ap[0]), float(bp[0]), float(asz[0]), float(bsz[0])
        mid = (s.b0 + s.a0) / 2
        if mid != mid:  # an empty side: the last quoted mid
            mid = self.mid
        s.mid, s.ask_size, s.bid_size = mid, asz, bsz
        with np.errstate(invalid="ignore", divide="ignore"):
            px = self.prices_buf  # [L, 2]: ask, bid
            px[:, 0], px[:, 1] = ap, bp
            if np.isnan(px).any():  # empty deeper levels take the inner level's price
                px[:] = ffill(px)
            if self.prices == "relative":  # bps from the mid: (price - mid) / mid * 1e4
                px -= mid
                px /= mid
                px *= 1e4
            grid = row[:4 * levels].reshape(levels, 4)
            grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3] = px[:, 0], asz, px[:, 1], bsz
            if self.ofi_levels:
                s.ofi = [c - a for c, a in zip(self.cum_ofi, self.cum_at_sample, strict=True)]
                self.cum_at_sample = list(self.cum_ofi)
            s.log_return = (float(np.log(np.array([mid / self.mid]))[0]) if self.samples
                            else math.nan)
            for formula, at in self.layout:
                value = formula(s)
                if type(value) is float:
                    row[at] = value
                else:
                    row[at:at + len(value)] = value
        missing = np.isnan(row)
        if missing.any():  # forward fill: the last value of the column
            row[missing] = self.last[missing]
        self.row, self.last = self.last, row  # every column is rewritten at the next sample
        self.mid = mid
        self.samples += 1
        return time, self.events - 1, row.astype(np.float32)

    def nbytes(self) -> int:
        """Bytes of state held (constant in the number of events): arrays and float lists."""
        arrays = [self.row, self.last, self.prices_buf, *(self.book or ())]
        floats = 2 * self.ofi_levels + sum(len(q) for q in self.quotes)
        return sum(a.nbytes for a in arrays) + 8 * floats


