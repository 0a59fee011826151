"""Level-3 files read in chunks: the chunks concatenate to the whole-file book at every chunk
size (hand-made streams cut after every row, and the real Bitstamp sample), and malformed
rows in later chunks name their lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qseq.errors import DataError
from qseq.lob.level3 import bitstamp_sample_paths, level3_book, read_level3
from qseq.lob.level3_stream import iter_level3_book

from .test_level3 import HAS_SAMPLE, HEADER, SNAPSHOT, STREAM, TRADES, TRADES_HEADER, write

FIELDS = ("time", "ask_price", "ask_size", "bid_price", "bid_size", "halted")
EXTRA = ("line", "received", "clipped")


def assert_same(chunks, whole):
    """The chunks' rows, extras and summed counts are the whole-file book's."""
    assert chunks, "no chunk"
    for name in FIELDS:
        np.testing.assert_array_equal(np.concatenate([getattr(b, name) for b in chunks]),
                                      getattr(whole, name), err_msg=name)
    for name in EXTRA:
        np.testing.assert_array_equal(np.concatenate([b.extra[name] for b in chunks]),
                                      whole.extra[name], err_msg=name)
    counts: dict[str, int] = {}
    for book in chunks:
        for name, value in book.extra["counts"].items():
            counts[name] = counts.get(name, 0) + value
    assert {k: v for k, v in counts.items() if v} == {k: v for k, v in whole.extra["counts"].items() if v}
    assert {b.source for b in chunks} == {whole.source}


@pytest.mark.parametrize("trades", [False, True])
def test_hand_made_stream_at_every_chunk_size(tmp_path, trades):
    orders = write(tmp_path / "orders.csv.gz", HEADER, STREAM)
    trades_path = write(tmp_path / "t.csv", TRADES_HEADER, TRADES) if trades else None
    whole = level3_book(read_level3(orders, trades_path), 2)
    for rows in range(1, len(STREAM) + 1):
        chunks = list(iter_level3_book(orders, trades_path, levels=2, chunk_rows=rows))
        assert_same(chunks, whole)
    assert len(list(iter_level3_book(orders, trades_path, levels=2, chunk_rows=1))) > 5


@pytest.mark.parametrize("trades", [False, True])
def test_snapshot_stale_orders_end_deletes_and_flashes_across_chunks(tmp_path, trades):
    orders = write(tmp_path / "o.csv", HEADER, SNAPSHOT)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"synthetic_created": 4, "synthetic_deleted": 5,
                                "total_order_rows": 13}))
    trades_path = write(tmp_path / "t.csv", TRADES_HEADER, ["1,470,470,104.0,0.1,20,21,buy"]) \
        if trades else None
    whole = level3_book(read_level3(orders, trades_path, meta_path=meta), 2)
    for rows in range(1, len(SNAPSHOT) + 1):  # the snapshot always stays in the first chunk
        chunks = list(iter_level3_book(orders, trades_path, meta_path=meta, levels=2,
                                       chunk_rows=rows))
        assert_same(chunks, whole)


def test_a_flash_split_over_two_chunks_is_left_out(tmp_path):
    rows = ["1,1,1,100.0,1.0,created,bid", "2,2,2,101.0,1.0,created,ask",
            "3,3,3,101.0,0.5,created,bid",   # locks the ask ...
            "3,4,4,101.0,0.5,deleted,bid",   # ... and is gone with the next event: a flash
            "4,5,5,99.0,1.0,created,bid"]
    orders = write(tmp_path / "o.csv", HEADER, rows)
    whole = level3_book(read_level3(orders), 1)
    assert whole.extra["line"].tolist() == [2, 3, 6] and whole.extra["counts"]["crossing_flash"] == 1
    for size in (1, 2, 3):
        chunks = list(iter_level3_book(orders, levels=1, chunk_rows=size))
        assert_same(chunks, whole)


def test_orders_open_across_chunks_keep_their_history(tmp_path):
    """An order created in chunk 1 and filled, amended and deleted in later chunks: its events
    sit at its resting price with the volumes its earlier rows imply; a second create of it is
    caught with the line of its first row."""
    rows = ["1,1,1,100.0,2.0,created,bid", "2,2,2,0.0,3.0,created,ask",  # 2: market order
            "1,3,3,100.0,1.5,changed,bid", "2,4,4,100.0,2.0,changed,ask",
            "1,5,5,100.0,1.8,changed,bid", "1,6,6,99.0,1.8,deleted,bid"]
    orders = write(tmp_path / "o.csv", HEADER, rows)
    whole = level3_book(read_level3(orders), 1)
    chunks = list(iter_level3_book(orders, levels=1, chunk_rows=1))
    assert_same(chunks, whole)
    counts = [b.extra["counts"] for b in chunks]
    assert sum(c.get("market_order", 0) for c in counts) == 2
    assert sum(c.get("price_off_resting", 0) for c in counts) == 1  # deleted at 99, rests at 100
    np.testing.assert_array_equal(np.concatenate([b.bid_size[:, 0] for b in chunks]),
                                  [2.0, 1.5, 1.8, 0.0])
    again = write(tmp_path / "again.csv", HEADER, [*rows[:3], "1,7,7,100.0,1.0,created,bid"])
    with pytest.raises(DataError, match="line 5: order 1 is created a second time .its first row "
                                        "is line 2"):
        list(iter_level3_book(again, levels=1, chunk_rows=1))


@pytest.mark.parametrize(("rows", "message"), [
    (["1,1,1,100.0,1.0,created,bid", "2,2,2,100.0,1.0,created,bid", "3,1,1,100.0,1.0,created,bid"],
     "line 4: exchange_timestamp goes back in time"),
    (["1,1,1,100.0,1.0,created,bid", "2,2,2,100.0,-1.0,created,bid"], "line 3: volume -1.0 is negative"),
    (["1,1,1,100.0,1.0,created,bid", "2,2,2,100.0,1.0,modified,bid"], "line 3: unknown action 'modified'"),
    (["1,1,1,100.0,1.0,created,bid", "2,2,2,abc,1.0,created,bid"], "line 3: price is 'abc', not a number"),
    (["1,1,1,100.0,1.0,created,bid", "1,2,2,100.0,1.0,deleted,ask"], "line 3: order 1 changes side"),
    (["1,1,1,100.0,1.0,created,bid", "2,2,2,100.0,,created,bid"], "line 3: empty volume cell"),
    ([], "no rows"),
])
def test_malformed_rows_in_later_chunks_name_their_line(tmp_path, rows, message):
    orders = write(tmp_path / "o.csv", HEADER, rows)
    with pytest.raises(DataError, match=message):
        read_level3(orders)
    with pytest.raises(DataError, match=message):
        list(iter_level3_book(orders, levels=1, chunk_rows=1))


def test_bad_arguments_and_meta_fail_before_any_chunk(tmp_path):
    orders = write(tmp_path / "o.csv", HEADER, STREAM)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"synthetic_created": 1, "synthetic_deleted": 1, "total_order_rows": 5}))
    chunks = iter_level3_book(orders, meta_path=meta, levels=1, chunk_rows=1)
    with pytest.raises(DataError, match="has 20 rows but .* says total_order_rows=5"):
        next(chunks)
    meta.write_text(json.dumps({"synthetic_created": 3, "synthetic_deleted": 0, "total_order_rows": 20}))
    with pytest.raises(DataError, match="first 3 rows are not one snapshot"):
        next(iter_level3_book(orders, meta_path=meta, levels=1))
    for bad in (0, 1.5, True):
        with pytest.raises(DataError, match="chunk_rows must be a whole number >= 1"):
            next(iter_level3_book(orders, chunk_rows=bad))
    with pytest.raises(DataError, match="does not exist"):
        next(iter_level3_book(tmp_path / "nope.csv"))


@pytest.mark.skipif(not HAS_SAMPLE, reason="pip install ob-analytics==0.1.0 for the sample")
def test_the_bitstamp_sample_in_chunks_is_the_whole_file_book():
    paths = bitstamp_sample_paths()
    whole = level3_book(read_level3(paths.orders, paths.trades, meta_path=paths.meta), 5)
    for rows in (7_777, 100_000):
        chunks = list(iter_level3_book(paths.orders, paths.trades, meta_path=paths.meta, levels=5,
                                       chunk_rows=rows))
        assert len(chunks) >= 314_057 // rows
        assert_same(chunks, whole)


@pytest.mark.parametrize("chunked_bytes", [0, 1 << 40])
def test_load_book_reads_large_level3_files_in_chunks(tmp_path, monkeypatch, chunked_bytes):
    from qseq.lob.sources import BookSource, load_book

    orders = write(tmp_path / "orders.csv", HEADER, STREAM)
    trades = write(tmp_path / "t.csv", TRADES_HEADER, TRADES)
    whole = level3_book(read_level3(orders, trades), 3, source="orders.csv")
    monkeypatch.setattr("qseq.lob.sources.CHUNKED_BYTES", chunked_bytes)
    got = load_book(BookSource(level3=str(orders), trades=str(trades)), levels=3)
    assert_same([got], whole)


def test_read_level3_book_joins_the_chunks_and_handles_no_events(tmp_path):
    from qseq.lob.level3_stream import read_level3_book

    orders = write(tmp_path / "orders.csv", HEADER, STREAM)
    assert_same([read_level3_book(orders, levels=2, chunk_rows=2)], level3_book(read_level3(orders), 2))
    orphans = write(tmp_path / "orphans.csv", HEADER, ["5,1,1,99.0,1.0,deleted,bid"])
    book = read_level3_book(orphans, levels=2)
    assert len(book) == 0 and book.ask_price.shape == (0, 2)
    assert book.extra["counts"] == {"orphan_delete": 1}
