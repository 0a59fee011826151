"""Order-book reconstruction: the top-N book after every event, from LOBSTER-typed messages.

One engine serves every source: LOBSTER message files, level-3 streams converted by
:mod:`qseq.lob.level3`, and synthetic streams. It works on price levels, not orders: an event
adds or removes ``size`` at ``price`` on the side given by ``direction``.

Event types (:data:`qseq.lob.book.EVENT_TYPES`):

- 1 submission adds ``size`` at ``price``;
- 2 partial cancellation, 3 deletion and 4 visible execution remove ``size`` at ``price``;
- 5 hidden execution and 6 cross trade change nothing visible;
- 7 trading halt: price -1 starts a halt, 1 resumes trading, 0 (quoting) leaves it as it is;
  :attr:`Book.halted` is True after the halt event and False again after the resume event.

Data structure (chosen for prices that span many orders of magnitude: the Bitstamp snapshot
holds asks from $78,319 to $483,980,000, far too wide for a dense tick grid). Each side is a
pair of arrays sorted by a signed integer key (bids ``+price``, asks ``-price``, both in units
of ``10**-price_decimals`` dollars), so the best level is always the last element: a
binary search finds a level in O(log levels), inserting or removing one shifts only the
levels between it and the touch (few, since most activity is near the touch), and the top N
are the last N elements. Sizes are integers in units of ``10**-size_decimals``, so depth
arithmetic is exact and "removal bigger than the resting depth" is an exact test. The event
loop is compiled with numba (``@njit(cache=True)``), compiled on first use, not at import.

Memory is bounded by the number of price levels, not the stream: :class:`Reconstructor`
carries the state from one chunk of messages to the next (``update`` per chunk), so a file
larger than RAM is processed chunk by chunk; :func:`reconstruct` is one ``update``.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from qseq.errors import DataError
from qseq.lob.book import EVENT_TYPES, HALT, Book, Messages

log = logging.getLogger(__name__)

_OK, _NEED_ROOM, _TOO_BIG = 0, 1, 2
_HALT_STATE = 2  # index of the halted flag in the counts array (0: bid levels, 1: ask levels)


def _apply_events(event_type, key, size, direction, bid_key, bid_size, ask_key, ask_size, counts,
                  start, strict, price_scale, size_scale, out_ask_p, out_ask_s, out_bid_p, out_bid_s,
                  out_halted, clipped):  # pragma: no cover - compiled by numba
    """The event loop (compiled by :func:`_kernel`). Applies events ``start..`` of the chunk and
    writes the top ``L`` levels after each into row ``i`` of the ``out_*`` arrays [E, L].

    key [E] int64 price in 10**-price_decimals dollars; size [E] int64 in 10**-size_decimals;
    side state: ``*_key``/``*_size`` [capacity] sorted ascending by signed key (best last),
    ``counts`` = [bid levels, ask levels, halted]. Returns ``(status, event)``: ``_OK``;
    ``_NEED_ROOM`` (a side is full: grow it and resume at ``event``); ``_TOO_BIG`` (strict, a
    removal exceeds the resting depth at ``event``; the state is then partly updated).
    """
    levels = out_ask_p.shape[1]
    n_events = event_type.shape[0]
    for i in range(start, n_events):
        kind = event_type[i]
        if kind == 7:
            if key[i] < 0:
                counts[2] = 1
            elif key[i] > 0:
                counts[2] = 0
        elif kind <= 4 and size[i] > 0:
            if direction[i] > 0:
                keys, sizes, side = bid_key, bid_size, 0
                level_key = key[i]
            else:
                keys, sizes, side = ask_key, ask_size, 1
                level_key = -key[i]
            n = counts[side]
            pos = np.searchsorted(keys[:n], level_key)
            found = pos < n and keys[pos] == level_key
            if kind == 1:
                if found:
                    sizes[pos] += size[i]
                else:
                    if n == keys.shape[0]:
                        return _NEED_ROOM, i
                    for k in range(n, pos, -1):
                        keys[k] = keys[k - 1]
                        sizes[k] = sizes[k - 1]
                    keys[pos] = level_key
                    sizes[pos] = size[i]
                    counts[side] = n + 1
            else:
                resting = sizes[pos] if found else 0
                removed = size[i]
                if removed > resting:
                    if strict:
                        return _TOO_BIG, i
                    clipped[i] = True
                    removed = resting
                if found:
                    if removed == resting:
                        for k in range(pos, n - 1):
                            keys[k] = keys[k + 1]
                            sizes[k] = sizes[k + 1]
                        counts[side] = n - 1
                    else:
                        sizes[pos] = resting - removed
        # the top `levels` of each side after event i, best first
        n_bid, n_ask = counts[0], counts[1]
        for j in range(levels):
            if j < n_bid:
                out_bid_p[i, j] = bid_key[n_bid - 1 - j] / price_scale
                out_bid_s[i, j] = bid_size[n_bid - 1 - j] / size_scale
            else:
                out_bid_p[i, j] = np.nan
                out_bid_s[i, j] = 0.0
            if j < n_ask:
                out_ask_p[i, j] = -ask_key[n_ask - 1 - j] / price_scale
                out_ask_s[i, j] = ask_size[n_ask - 1 - j] / size_scale
            else:
                out_ask_p[i, j] = np.nan
                out_ask_s[i, j] = 0.0
        out_halted[i] = counts[2] != 0
    return _OK, n_events


@functools.cache
def _kernel():
    """The compiled event loop; numba is imported here, so importing qseq stays cheap."""
    import numba

    return numba.njit(cache=True, nogil=True)(_apply_events)


class Reconstructor:
    """The state of an order book, updated chunk by chunk of messages.

    ``update(messages)`` applies one chunk and returns the book after each of its events;
    the state (every price level of both sides, the halt flag) carries over to the next
    chunk, so ``update(a); update(b)`` gives the same rows as one update over ``a + b``.

    Parameters
    ----------
    levels: how many price levels per side each output row holds (any count >= 1; missing
        levels are NaN price and 0 size).
    initial: a starting book: the state is seeded from its **first** row (the top
        ``initial.levels`` of each side). A LOBSTER pair starts with orders already resting
        and its first book row is the state after message 1, so reconstruct messages
        ``[1:]`` from that row. Levels deeper than the seed are unknown to the engine: when
        the seed's levels empty, the levels below them show as empty, not as what the
        exchange had there.
    strict: a removal (types 2-4) bigger than the depth resting at its price is a
        :class:`DataError` naming the event (the state is left as it was before the chunk).
        With ``strict=False`` it is clipped to the resting depth and counted
        (``clipped_``, and ``book.extra["clipped"]`` [E] bool per chunk).
    price_decimals: prices are compared on a grid of ``10**-price_decimals`` dollars (6: any
        LOBSTER or dollar-quoted crypto price); a price off that grid is a DataError.
    size_decimals: sizes are exact integers in ``10**-size_decimals`` (8: satoshi-sized coin
        amounts; LOBSTER shares are whole numbers).
    source, synthetic: copied to every :class:`Book` this returns.

    Attributes: ``events_`` events applied so far, ``clipped_`` removals clipped so far,
    ``halted_`` whether trading is halted now.
    """

    def __init__(self, levels: int, *, initial: Book | None = None, strict: bool = True,
                 price_decimals: int = 6, size_decimals: int = 8, source: str = "",
                 synthetic: bool = False) -> None:
        if not isinstance(levels, (int, np.integer)) or levels < 1:
            raise DataError(f"levels must be a whole number >= 1, got {levels!r}")
        for name, value in (("price_decimals", price_decimals), ("size_decimals", size_decimals)):
            if not isinstance(value, (int, np.integer)) or not 0 <= value <= 9:
                raise DataError(f"{name} must be a whole number in 0..9, got {value!r}")
        self.levels, self.strict, self.source, self.synthetic = int(levels), strict, source, synthetic
        self.price_decimals, self.size_decimals = int(price_decimals), int(size_decimals)
        self._price_scale, self._size_scale = 10.0 ** price_decimals, 10.0 ** size_decimals
        capacity = 1024
        self._bid_key = np.zeros(capacity, np.int64)
        self._bid_size = np.zeros(capacity, np.int64)
        self._ask_key = np.zeros(capacity, np.int64)
        self._ask_size = np.zeros(capacity, np.int64)
        self._counts = np.zeros(3, np.int64)  # bid levels, ask levels, halted
        self._last_time = -np.inf
        self.events_, self.clipped_ = 0, 0
        if initial is not None:
            self._seed(initial)

    @property
    def halted_(self) -> bool:
        return bool(self._counts[_HALT_STATE])

    def depth(self, direction: int) -> tuple[np.ndarray, np.ndarray]:
        """Every non-empty level of one side now, best first: (price [K] dollars, size [K]).
        ``direction`` is +1 for bids, -1 for asks."""
        if direction not in (1, -1):
            raise DataError(f"direction must be +1 (bids) or -1 (asks), got {direction!r}")
        side = 0 if direction == 1 else 1
        keys = (self._bid_key, self._ask_key)[side][: self._counts[side]][::-1]
        sizes = (self._bid_size, self._ask_size)[side][: self._counts[side]][::-1]
        return direction * keys / self._price_scale, sizes / self._size_scale

    def _seed(self, book: Book) -> None:
        if len(book) == 0:
            raise DataError("initial book has no rows; pass a book with at least one row or None")
        rows = []
        for direction, prices, sizes in ((1, book.bid_price[0], book.bid_size[0]),
                                         (-1, book.ask_price[0], book.ask_size[0])):
            live = sizes > 0
            if np.isnan(prices[live]).any():
                raise DataError("initial book has a level with a size but no price (NaN) in its first "
                                "row; empty levels must have size 0")
            rows.append((prices[live], sizes[live], np.full(live.sum(), direction, np.int8)))
        price, size, direction = (np.concatenate(parts) for parts in zip(*rows, strict=True))
        n = len(price)
        seed = Messages(time=np.zeros(n), event_type=np.ones(n, np.int8), order_id=np.zeros(n, np.int64),
                        size=size.astype(np.float64), price=price.astype(np.float64), direction=direction)
        self.update(seed)
        self.events_, self._last_time = 0, -np.inf
        if book.halted is not None and bool(book.halted[0]):
            self._counts[_HALT_STATE] = 1

    def update(self, messages: Messages) -> Book:
        """Apply one chunk of [E] messages; return the book after each of its events
        (time [E], ask/bid price and size [E, levels], halted [E])."""
        event_type, key, size, direction = self._check(messages)
        n, levels = len(messages), self.levels
        out = [np.empty((n, levels)) for _ in range(4)]  # ask p, ask s, bid p, bid s
        halted = np.empty(n, bool)
        clipped = np.zeros(n, bool)
        state = [a.copy() for a in (self._bid_key, self._bid_size, self._ask_key, self._ask_size,
                                    self._counts)]
        kernel, start = _kernel(), 0
        while True:
            status, at = kernel(event_type, key, size, direction, *state, start, self.strict,
                                self._price_scale, self._size_scale, *out, halted, clipped)
            if status == _OK:
                break
            if status == _NEED_ROOM:  # double both sides' capacity and resume at the same event
                state[:4] = [np.concatenate([a, np.zeros_like(a)]) for a in state[:4]]
                start = at
                continue
            g = self.events_ + at
            side = "bid" if direction[at] > 0 else "ask"
            resting = self._resting(state, direction[at], key[at])
            raise DataError(
                f"event {g} ({EVENT_TYPES[int(event_type[at])]}, {side}) removes "
                f"{messages.size[at]:g} at {messages.price[at]:g} but only {resting:g} rests at that "
                f"price; fix the stream, or pass strict=False to clip such removals and count them")
        self._bid_key, self._bid_size, self._ask_key, self._ask_size, self._counts = state
        self.events_ += n
        n_clipped = int(clipped.sum())
        if n_clipped:
            self.clipped_ += n_clipped
            log.warning("%d removal(s) bigger than the resting depth were clipped", n_clipped)
        if n:
            self._last_time = float(messages.time[-1])
        return Book(time=np.asarray(messages.time, np.float64), ask_price=out[0], ask_size=out[1],
                    bid_price=out[2], bid_size=out[3], halted=halted, source=self.source,
                    synthetic=self.synthetic, extra={"clipped": clipped})

    def _resting(self, state: list[np.ndarray], direction: int, key: int) -> float:
        side = 0 if direction > 0 else 1
        keys, sizes = state[2 * side][: state[4][side]], state[2 * side + 1][: state[4][side]]
        hit = keys == (key if direction > 0 else -key)
        return float(sizes[hit].sum()) / self._size_scale

    def _check(self, m: Messages) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate a chunk; return the kernel's inputs (type int8, price key int64, size int64,
        direction int8). Every error names the first offending event by its stream index."""
        n = len(m.time)
        for name in ("event_type", "order_id", "size", "price", "direction"):
            if len(getattr(m, name)) != n:
                raise DataError(f"messages.{name} has {len(getattr(m, name))} rows but time has {n}; "
                                "every message array must be [events]")
        if n == 0:
            return (np.zeros(0, np.int8), np.zeros(0, np.int64), np.zeros(0, np.int64),
                    np.zeros(0, np.int8))
        time = np.asarray(m.time, np.float64)
        event_type = np.asarray(m.event_type)
        direction = np.asarray(m.direction)
        price, size = np.asarray(m.price, np.float64), np.asarray(m.size, np.float64)

        def first(bad: np.ndarray) -> int:
            return self.events_ + int(np.argmax(bad))

        back = np.r_[time[0] < self._last_time, time[1:] < time[:-1]]
        if back.any() or np.isnan(time).any():
            raise DataError(f"event {first(back | np.isnan(time))} goes back in time (or has no "
                            "time); messages must be in event order with non-decreasing times")
        bad = ~np.isin(event_type, list(EVENT_TYPES))
        if bad.any():
            raise DataError(f"event {first(bad)} has event type {event_type[np.argmax(bad)].item()!r}; "
                            f"valid types are {sorted(EVENT_TYPES)}")
        book_event = event_type <= 4
        bad = book_event & ~np.isin(direction, (1, -1))
        if bad.any():
            raise DataError(f"event {first(bad)} has direction {direction[np.argmax(bad)].item()!r}; "
                            "use +1 (buy, bid side) or -1 (sell, ask side)")
        bad = book_event & ~(size >= 0)
        if bad.any():
            raise DataError(f"event {first(bad)} has size {size[np.argmax(bad)].item()!r}; sizes must be "
                            ">= 0 (the event type says whether it adds or removes)")
        bad = (book_event | (event_type == HALT)) & ~np.isfinite(price)
        if bad.any():
            raise DataError(f"event {first(bad)} has price {price[np.argmax(bad)].item()!r}; book "
                            "events need a finite price")
        with np.errstate(invalid="ignore"):
            scaled_price = np.where(book_event | (event_type == HALT), price, 0.0) * self._price_scale
            scaled_size = np.where(book_event, size, 0.0) * self._size_scale
        if np.abs(scaled_price).max() >= 2.0 ** 62 or scaled_size.max() >= 2.0 ** 62:
            raise DataError("a price or size is too large for the integer grid; lower price_decimals "
                            "or size_decimals")
        key, units = np.rint(scaled_price), np.rint(scaled_size)
        for name, scaled, rounded, option in (("price", scaled_price, key, "price_decimals"),
                                              ("size", scaled_size, units, "size_decimals")):
            off = np.abs(scaled - rounded) > 1e-3 * np.maximum(1.0, np.abs(scaled) * 1e-12)
            if off.any():
                value = (price if name == "price" else size)[np.argmax(off)].item()
                raise DataError(f"event {first(off)} has {name} {value!r}, finer than "
                                f"{option}={getattr(self, option)} decimals; pass a larger {option}")
        return (event_type.astype(np.int8, copy=False), key.astype(np.int64), units.astype(np.int64),
                direction.astype(np.int8, copy=False))


def reconstruct(messages: Messages, levels: int, *, initial: Book | None = None, strict: bool = True,
                price_decimals: int = 6, size_decimals: int = 8, source: str = "",
                synthetic: bool = False) -> Book:
    """The top ``levels`` of the book after every one of the [E] ``messages``.

    One :meth:`Reconstructor.update` over the whole stream; see :class:`Reconstructor` for the
    parameters. Returns a :class:`Book` with time [E] seconds, ask/bid price [E, levels]
    dollars (NaN where empty), ask/bid size [E, levels] (0 where empty), halted [E];
    ``book.crossed`` flags rows where the best bid >= the best ask (never raised).
    """
    rec = Reconstructor(levels, initial=initial, strict=strict, price_decimals=price_decimals,
                        size_decimals=size_decimals, source=source, synthetic=synthetic)
    return rec.update(messages)
