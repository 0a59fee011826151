"""Order-book sampling and features: known answers on hand-made books, causality, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book
from qseq.lob.features import (
    DEFAULT_FEATURES,
    FEATURES,
    book_features,
    depth,
    depth_imbalance,
    event_ofi,
    ffill,
    imbalance,
    log_returns,
    microprice,
    mid_price,
    order_flow_imbalance,
    sample,
    sampling_interval,
    spread,
    to_bps,
)

NAN = np.nan


def one_level(time, bid, qb, ask, qa) -> Book:
    col = lambda v: np.asarray(v, dtype=np.float64)[:, None]  # noqa: E731
    return Book(np.asarray(time, dtype=np.float64), col(ask), col(qa), col(bid), col(qb),
                source="hand-made")


# The 5-transition OFI example, worked by hand (Cont, Kukanov and Stoikov 2014):
#   n  bid    qb  ask    qa   e_n
#   0  10.00  5   10.03  4    0                    (no previous state)
#   1  10.00  7   10.03  4    (7 - 5) + (-4 + 4) = 2
#   2  10.01  3   10.03  6    3 + (-6 + 4)        = 1   bid up: +qb_n
#   3  10.01  3   10.02  2    (3 - 3) - 2         = -2  ask down: -qa_n
#   4  10.00  4   10.02  2    -3 + (-2 + 2)       = -3  bid down: -qb_n-1
#   5  10.00  4   10.04  5    (4 - 4) + 2         = 2   ask up: +qa_n-1
HAND = dict(time=[0.0, 0.05, 0.3, 0.3, 1.2, 2.5],
            bid=[10.00, 10.00, 10.01, 10.01, 10.00, 10.00], qb=[5, 7, 3, 3, 4, 4],
            ask=[10.03, 10.03, 10.03, 10.02, 10.02, 10.04], qa=[4, 4, 6, 2, 2, 5])
HAND_OFI = [0, 2, 1, -2, -3, 2]


@pytest.fixture
def hand() -> Book:
    return one_level(**HAND)


def random_book(n_events: int = 400, levels: int = 3, seed: int = 0, empty: float = 0.05) -> Book:
    """A seeded book on a one-cent grid with random sizes, gaps between levels and some empty
    deeper levels (NaN price, size 0)."""
    rng = np.random.default_rng(seed)
    time = np.cumsum(rng.exponential(0.05, n_events))
    best_bid = 100 + 0.01 * np.cumsum(rng.integers(-1, 2, n_events))
    gap = 0.01 * rng.integers(1, 3, (n_events, levels))
    bid = best_bid[:, None] - np.cumsum(gap, axis=1) + gap[:, :1]
    ask = best_bid[:, None] + 0.01 * rng.integers(1, 3, (n_events, 1)) + np.cumsum(gap, axis=1) - gap[:, :1]
    qb = rng.integers(1, 50, (n_events, levels)).astype(float)
    qa = rng.integers(1, 50, (n_events, levels)).astype(float)
    for price, size in ((bid, qb), (ask, qa)):
        cut = rng.random(n_events) < empty  # this side loses its deepest level
        price[cut, -1], size[cut, -1] = NAN, 0.0
    return Book(time, ask.round(2), qa, bid.round(2), qb, source="random", synthetic=True)


# -- known answers ---------------------------------------------------------------------------
def test_mid_microprice_spread_imbalance_known(hand):
    np.testing.assert_allclose(mid_price(hand)[0], 10.015)
    np.testing.assert_allclose(microprice(hand)[0], (10.00 * 4 + 10.03 * 5) / 9)
    np.testing.assert_allclose(spread(hand)[:3], [0.03, 0.03, 0.02])
    np.testing.assert_allclose(to_bps(spread(hand), mid_price(hand))[0], 0.03 / 10.015 * 1e4)
    np.testing.assert_allclose(imbalance(hand)[:3, 0], [1 / 9, 3 / 11, -3 / 9])
    np.testing.assert_allclose(depth(hand)[:2, 0], [9, 11])
    mid = mid_price(hand)
    np.testing.assert_allclose(log_returns(mid)[1:3], [0.0, np.log(10.02 / 10.015)])
    assert np.isnan(log_returns(mid)[0])


def test_ofi_by_hand(hand):
    np.testing.assert_allclose(event_ofi(hand)[:, 0], HAND_OFI)
    np.testing.assert_allclose(order_flow_imbalance(hand)[:, 0], HAND_OFI)
    sampled, index = sample(hand, 1.0)  # grid 0, 1, 2 -> events 0, 3, 4
    np.testing.assert_array_equal(index, [0, 3, 4])
    np.testing.assert_allclose(order_flow_imbalance(hand, index)[:, 0], [0, 2 + 1 - 2, -3])


def test_ofi_matches_formula_at_every_level():
    book = random_book(200, levels=3, seed=1)
    got = event_ofi(book)
    pb = np.nan_to_num(book.bid_price, nan=-np.inf)
    pa = np.nan_to_num(book.ask_price, nan=np.inf)
    qb, qa = book.bid_size, book.ask_size
    for n in range(1, len(book)):
        for m in range(3):
            e = (qb[n, m] * (pb[n, m] >= pb[n - 1, m]) - qb[n - 1, m] * (pb[n, m] <= pb[n - 1, m])
                 - qa[n, m] * (pa[n, m] <= pa[n - 1, m]) + qa[n - 1, m] * (pa[n, m] >= pa[n - 1, m]))
            assert got[n, m] == pytest.approx(e)
    # aggregated over any grid it sums the events of each interval
    _, index = sample(book, 0.3)
    agg = order_flow_imbalance(book, index)
    bounds = np.concatenate([[-1], index])
    for s in range(len(index)):
        np.testing.assert_allclose(agg[s], got[bounds[s] + 1 : bounds[s + 1] + 1].sum(axis=0))


def test_empty_side_ofi_is_flow_out_and_back():
    book = one_level([0, 1, 2], [10.0, NAN, 10.0], [5, 0, 6], [10.1, 10.1, 10.1], [3, 3, 3])
    np.testing.assert_allclose(event_ofi(book)[:, 0], [0, -5, 6])


def test_clock_sampling_takes_last_event_at_or_before(hand):
    sampled, index = sample(hand, "100ms")
    assert len(index) == 26  # 0.0 .. 2.5
    grid = np.arange(26) * 0.1
    expect = [np.flatnonzero(np.asarray(HAND["time"]) <= g + 1e-12).max() for g in grid]
    np.testing.assert_array_equal(index, expect)
    assert index[3] == 3  # an event exactly at 0.3 counts, and it is the last one at 0.3
    np.testing.assert_allclose(sampled.time, grid, atol=1e-12)
    np.testing.assert_allclose(sampled.bid_size[:, 0], np.asarray(HAND["qb"])[index])
    for every in (1.0, 1, "1s", "1000ms", "1 s"):
        np.testing.assert_array_equal(sample(hand, every)[1], [0, 3, 4])


def test_event_sampling_and_collapse(hand):
    sampled, index = sample(hand, "event")
    np.testing.assert_array_equal(index, np.arange(6))
    np.testing.assert_array_equal(sampled.time, hand.time)
    _, index = sample(hand, "event", collapse=True)
    np.testing.assert_array_equal(index, [0, 1, 3, 4, 5])  # of the two events at 0.3, the last


def test_sampling_interval_strings():
    assert sampling_interval("event") is None
    assert sampling_interval("100ms") == pytest.approx(0.1)
    assert sampling_interval("2min") == 120.0
    assert sampling_interval("0.5") == 0.5
    for bad in ("fortnightly", "-1s", 0, "0ms", None, True):
        with pytest.raises(ConfigError, match="sampling"):
            sampling_interval(bad)


def test_depth_imbalance_cumulative():
    z = lambda *v: np.array([v], dtype=float)  # noqa: E731
    book = Book(np.zeros(1), z(10.1, 10.2, NAN), z(1, 4, 0), z(10.0, 9.9, 9.8), z(3, 1, 2))
    np.testing.assert_allclose(depth_imbalance(book)[0], [2 / 4, -1 / 9, 1 / 11])
    assert depth_imbalance(book, 2)[0] == pytest.approx(-1 / 9)
    np.testing.assert_allclose(imbalance(book)[0], [0.5, -0.6, 1.0])
    np.testing.assert_allclose(depth(book)[0], [4, 5, 2])  # the empty ask level counts 0
    with pytest.raises(ConfigError, match="levels"):
        depth_imbalance(book, 4)


def test_missing_quote_is_nan_then_forward_filled():
    book = one_level([0, 1, 2, 3], [10.0, NAN, NAN, 10.1], [5, 0, 0, 2],
                     [10.2, 10.2, 10.3, 10.3], [1, 1, 1, 1])
    assert np.isnan(mid_price(book)[1:3]).all() and np.isnan(microprice(book)[1])
    values, names, _ = book_features(book, features=("mid", "spread", "microprice"), prices="raw")
    col = {n: values[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(col["mid"], [10.1, 10.1, 10.1, 10.2], rtol=1e-6)
    np.testing.assert_allclose(col["bid_price_1"], [10.0, 10.0, 10.0, 10.1], rtol=1e-6)
    np.testing.assert_allclose(col["bid_size_1"], [5, 0, 0, 2])
    raw, _, _ = book_features(book, features=("mid",), fill=False)
    assert np.isnan(raw[1:3, -1]).all()
    np.testing.assert_allclose(ffill(np.array([NAN, 1, NAN, 3, NAN])), [NAN, 1, 1, 3, 3])


# -- the model input --------------------------------------------------------------------------
def test_book_features_columns_and_price_modes():
    book = random_book(300, levels=3)
    values, names, time = book_features(book, sampling="event", levels=2)
    derived = 1 + 1 + 2 + 1 + 1  # spread_bps, microprice_bps, imbalance x2, ofi, log_return
    assert values.shape == (300, 2 * 4 + derived) and values.dtype == np.float32
    assert names[:4] == ("ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1")
    assert names[8:] == ("spread_bps", "microprice_bps", "imbalance_1", "imbalance_2", "ofi",
                         "log_return")
    np.testing.assert_array_equal(time, book.time)
    mid = mid_price(book)
    np.testing.assert_allclose(values[:, 0], (book.ask_price[:, 0] - mid) / mid * 1e4, rtol=1e-5)
    raw, _, _ = book_features(book, prices="raw", features=())
    lob = book.as_lobster()[:, :12]
    quoted = ~np.isnan(lob)
    np.testing.assert_allclose(raw[quoted], lob[quoted], rtol=1e-6)
    # an empty deep level takes the price of the level above it, size 0
    row = np.flatnonzero(np.isnan(book.ask_price[:, 2]))[0]
    assert raw[row, 8] == pytest.approx(book.ask_price[row, 1]) and raw[row, 9] == 0
    assert set(DEFAULT_FEATURES) <= set(FEATURES)
    every, names, _ = book_features(book, features=FEATURES)
    assert np.isfinite(every[1:]).all()
    assert len(names) == every.shape[1] == 12 + 7 + 4 * 3  # 7 one-column, 4 per-level features


def test_unknown_feature_and_bad_input():
    book = random_book(50)
    with pytest.raises(ConfigError, match="unknown order-book feature 'imbalanse'.*imbalance"):
        book_features(book, features=("imbalanse",))
    with pytest.raises(ConfigError, match="sampling"):
        book_features(book, sampling="hourly-ish")
    with pytest.raises(ConfigError, match="prices"):
        book_features(book, prices="percent")
    with pytest.raises(ConfigError, match="levels"):
        book_features(book, levels=4)
    with pytest.raises(ConfigError, match="repeat"):
        book_features(book, features=("ofi", "ofi"))
    empty = Book(np.zeros(0), *(np.zeros((0, 2)) for _ in range(4)), source="empty.csv")
    with pytest.raises(DataError, match="no events"):
        book_features(empty)
    unsorted = one_level([1.0, 0.0], [10, 10], [1, 1], [11, 11], [1, 1])
    with pytest.raises(DataError, match="non-decreasing"):
        sample(unsorted)


# -- causality --------------------------------------------------------------------------------
@pytest.mark.parametrize("sampling", ["event", "100ms", 1.0])
def test_events_after_t_do_not_change_earlier_samples(sampling):
    book = random_book(500, seed=3)
    cut = 250
    t = book.time[cut - 1]
    rng = np.random.default_rng(9)
    changed = Book(book.time.copy(), book.ask_price.copy(), book.ask_size.copy(),
                   book.bid_price.copy(), book.bid_size.copy())
    changed.ask_size[cut:] = rng.integers(1, 500, changed.ask_size[cut:].shape)
    changed.bid_price[cut:] -= 0.05
    changed.time[cut:] += 3.0  # later events, later still
    a, names_a, time_a = book_features(book, sampling=sampling, features=FEATURES)
    b, names_b, time_b = book_features(changed, sampling=sampling, features=FEATURES)
    upto = int(np.searchsorted(time_a, t, side="right"))
    assert upto > 10 and names_a == names_b
    np.testing.assert_array_equal(time_a[:upto], time_b[:upto])
    np.testing.assert_array_equal(a[:upto], b[:upto])


def test_deterministic():
    book = random_book(300, seed=5)
    a = book_features(book, sampling="250ms", features=FEATURES)
    b = book_features(book, sampling="250ms", features=FEATURES)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
