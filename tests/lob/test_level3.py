"""Level-3 streams: conversion known answers, malformed files, the trade cross-check, and the real
Bitstamp sample (skipped when ob-analytics is not installed; it is found, never imported)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from qseq.errors import DataError
from qseq.lob.level3 import (
    SAMPLE_SOURCE,
    bitstamp_sample_paths,
    check_trades,
    level3_book,
    load_bitstamp_sample,
    read_level3,
    read_trades,
)

HEADER = "id,timestamp,exchange_timestamp,price,volume,action,direction"
TRADES_HEADER = "trade_id,timestamp,exchange_timestamp,price,amount,buy_order_id,sell_order_id,side"
HAS_SAMPLE = importlib.util.find_spec("ob_analytics") is not None

# one row per line of the file (the header is line 1); ids, times (ms), price, volume, action, side
STREAM = [
    "1,1000,1000,100.0,2.0,created,bid",     # 2 submit bid 100 x2
    "2,1001,1001,101.0,1.0,created,ask",     # 3 submit ask 101 x1
    "1,1002,1002,100.0,1.5,changed,bid",     # 4 execution 0.5 at 100
    "1,1003,1003,100.0,1.75,changed,bid",    # 5 volume up: submit 0.25 at 100
    "3,1004,1004,102.0,3.0,created,ask",     # 6 submit ask 102 x3
    "3,1005,1005,103.0,3.0,deleted,ask",     # 7 deletion of 3 at 102, the resting price
    "4,1006,1006,0.0,5.0,created,ask",       # 8 a market sell (placeholder price): no event
    "4,1006,1006,100.0,1.0,changed,ask",     # 9   its fill: no event
    "1,1006,1006,100.0,0.75,changed,bid",    # 10 the maker's fill: execution 1 at 100
    "4,1006,1006,100.0,0.0,deleted,ask",     # 11  market order done: no event
    "5,1007,1007,99.0,1.0,deleted,bid",      # 12 orphan delete: no event
    "6,1008,1008,101.0,1.5,created,bid",     # 13 a taker buy at 101: no event
    "6,1008,1008,101.0,0.5,changed,bid",     # 14  its fill; 0.5 rests, after line 15
    "2,1008,1008,101.0,0.0,deleted,ask",     # 15 the maker filled: execution 1 at 101
    "7,1009,1009,98.0,1.0,created,bid",      # 16 submit bid 98 x1
    "6,1010,1010,101.0,0.0,deleted,bid",     # 17 the rested remainder filled: execution 0.5
    "8,1011,1011,105.0,1.0,created,ask",     # 18 submit ask 105 x1
    "9,1012,1012,98.0,0.3,created,ask",      # 19 a taker sell at 98: no event
    "1,1012,1012,100.0,0.45,changed,bid",    # 20 the maker's fill: execution 0.3 at 100
    "9,1012,1012,100.0,0.0,deleted,ask",     # 21  the taker filled on arrival: no event
]
EXPECTED = [  # line, type, size, price, direction
    (2, 1, 2.0, 100, 1), (3, 1, 1.0, 101, -1), (4, 4, 0.5, 100, 1), (5, 1, 0.25, 100, 1),
    (6, 1, 3.0, 102, -1), (7, 3, 3.0, 102, -1), (10, 4, 1.0, 100, 1), (15, 4, 1.0, 101, -1),
    (14, 1, 0.5, 101, 1), (16, 1, 1.0, 98, 1), (17, 4, 0.5, 101, 1), (18, 1, 1.0, 105, -1),
    (20, 4, 0.3, 100, 1),
]
TRADES = [  # exchange time, price, amount, buy id, sell id, taker side
    "1,1006,1006,100.0,1.0,1,4,sell",
    "2,1008,1008,101.0,1.0,6,2,buy",
    "3,1009,1009,102.0,0.1,6,11,sell",       # inconsistent: a sell above the best bid (101)
    "4,1010,1010,101.0,0.5,6,10,sell",
    "5,1012,1012,100.0,0.3,1,9,sell",
]


def write(path: Path, header: str, rows: list[str]) -> Path:
    text = "\n".join([header, *rows]) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_conversion_known_answer(tmp_path):
    l3 = read_level3(write(tmp_path / "orders.csv", HEADER, STREAM))
    m = l3.messages
    got = list(zip(l3.line.tolist(), m.event_type.tolist(), m.size.tolist(), m.price.tolist(),
                   m.direction.tolist(), strict=True))
    assert got == EXPECTED
    np.testing.assert_array_equal(m.time, [int(STREAM[line - 2].split(",")[2]) / 1e3
                                           for line, *_ in EXPECTED])
    assert l3.counts == {"market_order": 3, "orphan_delete": 1, "taker_matching": 2,
                         "taker_filled_on_arrival": 1, "volume_increase": 1, "price_off_resting": 1,
                         "taker_rest_deferred": 1}
    assert len(m) + sum(l3.dropped.values()) == l3.rows == len(STREAM)
    book = level3_book(l3, 2)
    np.testing.assert_array_equal(book.bid_price[-1], [100, 98])
    np.testing.assert_allclose(book.bid_size[-1], [0.45, 1.0])
    np.testing.assert_array_equal(book.ask_price[-1], [105, np.nan])
    assert not book.crossed.any()


def test_quoted_header_names_are_read(tmp_path):
    quoted = ",".join(f'"{name}"' for name in HEADER.split(","))
    l3 = read_level3(write(tmp_path / "orders.csv", quoted, STREAM))
    assert l3.line.tolist() == [line for line, *_ in EXPECTED]


def test_trades_name_the_takers_and_the_cross_check(tmp_path):
    orders = write(tmp_path / "orders.csv.gz", HEADER, STREAM)
    l3 = read_level3(orders, write(tmp_path / "trades.csv", TRADES_HEADER, TRADES))
    assert [r[0] for r in EXPECTED] == l3.line.tolist()  # the same events: every taker traded
    assert len(l3.trades) == 5 and l3.trades.side.tolist() == [-1, 1, -1, -1, -1]
    check = check_trades(level3_book(l3, 1), l3.trades)
    np.testing.assert_array_equal(check.gap, [0, 0, -1, 0, 0])
    assert (check.checked, check.consistent, check.at_touch) == (5, 4, 4)
    assert check.share == 0.8 and check.worst.tolist() == [2]


def test_a_maker_filled_in_its_first_millisecond(tmp_path):
    """By timing alone it looks like a taker; a trades file says it was the maker."""
    rows = ["1,1,1,100.0,1.0,created,ask", "1,1,1,100.0,0.0,deleted,ask"]
    orders = write(tmp_path / "o.csv", HEADER, rows)
    assert len(read_level3(orders).messages) == 0
    trades = write(tmp_path / "t.csv", TRADES_HEADER, ["1,1,1,100.0,1.0,2,1,buy"])
    assert read_level3(orders, trades).messages.event_type.tolist() == [1, 4]


SNAPSHOT = [
    "11,500,400,100.0,1.0,created,bid",
    "12,500,400,101.0,1.0,created,ask",
    "13,500,400,103.0,1.0,created,ask",       # stale: a buy traded at 104 through it
    "14,500,400,0.0,50.0,created,bid",        # a price-0 bid: never in the book
    "15,450,450,101.5,1.0,created,bid",       # a crossing flash ...
    "15,450,450,101.5,1.0,deleted,bid",       # ... deleted unfilled by the next row
    "12,455,455,101.0,0.6,changed,ask",       # a fill: this snapshot ask is live
    "16,460,460,100.5,2.0,created,bid",
    "11,900,900,100.0,1.0,deleted,bid",       # synthetic end deletes
    "12,900,900,101.0,1.0,deleted,ask",
    "13,900,900,103.0,1.0,deleted,ask",
    "14,900,900,0.0,50.0,deleted,bid",
    "16,900,900,100.5,2.0,deleted,bid",
]


def test_snapshot_end_deletes_stale_orders_and_flashes(tmp_path):
    orders = write(tmp_path / "o.csv", HEADER, SNAPSHOT)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"synthetic_created": 4, "synthetic_deleted": 5, "total_order_rows": 13}))
    trades = write(tmp_path / "t.csv", TRADES_HEADER, ["1,470,470,104.0,0.1,20,21,buy"])
    l3 = read_level3(orders, trades, meta_path=meta)
    assert l3.counts["stale_snapshot"] == 2 and l3.counts["market_order"] == 2
    assert l3.snapshot.tolist() == [True] * 2 + [False] * 7
    assert l3.synthetic.tolist() == [True] * 2 + [False] * 4 + [True] * 3
    book = level3_book(l3, 2)
    assert book.extra["line"].tolist() == [8, 9] and book.extra["counts"]["crossing_flash"] == 1
    np.testing.assert_array_equal(book.bid_price[0], [100, np.nan])     # seeded by the snapshot
    np.testing.assert_array_equal(book.ask_price[0], [101, np.nan])     # without the stale ask
    np.testing.assert_array_equal(book.ask_size[0], [0.6, 0])
    np.testing.assert_array_equal(book.bid_price[1], [100.5, 100])
    kept = level3_book(l3, 2, keep_synthetic=True, drop_flashes=False)
    assert kept.crossed.tolist() == [False, False, True] + [False] * 6
    assert np.isnan(kept.ask_price[-1]).all() and np.isnan(kept.bid_price[-1]).all()
    l3_no_trades = read_level3(orders, meta_path=meta)
    assert "stale_snapshot" not in l3_no_trades.counts
    np.testing.assert_array_equal(level3_book(l3_no_trades, 2).ask_price[0], [101, 103])


@pytest.mark.parametrize(("rows", "message"), [
    (["1,1,1,100.0,1.0,created"], "missing column.*direction"),
    (["1,1,1,100.0,1.0,created,bid", "1,2,2,100.0,1.0,modified,bid"], "line 3: unknown action 'modified'"),
    (["1,1,1,100.0,1.0,created,buy"], "line 2: unknown direction 'buy'; valid: bid, ask"),
    (["1,1,1,100.0,1.0,created,bid", "2,1,1,abc,1.0,created,bid"], "line 3: price is 'abc', not a number"),
    (["1.5,1,1,100.0,1.0,created,bid"], "line 2: id is '1.5', not a whole number"),
    (["1,1,1,100.0,,created,bid"], "line 2: empty volume cell"),
    (["1,1,1,100.0,1.0,created,bid", "2,1,1,100.0"], "line 3: volume is .*not a number"),
    (["1,1,1,100.0,1.0,changed,bid"], "line 2: order 1 is changed before it was created"),
    (["1,1,1,100.0,1.0,created,bid", "1,2,2,100.0,1.0,created,bid"],
     "line 3: order 1 is created a second time .its first row is line 2"),
    (["1,1,1,100.0,1.0,created,bid", "1,2,2,100.0,1.0,deleted,bid", "1,3,3,100.0,1.0,changed,bid"],
     "line 4: order 1 has an event after its deletion"),
    (["1,1,1,100.0,1.0,created,bid", "1,2,2,100.0,1.0,deleted,ask"], "line 3: order 1 changes side"),
    (["1,1,5,100.0,1.0,created,bid", "2,1,4,100.0,1.0,created,bid"],
     "line 3: exchange_timestamp goes back in time"),
    (["1,1,1,100.0,-1.0,created,bid"], "line 2: volume -1.0 is negative"),
    ([], "no rows"),
])
def test_malformed_orders_files(tmp_path, rows, message):
    header = HEADER.removesuffix(",direction") if "missing" in message else HEADER
    with pytest.raises(DataError, match=message):
        read_level3(write(tmp_path / "o.csv", header, rows))


def test_malformed_other_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_level3(tmp_path / "nope.csv")
    orders = write(tmp_path / "o.csv", HEADER, STREAM)
    with pytest.raises(DataError, match="line 2: unknown side 'hold'"):
        read_trades(write(tmp_path / "t.csv", TRADES_HEADER, ["1,1,1,1.0,1.0,1,2,hold"]))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"synthetic_created": 1, "synthetic_deleted": 1, "total_order_rows": 5}))
    with pytest.raises(DataError, match="has 20 rows but .* says total_order_rows=5"):
        read_level3(orders, meta_path=meta)
    meta.write_text(json.dumps({"synthetic_created": 3, "synthetic_deleted": 0, "total_order_rows": 20}))
    with pytest.raises(DataError, match="first 3 rows are not one snapshot"):
        read_level3(orders, meta_path=meta)
    meta.write_text("{}")
    with pytest.raises(DataError, match="not a capture meta.json"):
        read_level3(orders, meta_path=meta)


def test_sample_paths_say_how_to_install(monkeypatch):
    monkeypatch.setattr("qseq.lob.level3.importlib.util.find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install ob-analytics==0\.1\.0"):
        bitstamp_sample_paths()


# ---------------------------------------------------------------- the real sample

needs_sample = pytest.mark.skipif(not HAS_SAMPLE, reason="pip install ob-analytics==0.1.0 for the sample")


@pytest.fixture(scope="module")
def sample():
    paths = bitstamp_sample_paths()
    meta = json.loads(paths.meta.read_text())
    return read_level3(paths.orders, paths.trades, meta_path=paths.meta), meta


@needs_sample
def test_sample_counts(sample):
    l3, meta = sample
    assert l3.rows == meta["total_order_rows"] == 314_057
    assert len(l3.trades) == meta["trades"] == 284
    assert len(l3.messages) + sum(l3.dropped.values()) == l3.rows
    assert l3.counts["market_order"] == 67 and l3.counts["orphan_delete"] == 13
    assert l3.counts["stale_snapshot"] == 4  # two asks (created + end delete each)
    # every snapshot row and end delete is flagged, less those of dropped orders (22 price-0
    # bids with their end deletes, the 2 stale asks with theirs)
    assert l3.snapshot.sum() == meta["synthetic_created"] - 22 - 2
    assert l3.synthetic.sum() == meta["synthetic_created"] + meta["synthetic_deleted"] - 2 * (22 + 2)
    assert set(np.unique(l3.messages.event_type)) == {1, 3, 4}
    assert (l3.messages.event_type == 4).sum() == 284  # one maker execution per trade


@needs_sample
def test_sample_book_is_never_crossed_and_matches_the_trades(sample):
    l3, _ = sample
    book = level3_book(l3, 10)
    assert not book.crossed.any()
    assert book.extra["counts"]["crossing_flash"] == 100_518
    assert not np.isnan(book.bid_price).any() and not np.isnan(book.ask_price).any()
    check = check_trades(book, l3.trades)
    assert check.checked == 284 and check.consistent == 283
    # the one exception: its maker was created in the trade's own millisecond, after the last
    # book row strictly before it
    (k,) = check.worst
    maker = l3.trades.sell_order_id[k] if l3.trades.side[k] > 0 else l3.trades.buy_order_id[k]
    created = (l3.messages.order_id == maker) & (l3.messages.event_type == 1)
    assert l3.messages.time[created].tolist() == [l3.trades.time[k]]


@needs_sample
def test_sample_every_order_leaves_exactly(sample):
    """With the synthetic end deletes kept, strict reconstruction ends with an empty book: each
    removal found exactly the volume its order added."""
    l3, _ = sample
    book = level3_book(l3, 1, keep_synthetic=True, drop_flashes=False)
    assert np.isnan(book.bid_price[-1, 0]) and np.isnan(book.ask_price[-1, 0])


@needs_sample
def test_load_bitstamp_sample():
    book = load_bitstamp_sample(levels=3)
    assert book.source == SAMPLE_SOURCE and not book.synthetic
    assert book.ask_price.shape == (len(book), 3) and len(book) == 99_558
    assert np.all(np.diff(book.time) >= 0) and len(book.extra["trades"]) == 284
