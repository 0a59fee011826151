"""LOBSTER files (lobsterdata.com): read and validate a message file and its order-book file into
:class:`~qseq.lob.book.Messages` and :class:`~qseq.lob.book.Book`, whole or in chunks, summarise
them, and write them back.

The format. ``TICKER_YYYY-MM-DD_START_END_message_L.csv``: no header, 6 columns: time (seconds
after midnight, up to 9 decimals), event type (1 submission, 2 partial cancellation, 3 deletion,
4 visible execution, 5 hidden execution, 6 cross trade, 7 trading halt), order id, size, price
(dollars x 10,000, an integer) and direction (-1 sell, 1 buy limit order; for executions the
side of the resting order). ``..._orderbook_L.csv``: no header, 4 L columns (ask price, ask size,
bid price, bid size for level 1, then level 2, ...); row i is the book after message i. Empty
levels hold the dummy prices 9999999999 (ask) and -9999999999 (bid) with size 0: they become NaN
prices and 0 sizes. A type-7 message's price is a code, not a price: -1 trading halts, 0 quoting
resumes, 1 trading resumes; :attr:`Book.halted` is true from a halt up to its trading resume, and
:attr:`Messages.price` keeps the code unscaled on those rows. Hidden executions (type 5) leave
the visible book unchanged, which is checked.

Parsing is pyarrow's CSV reader with explicit column types (the order-book file streamed into
its arrays, so its parsed text is never all in memory; a book file of 64 MB or more is cut at
line ends into one byte range per core, each streamed by its own thread, because pyarrow's
streaming reader parses on one core); the checks are vectorised numpy, the book's in blocks of
a few thousand rows. A malformed file raises
:class:`~qseq.errors.DataError` whose one line names the file, the 1-based line and the
problem. Crossed books (best bid >= best ask) are counted by :func:`lobster_report`, not
rejected.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from qseq.errors import DataError
from qseq.lob.book import EVENT_TYPES, HALT, HIDDEN_EXECUTE, PRICE_SCALE, Book, Messages

DUMMY_ASK, DUMMY_BID = 9_999_999_999, -9_999_999_999  # empty-level prices
MESSAGE_COLUMNS = ("time", "event_type", "order_id", "size", "price", "direction")
_MESSAGE_LABELS = ["time", "event type", "order id", "size", "price", "direction"]
_MESSAGE_TYPES = (pa.float64(), pa.int64(), pa.int64(), pa.float64(), pa.int64(), pa.int64())
_NAME = re.compile(r"^(?P<ticker>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+(?:\.\d+)?)_"
                   r"(?P<end>\d+(?:\.\d+)?)_(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$")
_ROW_ERROR = re.compile(r"column #(\d+): Row #(\d+): CSV conversion error to (\w+): "
                        r"invalid value '(.*)'", re.S)
_COUNT_ERROR = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")


@dataclass(frozen=True)
class LobsterName:
    """What a LOBSTER file name says: ``TICKER_DATE_START_END_{message|orderbook}_LEVELS.csv``.

    start, end: the requested window in seconds after midnight (34200 = 9:30).
    """

    ticker: str
    date: str
    start: float
    end: float
    levels: int


def parse_lobster_name(path: str | Path) -> LobsterName | None:
    """The metadata in a LOBSTER file name, or None when the name does not follow the format."""
    match = _NAME.match(Path(path).name)
    if match is None:
        return None
    return LobsterName(match["ticker"], match["date"], float(match["start"]),
                       float(match["end"]), int(match["levels"]))


def book_path_for(messages: str | Path) -> Path:
    """The order-book file that belongs to a message file (``_message_`` -> ``_orderbook_``)."""
    messages = Path(messages)
    if "_message_" not in messages.name:
        raise DataError(f"{messages.name}: cannot tell its order-book file from the name; "
                        "pass book=PATH")
    return messages.with_name(messages.name.replace("_message_", "_orderbook_"))


def sidecar_path_for(messages: str | Path) -> Path:
    """The JSON file that marks a message file as synthetic (model, parameters, seed)."""
    messages = Path(messages)
    return messages.with_name(messages.stem + "_synthetic.json")


# ---------------------------------------------------------------------------------- parsing


def _fail(path: Path, line: int, problem: str) -> DataError:
    return DataError(f"{path.name} line {line}: {problem}")


def _options(names, types, *, use_threads: bool, block_size: int | None = None):
    read = pacsv.ReadOptions(column_names=list(names), use_threads=use_threads,
                             **({"block_size": block_size} if block_size else {}))
    parse = pacsv.ParseOptions(ignore_empty_lines=False)  # keep line numbers honest
    convert = pacsv.ConvertOptions(column_types=dict(zip(names, types, strict=True)),
                                   null_values=[], strings_can_be_null=False)
    return {"read_options": read, "parse_options": parse, "convert_options": convert}


def _translate(exc: pa.ArrowInvalid, path: Path, labels: list[str]) -> DataError:
    """pyarrow's message -> one line naming the file, the line and the bad cell."""
    text = str(exc)
    if match := _ROW_ERROR.search(text):
        column, row, kind, value = int(match[1]), int(match[2]), match[3], match[4]
        what = "an integer" if kind.startswith("int") else "a number"
        if value == "" and column == 0 and not _line(path, row).strip():
            return _fail(path, row, "empty line")
        return _fail(path, row, f"{labels[column]} {value!r} is not {what}")
    if match := _COUNT_ERROR.search(text):
        row, want, got = (int(g) for g in match.groups())
        return _fail(path, row, f"{got} columns, expected {want}")
    return DataError(f"{path.name}: not a readable LOBSTER CSV file ({text.splitlines()[0]})")


def _line(path: Path, number: int) -> str:
    """The text of 1-based line ``number`` (error path only: reads up to it)."""
    with open(path, "rb") as fh:
        for k, text in enumerate(fh, 1):
            if k == number:
                return text.decode(errors="replace").rstrip("\r\n")
    return ""


def _located(path: Path, names, types, labels, exc: pa.ArrowInvalid) -> DataError:
    """Threaded parses do not report row numbers: re-read serially to find the line."""
    if "Row #" not in str(exc):
        try:
            for _ in pacsv.open_csv(path, **_options(names, types, use_threads=False)):
                pass
        except pa.ArrowInvalid as serial:
            exc = serial
    return _translate(exc, path, labels)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} line 1: the file is empty")


def _book_layout(path: Path, levels: int | None) -> tuple[int, int]:
    """(levels in the file, levels to keep) from the first line's column count and the name."""
    with open(path, "rb") as fh:
        columns = fh.readline().count(b",") + 1
    if columns % 4:
        raise _fail(path, 1, f"{columns} columns is not a multiple of 4 (ask price, ask size, "
                             "bid price, bid size per level)")
    in_file = columns // 4
    name = parse_lobster_name(path)
    if name is not None and name.levels != in_file:
        raise _fail(path, 1, f"{columns} columns ({in_file} levels) but the name says "
                             f"{name.levels} levels")
    if levels is not None and not 1 <= levels <= in_file:
        raise DataError(f"{path.name}: levels={levels} but the file has {in_file}; "
                        f"pass levels between 1 and {in_file}")
    return in_file, levels or in_file


def _book_schema(levels: int):
    names, types, labels = [], [], []
    for level in range(1, levels + 1):
        for side in ("ask", "bid"):
            names += [f"{side}_price_{level}", f"{side}_size_{level}"]
            types += [pa.int64(), pa.float64()]
            labels += [f"{side} price {level}", f"{side} size {level}"]
    return names, types, labels


# Parsed columns travel as pieces: for each column, its arrays in file order, every column cut
# at the same rows (pyarrow's blocks). Nothing is concatenated that is copied again anyway.
Pieces = list[list[np.ndarray]]
_BLOCK = 8192  # book rows built and checked per step (every temporary stays in cache)


def _numpy(column: pa.Array) -> np.ndarray:
    """A null-free int64/float64 Arrow array as a read-only numpy view of its data buffer.

    ``Array.to_numpy`` gives the same view but imports pandas on its first call (0.1-0.4 s of a
    first read); the CSV options above admit no nulls, so the data buffer is the whole array."""
    dtype = np.dtype(column.type.to_pandas_dtype())
    return np.frombuffer(column.buffers()[1], dtype, len(column), column.offset * dtype.itemsize)


def _pieces(batches) -> Pieces:
    """Arrow record batches -> per column, its numpy arrays (zero copy)."""
    return [list(col) for col in zip(*([_numpy(c) for c in b.columns] for b in batches),
                                     strict=True)] if batches else []


def _read_table(path: Path, names, types, labels) -> Pieces:
    try:
        table = pacsv.read_csv(path, **_options(names, types, use_threads=True))
    except pa.ArrowInvalid as exc:
        raise _located(path, names, types, labels, exc) from None
    return _pieces(table.to_batches())


def _rows(pieces: list[np.ndarray]) -> int:
    return sum(len(p) for p in pieces)


def _join(pieces: list[np.ndarray]) -> np.ndarray:
    """One column as a new, writable array."""
    return np.concatenate(pieces) if pieces else np.empty(0)


class _RangeParseError(Exception):
    """pyarrow failed inside one byte range of a file read in parallel ranges."""


def _batches(path: Path | pa.BufferReader, names, types, labels, *, block_size: int = 1 << 22
             ) -> Iterator[list[np.ndarray]]:
    """Stream a CSV file (or a byte range of one) as batches of rows, each a list of column
    arrays (zero copy).

    pyarrow reads several blocks ahead whatever the consumer does (about 8): the block size,
    not the chunk size, bounds that memory, so it stays a few MB."""
    try:
        for batch in pacsv.open_csv(path, **_options(names, types, use_threads=True,
                                                     block_size=block_size)):
            yield [_numpy(col) for col in batch.columns]
    except pa.ArrowInvalid as exc:
        if not isinstance(path, Path):
            raise _RangeParseError from None  # line numbers are relative to the range
        raise _located(path, names, types, labels, exc) from None


class _Rows:
    """A streaming CSV reader cut into chunks of exactly ``n`` rows (fewer at the end)."""

    def __init__(self, batches: Iterator[list[np.ndarray]]) -> None:
        self.batches = batches
        self.pending: list[list[np.ndarray]] = []  # batches, each a list of columns
        self.count = 0

    def take(self, n: int) -> Pieces | None:
        while self.count < n and (batch := next(self.batches, None)) is not None:
            self.pending.append(batch)
            self.count += len(batch[0])
        if not self.count:
            return None
        head, got = [], 0
        while self.pending and got < n:
            batch = self.pending.pop(0)
            if got + len(batch[0]) > n:
                cut = n - got
                self.pending.insert(0, [col[cut:] for col in batch])
                batch = [col[:cut] for col in batch]
            head.append(batch)
            got += len(batch[0])
        self.count -= got
        return [list(col) for col in zip(*head, strict=True)]


def _mismatch(short: Path, long: Path, line: int) -> DataError:
    return _fail(short, line, f"missing: {long.name} has more lines (one book row per message)")


# ------------------------------------------------------------------------------- validation


@dataclass
class _Carry:
    """What validation carries from one chunk to the next."""

    line: int = 0  # rows before this chunk
    last_time: float = -math.inf
    halted: bool = False
    last_row: tuple | None = None  # the previous book row (raw), for the hidden-execution check


def _first(path: Path, first_line: int, checks) -> None:
    """Raise for the earliest bad row over ``checks``: (row mask [n], problem(i) -> str)."""
    found = [(int(np.argmax(mask)), problem) for mask, problem in checks if mask.any()]
    if found:
        row, problem = min(found, key=lambda f: f[0])
        raise _fail(path, first_line + row, problem(row))


def _messages(cols: Pieces, path: Path, carry: _Carry) -> Messages:
    """Validated [n] messages from raw columns; ``carry`` holds the previous chunk's state.

    Checked and converted block by block, straight from pyarrow's zero-copy pieces into the
    output arrays, so no [n] temporary (masks, int64 copies of the small columns) is made."""
    n = _rows(cols[0])
    time, oid, size = _join(cols[0]), _join(cols[2]), _join(cols[3])
    etype, direction = np.empty(n, np.int8), np.empty(n, np.int8)
    dollars = np.empty(n)
    lo = 0
    for t_piece, e_piece, s_piece, p_piece, d_piece in zip(
            cols[0], cols[1], cols[3], cols[4], cols[5], strict=True):
        for a in range(0, len(t_piece), _BLOCK):
            b = min(a + _BLOCK, len(t_piece))
            rows = slice(lo + a, lo + b)
            _check_messages(path, carry, lo + a, t_piece[a:b], e_piece[a:b], s_piece[a:b],
                            p_piece[a:b], d_piece[a:b])
            e, price = e_piece[a:b], p_piece[a:b]
            etype[rows] = e  # validated 1..7 and -1/1: the int8 casts are exact
            direction[rows] = d_piece[a:b]
            np.divide(price, PRICE_SCALE, out=dollars[rows])
            halt = e == HALT
            if halt.any():
                dollars[rows][halt] = price[halt]
        lo += len(t_piece)
    return Messages(time=time, event_type=etype, order_id=oid, size=size, price=dollars,
                    direction=direction)


def _check_messages(path: Path, carry: _Carry, offset: int, time, etype, size, price,
                    direction) -> None:
    """Raise for the first bad row of one block (rows ``offset`` on of the chunk)."""
    prev = np.empty_like(time)
    prev[0] = carry.last_time
    prev[1:] = time[:-1]
    halt = etype == HALT
    _first(path, carry.line + offset + 1, [
        (~np.isfinite(time), lambda i: f"time {time[i]} is not a finite number of seconds"),
        (time < prev, lambda i: f"time {float(time[i])!r} is before the previous line's "
                                f"{float(prev[i])!r} "
                                "(timestamps must be non-decreasing)"),
        ((etype < 1) | (etype > 7),
         lambda i: f"event type {etype[i]} is not a LOBSTER event (1-7)"),
        ((direction != 1) & (direction != -1),
         lambda i: f"direction {direction[i]} is not -1 (sell) or 1 (buy)"),
        (~(size >= 0) | ~np.isfinite(size), lambda i: f"size {size[i]} is not >= 0"),
        (~halt & (price <= 0),
         lambda i: f"price {price[i]} is not positive (dollars x 10,000)"),
        (halt & ((price < -1) | (price > 1)),
         lambda i: f"trading-halt price {price[i]} is not -1 (halt), 0 (quoting resumes) "
                   "or 1 (trading resumes)"),
    ])
    carry.last_time = float(time[-1])


def _halted(messages: Messages, carry: _Carry) -> np.ndarray:
    """[n] bool: halted after each event; a halt (-1) sets it, a trading resume (1) clears it."""
    halt = messages.event_type == HALT
    if not halt.any():
        return np.full(len(messages), carry.halted)
    code = messages.price
    sets = halt & (code != 0)
    last = np.maximum.accumulate(np.where(sets, np.arange(len(messages)), -1))
    halted = np.where(last >= 0, code[np.maximum(last, 0)] < 0, carry.halted)
    carry.halted = bool(halted[-1])
    return halted


def _level(mask: np.ndarray, row: int) -> int:
    """1-based level of the first True in ``mask[row]``."""
    return int(np.argmax(mask[row])) + 1


def _fill(batches: Iterable[list[np.ndarray]], arrays: tuple, start: int, stop: int, path: Path,
          event_type: np.ndarray, carry: _Carry, msg_path: Path, *,
          overflow: int | None = None) -> int:
    """Copy batches of raw book columns into rows ``start:stop`` of the [n, L] ``arrays``,
    checking and converting them block by block; returns the rows filled. When the batches hold
    more rows than ``stop - start``: raises, or returns ``overflow`` when it is given."""
    row = start
    for parts in batches:
        size = len(parts[0])
        if row + size > stop:
            if overflow is not None:
                return overflow
            raise _mismatch(msg_path, path, carry.line + stop + 1)
        for lo in range(0, size, _BLOCK):
            hi = min(lo + _BLOCK, size)
            rows = slice(row + lo, row + hi)
            block = tuple(a[rows] for a in arrays)
            for k, out in enumerate(block):
                for j in range(out.shape[1]):
                    out[:, j] = parts[4 * j + k][lo:hi]
            _check_book(path, carry, row + lo, block, event_type[rows])
        row += size
    return row - start


def _stream_fill(batches: Iterable[list[np.ndarray]], n: int, levels: int, path: Path,
                 event_type: np.ndarray, carry: _Carry, msg_path: Path) -> tuple:
    """The four [n, levels] book arrays (ask price, ask size, bid price, bid size) filled from
    one stream of batches of raw columns by :func:`_fill`, so every temporary stays small and a
    batch can be freed once used. Raises when the batches hold more or fewer than ``n`` rows
    (the message count)."""
    arrays = tuple(np.empty((n, levels)) for _ in range(4))
    row = _fill(batches, arrays, 0, n, path, event_type, carry, msg_path)
    if row < n:
        raise _mismatch(path, msg_path, carry.line + row + 1)
    return arrays


def _book(arrays: tuple, keep: int, messages: Messages, carry: _Carry, source: str,
          synthetic: bool, extra: dict) -> Book:
    """A :class:`Book` of the best ``keep`` levels of the four checked [n, L] arrays (raw
    integer prices were held as float64, exact below 2**53, and are in dollars)."""
    ap, asz, bp, bsz = arrays
    if keep < ap.shape[1]:
        ap, asz, bp, bsz = (np.ascontiguousarray(a[:, :keep]) for a in (ap, asz, bp, bsz))
    return Book(time=messages.time, ask_price=ap, ask_size=asz, bid_price=bp, bid_size=bsz,
                halted=_halted(messages, carry), source=source, synthetic=synthetic,
                extra=extra)


# ------------------------------------------------------------------ parallel whole-file read

_SPLIT_BYTES = 64 << 20  # book files at least this large are parsed in parallel ranges
_MAX_RANGES = 8


def _newline_after(view: np.ndarray, pos: int) -> int:
    """Index just past the first newline at or after ``pos`` (len(view) when none)."""
    step = 1 << 16
    while pos < len(view):
        hits = np.flatnonzero(view[pos:pos + step] == 10)
        if len(hits):
            return pos + int(hits[0]) + 1
        pos += step
    return len(view)


def _lines(view: np.ndarray) -> int:
    """Lines in a range that starts at a line start (a last line without newline counts)."""
    step = 1 << 24
    count = sum(int(np.count_nonzero(view[i:i + step] == 10)) for i in range(0, len(view), step))
    return count + int(len(view) > 0 and view[-1] != 10)


def _raw_row(view: np.ndarray, end: int, columns: int) -> tuple | None:
    """The raw (ask price, ask size, bid price, bid size) [L] arrays of the line that ends just
    before ``end`` (its newline at ``end - 1``); None when it does not parse (its own range
    reports that line)."""
    lo = max(0, end - (1 << 16))
    hits = np.flatnonzero(view[lo:end - 1] == 10)
    if len(hits):
        start = lo + int(hits[-1]) + 1
    elif lo == 0:
        start = 0
    else:
        return None  # a line over 64 KB: not a book row
    try:
        values = np.array(bytes(view[start:end - 1]).decode().strip().split(","), dtype=float)
    except (ValueError, UnicodeDecodeError):
        return None
    if len(values) != columns:
        return None
    return tuple(values[k::4].copy() for k in range(4))


def _range_count() -> int:
    return min(pa.cpu_count(), _MAX_RANGES)


def _parallel_fill(path: Path, n: int, in_file: int, event_type: np.ndarray,
                   msg_path: Path) -> tuple | None:
    """Parse a large book file as ``pa.cpu_count()`` line-aligned byte ranges, each streamed
    by its own thread into its rows of the [n, L] arrays and checked as the sequential read
    checks it (pyarrow's streaming CSV reader is single-threaded, so one stream parses at a
    single core's rate). Returns the four arrays, or None to fall back to the sequential read:
    a small file, one core, or line counts that do not add up to ``n`` (the sequential read then
    names the problem). Raises the error of the earliest range that has one."""
    from concurrent.futures import ThreadPoolExecutor

    ranges = _range_count()
    size = path.stat().st_size
    if ranges < 2 or size < _SPLIT_BYTES:
        return None
    buf = pa.memory_map(str(path)).read_buffer()
    view = np.frombuffer(buf, dtype=np.uint8)
    cuts = sorted({0, size} | {_newline_after(view, k * size // ranges) for k in range(1, ranges)})
    counts = [_lines(view[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    if sum(counts) != n:
        return None
    offsets = np.concatenate(([0], np.cumsum(counts))).tolist()
    arrays = tuple(np.empty((n, in_file)) for _ in range(4))
    names, types, labels = _book_schema(in_file)

    def run(k: int) -> int:
        a, b = cuts[k], cuts[k + 1]
        carry = _Carry(last_row=_raw_row(view, a, 4 * in_file) if a else None)
        batches = _batches(pa.BufferReader(buf.slice(a, b - a)), names, types, labels)
        return _fill(batches, arrays, offsets[k], offsets[k + 1], path, event_type, carry,
                     msg_path, overflow=-1)

    with ThreadPoolExecutor(len(counts)) as pool:
        futures = [pool.submit(run, k) for k in range(len(counts))]
        for k, future in enumerate(futures):  # the earliest range's error is the file's first
            try:
                filled = future.result()
            except _RangeParseError:
                for rest in futures[k + 1:]:
                    rest.cancel()
                raise _located(path, names, types, labels, pa.ArrowInvalid("")) from None
            if filled != counts[k]:
                return None
    return arrays


def _check_book(path: Path, carry: _Carry, first: int, block: tuple, event_type: np.ndarray
                ) -> None:
    """Check [b, L] raw rows (``first``: their 0-based row in this chunk), then turn their
    prices into dollars in place (NaN for the dummy levels)."""
    ap, asz, bp, bsz = block
    ask_empty, bid_empty = ap == DUMMY_ASK, bp == DUMMY_BID
    checks = []
    for side, price, size, empty, word, order in (
            ("ask", ap, asz, ask_empty, "above", np.greater),
            ("bid", bp, bsz, bid_empty, "below", np.less)):
        m_size = empty & (size != 0)
        m_priced = ~empty & ((price <= 0) | ~((size > 0) & (size < np.inf)))
        m_gap = empty[:, :-1] & ~empty[:, 1:]
        m_order = ~empty[:, 1:] & ~order(price[:, 1:], price[:, :-1])
        checks += [
            (m_size.any(1), lambda i, s=side, m=m_size, z=size:
             f"empty {s} level {_level(m, i)} has size {z[i, _level(m, i) - 1]}, expected 0"),
            (m_priced.any(1), lambda i, s=side, m=m_priced, p=price, z=size:
             f"{s} level {_level(m, i)} has price {p[i, _level(m, i) - 1]:.0f} and size "
             f"{z[i, _level(m, i) - 1]} (a priced level needs price > 0 and size > 0)"),
            (m_gap.any(1), lambda i, s=side, m=m_gap:
             f"{s} level {_level(m, i) + 1} is priced after empty level {_level(m, i)}"),
            (m_order.any(1), lambda i, s=side, m=m_order, p=price, w=word:
             f"{s} price {_level(m, i) + 1} ({p[i, _level(m, i)]:.0f}) is not {w} {s} price "
             f"{_level(m, i)} ({p[i, _level(m, i) - 1]:.0f}): levels must be sorted best first"),
        ]
    checks.append((_hidden_moved(event_type, block, carry),
                   lambda i: "a hidden execution (type 5) changed the visible book"))
    _first(path, carry.line + first + 1, checks)
    carry.last_row = tuple(a[-1].copy() for a in block)
    for price, empty in ((ap, ask_empty), (bp, bid_empty)):
        price /= PRICE_SCALE
        price[empty] = np.nan


def _hidden_moved(event_type: np.ndarray, rows: tuple, carry: _Carry) -> np.ndarray:
    """[b] bool: a hidden execution whose raw book row differs from the row before it."""
    moved = np.zeros(len(event_type), dtype=bool)
    hidden = np.flatnonzero(event_type == HIDDEN_EXECUTE)
    if not len(hidden):
        return moved
    inner = hidden[hidden > 0]
    same = np.ones(len(inner), dtype=bool)
    for arr in rows:
        same &= (arr[inner] == arr[inner - 1]).all(1)
    moved[inner[~same]] = True
    if hidden[0] == 0 and carry.last_row is not None:
        moved[0] = not all(np.array_equal(a[0], b) for a, b in zip(rows, carry.last_row,
                                                                    strict=True))
    return moved


def _provenance(messages: Path, book: Path) -> tuple[str, bool, dict]:
    """(Book.source, Book.synthetic, Book.extra) from the file name and a synthetic sidecar."""
    extra: dict = {"lobster_name": parse_lobster_name(messages), "messages_path": str(messages),
                   "book_path": str(book)}
    sidecar = sidecar_path_for(messages)
    if not sidecar.is_file():
        return messages.name, False, extra
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        model = info["model"]
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{sidecar.name}: not a synthetic-book sidecar (JSON with a 'model' "
                        "key); delete it or rewrite the files with write_lobster") from None
    extra["synthetic"] = info
    return f"synthetic: {model}, seed {info.get('seed')} ({messages.name})", True, extra


def _paths(messages, book) -> tuple[Path, Path]:
    messages = Path(messages)
    book = book_path_for(messages) if book is None else Path(book)
    for path in (messages, book):
        _check_file(path)
    return messages, book


# ----------------------------------------------------------------------------------- public


def read_lobster_messages(messages: str | Path) -> Messages:
    """Read and validate a LOBSTER message file alone: [E] :class:`Messages` (prices in
    dollars; type-7 rows keep the halt code -1/0/1 as their price)."""
    path = Path(messages)
    _check_file(path)
    cols = _read_table(path, MESSAGE_COLUMNS, _MESSAGE_TYPES, _MESSAGE_LABELS)
    return _messages(cols, path, _Carry())


def read_lobster(messages: str | Path, book: str | Path | None = None, *,
                 levels: int | None = None) -> tuple[Messages, Book]:
    """Read and validate a LOBSTER message file and its order-book file.

    messages: ``..._message_L.csv``; book: its ``..._orderbook_L.csv`` (found from the
    message file's name when None); levels: keep the best ``levels`` of each side (all by
    default; every level in the file is validated either way).

    Returns [E] :class:`Messages` and a :class:`Book` [E, levels] whose ``extra`` holds the
    :class:`LobsterName` (``"lobster_name"``, None for other names) and the two paths. A file
    written from a synthetic book (a ``..._synthetic.json`` sidecar beside it) reads back with
    ``synthetic=True`` and a ``source`` that says "synthetic". Raises :class:`DataError` naming
    the file and line of the first problem; nothing is returned or kept from a bad file.
    """
    msg_path, book_path = _paths(messages, book)
    in_file, keep = _book_layout(book_path, levels)
    msg = _messages(_read_table(msg_path, MESSAGE_COLUMNS, _MESSAGE_TYPES, _MESSAGE_LABELS),
                    msg_path, _Carry())
    # the book is streamed into its arrays (in parallel line-aligned byte ranges when large):
    # its parsed text is never all in memory at once
    carry = _Carry()
    arrays = _parallel_fill(book_path, len(msg), in_file, msg.event_type, msg_path)
    if arrays is None:
        arrays = _stream_fill(_batches(book_path, *_book_schema(in_file)), len(msg), in_file,
                              book_path, msg.event_type, carry, msg_path)
    return msg, _book(arrays, keep, msg, carry, *_provenance(msg_path, book_path))


def iter_lobster(messages: str | Path, book: str | Path | None = None, *,
                 levels: int | None = None,
                 chunk_events: int = 1_000_000) -> Iterator[tuple[Messages, Book]]:
    """:func:`read_lobster` in chunks of ``chunk_events`` rows, for files larger than memory.

    Yields ([n] Messages, [n, levels] Book) per chunk; the chunks concatenate to what
    :func:`read_lobster` returns. Validation carries across chunks (timestamp order, the halt
    state, the hidden-execution check) and error lines count from the start of the file. A bad
    line raises when its chunk is reached: chunks already yielded came from a file that later
    turned out malformed, so a caller that keeps them must drop them on the error.
    """
    if chunk_events < 1:
        raise DataError(f"chunk_events must be >= 1, got {chunk_events}")
    msg_path, book_path = _paths(messages, book)
    in_file, keep = _book_layout(book_path, levels)
    source, synthetic, extra = _provenance(msg_path, book_path)
    msg_rows = _Rows(_batches(msg_path, MESSAGE_COLUMNS, _MESSAGE_TYPES, _MESSAGE_LABELS))
    book_rows = _Rows(_batches(book_path, *_book_schema(in_file)))
    msg_carry, book_carry = _Carry(), _Carry()
    while True:
        msg_cols, book_cols = msg_rows.take(chunk_events), book_rows.take(chunk_events)
        n_msg = 0 if msg_cols is None else _rows(msg_cols[0])
        n_book = 0 if book_cols is None else _rows(book_cols[0])
        if n_msg != n_book:
            short, long = (book_path, msg_path) if n_book < n_msg else (msg_path, book_path)
            raise _mismatch(short, long, msg_carry.line + min(n_msg, n_book) + 1)
        if not n_msg:
            return
        msg = _messages(msg_cols, msg_path, msg_carry)
        arrays = _stream_fill(zip(*book_cols, strict=True), n_msg, in_file, book_path,
                              msg.event_type, book_carry, msg_path)
        result = _book(arrays, keep, msg, book_carry, source, synthetic, extra)
        msg_carry.line += n_msg
        book_carry.line += n_msg
        yield msg, result


@dataclass(frozen=True)
class LobsterReport:
    """A summary of one LOBSTER file pair, for ``qseq lob inspect``.

    time_start, time_end: seconds after midnight; counts: events by type name
    (:data:`~qseq.lob.book.EVENT_TYPES`); halts: halt messages (type 7, price -1);
    halted_events: events after which trading was halted; crossed_rows: book rows with best bid
    >= best ask (flagged, not an error); empty_level_share: share of the 2 x levels book slots
    that are empty, over all rows.
    """

    messages_path: str
    book_path: str
    ticker: str | None
    date: str | None
    window: tuple[float, float] | None
    levels: int
    events: int
    time_start: float
    time_end: float
    counts: dict[str, int] = field(default_factory=dict)
    halts: int = 0
    halted_events: int = 0
    hidden_executions: int = 0
    crossed_rows: int = 0
    empty_level_share: float = 0.0
    synthetic: bool = False
    source: str = ""


def lobster_report(messages: str | Path, book: str | Path | None = None, *,
                   levels: int | None = None,
                   chunk_events: int = 1_000_000) -> LobsterReport:
    """Validate a LOBSTER file pair in chunks (bounded memory) and summarise it."""
    counts = np.zeros(8, dtype=np.int64)
    events = halts = halted = crossed = empty = 0
    first = last = math.nan
    book_obj = None
    for msg, book_obj in iter_lobster(messages, book, levels=levels, chunk_events=chunk_events):
        events += len(msg)
        counts += np.bincount(msg.event_type, minlength=8)
        halts += int(((msg.event_type == HALT) & (msg.price == -1)).sum())
        halted += int(book_obj.halted.sum())
        crossed += int(book_obj.crossed.sum())
        empty += int(np.isnan(book_obj.ask_price).sum() + np.isnan(book_obj.bid_price).sum())
        first = msg.time[0] if math.isnan(first) else first
        last = msg.time[-1]
    msg_path, book_path = _paths(messages, book)
    name = parse_lobster_name(msg_path)
    n_levels = book_obj.levels if book_obj is not None else _book_layout(book_path, levels)[1]
    return LobsterReport(
        messages_path=str(msg_path), book_path=str(book_path),
        ticker=name.ticker if name else None, date=name.date if name else None,
        window=(name.start, name.end) if name else None, levels=n_levels, events=events,
        time_start=float(first), time_end=float(last),
        counts={EVENT_TYPES[k]: int(counts[k]) for k in EVENT_TYPES},
        halts=halts, halted_events=halted, hidden_executions=int(counts[HIDDEN_EXECUTE]),
        crossed_rows=crossed, empty_level_share=empty / max(1, 2 * n_levels * events),
        synthetic=book_obj.synthetic if book_obj is not None else False,
        source=book_obj.source if book_obj is not None else msg_path.name)
