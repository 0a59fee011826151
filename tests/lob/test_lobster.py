"""LOBSTER reader: known answers on a hand-written file pair, every malformed case, chunks."""

from __future__ import annotations

import re

import numpy as np
import pytest

from qseq.errors import DataError
from qseq.lob.book import Book, Messages
from qseq.lob.lobster import (
    LobsterName,
    iter_lobster,
    lobster_report,
    parse_lobster_name,
    read_lobster,
    read_lobster_messages,
)
from qseq.lob.lobster_write import write_lobster

STEM = "TEST_2012-06-21_34200_57600"
A, B = 9999999999, -9999999999  # LOBSTER's dummy ask and bid prices

MESSAGES = [
    "34200.000000001,1,1,100,1000000,1",  # bid 100.00 x 100
    "34200.5,1,2,200,1000100,-1",  # ask 100.01 x 200
    "34201,1,3,50,999900,1",  # bid 99.99 x 50
    "34201.25,5,0,30,1000050,-1",  # hidden execution: the book does not move
    "34202,4,2,20,1000100,-1",  # the ask is hit for 20
    "34203,2,3,10,999900,1",  # 10 cancelled at 99.99
    "34204,7,0,0,-1,-1",  # trading halts
    "34205,7,0,0,0,-1",  # quoting resumes
    "34206,7,0,0,1,-1",  # trading resumes
    "34207,3,1,100,1000000,1",  # the best bid is deleted
]
BOOK = [  # ask price 1, ask size 1, bid price 1, bid size 1, then level 2
    f"{A},0,1000000,100,{A},0,{B},0",
    f"1000100,200,1000000,100,{A},0,{B},0",
    f"1000100,200,1000000,100,{A},0,999900,50",
    f"1000100,200,1000000,100,{A},0,999900,50",
    f"1000100,180,1000000,100,{A},0,999900,50",
    f"1000100,180,1000000,100,{A},0,999900,40",
    f"1000100,180,1000000,100,{A},0,999900,40",
    f"1000100,180,1000000,100,{A},0,999900,40",
    f"1000100,180,1000000,100,{A},0,999900,40",
    f"1000100,180,999900,40,{A},0,{B},0",
]


def write_pair(directory, messages=MESSAGES, book=BOOK, levels=2, stem=STEM):
    msg = directory / f"{stem}_message_{levels}.csv"
    msg.write_text("".join(line + "\n" for line in messages))
    (directory / f"{stem}_orderbook_{levels}.csv").write_text("".join(line + "\n"
                                                                      for line in book))
    return msg


def test_known_answer(tmp_path):
    msg, book = read_lobster(write_pair(tmp_path))
    assert isinstance(msg, Messages) and isinstance(book, Book)
    assert len(msg) == len(book) == 10 and book.levels == 2
    np.testing.assert_array_equal(msg.event_type, [1, 1, 1, 5, 4, 2, 7, 7, 7, 3])
    assert msg.event_type.dtype == np.int8 and msg.direction.dtype == np.int8
    assert msg.time[0] == 34200.000000001 and msg.time.dtype == np.float64
    np.testing.assert_array_equal(msg.price[:6], [100.0, 100.01, 99.99, 100.005, 100.01, 99.99])
    np.testing.assert_array_equal(msg.price[6:9], [-1, 0, 1])  # halt codes, unscaled
    np.testing.assert_array_equal(msg.size, [100, 200, 50, 30, 20, 10, 0, 0, 0, 100])
    np.testing.assert_array_equal(msg.direction, [1, -1, 1, -1, -1, 1, -1, -1, -1, 1])
    # dummy levels: NaN prices, 0 sizes
    np.testing.assert_array_equal(book.ask_price[0], [np.nan, np.nan])
    np.testing.assert_array_equal(book.ask_size[0], [0, 0])
    np.testing.assert_array_equal(book.bid_price[2], [100.0, 99.99])
    np.testing.assert_array_equal(book.bid_size[5], [100, 40])
    np.testing.assert_array_equal(book.bid_price[9], [99.99, np.nan])
    np.testing.assert_array_equal(book.ask_size[4], [180, 0])
    # the hidden execution leaves the book as it was
    np.testing.assert_array_equal(book.as_lobster()[3], book.as_lobster()[2])
    # halted between the halt and the trading resume (quoting resumes in between)
    np.testing.assert_array_equal(book.halted, [0, 0, 0, 0, 0, 0, 1, 1, 0, 0])
    assert book.time is msg.time
    assert not book.synthetic and book.source == f"{STEM}_message_2.csv"
    assert book.extra["lobster_name"] == LobsterName("TEST", "2012-06-21", 34200, 57600, 2)


def test_levels_and_book_path(tmp_path):
    path = write_pair(tmp_path)
    _, top = read_lobster(path, tmp_path / f"{STEM}_orderbook_2.csv", levels=1)
    assert top.levels == 1 and top.bid_price[2, 0] == 100.0
    with pytest.raises(DataError, match="levels=3 but the file has 2"):
        read_lobster(path, levels=3)
    (tmp_path / f"{STEM}_orderbook_2.csv").unlink()
    with pytest.raises(DataError, match="no such file"):
        read_lobster(path)
    other = tmp_path / "flow.csv"
    other.write_text("\n".join(MESSAGES) + "\n")
    with pytest.raises(DataError, match="pass book=PATH"):
        read_lobster(other)


def test_parse_name():
    name = parse_lobster_name("/data/AAPL_2012-06-21_34200_57600_orderbook_10.csv")
    assert name == LobsterName("AAPL", "2012-06-21", 34200.0, 57600.0, 10)
    assert parse_lobster_name("book.csv") is None


def _edit(lines, line, text):
    lines = list(lines)
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    return lines


MSG, BK = f"{STEM}_message_2.csv", f"{STEM}_orderbook_2.csv"
MALFORMED = [  # (file edited, line, new text or None to delete, file named, line, problem)
    ("msg", 3, "34201,1,3,50,999900", MSG, 3, "5 columns, expected 6"),
    ("msg", 3, "34201,1,3,50,999900,1,7", MSG, 3, "7 columns, expected 6"),
    ("msg", 2, "34200.5,1,x2,200,1000100,-1", MSG, 2, "order id 'x2' is not an integer"),
    ("msg", 5, "34202,4,2,abc,1000100,-1", MSG, 5, "size 'abc' is not a number"),
    ("msg", 5, "34202,4,2,20,100.01,-1", MSG, 5, "price '100.01' is not an integer"),
    ("msg", 4, "", MSG, 4, "empty line"),
    ("msg", 4, ",5,0,30,1000050,-1", MSG, 4, "time '' is not a number"),
    ("msg", 4, "34200.9,5,0,30,1000050,-1", MSG, 4, "time 34200.9 is before the previous"),
    ("msg", 6, "34203,9,3,10,999900,1", MSG, 6, r"event type 9 is not a LOBSTER event \(1-7\)"),
    ("msg", 6, "34203,2,3,10,999900,0", MSG, 6, r"direction 0 is not -1 \(sell\) or 1 \(buy\)"),
    ("msg", 6, "34203,2,3,-10,999900,1", MSG, 6, "size -10.0 is not >= 0"),
    ("msg", 6, "34203,2,3,10,0,1", MSG, 6, "price 0 is not positive"),
    ("msg", 8, "34205,7,0,0,3,-1", MSG, 8, r"trading-halt price 3 is not -1 \(halt\)"),
    ("book", 10, None, BK, 10, f"missing: {MSG} has more lines"),
    ("msg", 10, None, MSG, 10, f"missing: {BK} has more lines"),
    ("book", 3, f"1000100,200,1000000,100,{A},0,1000050,50", BK, 3,
     r"bid price 2 \(1000050\) is not below bid price 1 \(1000000\)"),
    ("book", 3, "1000100,200,1000000,100,1000000,5,999900,50", BK, 3,
     r"ask price 2 \(1000000\) is not above ask price 1 \(1000100\)"),
    ("book", 3, f"{A},0,1000000,100,1000100,200,999900,50", BK, 3,
     "ask level 2 is priced after empty level 1"),
    ("book", 2, f"1000100,200,1000000,100,{A},7,{B},0", BK, 2,
     "empty ask level 2 has size 7.0, expected 0"),
    ("book", 2, f"1000100,0,1000000,100,{A},0,{B},0", BK, 2,
     "ask level 1 has price 1000100 and size 0.0"),
    ("book", 4, f"1000100,190,1000000,100,{A},0,999900,50", BK, 4,
     r"a hidden execution \(type 5\) changed the visible book"),
    ("book", 4, f"1000100,190,1000000,100,{A},0,999900", BK, 4, "7 columns, expected 8"),
    ("book", 1, f"{A},0,1000000,100,{A},0,{B}", BK, 1, "7 columns is not a multiple of 4"),
    ("book", 7, f"1000100,180,1000000,100,{A},0,999900,4O", BK, 7,
     "bid size 2 '4O' is not a number"),
]


@pytest.fixture
def ranges(monkeypatch):
    """Make read_lobster parse every book file in 4 parallel byte ranges (normally only files
    of 64 MB and more, one range per core); the list records whether each read used them."""
    from qseq.lob import lobster

    served, real = [], lobster._parallel_fill

    def spy(*args, **kwargs):
        try:
            out = real(*args, **kwargs)
        except DataError:
            served.append("raised")
            raise
        served.append(out is not None)
        return out

    monkeypatch.setattr(lobster, "_SPLIT_BYTES", 0)
    monkeypatch.setattr(lobster, "_range_count", lambda: 4)
    monkeypatch.setattr(lobster, "_parallel_fill", spy)
    return served


def _sequential(monkeypatch):
    from qseq.lob import lobster

    monkeypatch.setattr(lobster, "_SPLIT_BYTES", 1 << 62)


@pytest.mark.parametrize("case", MALFORMED, ids=[c[5][:30] for c in MALFORMED])
@pytest.mark.parametrize("mode", ["whole", "chunks", "ranges", "blocks"])
def test_malformed_files_name_file_and_line(tmp_path, request, monkeypatch, case, mode):
    which, line, text, name, want_line, problem = case
    chunked = mode == "chunks"
    if mode == "ranges":
        request.getfixturevalue("ranges")
    if mode == "blocks":  # checks run in blocks of 3 rows: every check meets a block seam
        monkeypatch.setattr("qseq.lob.lobster._BLOCK", 3)
    messages = _edit(MESSAGES, line, text) if which == "msg" else MESSAGES
    book = _edit(BOOK, line, text) if which == "book" else BOOK
    path = write_pair(tmp_path, messages, book)
    with pytest.raises(DataError) as info:
        if chunked:
            list(iter_lobster(path, chunk_events=3))
        else:
            read_lobster(path)
    message = str(info.value)
    assert "\n" not in message
    assert re.match(rf"{re.escape(name)} line {want_line}: {problem}", message), message


def test_name_says_other_levels(tmp_path):
    path = write_pair(tmp_path, book=[row + ",1000200,5,999800,5" for row in BOOK])
    with pytest.raises(DataError, match=r"line 1: 12 columns \(3 levels\) but the name says 2"):
        read_lobster(path)


def test_empty_file(tmp_path):
    path = write_pair(tmp_path, messages=[], book=BOOK)
    path.write_text("")
    with pytest.raises(DataError, match=f"{MSG} line 1: the file is empty"):
        read_lobster(path)


def test_crossed_book_flagged_not_raised(tmp_path):
    book = _edit(BOOK, 3, f"1000100,200,1000100,100,{A},0,999900,50")
    book = _edit(book, 4, f"1000100,200,1000100,100,{A},0,999900,50")
    path = write_pair(tmp_path, book=book)
    _, result = read_lobster(path)
    np.testing.assert_array_equal(np.flatnonzero(result.crossed), [2, 3])
    assert lobster_report(path).crossed_rows == 2


def test_report(tmp_path):
    report = lobster_report(write_pair(tmp_path), chunk_events=4)
    assert (report.ticker, report.date, report.window) == ("TEST", "2012-06-21", (34200, 57600))
    assert report.events == 10 and report.levels == 2
    assert (report.time_start, report.time_end) == (34200.000000001, 34207.0)
    assert report.counts["submission"] == 3 and report.counts["trading halt"] == 3
    assert report.counts["cross trade"] == 0
    assert (report.halts, report.halted_events, report.hidden_executions) == (1, 2, 1)
    assert report.crossed_rows == 0 and not report.synthetic
    empty = sum(np.isnan(np.array([[float(x) if abs(float(x)) < A else np.nan
                                    for x in row.split(",")[0::2]] for row in BOOK])).ravel())
    assert report.empty_level_share == pytest.approx(empty / 40)


def test_messages_alone(tmp_path):
    msg = read_lobster_messages(write_pair(tmp_path))
    whole, _ = read_lobster(tmp_path / MSG)
    for name in ("time", "event_type", "order_id", "size", "price", "direction"):
        np.testing.assert_array_equal(getattr(msg, name), getattr(whole, name))


def test_messages_in_small_blocks_equal_one_block(tmp_path, monkeypatch):
    path = write_pair(tmp_path)
    whole = read_lobster_messages(path)
    monkeypatch.setattr("qseq.lob.lobster._BLOCK", 3)
    blocks = read_lobster_messages(path)
    for name in ("time", "event_type", "order_id", "size", "price", "direction"):
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name))
    assert whole.event_type.dtype == np.int8 and whole.direction.dtype == np.int8
    np.testing.assert_array_equal(whole.price[6:9], [-1, 0, 1])  # halt codes kept unscaled
    assert whole.time.flags.writeable and whole.price.flags.writeable


def test_reading_does_not_import_pandas(tmp_path):
    """A first read used to spend 0.1-0.4 s importing pandas (pyarrow's Array.to_numpy)."""
    import subprocess
    import sys

    path = write_pair(tmp_path)
    code = ("import sys; from qseq.lob.lobster import read_lobster; "
            f"read_lobster({str(path)!r}); print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def _concat(chunks):
    msgs, books = zip(*chunks, strict=True)
    cat = {name: np.concatenate([getattr(m, name) for m in msgs])
           for name in ("time", "event_type", "order_id", "size", "price", "direction")}
    for name in ("ask_price", "ask_size", "bid_price", "bid_size", "halted"):
        cat[name] = np.concatenate([getattr(b, name) for b in books])
    return cat, books


@pytest.mark.parametrize("chunk", [1, 3, 4, 10, 11])
def test_chunks_equal_whole_file(tmp_path, chunk):
    path = write_pair(tmp_path)
    msg, book = read_lobster(path)
    cat, books = _concat(iter_lobster(path, chunk_events=chunk))
    assert [len(b) for b in books] == [min(chunk, 10 - k) for k in range(0, 10, chunk)]
    for name, values in cat.items():
        want = getattr(msg, name) if hasattr(msg, name) else getattr(book, name)
        np.testing.assert_array_equal(values, want, err_msg=name)


def test_chunks_equal_whole_on_a_large_file(tmp_path):
    from qseq.lob.synthetic import simulate

    messages, book = simulate(30_000, levels=5, seed=4)
    path, _ = write_lobster(tmp_path, messages, book)
    msg, whole = read_lobster(path)
    cat, books = _concat(iter_lobster(path, chunk_events=7_777))
    assert [len(b) for b in books] == [7_777] * 3 + [30_000 - 3 * 7_777]
    for name, values in cat.items():
        want = getattr(msg, name) if hasattr(msg, name) else getattr(whole, name)
        np.testing.assert_array_equal(values, want, err_msg=name)


def test_time_decrease_across_chunks(tmp_path):
    messages = _edit(MESSAGES, 4, "34200.9,5,0,30,1000050,-1")  # line 4 opens chunk 2
    path = write_pair(tmp_path, messages=messages)
    chunks = iter_lobster(path, chunk_events=3)
    first, _ = next(chunks)
    assert len(first) == 3
    with pytest.raises(DataError, match=f"{MSG} line 4: time 34200.9 is before the previous "
                                        "line's 34201.0"):
        next(chunks)


def test_hidden_execution_checked_across_chunks(tmp_path):
    book = _edit(BOOK, 4, f"1000100,190,1000000,100,{A},0,999900,50")
    with pytest.raises(DataError, match=f"{BK} line 4: a hidden execution"):
        list(iter_lobster(write_pair(tmp_path, book=book), chunk_events=3))


def test_bad_cell_deep_in_a_large_file_has_its_line(tmp_path):
    """pyarrow's threaded parse gives no row number: the reader finds the line itself."""
    lines = [f"{34200 + k / 1000:.3f},1,{k + 1},100,1000000,1" for k in range(120_000)]
    lines[97_530] = "34297.530,1,97531,1OO,1000000,1"
    book = [f"1000100,100,1000000,100,{A},0,{B},0"] * len(lines)
    path = write_pair(tmp_path, messages=lines, book=book)
    with pytest.raises(DataError, match=f"{MSG} line 97531: size '1OO' is not a number"):
        read_lobster(path)
    with pytest.raises(DataError, match=f"{MSG} line 97531: size '1OO' is not a number"):
        list(iter_lobster(path, chunk_events=10_000))


def test_write_round_trip_of_a_read_file(tmp_path):
    msg, book = read_lobster(write_pair(tmp_path))
    out = tmp_path / "out"
    msg_path, book_path = write_lobster(out, msg, book, ticker="TEST")
    assert msg_path.name == "TEST_2012-06-21_34200_34207_message_2.csv"
    assert book_path.read_text().splitlines() == BOOK
    again, again_book = read_lobster(msg_path)
    np.testing.assert_array_equal(again.price, msg.price)
    np.testing.assert_array_equal(again_book.as_lobster(), book.as_lobster())
    np.testing.assert_array_equal(again_book.halted, book.halted)


def _outcome(path):
    try:
        msg, book = read_lobster(path)
    except DataError as exc:
        return str(exc)
    return {name: getattr(book, name) for name in ("ask_price", "ask_size", "bid_price",
                                                   "bid_size", "halted")} | {"time": msg.time}


def _same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_ranges_equal_the_sequential_read(tmp_path, monkeypatch, ranges):
    from qseq.lob.synthetic import simulate

    messages, book = simulate(30_000, levels=5, seed=4)
    path, _ = write_lobster(tmp_path, messages, book)
    parallel = _outcome(path)
    assert ranges == [True]
    _sequential(monkeypatch)
    _same(parallel, _outcome(path))
    np.testing.assert_allclose(parallel["ask_price"], book.ask_price)


def _range_starts(book_path, count=4):
    """0-based rows that open the byte ranges read_lobster cuts the book file into (4 ranges)."""
    from qseq.lob import lobster

    data = np.frombuffer(book_path.read_bytes(), np.uint8)
    cuts = {lobster._newline_after(data, k * len(data) // count) for k in range(1, count)}
    return sorted(int(np.count_nonzero(data[:cut] == 10)) for cut in cuts if cut < len(data))


def test_hidden_execution_on_a_range_seam(tmp_path, monkeypatch, ranges):
    """A hidden execution that opens a range is checked against the last row of the range
    before it: unchanged reads, changed names its line, exactly as the sequential read."""
    from qseq.lob.synthetic import simulate

    messages, book = simulate(8_000, levels=3, seed=1)
    path, book_path = write_lobster(tmp_path, messages, book)
    rows = book_path.read_text().splitlines()
    lines = path.read_text().splitlines()
    seam = _range_starts(book_path)[1]
    for row, kind in ((seam, "5"), (seam + 1, "1")):  # only the seam row is a hidden execution
        cells = lines[row].split(",")
        lines[row] = ",".join([cells[0], kind, *cells[2:]])
    path.write_text("".join(x + "\n" for x in lines))
    before = rows[seam - 1].split(",")
    moved = ",".join([before[0], str(float(before[1]) + 1), *before[2:]])  # ask size 1 + 1
    for edited_row, error in ((rows[seam - 1], False), (moved, True)):
        book_path.write_text("".join(x + "\n" for x in
                                     [*rows[:seam], edited_row, *rows[seam + 1:]]))
        monkeypatch.setattr("qseq.lob.lobster._SPLIT_BYTES", 0)
        parallel = _outcome(path)
        _sequential(monkeypatch)
        _same(parallel, _outcome(path))
        if error:
            assert parallel == (f"{book_path.name} line {seam + 1}: a hidden execution (type 5) "
                                "changed the visible book")
        else:
            assert not isinstance(parallel, str), parallel
    assert ranges == [True, False, "raised", False]  # the sequential reads record False


def test_ranges_report_the_earliest_problem(tmp_path, monkeypatch, ranges):
    from qseq.lob.synthetic import simulate

    messages, book = simulate(8_000, levels=3, seed=2)
    path, book_path = write_lobster(tmp_path, messages, book)
    rows = book_path.read_text().splitlines()
    starts = _range_starts(book_path)
    late, early = starts[2] + 10, starts[0] + 10
    rows[late] = rows[late].replace(",", ",x", 1)  # a cell that does not parse, range 3
    cells = rows[early].split(",")  # ask size 1 of 0 on a priced level, range 1
    rows[early] = ",".join([cells[0], "0", *cells[2:]])
    book_path.write_text("".join(x + "\n" for x in rows))
    parallel = _outcome(path)
    assert ranges == ["raised"]
    assert parallel.startswith(f"{book_path.name} line {early + 1}: ask level 1 has price")
    del rows[early]  # the parse error alone, found by a serial re-read of the whole file
    rows.append(rows[-1])
    book_path.write_text("".join(x + "\n" for x in rows))
    parallel_late = _outcome(path)
    assert ranges == ["raised", "raised"]
    assert parallel_late.startswith(f"{book_path.name} line {late}: ask size 1 'x")
    _sequential(monkeypatch)
    book_path.write_text("".join(x + "\n" for x in rows))
    assert _outcome(path) == parallel_late
