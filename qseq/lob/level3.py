"""Level-3 (per-order) event streams: reading, conversion to LOBSTER-typed messages, the book,
and the real Bitstamp BTC/USD sample.

A level-3 stream has one row per order event: ``created`` (an order arrives with its volume),
``changed`` (its remaining volume is now ``volume``), ``deleted`` (it leaves the book). The file
format is the Bitstamp capture written by ob-analytics' collector: columns ``id, timestamp,
exchange_timestamp, price, volume, action, direction`` (times in epoch milliseconds, ``timestamp``
when received, ``exchange_timestamp`` when the exchange stamped it; direction ``bid``/``ask``),
rows in exchange-time order; and a ``trades.csv`` with one row per match.

Conversion (:func:`to_messages`, vectorised over a stable sort on order id), one rule per case;
``Level3.counts`` says how many rows each rule touched (figures: the Bitstamp sample), and
``Level3.dropped`` those of them that made no event (:data:`DROP_REASONS`):

- created: a submission (type 1) of its volume at its price.
- changed: the volume fell by ``before - after``: a visible execution (type 4; Bitstamp orders
  cannot be amended, so a fall is a fill); rose: a submission of the increase
  (``volume_increase``; an amendment that loses queue priority); unchanged: no event.
- deleted: removes the order's **remaining** volume (from its own earlier rows, not the delete
  row's): an execution (type 4) when the row says 0 remains (filled), else a deletion (type 3).
- every event sits at the order's **resting** price, the price it was created at: Bitstamp
  reports many deletes at some other price (``price_off_resting``: 2,059 rows).
- takers: an order whose volume falls in the millisecond it was created matched on arrival
  (with a trades file: only orders the trades name as taker). Its arrival and its own fills
  make no event (``taker_matching``: the makers' rows already remove what it took); what is
  left after its last arrival fill rests at its limit price, from the end of that millisecond
  (``taker_rest_deferred``); nothing rests if it was filled or cancelled on arrival
  (``taker_filled_on_arrival``).
- placeholder prices (0 and 999,999,999: Bitstamp's market orders, and 22 price-0 bids in the
  snapshot): the order never enters the book; all its rows are counted (``market_order``: 67).
- a delete of an order the stream never created (created between the REST snapshot and the
  first live message, or its message lost) makes no event (``orphan_delete``: 13).
- the synthetic snapshot at t=0 and the synthetic deletes at the end (their counts come from
  the capture's ``meta.json``) are flagged in :attr:`Level3.synthetic`. A snapshot order with no
  live row that a trade went through (an ask below the highest taker buy, a bid above the
  lowest taker sell: price priority would have filled it first) was gone before the stream
  began and is dropped (``stale_snapshot``: 2 asks, 4 rows; without a trades file they stay,
  and the book is crossed below them). :func:`level3_book` seeds its state from the snapshot
  without rows for it, ends at the last live event, and leaves out crossing flashes (orders
  that lock or cross the touch and are deleted unfilled by the next event: 100,518 of them).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import numpy as np

from qseq.errors import DataError
from qseq.lob.book import DELETE, EXECUTE, SUBMIT, Book, Messages
from qseq.lob.reconstruct import Reconstructor

ACTIONS = ("created", "changed", "deleted")
CREATED, CHANGED, DELETED = 0, 1, 2
SIDES = {"bid": 1, "ask": -1}
PLACEHOLDER_PRICES = (0.0, 999999999.0)
ORDER_COLUMNS = ("id", "timestamp", "exchange_timestamp", "price", "volume", "action", "direction")
TRADE_COLUMNS = ("trade_id", "timestamp", "exchange_timestamp", "price", "amount", "buy_order_id",
                 "sell_order_id", "side")
DROP_REASONS = ("market_order", "orphan_delete", "stale_snapshot", "taker_matching",
                "taker_filled_on_arrival", "no_change", "empty_delete")
SAMPLE_SOURCE = "Bitstamp BTC/USD level-3 sample (ob-analytics 0.1.0, GPL)"
_TEXT = {"action": {a: i for i, a in enumerate(ACTIONS)}, "direction": SIDES,
         "side": {"buy": 1, "sell": -1}}
_INTEGER = ("id", "timestamp", "exchange_timestamp", "trade_id", "buy_order_id", "sell_order_id")
__all__ = ["Level3", "Trades", "TradeCheck", "BitstampSample", "read_level3", "read_trades",
           "to_messages", "level3_book", "bitstamp_sample_paths", "load_bitstamp_sample",
           "check_trades"]


@dataclass(frozen=True)
class Trades:
    """One row per match, [T] arrays. time: exchange time, seconds since the epoch; received:
    receive time (s); price dollars; size coins; side +1 when the taker bought, -1 when it sold;
    buy_order_id, sell_order_id, trade_id int64."""

    time: np.ndarray
    received: np.ndarray
    price: np.ndarray
    size: np.ndarray
    side: np.ndarray
    buy_order_id: np.ndarray
    sell_order_id: np.ndarray
    trade_id: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True)
class Level3:
    """A level-3 stream converted to LOBSTER-typed messages.

    messages:  [E] the events that change the visible book, in stream order; ``time`` is the
               exchange time (seconds since the epoch), prices dollars, sizes coins
    received:  [E] float64 receive time, seconds since the epoch
    action:    [E] int8, the raw row's action (index into :data:`ACTIONS`)
    line:      [E] int64, the row's line in the orders file (the header is line 1)
    synthetic: [E] bool, from the synthetic snapshot or the synthetic end deletes
    snapshot:  [E] bool, from the synthetic snapshot (a subset of ``synthetic``)
    rows:      rows read from the file
    counts:    rows each conversion rule touched, by rule (see the module doc)
    trades:    the trades file, when given
    """

    messages: Messages
    received: np.ndarray
    action: np.ndarray
    line: np.ndarray
    synthetic: np.ndarray
    snapshot: np.ndarray
    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    trades: Trades | None = None
    source: str = ""

    @property
    def dropped(self) -> dict[str, int]:
        """Rows that made no event, by reason: ``len(messages) + sum(dropped) == rows``."""
        return {k: v for k, v in self.counts.items() if k in DROP_REASONS}


@dataclass(frozen=True)
class TradeCheck:
    """Reconstructed touch vs trades: a taker buy should execute at or above the best ask just
    before it, a taker sell at or below the best bid.

    gap:        [T] dollars, buy ``price - best ask``, sell ``best bid - price``; >= 0 is
                consistent, NaN where undefined (no book row before the trade, or that side empty)
    checked:    trades with a defined gap; consistent: those with gap >= 0; share: their ratio
    at_touch:   trades exactly at the best quote (gap == 0)
    worst:      indices of the (up to 10) most negative gaps, worst first
    """

    gap: np.ndarray
    checked: int
    consistent: int
    share: float
    at_touch: int
    worst: np.ndarray


@dataclass(frozen=True)
class BitstampSample:
    """Files of the Bitstamp sample inside the installed ob-analytics package."""

    orders: Path
    trades: Path
    meta: Path


# ---------------------------------------------------------------- reading


def _read_csv(path: Path, columns: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    """The named columns of a CSV (plain or .gz; parsed by pyarrow) as numpy arrays: ids and
    times int64, ``price`` ``volume`` ``amount`` float64, text columns as int8 codes by
    :data:`_TEXT`. Every problem is one DataError naming the file, and the line if there is one."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = _check_header(path, columns, what)
    try:
        table = pcsv.read_csv(path, convert_options=_convert_options(columns))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError) as err:
        _raise_bad_cell(path, columns, err)
    table = table.unify_dictionaries()
    return _columns({name: table.column(name) for name in columns}, columns, path, 2)


def _check_header(path: str | Path, columns: tuple[str, ...], what: str) -> Path:
    """``path`` after checking it exists and its header names every one of ``columns``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file {path} does not exist; pass the path of a {what} CSV")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            header = [name.strip().strip('"') for name in handle.readline().strip().split(",")]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the header ({err}); expected a CSV with columns "
                        f"{', '.join(columns)}") from err
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; a {what} CSV has "
                        f"{', '.join(columns)} (found {', '.join(header)})")
    return path


def _convert_options(columns: tuple[str, ...]):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = {c: pa.int64() if c in _INTEGER else pa.dictionary(pa.int32(), pa.string())
             if c in _TEXT else pa.float64() for c in columns}
    return pcsv.ConvertOptions(column_types=types, include_columns=list(columns),
                               strings_can_be_null=True)


def _columns(cols: dict, columns: tuple[str, ...], path: Path, first_line: int) -> dict[str, np.ndarray]:
    """pyarrow columns (Array or ChunkedArray; text ones with one dictionary) to numpy, with
    the null and unknown-text checks; ``first_line``: the file line of the first row."""
    import pyarrow as pa

    out = {}
    for name in columns:
        col = cols[name]
        if col.null_count:
            first = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{path}, line {first + first_line}: empty {name} cell; every row needs "
                            f"all of {', '.join(columns)}")
        if name not in _TEXT:
            out[name] = col.to_numpy()
            continue
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
        valid = _TEXT[name]
        lookup = np.array([valid.get(v, -128) for v in col.dictionary.to_pylist()] or [0], np.int8)
        codes = lookup[col.indices.to_numpy(zero_copy_only=False)]
        if (codes == -128).any():
            row = int(np.flatnonzero(codes == -128)[0])
            raise DataError(f"{path}, line {row + first_line}: unknown {name} {col[row].as_py()!r}; "
                            f"valid: {', '.join(valid)}")
        out[name] = codes
    return out


def _raise_bad_cell(path: Path, columns: tuple[str, ...], err: Exception) -> NoReturn:
    """pyarrow refused a cell: find the first non-numeric cell with pandas (in chunks of a
    million rows) and name its line."""
    import pandas as pd

    try:
        chunks = pd.read_csv(path, dtype=str, usecols=list(columns), keep_default_na=False,
                             chunksize=1_000_000)
        start = 0
        for raw in chunks:
            for name in columns:
                if name in ("action", "direction", "side"):
                    continue
                parsed = pd.to_numeric(raw[name], errors="coerce")
                bad = parsed.isna() if name not in _INTEGER else parsed.isna() | (parsed % 1 != 0)
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataError(f"{path}, line {start + row + 2}: {name} is "
                                    f"{raw[name].iloc[row]!r}, not a "
                                    f"{'whole ' if name in _INTEGER else ''}number; fix or remove "
                                    "that row")
            start += len(raw)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as again:
        raise DataError(f"{path}: not a readable CSV ({again}); expected columns "
                        f"{', '.join(columns)}") from err
    raise DataError(f"{path}: cannot parse the CSV ({err}); expected columns {', '.join(columns)}") \
        from err


def read_trades(path: str | Path) -> Trades:
    """Read a level-3 capture's ``trades.csv`` (:data:`TRADE_COLUMNS`; side ``buy``/``sell`` is
    the taker's side; times in epoch ms)."""
    path = Path(path)
    raw = _read_csv(path, TRADE_COLUMNS, "trades")
    return Trades(time=raw["exchange_timestamp"] / 1e3, received=raw["timestamp"] / 1e3,
                  price=raw["price"], size=raw["amount"], side=raw["side"],
                  buy_order_id=raw["buy_order_id"], sell_order_id=raw["sell_order_id"],
                  trade_id=raw["trade_id"])


def check_order_times_and_volumes(path: Path, cols: dict[str, np.ndarray], lines: np.ndarray,
                                  last_ms: float | None = None) -> None:
    """One error naming the first line of ``cols`` (orders rows at file ``lines``) whose
    exchange_timestamp goes back (also against ``last_ms``, the previous chunk's last) or whose
    volume is negative."""
    exch = cols["exchange_timestamp"]
    first = exch[:1] < (exch[0] if last_ms is None else last_ms)
    back = np.flatnonzero(np.r_[first, exch[1:] < exch[:-1]])
    if back.size:
        raise DataError(f"{path}, line {lines[back[0]]}: exchange_timestamp goes back in time; "
                        "rows must be in exchange-time order")
    bad = np.flatnonzero(~(cols["volume"] >= 0))
    if bad.size:
        raise DataError(f"{path}, line {lines[bad[0]]}: volume {cols['volume'][bad[0]].item()!r} "
                        "is negative; volumes are the order's remaining size (>= 0)")


def read_level3(orders_path: str | Path, trades_path: str | Path | None = None, *,
                meta_path: str | Path | None = None,
                placeholder_prices: tuple[float, ...] = PLACEHOLDER_PRICES) -> Level3:
    """Read a level-3 orders file (and its trades) and convert it to messages.

    ``meta_path``: the capture's ``meta.json``; its ``synthetic_created`` (leading snapshot
    rows) and ``synthetic_deleted`` (trailing end deletes) flag :attr:`Level3.synthetic`, and
    ``total_order_rows`` must match the file. Without it no row is flagged synthetic.
    With ``trades_path``, takers are the orders the trades name as taker (see the module doc).
    """
    orders_path = Path(orders_path)
    raw = _read_csv(orders_path, ORDER_COLUMNS, "orders")
    n = len(raw["id"])
    if n == 0:
        raise DataError(f"{orders_path}: no rows; a level-3 orders file needs at least one event")
    action, direction = raw["action"], raw["direction"]
    check_order_times_and_volumes(orders_path, raw, np.arange(n) + 2)
    exch = raw["exchange_timestamp"]
    synthetic = np.zeros(n, bool)
    snapshot = np.zeros(n, bool)
    if meta_path is not None:
        snapshot[:], synthetic[:] = _synthetic_rows(orders_path, Path(meta_path), action, raw)
    trades = read_trades(trades_path) if trades_path is not None else None
    row, event_type, size, price, counts = to_messages(
        raw["id"], exch, raw["price"], raw["volume"], action, direction, snapshot=snapshot,
        synthetic=synthetic, trades=trades, placeholder_prices=placeholder_prices, path=orders_path)
    messages = Messages(time=exch[row] / 1e3, event_type=event_type, order_id=raw["id"][row],
                        size=size, price=price, direction=direction[row])
    return Level3(messages=messages, received=raw["timestamp"][row] / 1e3, action=action[row],
                  line=row + 2, synthetic=synthetic[row], snapshot=snapshot[row], rows=n,
                  counts=counts, trades=trades, source=str(orders_path))


def read_meta(meta_path: Path) -> tuple[int, int, int]:
    """(synthetic_created, synthetic_deleted, total_order_rows) of a capture's meta.json."""
    try:
        meta = json.loads(Path(meta_path).read_text())
        return tuple(int(meta[k]) for k in ("synthetic_created", "synthetic_deleted",
                                            "total_order_rows"))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{meta_path}: not a capture meta.json with synthetic_created, "
                        f"synthetic_deleted and total_order_rows ({err!r})") from err


def check_rows(path: Path, meta_path: Path, n: int, head: int, tail: int, total: int) -> None:
    if total != n or head + tail > n or min(head, tail) < 0:
        raise DataError(f"{path} has {n} rows but {meta_path} says total_order_rows={total} "
                        f"(synthetic {head} + {tail}); the files are from different captures")


def _synthetic_rows(path: Path, meta_path: Path, action: np.ndarray,
                    raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(snapshot [R], synthetic [R]) masks from meta.json's counts, checked against the rows:
    the snapshot is the leading block of creates stamped at one exchange time, the end deletes
    the trailing block of deletes received at one time."""
    head, tail, total = read_meta(meta_path)
    n = len(action)
    check_rows(path, meta_path, n, head, tail, total)
    snap = np.zeros(n, bool)
    snap[:head] = True
    end = np.zeros(n, bool)
    end[n - tail:] = True
    if (action[snap] != CREATED).any() or np.unique(raw["exchange_timestamp"][snap]).size > 1:
        raise DataError(f"{path}: the first {head} rows are not one snapshot of creates at one "
                        f"exchange time, as {meta_path} (synthetic_created) says")
    if (action[end] != DELETED).any() or np.unique(raw["timestamp"][end]).size > 1:
        raise DataError(f"{path}: the last {tail} rows are not deletes received at one time, as "
                        f"{meta_path} (synthetic_deleted) says")
    return snap, snap | end


def to_messages(order_id: np.ndarray, exchange_ms: np.ndarray, price: np.ndarray, volume: np.ndarray,
                action: np.ndarray, direction: np.ndarray, *, snapshot: np.ndarray | None = None,
                synthetic: np.ndarray | None = None, trades: Trades | None = None,
                placeholder_prices: tuple[float, ...] = PLACEHOLDER_PRICES,
                path: str | Path = "level-3 stream", lines: np.ndarray | None = None,
                carried: np.ndarray | None = None, live_ids: np.ndarray | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Convert [R] level-3 rows (in stream order) to LOBSTER-typed events by the rules in the
    module doc. ``exchange_ms`` int64 epoch ms; ``action`` codes (:data:`ACTIONS`); ``direction``
    +1 bid / -1 ask; ``snapshot``/``synthetic`` [R] bool row masks (see :class:`Level3`);
    ``trades`` names the takers and proves stale snapshot orders (None: neither).

    Returns (row [E] int64: the row each event comes from, in event order; event_type [E] int8;
    size [E] coins; price [E] dollars, the order's resting price; counts of rows by reason). An
    order created twice, changed before it was created, active after its deletion, or
    switching side is a DataError naming the line (``lines`` [R], default ``row + 2``).

    For a file read in chunks (:mod:`qseq.lob.level3_stream`): ``carried`` [R] marks carry rows,
    one per order created in an earlier chunk (a ``created`` row at its creation time and
    resting price with its remaining volume), placed before the chunk's rows; they make no
    event and count under no rule. ``live_ids``: the snapshot orders that have live rows
    anywhere in the file (the stale-snapshot rule; default: found in these rows).
    """
    n = len(order_id)
    lines = np.arange(n) + 2 if lines is None else lines
    carried = np.zeros(n, bool) if carried is None else carried
    snapshot = np.zeros(n, bool) if snapshot is None else snapshot
    synthetic = snapshot if synthetic is None else synthetic
    order = np.argsort(order_id, kind="stable")  # rows of one order together, in stream order
    oid, act, vol, side, ms = (a[order] for a in (order_id, action, volume, direction, exchange_ms))
    first = np.r_[True, oid[1:] != oid[:-1]]
    group = np.cumsum(first) - 1                  # [R] the order's number (sorted rows)
    start = np.flatnonzero(first)[group]          # [R] the sorted index of the order's first row
    rank = np.arange(n)

    def fail(bad: np.ndarray, problem: str) -> None:
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}, line {lines[order[at]]}: order {oid[at]} {problem} (its first "
                            f"row is line {lines[order[start[at]]]}); an order is created once, "
                            "then changed, then deleted")

    fail((act == CREATED) & ~first, "is created a second time")
    fail((act == CHANGED) & first, "is changed before it was created")
    fail(np.r_[False, (act[:-1] == DELETED) & ~first[1:]], "has an event after its deletion")
    fail(side != side[start], "changes side")

    counts: dict[str, int] = {}

    carry = carried[order]

    def count(name: str, mask: np.ndarray) -> np.ndarray:
        counted = int((mask & ~carry).sum() if len(mask) == n else mask.sum())  # [R] or [E]
        if counted:
            counts[name] = counts.get(name, 0) + counted
        return mask

    resting = price[order][start]                 # [R] the order's price when it was created
    drop = count("market_order", np.isin(resting, placeholder_prices))
    drop |= count("orphan_delete", (act[start] == DELETED) & ~drop)
    if trades is not None:                        # untouched snapshot orders a trade went through
        if live_ids is None:
            live_rows = np.bincount(group, weights=~synthetic[order], minlength=group[-1] + 1)
            untouched = snapshot[order][start] & (live_rows[group] == 0) & ~drop
        else:
            untouched = snapshot[order][start] & ~np.isin(oid, live_ids) & ~drop
        top_buy = trades.price[trades.side > 0].max(initial=-np.inf)
        low_sell = trades.price[trades.side < 0].min(initial=np.inf)
        stale = untouched & np.where(side > 0, resting > low_sell, resting < top_buy)
        drop |= count("stale_snapshot", stale)

    before = np.r_[np.nan, vol[:-1]]
    before[first] = np.nan                        # the order's remaining volume before this row
    arrival = ~first & (vol < before) & (ms == ms[start]) & ~drop   # matched in its arrival ms
    if trades is not None:
        arrival &= np.isin(oid, np.where(trades.side > 0, trades.buy_order_id, trades.sell_order_id))
    last_arrival = np.full(group[-1] + 1, -1)
    np.maximum.at(last_arrival, group[arrival], rank[arrival])
    taker_end = last_arrival[group]               # [R] sorted index of its last arrival fill
    drop |= count("taker_matching", (taker_end >= 0) & (rank < taker_end))
    rests = rank == taker_end                     # a taker's remainder starts resting here
    drop |= count("taker_filled_on_arrival", rests & ((act == DELETED) | (vol == 0)))
    rests &= ~drop

    delta = before - vol                          # > 0: the volume fell
    changed = (act == CHANGED) & ~drop & ~rests
    drop |= count("no_change", changed & (delta == 0))
    count("volume_increase", changed & (delta < 0))
    deleted = (act == DELETED) & ~drop
    drop |= count("empty_delete", deleted & ~(before > 0))
    deleted &= ~drop
    changed &= ~drop

    kind = np.full(n, SUBMIT, np.int8)            # created rows and takers' remainders
    size = vol.copy()
    kind[changed & (delta > 0)] = EXECUTE
    size[changed] = np.abs(delta[changed])
    kind[deleted] = np.where(vol[deleted] == 0, EXECUTE, DELETE)
    size[deleted] = before[deleted]
    count("delete_volume_mismatch", deleted & (vol != 0) & (vol != before))
    count("price_off_resting", ~drop & (price[order] != resting))

    # events in stream order, except a taker's remainder: it starts resting after the last row
    # of its arrival millisecond (once the makers' rows of its sweep have removed what it took),
    # or just before its own next row if that comes first
    keep = np.flatnonzero(~drop & ~carry)
    row = order[keep]
    position = row.astype(np.float64)
    late = rests[keep]
    end_of_ms = np.searchsorted(exchange_ms, exchange_ms[row[late]], side="right") - 0.5
    following = np.r_[order[1:], n][keep[late]]   # the order's next row, if it has one
    following = np.where(np.r_[~first[1:], False][keep[late]], following - 0.5, np.inf)
    position[late] = np.minimum(end_of_ms, following)
    count("taker_rest_deferred", position > row)
    by = np.argsort(position, kind="stable")
    return row[by], kind[keep][by], np.round(size[keep][by], 8), resting[keep][by], counts


# ---------------------------------------------------------------- the book


def level3_book(level3: Level3, levels: int = 10, *, keep_synthetic: bool = False,
                drop_flashes: bool = True, strict: bool = True, source: str | None = None) -> Book:
    """The top ``levels`` after every live event of a level-3 stream.

    The snapshot events seed the state and get no rows; the synthetic end deletes are left
    out (the book ends with the last live event); ``keep_synthetic=True`` keeps both as rows.
    ``drop_flashes``: an order that locks or crosses the opposite best on arrival and is
    deleted, unfilled, by the very next event could not have rested (it would have traded): a
    rejected post-only or an unfilled immediate-or-cancel order. Its two rows are left out of
    the book (the book after them equals the book before them), so ``book.crossed`` marks
    only what remains unexplained; they stay in ``level3.messages``.
    ``book.extra``: ``line`` [E] orders-file line, ``received`` [E] receive time (s),
    ``counts`` (:class:`Level3`, plus ``crossing_flash`` orders left out), ``clipped`` [E].
    """
    m = level3.messages
    rec = Reconstructor(levels, strict=strict, source=level3.source if source is None else source)
    keep = np.ones(len(m), bool) if keep_synthetic else ~level3.synthetic
    if not keep_synthetic and level3.snapshot.any():
        rec.update(_take(m, level3.snapshot))
    live = _take(m, keep)
    book = rec.update(live)
    rows = np.ones(len(book), bool)
    counts = dict(level3.counts)
    if drop_flashes and len(book) > 1:
        same = ((live.event_type[:-1] == SUBMIT) & (live.event_type[1:] == DELETE)
                & (live.order_id[:-1] == live.order_id[1:]) & (live.size[:-1] == live.size[1:])
                & (live.price[:-1] == live.price[1:]) & (live.direction[:-1] == live.direction[1:]))
        flash = np.flatnonzero(same & book.crossed[:-1])
        rows[flash], rows[flash + 1] = False, False
        counts["crossing_flash"] = len(flash)
    extra = {"clipped": book.extra["clipped"][rows], "line": level3.line[keep][rows],
             "received": level3.received[keep][rows], "counts": counts}
    return Book(time=book.time[rows], ask_price=book.ask_price[rows], ask_size=book.ask_size[rows],
                bid_price=book.bid_price[rows], bid_size=book.bid_size[rows],
                halted=book.halted[rows], source=book.source, extra=extra)


def _take(m: Messages, mask: np.ndarray) -> Messages:
    return Messages(time=m.time[mask], event_type=m.event_type[mask], order_id=m.order_id[mask],
                    size=m.size[mask], price=m.price[mask], direction=m.direction[mask])


def check_trades(book: Book, trades: Trades) -> TradeCheck:
    """Compare each trade with the touch of the last book row strictly before its time (same
    clock: exchange time, seconds). See :class:`TradeCheck`."""
    row = np.searchsorted(book.time, trades.time, side="left") - 1      # [T]
    ok_row = row >= 0
    safe = np.where(ok_row, row, 0)
    best = np.where(trades.side > 0, book.ask_price[safe, 0], book.bid_price[safe, 0])
    gap = np.where(trades.side > 0, trades.price - best, best - trades.price)
    gap = np.where(ok_row, gap, np.nan)
    defined = ~np.isnan(gap)
    consistent = int((gap[defined] >= 0).sum())
    order = np.argsort(np.where(defined, gap, np.inf), kind="stable")
    worst = order[: min(10, int(defined.sum()))]
    worst = worst[gap[worst] < 0]
    return TradeCheck(gap=gap, checked=int(defined.sum()), consistent=consistent,
                      share=consistent / max(int(defined.sum()), 1),
                      at_touch=int((gap[defined] == 0).sum()), worst=worst)


# ---------------------------------------------------------------- the Bitstamp sample


def bitstamp_sample_paths() -> BitstampSample:
    """The sample's files inside the installed ob-analytics package, found without importing it
    (GPL: read from where pip put it, never copied into qseq)."""
    spec = importlib.util.find_spec("ob_analytics")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the Bitstamp sample ships with ob-analytics, which is not installed; run "
                        "pip install ob-analytics==0.1.0 (GPL; read in place, not copied)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "_sample_data"
    paths = BitstampSample(orders=folder / "orders.csv.gz", trades=folder / "trades.csv",
                           meta=folder / "meta.json")
    missing = [p.name for p in (paths.orders, paths.trades, paths.meta) if not p.is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}; reinstall with "
                        "pip install --force-reinstall ob-analytics==0.1.0")
    return paths


def load_bitstamp_sample(levels: int = 10) -> Book:
    """The real Bitstamp BTC/USD book (30 minutes, 2026-05-02 02:36-03:06 UTC), top ``levels``
    after each live event (see :func:`level3_book`); ``book.extra["trades"]`` holds the trades
    for :func:`check_trades`. Needs ``pip install ob-analytics==0.1.0``."""
    paths = bitstamp_sample_paths()
    level3 = read_level3(paths.orders, paths.trades, meta_path=paths.meta)
    book = level3_book(level3, levels, source=SAMPLE_SOURCE)
    return replace(book, extra={**book.extra, "trades": level3.trades})
