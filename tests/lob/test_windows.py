"""Order-book windows: purged blocks, training-only fits, shapes, and the shared training loop."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book
from qseq.lob.features import DEFAULT_FEATURES
from qseq.lob.windows import LobSplit, block_folds, lob_splits, lob_windows, to_datetime


def random_book(n_events: int = 3000, levels: int = 4, seed: int = 0) -> Book:
    """A seeded one-cent book whose mid moves with the best-level imbalance (some signal)."""
    rng = np.random.default_rng(seed)
    qb = rng.integers(1, 60, (n_events, levels)).astype(float)
    qa = rng.integers(1, 60, (n_events, levels)).astype(float)
    push = (qb[:, 0] - qa[:, 0]) / (qb[:, 0] + qa[:, 0])
    step = np.where(rng.random(n_events) < 0.3, np.sign(push + rng.normal(0, 0.5, n_events)), 0)
    bid = 100 + 0.01 * np.cumsum(step)[:, None] - 0.01 * np.arange(levels)
    ask = bid[:, :1] + 0.01 + 0.01 * np.arange(levels)
    time = np.cumsum(rng.exponential(0.02, n_events))
    return Book(time, ask.round(2), qa, bid.round(2), qb, source="random", synthetic=True)


def perturbed_after(book: Book, first: int, seed: int = 1) -> Book:
    """The same events with sizes and prices changed from event ``first`` on (times kept)."""
    rng = np.random.default_rng(seed)
    ask_size, bid_price = book.ask_size.copy(), book.bid_price.copy()
    ask_size[first:] = rng.integers(1, 900, ask_size[first:].shape)
    bid_price[first:] -= 0.03
    return Book(book.time, book.ask_price, ask_size, bid_price, book.bid_size, source=book.source)


# -- splits -----------------------------------------------------------------------------------
def test_lob_splits_known():
    split = lob_splits(100, train=0.6, val=0.2, purge=5)
    assert split == LobSplit(range(0, 55), range(60, 75), range(80, 100))
    no_val = lob_splits(100, train=0.7, val=0.0, purge=5)
    assert no_val.train == range(0, 65) and len(no_val.val) == 0 and no_val.test == range(70, 100)
    assert split.mask("val", 100).sum() == 15
    with pytest.raises(DataError, match="no rows for"):
        lob_splits(20, purge=10)
    with pytest.raises(ConfigError, match="purge"):
        lob_splits(100, purge=-1)
    with pytest.raises(ConfigError, match="train="):
        lob_splits(100, train=0.9, val=0.2, purge=1)


@pytest.mark.parametrize("expanding", [True, False])
def test_block_folds(expanding):
    folds = block_folds(600, 4, purge=10, val=0.25, expanding=expanding)
    assert [f.test for f in folds] == [range(120, 240), range(240, 360), range(360, 480),
                                       range(480, 600)]  # contiguous full test blocks
    for fold in folds:
        assert fold.train.stop + 10 == fold.val.start and fold.val.stop + 10 == fold.test.start
        assert fold.train.start == (0 if expanding else fold.test.start - 120)
    with pytest.raises(DataError, match="fewer blocks"):
        block_folds(50, 10, purge=10)


# -- windows ----------------------------------------------------------------------------------
def test_lob_windows_shapes_and_contract():
    book = random_book()
    train, val, test, info = lob_windows(book, lookback=20, horizons=[5, 10], levels=3)
    derived = 1 + 1 + 3 + 1 + 1  # DEFAULT_FEATURES: spread_bps, microprice_bps, imbalance x3, ofi, ret
    assert len(DEFAULT_FEATURES) == 5
    for w in (train, val, test):
        assert len(w) > 100
        assert w.x.shape == (len(w), 20, 3 * 4 + derived) and w.x.dtype == np.float32
        assert w.y.shape == (len(w), 2) and set(np.unique(w.y)) <= {0.0, 1.0, 2.0}
        assert np.isfinite(w.x).all()
        assert np.shares_memory(w.x, train.values)  # a strided view, no per-window copy
        assert (w.row_ticker == 0).all() and w.tickers == ("random",)
    assert train.feature_names[:4] == ("ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1")
    assert info.split.train.stop + 30 == info.split.val.start  # default purge: lookback + max k
    assert info.alpha.shape == (2,) and info.class_weights.shape == (2, 3)
    assert info.class_counts["train"].sum(axis=1).tolist() == [len(train)] * 2
    np.testing.assert_array_equal(info.index, np.arange(len(book)))
    np.testing.assert_array_equal(train.row_date, to_datetime(book.time))
    # the training rows are standardised by their own statistics
    rows = train.values[info.split.train.start : info.split.train.stop]
    np.testing.assert_allclose(np.nanmean(rows[:, :12], axis=0), 0, atol=1e-4)


def test_windows_never_straddle_a_segment():
    train, val, test, info = lob_windows(random_book(), lookback=16, horizons=[3, 12],
                                         reference="past", purge=4)
    for w, seg in zip((train, val, test), info.split.segments().values(), strict=True):
        first_input = w.anchors - 15
        first_label = w.anchors - 11  # m_minus reaches k - 1 back
        last_label = w.anchors + 12
        assert first_input.min() >= seg.start and first_label.min() >= seg.start
        assert last_label.max() < seg.stop


def test_fits_ignore_rows_outside_training():
    book = random_book(seed=2)
    train, _, _, info = lob_windows(book, lookback=10, horizons=[5, 20])
    last_needed = info.index[info.split.train.stop - 1]  # the last event a training row reads
    changed = perturbed_after(book, last_needed + 1)
    train2, val2, _, info2 = lob_windows(changed, lookback=10, horizons=[5, 20])
    assert info2.split == info.split
    np.testing.assert_array_equal(info.scaler.mean_, info2.scaler.mean_)
    np.testing.assert_array_equal(info.scaler.std_, info2.scaler.std_)
    np.testing.assert_array_equal(info.alpha, info2.alpha)
    np.testing.assert_array_equal(train.x, train2.x)
    np.testing.assert_array_equal(train.y, train2.y)
    assert not np.array_equal(val2.values[info.split.val.start:], train.values[info.split.val.start:])


def test_clock_sampling_return_target_and_determinism():
    book = random_book()
    kw = dict(lookback=8, horizons=[2, 4], target="return", sampling="100ms")
    a = lob_windows(book, **kw)
    b = lob_windows(book, **kw)
    for wa, wb in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(wa.x, wb.x)
        np.testing.assert_array_equal(wa.y, wb.y)
    train, _, _, info = a
    assert info.alpha is None and info.class_weights is None
    assert len(info.time) == len(train.values) and np.allclose(np.diff(info.time), 0.1)
    assert np.isfinite(train.y).all() and np.abs(train.y).max() < 0.01


def test_explicit_split_from_block_folds():
    book = random_book()
    folds = block_folds(len(book), 3, purge=30)
    for fold in folds:
        train, val, test, info = lob_windows(book, lookback=10, horizons=[5], split=fold)
        assert info.split == fold and len(test) > 0
        assert train.anchors.max() < fold.train.stop <= val.anchors.min()
    with pytest.raises(ConfigError, match="sampled book has"):
        lob_windows(book, lookback=10, horizons=[5], split=folds[0], sampling="1s")


def test_feeds_the_shared_training_loop():
    torch = pytest.importorskip("torch")
    from qseq.train import WindowBatches

    train, _, _, _ = lob_windows(random_book(), lookback=12, horizons=[5, 10])
    batches = WindowBatches(train, torch.device("cpu"))
    x, y, ticker = batches.gather(torch.as_tensor(train.anchors[:7]))
    assert x.shape == (7, 12, train.values.shape[1])
    np.testing.assert_array_equal(x.numpy(), train.x[:7])
    np.testing.assert_array_equal(y.numpy(), train.y[:7])


@pytest.mark.parametrize("kwargs, match", [
    (dict(lookback=0, horizons=[5]), "lookback"),
    (dict(lookback=5, horizons=[0]), "horizons"),
    (dict(lookback=5, horizons=[5], target="price"), "target"),
    (dict(lookback=5, horizons=[5], alpha="big"), "alpha"),
    (dict(lookback=5, horizons=[5], features=("ofi", "vpin")), "feature"),
    (dict(lookback=5, horizons=[5], sampling="often"), "sampling"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        lob_windows(random_book(300), **kwargs)


def test_to_datetime_origin():
    got = to_datetime(np.array([0.0, 34200.5]), "2012-06-21")
    assert str(got[1]) == "2012-06-21T09:30:00.500000000"
