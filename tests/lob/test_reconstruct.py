"""The order-book engine: known answers on hand-made event sequences, a dict-based reference on
random streams, chunked == whole, strict-mode errors, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.errors import DataError
from qseq.lob.book import Book, Messages
from qseq.lob.reconstruct import Reconstructor, reconstruct

BID, ASK = 1, -1


def msgs(rows: list[tuple]) -> Messages:
    """rows of (time, type, size, price, direction); order ids are the row numbers."""
    a = np.array(rows, dtype=float).reshape(-1, 5)
    return Messages(time=a[:, 0], event_type=a[:, 1].astype(np.int8),
                    order_id=np.arange(len(a), dtype=np.int64), size=a[:, 2], price=a[:, 3],
                    direction=a[:, 4].astype(np.int8))


def cut(m: Messages, sl: slice) -> Messages:
    return Messages(**{k: getattr(m, k)[sl] for k in ("time", "event_type", "order_id", "size",
                                                      "price", "direction")})


def test_known_answer_book():
    m = msgs([
        (0.0, 1, 10, 100.00, BID),   # 0 bid 100 x10
        (0.1, 1, 5, 101.00, ASK),    # 1 ask 101 x5
        (0.2, 1, 3, 99.50, BID),     # 2 bid 99.5 x3
        (0.3, 1, 7, 102.25, ASK),    # 3 ask 102.25 x7
        (0.4, 1, 2, 100.00, BID),    # 4 bid 100 x12 (same level grows)
        (0.5, 2, 4, 100.00, BID),    # 5 partial cancel: bid 100 x8
        (0.6, 4, 5, 101.00, ASK),    # 6 execution empties ask 101: 102.25 moves up
        (0.7, 5, 9, 100.50, ASK),    # 7 hidden execution: nothing visible
        (0.8, 6, 9, 100.50, BID),    # 8 cross trade: nothing visible
        (0.9, 3, 8, 100.00, BID),    # 9 deletion empties bid 100: 99.5 moves up
        (1.0, 1, 1, 103.00, ASK),    # 10 a second ask level
    ])
    book = reconstruct(m, 3)
    nan = np.nan
    np.testing.assert_array_equal(book.bid_price[:, 0], [100, 100, 100, 100, 100, 100, 100, 100, 100,
                                                         99.5, 99.5])
    np.testing.assert_array_equal(book.bid_size[:, 0], [10, 10, 10, 10, 12, 8, 8, 8, 8, 3, 3])
    np.testing.assert_array_equal(book.bid_price[2], [100, 99.5, nan])
    np.testing.assert_array_equal(book.bid_size[2], [10, 3, 0])
    np.testing.assert_array_equal(book.ask_price[0], [nan, nan, nan])      # empty side
    np.testing.assert_array_equal(book.ask_size[0], [0, 0, 0])
    np.testing.assert_array_equal(book.ask_price[5], [101, 102.25, nan])
    np.testing.assert_array_equal(book.ask_price[6], [102.25, nan, nan])  # the next level moved up
    np.testing.assert_array_equal(book.ask_size[6], [7, 0, 0])
    for i in (7, 8):                                                         # types 5 and 6
        np.testing.assert_array_equal(book.as_lobster()[i], book.as_lobster()[6])
    np.testing.assert_array_equal(book.bid_price[9], [99.5, nan, nan])
    np.testing.assert_array_equal(book.ask_price[10], [102.25, 103, nan])
    np.testing.assert_array_equal(book.time, m.time)
    assert not book.halted.any() and not book.crossed.any() and not book.synthetic


def test_more_levels_than_present():
    book = reconstruct(msgs([(0, 1, 1, 10.0, BID), (1, 1, 2, 11.0, ASK)]), 5)
    assert book.levels == 5 and book.bid_price.shape == (2, 5)
    np.testing.assert_array_equal(book.ask_price[1], [11, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(book.bid_size[1], [1, 0, 0, 0, 0])


def test_halts():
    m = msgs([(0, 1, 1, 10.0, BID), (1, 7, 0, -1, 0), (2, 1, 1, 9.0, BID), (3, 7, 0, 0, 0),
              (4, 7, 0, 1, 0), (5, 1, 1, 11.0, ASK)])
    book = reconstruct(m, 2)
    np.testing.assert_array_equal(book.halted, [False, True, True, True, False, False])
    np.testing.assert_array_equal(book.bid_price[2], [10, 9])  # the engine still applies events


def test_crossed_is_flagged_not_raised():
    book = reconstruct(msgs([(0, 1, 1, 10.0, BID), (1, 1, 1, 9.5, ASK), (2, 3, 1, 9.5, ASK)]), 1)
    np.testing.assert_array_equal(book.crossed, [False, True, False])


def test_strict_error_names_the_event_and_keeps_the_state():
    rec = Reconstructor(2)
    rec.update(msgs([(0, 1, 5, 10.0, BID), (1, 1, 2, 11.0, ASK)]))
    bad = msgs([(2, 1, 1, 10.0, BID), (3, 4, 7, 10.0, BID)])
    with pytest.raises(DataError, match=r"event 3 \(visible execution, bid\) removes 7 at 10 but only "
                                        r"6 rests.*strict=False"):
        rec.update(bad)
    assert rec.events_ == 2
    np.testing.assert_array_equal(rec.depth(BID)[1], [5])  # the failed chunk left no trace
    with pytest.raises(DataError, match="event 2 .*only 0 rests"):
        rec.update(msgs([(2, 3, 1, 10.5, BID)]))           # no level at that price at all


def test_non_strict_clips_and_counts():
    rec = Reconstructor(1, strict=False)
    book = rec.update(msgs([(0, 1, 5, 10.0, BID), (1, 2, 7, 10.0, BID), (2, 3, 1, 12.0, ASK),
                            (3, 1, 1, 10.0, BID)]))
    assert rec.clipped_ == 2
    np.testing.assert_array_equal(book.extra["clipped"], [False, True, True, False])
    np.testing.assert_array_equal(book.bid_size[:, 0], [5, 0, 0, 1])


@pytest.mark.parametrize(("rows", "message"), [
    ([(0, 8, 1, 10.0, BID)], "event 0 has event type 8"),
    ([(0, 1, 1, 10.0, 0)], "event 0 has direction 0"),
    ([(0, 1, -1, 10.0, BID)], "event 0 has size -1.0"),
    ([(0, 1, 1, np.nan, BID)], "event 0 has price nan"),
    ([(1, 1, 1, 10.0, BID), (0, 1, 1, 10.0, BID)], "event 1 goes back in time"),
    ([(0, 1, 1, 10.0000001, BID)], "finer than price_decimals=6"),
    ([(0, 1, 1e-9, 10.0, BID)], "finer than size_decimals=8"),
])
def test_malformed_messages(rows, message):
    with pytest.raises(DataError, match=message):
        reconstruct(msgs(rows), 1)


def test_time_order_is_checked_across_chunks_and_lengths_must_match():
    rec = Reconstructor(1)
    rec.update(msgs([(5, 1, 1, 10.0, BID)]))
    with pytest.raises(DataError, match="event 1 goes back in time"):
        rec.update(msgs([(4, 1, 1, 10.0, BID)]))
    m = msgs([(0, 1, 1, 10.0, BID)])
    with pytest.raises(DataError, match="messages.size has 2 rows but time has 1"):
        reconstruct(Messages(m.time, m.event_type, m.order_id, np.ones(2), m.price, m.direction), 1)
    with pytest.raises(DataError, match="levels must be"):
        Reconstructor(0)


def _random_stream(seed: int, n: int, spread: int = 40) -> Messages:
    """A valid random stream: submissions, cancels, deletes and executions of resting depth at
    prices on a 0.01 grid around 100 (bids below 100, asks above), plus types 5-7."""
    rng = np.random.default_rng(seed)
    depth: dict[tuple[int, int], int] = {}
    rows = []
    for i in range(n):
        kind = rng.choice([1, 1, 1, 2, 3, 4, 5, 7])
        side = int(rng.choice([BID, ASK]))
        if kind in (2, 3, 4):
            live = [k for k, v in depth.items() if v > 0 and k[1] == side]
            if not live:
                kind = 1
        if kind == 1:
            tick = int(rng.integers(1, spread)) if side == ASK else -int(rng.integers(0, spread))
            size = int(rng.integers(1, 500))
            depth[(tick, side)] = depth.get((tick, side), 0) + size
        elif kind in (2, 3, 4):
            tick, _ = live[int(rng.integers(len(live)))]
            size = depth[(tick, side)] if kind == 3 else int(rng.integers(1, depth[(tick, side)] + 1))
            depth[(tick, side)] -= size
        else:
            tick, size = 0, 1
        price = float(rng.choice([-1, 1])) if kind == 7 else 100 + tick / 100
        rows.append((i * 0.001, kind, size / 100, price, side))
    return msgs(rows)


def _reference(m: Messages, levels: int) -> np.ndarray:
    """[E, 4 L] LOBSTER rows from a plain dict book."""
    book: dict[int, dict[float, float]] = {BID: {}, ASK: {}}
    out = np.zeros((len(m), 4 * levels))
    for i in range(len(m)):
        kind, side, p, s = int(m.event_type[i]), int(m.direction[i]), m.price[i], m.size[i]
        if kind == 1:
            book[side][p] = round(book[side].get(p, 0) + s, 8)
        elif kind in (2, 3, 4):
            book[side][p] = round(book[side][p] - s, 8)
            if book[side][p] == 0:
                del book[side][p]
        asks = sorted(book[ASK].items())[:levels]
        bids = sorted(book[BID].items(), reverse=True)[:levels]
        row = np.full((levels, 4), np.nan)
        row[:, 1] = row[:, 3] = 0
        for j, (p, s) in enumerate(asks):
            row[j, 0:2] = p, s
        for j, (p, s) in enumerate(bids):
            row[j, 2:4] = p, s
        out[i] = row.ravel()
    return out


@pytest.mark.parametrize("levels", [1, 3, 7])
def test_matches_a_dict_reference_on_random_streams(levels):
    m = _random_stream(seed=levels, n=1500)
    book = reconstruct(m, levels)
    np.testing.assert_allclose(book.as_lobster(), _reference(m, levels), rtol=0, atol=1e-9)


def test_chunked_equals_whole_and_grows_past_its_capacity():
    ladder = msgs([(0, 1, 1, 200 + k / 100, ASK) for k in range(1500)])  # 1,500 ask levels: the
    m = _random_stream(seed=3, n=6000, spread=2500)                   # arrays outgrow 1,024
    m = Messages(**{k: np.concatenate([getattr(ladder, k), getattr(m, k)]) for k in (
        "time", "event_type", "order_id", "size", "price", "direction")})
    whole = reconstruct(m, 4)
    rec = Reconstructor(4)
    parts = [rec.update(cut(m, slice(a, b))) for a, b in ((0, 1), (1, 2500), (2500, 2500), (2500, None))]
    assert rec.events_ == len(m) and len(rec.depth(ASK)[0]) > 1024
    for name in ("ask_price", "ask_size", "bid_price", "bid_size", "halted", "time"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in parts]),
                                      getattr(whole, name), err_msg=name)


def test_depth_lists_every_level_best_first():
    rec = Reconstructor(1)
    rec.update(msgs([(0, 1, 1, 10.0, BID), (0, 1, 2, 9.0, BID), (0, 1, 3, 11.0, ASK),
                     (0, 1, 4, 12.5, ASK)]))
    np.testing.assert_array_equal(rec.depth(BID)[0], [10, 9])
    np.testing.assert_array_equal(rec.depth(ASK)[0], [11, 12.5])
    np.testing.assert_array_equal(rec.depth(ASK)[1], [3, 4])


def test_seeding_from_a_first_book_row():
    """A LOBSTER pair: the first book row is the state after message 1; seeded from it, the
    rest of the messages give the rest of the rows."""
    m = _random_stream(seed=9, n=800, spread=6)     # few levels: a 20-level seed holds them all
    full = reconstruct(m, 20)
    first = Book(time=full.time[:1], ask_price=full.ask_price[:1], ask_size=full.ask_size[:1],
                 bid_price=full.bid_price[:1], bid_size=full.bid_size[:1], halted=full.halted[:1])
    rest = reconstruct(cut(m, slice(1, None)), 20, initial=first)
    np.testing.assert_array_equal(rest.as_lobster(), full.as_lobster()[1:])
    np.testing.assert_array_equal(rest.halted, full.halted[1:])


def test_empty_chunk():
    book = Reconstructor(3).update(msgs([]))
    assert len(book) == 0 and book.ask_price.shape == (0, 3)
