"""Injected order-book anomalies for detection benchmarks: spoofing / layering (large orders
placed a few ticks away from the touch and cancelled within seconds) and quote stuffing (bursts
of submit + delete pairs within milliseconds), inserted into any :class:`Messages` stream with
its :class:`Book` (which finds the touch). The book of the result must be rebuilt (the
reconstruction engine, :mod:`qseq.lob.reconstruct`); each function also returns the [E] labels of
the inserted messages."""

from __future__ import annotations

import numpy as np

from qseq.errors import DataError
from qseq.lob.book import BUY, DELETE, PRICE_SCALE, SELL, SUBMIT, Book, Messages


def _merge(messages: Messages, added: dict[str, np.ndarray], rank: np.ndarray
           ) -> tuple[Messages, np.ndarray]:
    """Insert ``added`` [A] messages into the stream by time; at equal times ``rank`` orders
    them around the original messages (rank 0 before, 2 after; originals are 1)."""
    n = len(messages)
    keys = {name: np.concatenate((getattr(messages, name), added[name]))
            for name in ("time", "event_type", "order_id", "size", "price", "direction")}
    ranks = np.concatenate((np.ones(n, np.int8), rank))
    order = np.lexsort((np.arange(len(ranks)), ranks, keys["time"]))
    labels = np.concatenate((np.zeros(n, bool), np.ones(len(rank), bool)))[order]
    out = Messages(**{name: values[order] for name, values in keys.items()})
    return out, labels


def _raw(price):
    """Dollars -> integer 1/10,000 dollars (NaN -> a huge negative, never a hit)."""
    price = np.asarray(price, dtype=np.float64)
    return np.where(np.isnan(price), np.iinfo(np.int64).min // 2,
                    np.round(np.nan_to_num(price) * PRICE_SCALE)).astype(np.int64)


def _step(tick: float) -> int:
    step = round(tick * PRICE_SCALE)
    if step < 1 or abs(step - tick * PRICE_SCALE) > 1e-9:
        raise DataError(f"tick must be a positive multiple of 0.0001 dollars, got {tick}")
    return step


def _typical_size(messages: Messages) -> float:
    sizes = messages.size[(messages.event_type == SUBMIT) & (messages.size > 0)]
    return float(np.median(sizes)) if len(sizes) else 100.0


def _check_pair(messages: Messages, book: Book) -> None:
    if len(messages) != len(book) or not len(messages):
        raise DataError(f"anomaly injection needs one book row per message (> 0), got "
                        f"{len(book)} rows for {len(messages)} messages")


def _quoted_rows(book: Book, needed: int, what: str) -> np.ndarray:
    """Rows of ``book`` with both best quotes and no halt: where an episode may start."""
    halted = book.halted if book.halted is not None else np.zeros(len(book), bool)
    ok = np.flatnonzero(np.isfinite(book.bid_price[:, 0]) & np.isfinite(book.ask_price[:, 0])
                        & ~halted)
    if len(ok) < needed:
        raise DataError(f"only {len(ok)} events have both quotes; cannot place {needed} {what} "
                        "(ask for fewer)")
    return ok


def inject_spoofing(messages: Messages, book: Book, *, episodes: int = 10, layers: int = 3,
                    ticks_away: int = 4, size_multiple: float = 10.0,
                    lifetime: tuple[float, float] = (0.5, 3.0), tick: float = 0.01,
                    seed: int = 0) -> tuple[Messages, np.ndarray]:
    """Insert spoofing / layering episodes into a message stream.

    Each episode, at the time of a random event whose book has both quotes and is not halted,
    submits ``layers`` large orders (``size_multiple`` x the median submission size) on one
    side at ``ticks_away``, ``ticks_away + 1``, ... ticks behind that side's best quote
    (``layers=1``: plain spoofing; more: layering on consecutive levels), then deletes them all
    after a uniform ``lifetime`` in seconds, or earlier, just before the first event where the
    book (``book``: the book of ``messages``) comes within one tick of the nearest spoof order
    on its side or reaches it from the other, so the orders are never in the way of a recorded
    trade. New ids follow the largest existing one.

    Returns the merged [E + 2 x layers x episodes] :class:`Messages` (times non-decreasing) and
    an [E'] bool label, True on injected messages. The book must be rebuilt from the result.
    """
    _check_pair(messages, book)
    rng = np.random.default_rng(seed)
    size = size_multiple * _typical_size(messages)
    next_id = int(messages.order_id.max()) + 1
    ok = _quoted_rows(book, episodes, "spoofing episodes")
    step = _step(tick)
    rows: dict[str, list] = {k: [] for k in ("time", "event_type", "order_id", "size",
                                              "price", "direction")}
    rank = []
    for start in np.sort(rng.choice(ok, size=episodes, replace=False)):
        side = BUY if rng.random() < 0.5 else SELL
        t0 = messages.time[start]
        t1 = t0 + rng.uniform(*lifetime)
        best = book.bid_price[start, 0] if side == BUY else book.ask_price[start, 0]
        raw = _raw(best) - side * step * (ticks_away + np.arange(layers))  # near to far
        if raw.min() <= 0:
            continue
        later = slice(start + 1, int(np.searchsorted(messages.time, t1, side="right")))
        bid, ask = _raw(book.bid_price[later, 0]), _raw(book.ask_price[later, 0])
        if side == BUY:  # the bids fall to one tick above the spoof, or the asks reach it
            hit = (bid <= raw[0] + step) | (ask <= raw[0])
        else:
            hit = (ask >= raw[0] - step) | (bid >= raw[0])
        if hit.any():
            t1 = messages.time[start + 1 + int(np.argmax(hit))]
            if t1 <= t0:
                continue  # the book moves onto it at the very instant: no room for an episode
        for price in raw / PRICE_SCALE:
            for kind, t, r in ((SUBMIT, t0, 2), (DELETE, t1, 0)):
                for key, value in zip(rows, (t, kind, next_id, size, price, side), strict=True):
                    rows[key].append(value)
                rank.append(r)
            next_id += 1
    return _merge(messages, _arrays(rows), np.array(rank, np.int8))


def _arrays(rows: dict[str, list]) -> dict[str, np.ndarray]:
    dtypes = {"time": np.float64, "event_type": np.int8, "order_id": np.int64,
              "size": np.float64, "price": np.float64, "direction": np.int8}
    return {key: np.array(values, dtype=dtypes[key]) for key, values in rows.items()}


def inject_quote_stuffing(messages: Messages, book: Book, *, bursts: int = 10,
                          orders: int = 50, burst_seconds: float = 0.005,
                          ticks_away: tuple[int, int] = (1, 5), tick: float = 0.01,
                          seed: int = 0) -> tuple[Messages, np.ndarray]:
    """Insert quote-stuffing bursts: ``orders`` submit+delete pairs within ``burst_seconds``.

    Each burst starts at the time of a random event whose book has both quotes and is not
    halted; each of its orders is a median-size submission at a uniform ``ticks_away`` ticks
    behind a random side's best quote, deleted within the burst (its submit first). Returns
    the merged [E + 2 x orders x bursts] :class:`Messages` and an [E'] bool label, True on
    injected messages; new ids follow the largest existing one. Rebuild the book afterwards.
    """
    _check_pair(messages, book)
    rng = np.random.default_rng(seed)
    size = _typical_size(messages)
    next_id = int(messages.order_id.max()) + 1
    ok = _quoted_rows(book, bursts, "quote-stuffing bursts")
    step = _step(tick)
    rows: dict[str, list] = {k: [] for k in ("time", "event_type", "order_id", "size",
                                              "price", "direction")}
    for start in np.sort(rng.choice(ok, size=bursts, replace=False)):
        t0 = messages.time[start]
        times = np.sort(rng.uniform(0.0, burst_seconds, size=2 * orders)).reshape(orders, 2)
        sides = np.where(rng.random(orders) < 0.5, BUY, SELL)
        away = rng.integers(ticks_away[0], ticks_away[1] + 1, size=orders)
        best = np.where(sides == BUY, book.bid_price[start, 0], book.ask_price[start, 0])
        raw = _raw(best) - sides * step * away
        prices = raw / PRICE_SCALE
        for j in range(orders):
            if raw[j] <= 0:
                continue
            for kind, t in ((SUBMIT, t0 + times[j, 0]), (DELETE, t0 + times[j, 1])):
                for key, value in zip(rows, (t, kind, next_id, size, prices[j], sides[j]),
                                      strict=True):
                    rows[key].append(value)
            next_id += 1
    added = _arrays(rows)
    return _merge(messages, added, np.full(len(added["time"]), 2, np.int8))
