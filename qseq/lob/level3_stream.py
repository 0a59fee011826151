"""Level-3 captures larger than memory: :func:`iter_level3_book` reads the orders file in chunks
and yields the book chunk by chunk. The chunks concatenate to
``level3_book(read_level3(...), levels)`` (the same rows, lines, receive times and rule counts;
tested on the Bitstamp sample and on hand-made streams cut after every row).

What carries from one chunk to the next, so that every rule of :mod:`qseq.lob.level3` sees
what it would see in the whole file:

- the book: one :class:`~qseq.lob.reconstruct.Reconstructor` for the whole stream;
- every order still open (id, side, resting price, remaining volume, creation time and line):
  a chunk's rows of an order created earlier are converted after a *carry row* standing for
  its history (:func:`~qseq.lob.level3.to_messages` with ``carried``), so memory is the open
  orders plus one chunk, not the file;
- the last book row, held back until the next event shows whether it began a crossing flash;
- the exchange time of the last row (the order check) and the line count.

Chunks end where the exchange millisecond changes, so a taker's arrival fills and its resting
remainder never straddle two chunks. With a ``meta.json`` the file is read twice: a first pass
over the ``id`` column counts the rows (checked against the meta before anything is yielded)
and, with trades, finds which snapshot orders have live rows (the stale-snapshot rule needs
the whole file). The trades file is read whole (one row per match: a small share of the order
rows). Unlike the whole-file reader, an order id that comes back in a later chunk after its
deletion is not recognised as such (a ``changed`` row then fails as "changed before it was
created"; a ``created`` row starts a new order): the ids of every deleted order would have to
stay in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qseq.errors import DataError
from qseq.lob.book import DELETE, SUBMIT, Book, Messages
from qseq.lob.level3 import (
    CREATED,
    DELETED,
    ORDER_COLUMNS,
    PLACEHOLDER_PRICES,
    _check_header,
    _columns,
    _convert_options,
    _raise_bad_cell,
    _take,
    check_order_times_and_volumes,
    check_rows,
    read_meta,
    read_trades,
    to_messages,
)
from qseq.lob.reconstruct import Reconstructor

__all__ = ["iter_level3_book", "read_level3_book"]

_BLOCK_BYTES = 1 << 22  # pyarrow's streaming block: about 50,000 order rows


def _batches(path: Path, columns: tuple[str, ...], what: str) -> Iterator[dict[str, np.ndarray]]:
    """The file's rows as numpy columns, one dict per pyarrow block (checked as in
    :func:`qseq.lob.level3._read_csv`, lines counted from the start of the file)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    errors = (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError)
    path = _check_header(path, columns, what)
    try:
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES),
                               convert_options=_convert_options(columns))
    except errors as err:
        _raise_bad_cell(path, columns, err)
    line = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except errors as err:
            _raise_bad_cell(path, columns, err)
        if batch.num_rows:
            yield _columns({c: batch.column(c) for c in columns}, columns, path, line)
            line += batch.num_rows


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _cut(cols: dict[str, np.ndarray], at: int) -> tuple[dict, dict]:
    return {k: v[:at] for k, v in cols.items()}, {k: v[at:] for k, v in cols.items()}


def _chunks(batches: Iterator[dict[str, np.ndarray]], rows: int,
            first: int) -> Iterator[dict[str, np.ndarray]]:
    """Blocks regrouped into chunks of at least ``rows`` rows (the first at least ``first``)
    that end where ``exchange_timestamp`` changes (or at the end of the file)."""
    parts: list[dict[str, np.ndarray]] = []
    held, need = 0, max(rows, first)
    for block in batches:
        parts.append(block)
        held += len(block["id"])
        while held >= need:
            merged = _concat(parts)
            ms = merged["exchange_timestamp"]
            change = np.flatnonzero(ms[need:] != ms[need - 1:-1])
            if not change.size:  # one millisecond so far: wait for more rows
                parts = [merged]
                break
            chunk, rest = _cut(merged, need + int(change[0]))
            yield chunk
            parts, held, need = [rest], len(rest["id"]), rows
    if held:
        yield _concat(parts)


@dataclass
class _Open:
    """The orders still open after the chunks read so far, [K] arrays sorted by id."""

    id: np.ndarray
    side: np.ndarray
    price: np.ndarray
    volume: np.ndarray
    ms: np.ndarray
    line: np.ndarray
    snapshot: np.ndarray

    @classmethod
    def empty(cls) -> _Open:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0), np.zeros(0),
                   np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Indices into the open orders of those ``ids`` that are open (unique ids)."""
        at = np.searchsorted(self.id, ids)
        hit = at < len(self.id)
        hit[hit] = self.id[at[hit]] == ids[hit]
        return at[hit]

    def update(self, rows: dict[str, np.ndarray], lines: np.ndarray, snapshot: np.ndarray) -> _Open:
        """After a chunk whose ``rows`` (carry rows first) touched some orders: those orders'
        last state (gone when their last row is a delete), the untouched ones as they were."""
        order = np.argsort(rows["id"], kind="stable")
        oid = rows["id"][order]
        first = np.r_[True, oid[1:] != oid[:-1]]
        last = np.r_[first[1:], True]
        start, end = order[first], order[last]
        still = rows["action"][end] != DELETED
        keep = ~np.isin(self.id, oid[first], assume_unique=True)
        ids = np.concatenate([self.id[keep], oid[first][still]])
        by = np.argsort(ids, kind="stable")

        def merged(old: np.ndarray, new: np.ndarray) -> np.ndarray:
            return np.concatenate([old[keep], new[still]])[by]

        return _Open(ids[by], merged(self.side, rows["direction"][start]),
                     merged(self.price, rows["price"][start]),
                     merged(self.volume, rows["volume"][end]),
                     merged(self.ms, rows["exchange_timestamp"][start]),
                     merged(self.line, lines[start]), merged(self.snapshot, snapshot[start]))


def _first_pass(path: Path, head: int, tail: int, total: int, meta: Path,
                want_live: bool) -> np.ndarray | None:
    """Count the rows (against the meta) and, with ``want_live``, return the snapshot orders
    (the first ``head`` rows) that have rows outside the synthetic ones."""
    snap, live, n = np.zeros(0, np.int64), [], 0
    for block in _batches(path, ("id",), "orders"):
        ids, rows = block["id"], n + np.arange(len(block["id"]))
        if want_live:
            snap = np.concatenate([snap, ids[rows < head]])
            inside = (rows >= head) & (rows < total - tail)
            live.append(np.unique(ids[inside][np.isin(ids[inside], snap)]))
        n += len(ids)
    check_rows(path, meta, n, head, tail, total)
    return np.unique(np.concatenate(live)) if want_live and live else (
        np.zeros(0, np.int64) if want_live else None)


class _HeldBack:
    """Book rows with their messages; the last row waits for the next chunk's first event,
    which says whether the two are a crossing flash (:func:`qseq.lob.level3.level3_book`)."""

    def __init__(self, drop_flashes: bool) -> None:
        self.drop_flashes = drop_flashes
        self.rows: dict[str, np.ndarray] | None = None

    def push(self, rows: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        """Add a chunk's rows; return the rows now final (kept ones only) and the flashes found."""
        if self.rows is not None:
            rows = {k: np.concatenate([self.rows[k], v]) for k, v in rows.items()}
        flashes = 0
        if self.drop_flashes and len(rows["time"]) > 1:
            same = ((rows["event_type"][:-1] == SUBMIT) & (rows["event_type"][1:] == DELETE)
                    & (rows["order_id"][:-1] == rows["order_id"][1:])
                    & (rows["size"][:-1] == rows["size"][1:])
                    & (rows["price"][:-1] == rows["price"][1:])
                    & (rows["direction"][:-1] == rows["direction"][1:]))
            with np.errstate(invalid="ignore"):
                crossed = rows["bid_price"][:-1, 0] >= rows["ask_price"][:-1, 0]
            flash = np.flatnonzero(same & crossed & rows["keep"][:-1])
            rows["keep"][flash], rows["keep"][flash + 1] = False, False
            flashes = len(flash)
        done, self.rows = _cut(rows, len(rows["time"]) - 1)
        return done, flashes

    def flush(self) -> dict[str, np.ndarray] | None:
        rows, self.rows = self.rows, None
        return rows


def _book(rows: dict[str, np.ndarray], source: str, counts: dict[str, int]) -> Book:
    keep = rows["keep"]
    return Book(time=rows["time"][keep], ask_price=rows["ask_price"][keep],
                ask_size=rows["ask_size"][keep], bid_price=rows["bid_price"][keep],
                bid_size=rows["bid_size"][keep], halted=rows["halted"][keep], source=source,
                extra={"clipped": rows["clipped"][keep], "line": rows["line"][keep],
                       "received": rows["received"][keep], "counts": counts})


def iter_level3_book(orders_path: str | Path, trades_path: str | Path | None = None, *,
                     meta_path: str | Path | None = None, levels: int = 10,
                     chunk_rows: int = 1_000_000, drop_flashes: bool = True, strict: bool = True,
                     placeholder_prices: tuple[float, ...] = PLACEHOLDER_PRICES,
                     source: str | None = None) -> Iterator[Book]:
    """:func:`~qseq.lob.level3.level3_book` of :func:`~qseq.lob.level3.read_level3`, reading
    the orders file ``chunk_rows`` rows at a time (see the module doc for what carries over).

    Yields one :class:`Book` (top ``levels`` after each live event, [E_i] rows) per chunk that
    has rows; ``extra`` holds ``line``, ``received`` and ``clipped`` [E_i] and ``counts``, the
    rows each conversion rule touched since the previous chunk was yielded (their sum over
    the chunks is :attr:`Level3.counts` plus ``crossing_flash``). A malformed row raises a DataError naming
    its line when its chunk is reached: chunks already yielded came from a file that turned out
    malformed, so a caller that keeps them must drop them on the error.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise DataError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    orders_path = Path(orders_path)
    trades = read_trades(trades_path) if trades_path is not None else None
    head = tail = 0
    total, live_ids = -1, None
    if meta_path is not None:
        head, tail, total = read_meta(Path(meta_path))
        live_ids = _first_pass(orders_path, head, tail, total, Path(meta_path),
                               want_live=trades is not None and head > 0)
    rec = Reconstructor(levels, strict=strict, source=str(orders_path) if source is None else source)
    held = _HeldBack(drop_flashes)
    open_orders = _Open.empty()
    row0, last_ms, end_received, counts = 0, None, None, {}
    for cols in _chunks(_batches(orders_path, ORDER_COLUMNS, "orders"), chunk_rows, head):
        n = len(cols["id"])
        lines = row0 + np.arange(n) + 2
        check_order_times_and_volumes(orders_path, cols, lines, last_ms)
        exch = cols["exchange_timestamp"]
        row = row0 + np.arange(n)
        snapshot = row < head
        end = (row >= total - tail) if meta_path is not None and tail else np.zeros(n, bool)
        if snapshot.any() and ((cols["action"][snapshot] != CREATED).any()
                               or np.unique(exch[snapshot]).size > 1):
            raise DataError(f"{orders_path}: the first {head} rows are not one snapshot of creates "
                            f"at one exchange time, as {meta_path} (synthetic_created) says")
        if end.any():
            received = np.unique(cols["timestamp"][end])
            if (cols["action"][end] != DELETED).any() or received.size > 1 or (
                    end_received is not None and received[0] != end_received):
                raise DataError(f"{orders_path}: the last {tail} rows are not deletes received at "
                                f"one time, as {meta_path} (synthetic_deleted) says")
            end_received = received[0]
        # carry rows: the orders of this chunk created in an earlier one, oldest first
        at = open_orders.find(np.unique(cols["id"]))
        at = at[np.argsort(open_orders.ms[at], kind="stable")]
        c = len(at)
        rows = {"id": np.r_[open_orders.id[at], cols["id"]],
                "exchange_timestamp": np.r_[open_orders.ms[at], exch],
                "timestamp": np.r_[open_orders.ms[at], cols["timestamp"]],
                "price": np.r_[open_orders.price[at], cols["price"]],
                "volume": np.r_[open_orders.volume[at], cols["volume"]],
                "action": np.r_[np.full(c, CREATED, np.int8), cols["action"]],
                "direction": np.r_[open_orders.side[at], cols["direction"]]}
        all_lines = np.r_[open_orders.line[at], lines]
        carried = np.r_[np.ones(c, bool), np.zeros(n, bool)]
        snap = np.r_[open_orders.snapshot[at], snapshot]  # carry rows of snapshot orders too
        synthetic = np.r_[np.zeros(c, bool), snapshot | end]
        ev_row, kind, size, price, chunk_counts = to_messages(
            rows["id"], rows["exchange_timestamp"], rows["price"], rows["volume"], rows["action"],
            rows["direction"], snapshot=snap, synthetic=synthetic, trades=trades,
            placeholder_prices=placeholder_prices, path=orders_path, lines=all_lines,
            carried=carried, live_ids=live_ids)
        open_orders = open_orders.update(rows, all_lines, snap)
        messages = Messages(time=rows["exchange_timestamp"][ev_row] / 1e3, event_type=kind,
                            order_id=rows["id"][ev_row], size=size, price=price,
                            direction=rows["direction"][ev_row])
        if snapshot.any():
            rec.update(_take(messages, snap[ev_row]))
        live = ~synthetic[ev_row]
        book = rec.update(_take(messages, live))
        live_msg = _take(messages, live)
        done, flashes = held.push({
            "time": book.time, "ask_price": book.ask_price, "ask_size": book.ask_size,
            "bid_price": book.bid_price, "bid_size": book.bid_size, "halted": book.halted,
            "clipped": book.extra["clipped"], "line": all_lines[ev_row][live],
            "received": rows["timestamp"][ev_row][live] / 1e3,
            "event_type": live_msg.event_type, "order_id": live_msg.order_id,
            "size": live_msg.size, "price": live_msg.price, "direction": live_msg.direction,
            "keep": np.ones(len(book), bool)})
        for name, value in chunk_counts.items():
            counts[name] = counts.get(name, 0) + value
        if flashes:
            counts["crossing_flash"] = counts.get("crossing_flash", 0) + flashes
        last_ms = int(exch[-1])
        row0 += n
        if done["keep"].any():
            yield _book(done, rec.source, counts)
            counts = {}
    if row0 == 0:
        raise DataError(f"{orders_path}: no rows; a level-3 orders file needs at least one event")
    rest = held.flush()
    if rest is not None and (rest["keep"].any() or counts):
        yield _book(rest, rec.source, counts)


def read_level3_book(orders_path: str | Path, trades_path: str | Path | None = None, *,
                     meta_path: str | Path | None = None, levels: int = 10,
                     chunk_rows: int = 1_000_000, source: str | None = None) -> Book:
    """The whole book of :func:`iter_level3_book`, joined: the same rows as
    ``level3_book(read_level3(...))`` with the peak memory of the book plus one chunk (the
    whole-file path also holds every row of the file and its conversion at once). ``extra``:
    ``line``, ``received``, ``clipped`` [E] and the summed ``counts``."""
    chunks = list(iter_level3_book(orders_path, trades_path, meta_path=meta_path, levels=levels,
                                   chunk_rows=chunk_rows, source=source))
    if not chunks:  # every row was dropped or synthetic
        empty = np.zeros((0, levels))
        return Book(time=np.zeros(0), ask_price=empty, ask_size=empty, bid_price=empty,
                    bid_size=empty, halted=np.zeros(0, bool),
                    source=str(orders_path) if source is None else source,
                    extra={"clipped": np.zeros(0, bool), "line": np.zeros(0, np.int64),
                           "received": np.zeros(0), "counts": {}})
    counts: dict[str, int] = {}
    for book in chunks:
        for name, value in book.extra["counts"].items():
            counts[name] = counts.get(name, 0) + value

    def join(get) -> np.ndarray:
        return np.concatenate([get(b) for b in chunks])

    extra = {name: join(lambda b, n=name: b.extra[n]) for name in ("clipped", "line", "received")}
    return Book(time=join(lambda b: b.time), ask_price=join(lambda b: b.ask_price),
                ask_size=join(lambda b: b.ask_size), bid_price=join(lambda b: b.bid_price),
                bid_size=join(lambda b: b.bid_size), halted=join(lambda b: b.halted),
                source=chunks[0].source, extra={**extra, "counts": counts})
