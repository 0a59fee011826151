"""The data side of order-book anomaly detection: message streams (synthetic, level-3, the real
Bitstamp sample), injected spoofing / layering and quote-stuffing episodes with the book rebuilt
by the reconstruction engine, clock-sampled book and message-rate features, and labels per
sample. :mod:`qseq.lob.anomaly` fits and scores the detectors on them (its docstring has the
label, feature and scoring rules)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from qseq.config import (
    LOB_ANOMALY_FEATURES,
    LOB_ANOMALY_KINDS,
    LOB_MESSAGE_FEATURES,
    LobAnomalyConfig,
    check_choice,
)
from qseq.errors import ConfigError, DataError
from qseq.lob.book import CANCEL, DELETE, EXECUTE, SUBMIT, Book, Messages
from qseq.lob.features import FEATURES as BOOK_FEATURES
from qseq.lob.features import feature_matrix, sample

if TYPE_CHECKING:
    from qseq.lob.level3 import Level3
    from qseq.lob.sources import BookSource

KINDS = LOB_ANOMALY_KINDS  # kind code = position + 1 (0: an original message)
RESTING, HIT = 1, 2  # sample labels: an injected order rests in the book / an injected event
MESSAGE_FEATURES = LOB_MESSAGE_FEATURES
DEFAULT_FEATURES = LOB_ANOMALY_FEATURES


# ------------------------------------------------------------------------------ the stream


def _take(m: Messages, index: np.ndarray | slice) -> Messages:
    return Messages(m.time[index], m.event_type[index], m.order_id[index], m.size[index],
                    m.price[index], m.direction[index])


def _concat(*parts: Messages) -> Messages:
    return Messages(*(np.concatenate([getattr(p, f) for p in parts])
                      for f in ("time", "event_type", "order_id", "size", "price", "direction")))


@dataclass(frozen=True)
class MessageStream:
    """A live message stream and how to rebuild its book after messages are injected.

    messages: [E] the live messages (prices dollars, sizes shares or coins, times seconds)
    levels:   book levels rebuilt
    tick:     price grid of the venue in dollars (where injected orders are placed)
    level3:   for a level-3 capture, the capture: its snapshot seeds the book and
              :func:`~qseq.lob.level3.level3_book` rebuilds it; None: the book starts empty
    """

    messages: Messages
    levels: int
    tick: float
    source: str
    synthetic: bool
    level3: Level3 | None = None

    def book(self, messages: Messages | None = None, injected: np.ndarray | None = None, *,
             every_message: bool = False) -> Book:
        """The [E'] book of ``messages`` (default: the stream's own), rebuilt by the
        reconstruction engine. ``injected`` [E'] bool marks messages not in the capture.
        ``every_message``: one row per message (what the injectors need); else a level-3
        capture leaves out crossing flashes, as :func:`~qseq.lob.level3.level3_book` does."""
        from qseq.lob.level3 import level3_book
        from qseq.lob.reconstruct import reconstruct

        m = self.messages if messages is None else messages
        injected = np.zeros(len(m), bool) if injected is None else injected
        if self.level3 is None:
            return reconstruct(m, self.levels, source=self.source, synthetic=self.synthetic)
        l3 = self.level3
        snap = np.flatnonzero(l3.snapshot)
        live = np.flatnonzero(~l3.synthetic)
        if (~injected).sum() != len(live):
            raise DataError(f"{(~injected).sum()} original messages but the capture has "
                            f"{len(live)} live ones; pass the injected mask of these messages")
        origin = np.full(len(m), -1)
        origin[~injected] = live
        action = np.where(m.event_type == SUBMIT, 0, 2).astype(np.int8)  # created / deleted
        rebuilt = replace(
            l3, messages=_concat(_take(l3.messages, snap), m),
            received=np.r_[l3.received[snap], np.where(injected, m.time, l3.received[origin])],
            action=np.r_[l3.action[snap], np.where(injected, action, l3.action[origin])],
            line=np.r_[l3.line[snap], np.where(injected, -1, l3.line[origin])],
            synthetic=np.r_[np.ones(len(snap), bool), np.zeros(len(m), bool)],
            snapshot=np.r_[np.ones(len(snap), bool), np.zeros(len(m), bool)])
        return level3_book(rebuilt, self.levels, drop_flashes=not every_message,
                           source=self.source)


def synthetic_stream(events: int, *, levels: int = 10, seed: int = 0) -> MessageStream:
    """A SYNTHETIC stream of ``events`` messages of the queue-reactive model
    (:func:`qseq.lob.synthetic.simulate`), its book rebuilt from empty."""
    from qseq.lob.synthetic import QueueReactiveParams, simulate

    messages, book = simulate(events, levels=levels, seed=seed)
    return MessageStream(messages, levels, QueueReactiveParams().tick, book.source, True)


def price_tick(messages: Messages) -> float:
    """The venue's tick in dollars as the smallest gap between distinct prices of book events
    (rounded to 1e-4 dollars, LOBSTER's resolution)."""
    prices = np.unique(messages.price[(messages.event_type <= EXECUTE)
                                      & np.isfinite(messages.price)])
    gaps = np.round(np.diff(prices), 4)
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        raise DataError("fewer than two distinct prices: cannot tell the tick; pass it")
    return float(gaps.min())


def level3_stream(level3: Level3, *, levels: int = 10, tick: float | None = None,
                  source: str | None = None) -> MessageStream:
    """The live messages of a level-3 capture (snapshot and synthetic end deletes left out),
    rebuilt from the snapshot-seeded state. ``tick`` in dollars (None: :func:`price_tick`;
    the Bitstamp BTC/USD sample: $1)."""
    live = _take(level3.messages, ~level3.synthetic)
    if len(live) == 0:
        raise DataError(f"{level3.source}: no live messages to evaluate")
    tick = price_tick(live) if tick is None else float(tick)
    return MessageStream(live, levels, tick, level3.source if source is None else source, False,
                     level3)


def bitstamp_stream(*, levels: int = 10) -> MessageStream:
    """The real Bitstamp BTC/USD sample (needs ob-analytics installed; see
    :func:`qseq.lob.level3.bitstamp_sample_paths`), tick $1."""
    from qseq.lob.level3 import SAMPLE_SOURCE, bitstamp_sample_paths, read_level3

    paths = bitstamp_sample_paths()
    level3 = read_level3(paths.orders, paths.trades, meta_path=paths.meta)
    return level3_stream(level3, levels=levels, tick=1.0, source=SAMPLE_SOURCE)


def message_stream(source: BookSource, levels: int = 10) -> MessageStream:
    """The stream of a :class:`qseq.lob.sources.BookSource`: ``synthetic``, ``bitstamp_sample``
    or ``level3``. A LOBSTER pair is refused: its book file holds only the best levels, so the
    book cannot be rebuilt after an injection."""
    if source.messages:
        raise ConfigError("anomaly injection needs a message stream whose whole book can be "
                          "rebuilt: use --synthetic, --bitstamp-sample or --level3 (a LOBSTER "
                          "pair's book file holds only its best levels)")
    if source.synthetic:
        return synthetic_stream(source.synthetic, levels=levels, seed=source.synthetic_seed)
    if source.bitstamp_sample:
        return bitstamp_stream(levels=levels)
    from pathlib import Path

    from qseq.lob.level3 import read_level3

    return level3_stream(read_level3(source.level3, source.trades), levels=levels,
                         source=Path(source.level3).name)


# ------------------------------------------------------------------------------- injection


@dataclass(frozen=True)
class Injected:
    """A stream with injected episodes: messages [E'] and kind [E'] int8 (0: original, k: the
    k-th of :data:`KINDS`)."""

    messages: Messages
    kind: np.ndarray


def inject(stream: MessageStream, kinds: Sequence[str] = KINDS, *, start_time: float, seed: int = 0,
           episodes: int = 20, size_multiple: float = 10.0, burst_orders: int = 50) -> Injected:
    """Inject ``episodes`` episodes of each of ``kinds`` into the messages at or after
    ``start_time`` (seconds), one kind after the other (each sees the book with the earlier
    kinds in it): spoofing / layering (3 layers of ``size_multiple`` x the median submission,
    4 ticks behind the touch, deleted after 0.5-3 s) and quote-stuffing bursts
    (``burst_orders`` submit/delete pairs in 5 ms, 1-5 ticks behind the touch). Each kind
    draws its episode times from its own stream of ``seed`` (so the kinds do not land on the
    same events). Injected order ids follow the largest id of the stream."""
    from qseq.lob.inject import inject_quote_stuffing, inject_spoofing

    kinds = _check_kinds(kinds)
    for name, value in (("episodes", episodes), ("burst_orders", burst_orders)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    if not size_multiple > 0:
        raise ConfigError(f"size_multiple must be > 0, got {size_multiple!r}")
    messages, kind = stream.messages, np.zeros(len(stream.messages), np.int8)
    for name in kinds:
        first = int(np.searchsorted(messages.time, start_time, side="left"))
        if first >= len(messages):
            raise DataError(f"no message at or after {start_time:.3f} s to inject {name} into")
        book = stream.book(messages, kind != 0, every_message=True)
        tail, tail_book = _take(messages, slice(first, None)), _slice_book(book, first)
        own = int(np.random.SeedSequence([seed, KINDS.index(name)]).generate_state(1)[0])
        if name == "spoofing":
            added, label = inject_spoofing(tail, tail_book, episodes=episodes,
                                           size_multiple=size_multiple, tick=stream.tick,
                                           seed=own)
        else:
            added, label = inject_quote_stuffing(tail, tail_book, bursts=episodes,
                                                 orders=burst_orders, tick=stream.tick, seed=own)
        shift = max(int(messages.order_id.max()) - int(tail.order_id.max()), 0)
        ids = np.where(label, added.order_id + shift, added.order_id)  # unique over the stream
        added = replace(added, order_id=ids)
        tail_kind = np.zeros(len(added), np.int8)
        tail_kind[~label] = kind[first:]
        tail_kind[label] = KINDS.index(name) + 1
        messages = _concat(_take(messages, slice(0, first)), added)
        kind = np.r_[kind[:first], tail_kind]
    return Injected(messages, kind)


def _slice_book(book: Book, start: int) -> Book:
    halted = None if book.halted is None else book.halted[start:]
    return Book(book.time[start:], book.ask_price[start:], book.ask_size[start:],
                book.bid_price[start:], book.bid_size[start:], halted, book.source, book.synthetic)


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    if not kinds:
        raise ConfigError(f"inject at least one kind; choose from {list(KINDS)}")
    for name in kinds:
        check_choice("anomaly kind", name, KINDS)
    if len(set(kinds)) != len(kinds):
        raise ConfigError(f"anomaly kinds listed twice: {list(kinds)}")
    return kinds


# ------------------------------------------------------------------- samples and features


def _tolerance(time: np.ndarray) -> float:
    """Float round-off under which an event counts as at a grid time (as in ``sample``)."""
    return 4 * float(np.spacing(np.abs(time).max()))


def sample_of(grid: np.ndarray, time: np.ndarray, tol: float) -> np.ndarray:
    """[M] the sample holding each event time: the first grid time ``g >= t`` (within ``tol``);
    ``len(grid)`` for events after the last grid time."""
    return np.searchsorted(grid + tol, time, side="left")


def sample_labels(grid: np.ndarray, injected: Injected, tol: float) -> dict[str, np.ndarray]:
    """Per kind, [S] int8: :data:`HIT` where an injected message of that kind falls in the
    sample, :data:`RESTING` where only an injected order of that kind rests in the book (between
    the samples of its submission and its deletion), 0 elsewhere."""
    m, out = injected.messages, {}
    for code, name in enumerate(KINDS, start=1):
        mine = injected.kind == code
        label = np.zeros(len(grid), np.int8)
        if mine.any():
            ids, group = np.unique(m.order_id[mine], return_inverse=True)
            first = np.full(len(ids), np.inf)
            last = np.full(len(ids), -np.inf)
            np.minimum.at(first, group, m.time[mine])
            np.maximum.at(last, group, m.time[mine])
            mark = np.zeros(len(grid) + 1, np.int64)
            np.add.at(mark, sample_of(grid, first, tol), 1)
            np.add.at(mark, np.minimum(sample_of(grid, last, tol), len(grid) - 1) + 1, -1)
            label[np.cumsum(mark[:-1]) > 0] = RESTING
            hit = sample_of(grid, m.time[mine], tol)
            label[hit[hit < len(grid)]] = HIT
        out[name] = label
    return out


def _anscombe(count: np.ndarray) -> np.ndarray:
    """Variance-stabilised counts: ``2 sqrt(n + 3/8)`` has about unit variance for Poisson n."""
    return 2.0 * np.sqrt(count + 0.375)


def typical_size(messages: Messages, until: float) -> float:
    """Median submission size (shares or coins) of messages up to ``until`` seconds: the
    volume unit of the message features, fit on the training period only."""
    sizes = messages.size[(messages.event_type == SUBMIT) & (messages.time <= until)
                          & (messages.size > 0)]
    if len(sizes) == 0:
        raise DataError(f"no submission up to {until:.3f} s to set the volume unit; use a longer "
                        "training period")
    return float(np.median(sizes))


def message_features(messages: Messages, sampled: Book, *, size_unit: float,
                     short_life: float = 5.0, flash_life: float = 0.1, far_level: int = 2,
                     names: Sequence[str] = MESSAGE_FEATURES) -> np.ndarray:
    """[S, len(names)] float64 message-rate features of the clock samples of ``sampled``
    (:data:`MESSAGE_FEATURES`; see the module doc). Messages after the last grid time are
    ignored; a sample reads only messages up to its grid time and the previous sample's book."""
    for name in names:
        check_choice("message feature", name, MESSAGE_FEATURES)
    if not size_unit > 0:
        raise DataError(f"size_unit must be > 0 (a median submission size), got {size_unit!r}")
    grid = sampled.time
    n = len(grid)
    s = sample_of(grid, messages.time, _tolerance(np.r_[grid, messages.time]))
    keep = s < n
    s, et = s[keep], messages.event_type[keep]
    size, price, side = messages.size[keep] / size_unit, messages.price[keep], \
        messages.direction[keep]
    oid, time = messages.order_id[keep], messages.time[keep]
    sub, canc, exe = et == SUBMIT, (et == CANCEL) | (et == DELETE), et == EXECUTE

    # lifetime of each cancelled order: since its first submission (inf if none before)
    ids, group = np.unique(oid, return_inverse=True)
    born = np.full(len(ids), np.inf)
    np.minimum.at(born, group[sub], time[sub])
    age = time - born[group]
    age = np.where(age >= 0, age, np.inf)

    # how many better levels the previous sample's book had on the order's side
    prev = np.maximum(s - 1, 0)
    with np.errstate(invalid="ignore"):
        better = np.where(side[:, None] > 0, sampled.bid_price[prev] > price[:, None],
                          sampled.ask_price[prev] < price[:, None]).sum(axis=1)
    far = (better >= far_level) & (s > 0)

    def total(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(s[mask], None if weights is None else weights[mask], minlength=n)

    n_sub, n_canc = total(sub), total(canc)
    biggest = np.zeros(n)
    np.maximum.at(biggest, s[sub], size[sub])
    beyond = sampled.bid_size[:, 1:].sum(axis=1) + sampled.ask_size[:, 1:].sum(axis=1)
    beyond = np.log1p(beyond / size_unit)
    columns = {
        "submissions": lambda: _anscombe(n_sub),
        "cancellations": lambda: _anscombe(n_canc),
        "executions": lambda: _anscombe(total(exe)),
        "cancel_ratio": lambda: np.log((n_canc + 1) / (n_sub + 1)),
        "short_cancel_volume": lambda: np.log1p(total(canc & (age < short_life), size)),
        "flash_cancels": lambda: _anscombe(total(canc & (age < flash_life))),
        "max_submit_size": lambda: np.log1p(biggest),
        "far_submit_volume": lambda: np.log1p(total(sub & far, size)),
        "far_cancel_volume": lambda: np.log1p(total(canc & far, size)),
        "far_depth_change": lambda: np.r_[0.0, np.diff(beyond)],
    }
    return np.stack([columns[name]() for name in names], axis=1) if names else np.zeros((n, 0))


def anomaly_features(messages: Messages, book: Book, config: LobAnomalyConfig, *,
                     size_unit: float) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """The inputs of every clock sample: (values [S, 4 L + D] float32, names, grid time [S]
    seconds). ``book``: the event book of ``messages`` (its rows may be fewer: a level-3 book
    leaves out crossing flashes); ``size_unit`` from :func:`typical_size` on training data."""
    sampled, index = sample(book, config.sampling)
    book_names = [f for f in config.features if f in BOOK_FEATURES]
    msg_names = [f for f in config.features if f in MESSAGE_FEATURES]
    values, names = feature_matrix(book, sampled, index, features=book_names,
                                   levels=min(config.levels, book.levels))
    size = np.array([n.startswith(("ask_size_", "bid_size_")) for n in names])
    values[:, size] = np.log1p(values[:, size] / size_unit)  # sizes in log typical orders
    keep = size | ~np.array([n.startswith(("ask_price_", "bid_price_")) for n in names])
    if not config.level_prices:
        values, names = values[:, keep], tuple(np.asarray(names)[keep])
    extra = message_features(messages, sampled, size_unit=size_unit, short_life=config.short_life,
                             flash_life=config.flash_life, far_level=config.far_level,
                             names=msg_names)
    return (np.concatenate([values, extra.astype(np.float32)], axis=1), (*names, *msg_names),
            sampled.time)
