"""Synthetic order books: determinism, the book against a slow independent replay, the LOBSTER
round trip, the order-flow / mid-price relation, and the injected anomalies."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book, Messages
from qseq.lob.inject import inject_quote_stuffing, inject_spoofing
from qseq.lob.lobster import lobster_report, read_lobster, sidecar_path_for
from qseq.lob.lobster_write import write_lobster
from qseq.lob.synthetic import MODEL, QueueReactiveParams, simulate

from .test_lobster import write_pair

FIELDS = ("time", "event_type", "order_id", "size", "price", "direction")


def replay(messages: Messages, levels: int, *, check_crossed: bool = True):
    """The top ``levels`` after each message, from a dict of price levels and a dict of live
    orders (pure Python, independent of the simulator). Checks every message against the live
    orders: a submit has a new id, cancels and executions a live one with enough size, a delete
    takes what is left."""
    live: dict[int, list] = {}  # id -> [side, price, size]
    depth = {1: {}, -1: {}}  # side -> {price: size}
    rows = np.full((len(messages), 4 * levels), np.nan)
    for k in range(len(messages)):
        kind, oid = int(messages.event_type[k]), int(messages.order_id[k])
        size, price, side = (float(messages.size[k]), float(messages.price[k]),
                             int(messages.direction[k]))
        if kind == 1:
            assert oid not in live, f"message {k}: id {oid} submitted twice"
            live[oid] = [side, price, size]
            depth[side][price] = depth[side].get(price, 0.0) + size
        elif kind in (2, 3, 4):
            assert oid in live, f"message {k}: id {oid} is not live"
            o_side, o_price, o_size = live[oid]
            assert (o_side, o_price) == (side, price), f"message {k}: wrong side or price"
            assert 0 < size <= o_size, f"message {k}: size {size} of an order of {o_size}"
            if kind == 3:
                assert size == o_size, f"message {k}: a delete of {size} leaves {o_size - size}"
            live[oid][2] -= size
            depth[side][price] -= size
            if depth[side][price] == 0:
                del depth[side][price]
            if live[oid][2] == 0:
                del live[oid]
        asks = sorted(depth[-1].items())[:levels]
        bids = sorted(depth[1].items(), reverse=True)[:levels]
        rows[k, 1::4] = rows[k, 3::4] = 0.0
        for j, (p, q) in enumerate(asks):
            rows[k, 4 * j: 4 * j + 2] = p, q
        for j, (p, q) in enumerate(bids):
            rows[k, 4 * j + 2: 4 * j + 4] = p, q
        if check_crossed and asks and bids:
            assert bids[0][0] < asks[0][0], f"message {k}: crossed book"
    return rows


def test_deterministic_for_a_seed():
    a_msg, a_book = simulate(5_000, seed=7)
    b_msg, b_book = simulate(5_000, seed=7)
    c_msg, _ = simulate(5_000, seed=8)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a_msg, name), getattr(b_msg, name))
    np.testing.assert_array_equal(a_book.as_lobster(), b_book.as_lobster())
    assert not np.array_equal(a_msg.time, c_msg.time)


def test_messages_and_book_shapes():
    msg, book = simulate(3_000, levels=4, seed=1)
    assert isinstance(book, Book) and len(msg) == len(book) == 3_000 and book.levels == 4
    assert msg.event_type.dtype == np.int8 and msg.direction.dtype == np.int8
    assert set(np.unique(msg.event_type)) <= {1, 2, 3, 4}
    assert set(np.unique(msg.direction)) == {-1, 1}
    assert np.all(np.diff(msg.time) >= 0) and msg.time[0] == 34200.0
    np.testing.assert_array_equal(np.round(msg.time * 1e9) / 1e9, msg.time)  # nanoseconds
    assert book.synthetic and book.source.startswith("synthetic")
    assert book.extra["synthetic"]["seed"] == 1
    assert book.extra["synthetic"]["params"] == asdict(QueueReactiveParams())
    assert not book.halted.any() and not book.crossed.any()


@pytest.mark.parametrize("levels, seed, params", [
    (5, 0, QueueReactiveParams()),
    (3, 11, QueueReactiveParams(depth=4, cancel_rate=2.0, partial_cancel=0.8, market_rate=3.0,
                                imbalance_feedback=0.0, tick=0.05)),
])
def test_book_is_the_exact_top_of_the_simulated_book(levels, seed, params):
    msg, book = simulate(20_000, levels=levels, seed=seed, params=params)
    counts = np.bincount(msg.event_type, minlength=5)
    assert counts[1:].min() > 100  # submits, partial cancels, deletes and executions all occur
    np.testing.assert_array_equal(book.as_lobster(), replay(msg, levels))


def test_round_trip_through_lobster_files(tmp_path):
    msg, book = simulate(10_000, levels=5, seed=3)
    msg_path, book_path = write_lobster(tmp_path, msg, book)
    end = math.ceil(msg.time[-1])
    assert msg_path.name == f"SYNTH_2012-06-21_34200_{end}_message_5.csv"
    assert book_path.name == f"SYNTH_2012-06-21_34200_{end}_orderbook_5.csv"
    side = json.loads(sidecar_path_for(msg_path).read_text())
    assert side["model"] == MODEL and side["seed"] == 3 and side["params"]["depth"] == 20
    back, back_book = read_lobster(msg_path)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(msg, name), err_msg=name)
        assert getattr(back, name).dtype == getattr(msg, name).dtype
    for name in ("ask_price", "ask_size", "bid_price", "bid_size", "halted", "time"):
        np.testing.assert_array_equal(getattr(back_book, name), getattr(book, name))
    assert back_book.synthetic and "synthetic" in back_book.source
    assert back_book.extra["synthetic"] == side
    report = lobster_report(msg_path, chunk_events=3_000)
    assert report.synthetic and report.events == 10_000 and report.crossed_rows == 0
    # dummy levels are written as LOBSTER writes them
    first = book_path.read_text().splitlines()[0].split(",")
    assert first[4:8] == ["9999999999", "0", "-9999999999", "0"]


def test_rewriting_as_real_data_drops_the_sidecar(tmp_path):
    msg, book = simulate(500, levels=2, seed=0)
    path, _ = write_lobster(tmp_path, msg, book)
    assert sidecar_path_for(path).exists()
    write_lobster(tmp_path, msg, replace(book, synthetic=False, source="x"))
    assert not sidecar_path_for(path).exists()
    assert not read_lobster(path)[1].synthetic


def _ofi(book: Book) -> np.ndarray:
    """[E] best-level order-flow imbalance per event (Cont, Kukanov and Stoikov 2014)."""
    pb, qb, pa, qa = book.bid_price[:, 0], book.bid_size[:, 0], book.ask_price[:, 0], \
        book.ask_size[:, 0]
    e = np.zeros(len(book))
    e[1:] = ((pb[1:] >= pb[:-1]) * qb[1:] - (pb[1:] <= pb[:-1]) * qb[:-1]
             - (pa[1:] <= pa[:-1]) * qa[1:] + (pa[1:] >= pa[:-1]) * qa[:-1])
    return e


def test_order_flow_imbalance_moves_the_mid():
    msg, book = simulate(200_000, levels=1, seed=0)
    warm = 200  # the opening book is being built
    mid = (book.bid_price[warm:, 0] + book.ask_price[warm:, 0]) / 2
    ofi = _ofi(book)[warm:]
    block = 100
    n = len(mid) // block * block
    flow = ofi[:n].reshape(-1, block).sum(1)  # OFI over each block of 100 events
    change = np.diff(mid[block - 1:n:block])  # the mid change over the next block
    assert np.corrcoef(flow[:-1], change)[0, 1] > 0.03
    now = np.diff(np.concatenate(([mid[0]], mid[block - 1:n:block])))
    assert np.corrcoef(flow, now)[0, 1] > 0.3  # and, much more, the mid of its own block
    # the best-level queue imbalance gives the direction of the next mid move
    imb = (book.bid_size[warm:, 0] - book.ask_size[warm:, 0]) / (
        book.bid_size[warm:, 0] + book.ask_size[warm:, 0])
    moves = np.flatnonzero(np.diff(mid))  # the mid moves between event m and m + 1
    upcoming = np.searchsorted(moves, np.arange(len(mid)))
    has = upcoming < len(moves)
    up = np.diff(mid)[moves[upcoming[has]]] > 0
    assert up[imb[has] > 0.5].mean() > 0.65 and (~up)[imb[has] < -0.5].mean() > 0.65


def test_params_are_checked():
    with pytest.raises(ConfigError, match="imbalance_feedback"):
        QueueReactiveParams(imbalance_feedback=1.0)
    with pytest.raises(ConfigError, match="tick"):
        QueueReactiveParams(tick=0.00005)
    with pytest.raises(ConfigError, match="depth"):
        QueueReactiveParams(depth=0)
    with pytest.raises(ConfigError, match="raise start_price"):
        simulate(10, params=QueueReactiveParams(start_price=0.1))
    with pytest.raises(ConfigError, match="events"):
        simulate(0)


def _check_injected(before: Messages, after: Messages, labels: np.ndarray) -> None:
    assert len(labels) == len(after) and labels.dtype == bool
    assert np.all(np.diff(after.time) >= 0)
    for name in FIELDS:  # the original stream, in its order, is untouched
        np.testing.assert_array_equal(getattr(after, name)[~labels], getattr(before, name))
    new = after.order_id[labels]
    assert new.min() > before.order_id.max()


def test_spoofing_on_a_synthetic_stream():
    msg, book = simulate(20_000, levels=3, seed=2)
    out, labels = inject_spoofing(msg, book, episodes=8, layers=3, ticks_away=4, seed=1)
    _check_injected(msg, out, labels)
    assert labels.sum() == 8 * 3 * 2
    subs = labels & (out.event_type == 1)
    dels = labels & (out.event_type == 3)
    assert subs.sum() == dels.sum() == 24
    assert np.all(out.size[subs] >= 10 * 100)
    submitted = dict(zip(out.order_id[subs], out.time[subs], strict=True))
    life = out.time[dels] - np.array([submitted[oid] for oid in out.order_id[dels]])
    assert np.all((life > 0) & (life <= 3.0))
    replay(out, 3)  # every delete finds its order live, the book never crosses


def test_spoofing_layers_sit_behind_the_touch():
    msg, book = simulate(5_000, levels=3, seed=5)
    out, labels = inject_spoofing(msg, book, episodes=1, layers=4, ticks_away=5, seed=3)
    first = np.flatnonzero(labels)[0]
    start = np.flatnonzero(msg.time == out.time[first])[-1]
    side = out.direction[first]
    best = book.bid_price[start, 0] if side == 1 else book.ask_price[start, 0]
    prices = out.price[labels & (out.event_type == 1)]
    np.testing.assert_allclose(np.abs(prices - best), [0.05, 0.06, 0.07, 0.08])


def test_quote_stuffing():
    msg, book = simulate(20_000, levels=3, seed=2)
    out, labels = inject_quote_stuffing(msg, book, bursts=5, orders=40, burst_seconds=0.004,
                                        seed=9)
    _check_injected(msg, out, labels)
    assert labels.sum() == 5 * 40 * 2
    ids = out.order_id[labels]
    assert np.all(np.unique(ids, return_counts=True)[1] == 2)
    for oid in np.unique(ids)[:50]:
        rows = np.flatnonzero(out.order_id == oid)
        assert list(out.event_type[rows]) == [1, 3]
        assert out.time[rows[1]] - out.time[rows[0]] <= 0.004
    replay(out, 3, check_crossed=False)


def test_injection_works_on_any_stream(tmp_path):
    """Not only synthetic messages: the hand-written LOBSTER pair of the reader tests."""
    msg, book = read_lobster(write_pair(tmp_path))
    out, labels = inject_spoofing(msg, book, episodes=2, layers=2, seed=0)
    _check_injected(msg, out, labels)
    out, labels = inject_quote_stuffing(msg, book, bursts=2, orders=3, seed=0)
    _check_injected(msg, out, labels)
    with pytest.raises(DataError, match=r"events have both quotes; cannot place 50 spoofing "
                                        r"episodes \(ask for fewer\)"):
        inject_spoofing(msg, book, episodes=50)
    with pytest.raises(DataError, match="cannot place 50 quote-stuffing bursts"):
        inject_quote_stuffing(msg, book, bursts=50)
