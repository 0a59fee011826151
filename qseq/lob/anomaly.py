"""Order-book anomalies: injected spoofing / layering and quote-stuffing episodes, clock-sampled
book and message-rate features, and the reconstruction autoencoder against rolling z-score,
IsolationForest and PCA on the same features, scored by PR-AUC per kind.

The pipeline (:func:`evaluate_lob_anomalies`), one arrow per function:

    MessageStream (live messages + how its book is rebuilt)
      -> features of the clean stream on a clock (:func:`anomaly_features`)
      -> chronological split (train / validation / test), scaler fit on training rows only
      -> autoencoder (registry, ``kind="autoencoder"``) trained on the clean training windows
         with :func:`qseq.anomaly.training.fit_autoencoder`; baselines fit on the same rows
      -> per seed: episodes injected after the test start (:func:`inject`), the book rebuilt by
         the reconstruction engine, features and labels per sample, causal scores of every method
      -> PR-AUC (and point metrics at a threshold set on validation scores) per kind and overall

Injection uses :func:`qseq.lob.synthetic.inject_spoofing` and ``inject_quote_stuffing`` on the
live message stream; the book is then rebuilt from the messages: from empty for a synthetic
stream, and for a level-3 capture (the real Bitstamp sample) from its snapshot-seeded state by
:func:`qseq.lob.level3.level3_book` itself (snapshot seeds the state, crossing flashes left out).

Labels: a sample (clock tick ``g[s]``, covering events in ``(g[s-1], g[s]]``, the same rule
:func:`qseq.lob.features.sample` uses) is anomalous for a kind when an injected message of that
kind falls in it. Samples where an injected order only rests (between the samples of its
submission and its deletion: the book shows it, nothing happens) are neither: they are left out
of the metrics, as are samples touched only by another kind; ``all`` pools the kinds.

Message features (:data:`MESSAGE_FEATURES`, per sample interval, causal: a sample reads messages
up to its own grid time and the book of the previous sample): counts of submissions,
cancellations (types 2-3) and executions, the cancel-to-submit log ratio, the volume cancelled
by orders that lived less than ``short_life`` seconds, cancellations of orders that lived less
than ``flash_life``, the largest submission, the volume submitted and cancelled behind the best
``far_level`` levels, and the log change of the depth behind the touch. Counts are
variance-stabilised (``2 sqrt(n + 3/8)``: a log squeezes a 50-order burst into the noise of a
busy stream); volumes are in units of the median submission size of the training period
(``size_unit``), log1p-compressed, and so are the level sizes; level prices are left out by
default (they jump whenever a level empties and drown the placement signals).

Scores: every method but IsolationForest has a per-feature score (the autoencoder's and PCA's
causal contributions from :mod:`qseq.anomaly.scores`, each feature's rolling z-score);
``score_combine="calibrated"`` divides each by its 99% quantile on the validation samples and
takes the max, so a heavy-tailed feature does not outshout the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from qseq.config import TrainConfig, check_choice, param
from qseq.errors import ConfigError, DataError
from qseq.lob.book import CANCEL, DELETE, EXECUTE, SUBMIT, Book, Messages
from qseq.lob.features import FEATURES as BOOK_FEATURES
from qseq.lob.features import feature_matrix, sample, sampling_interval

if TYPE_CHECKING:
    import pandas as pd

    from qseq.data.windows import StandardScaler, Windows
    from qseq.lob.level3 import Level3
    from qseq.lob.windows import LobSplit

log = logging.getLogger(__name__)

KINDS = ("spoofing", "stuffing")  # kind code = position + 1 (0: an original message)
ALL = "all"
RESTING, HIT = 1, 2  # sample labels: an injected order rests in the book / an injected event
MESSAGE_FEATURES = ("submissions", "cancellations", "executions", "cancel_ratio",
                    "short_cancel_volume", "flash_cancels", "max_submit_size",
                    "far_submit_volume", "far_cancel_volume", "far_depth_change")
# order placement, not trading: spread, OFI and executions jump with every trade and drown the
# placement signals in a max over features (see bench/README.md)
DEFAULT_FEATURES = ("imbalance", *(f for f in MESSAGE_FEATURES if f != "executions"))
METHODS = ("autoencoder", "rolling_zscore", "isolation_forest", "pca")
COMBINE = ("calibrated", "max", "mean")
CALIBRATION_QUANTILE = 0.99  # of each feature's validation scores, the unit of "calibrated"


def _autoencoders() -> list[str]:
    from qseq.models import list_models

    return list_models("autoencoder")


@dataclass(frozen=True)
class LobAnomalyConfig:
    """What an order-book anomaly evaluation depends on besides the stream and the injections.

    Samples every ``sampling`` (a clock: ``100ms``, ``1s``); inputs are the LOBSTER tensor of
    the best ``levels`` levels (prices in bps from the mid) plus ``features`` (book features of
    :mod:`qseq.lob.features` and :data:`MESSAGE_FEATURES`). The first ``train_frac`` of the
    samples is the clean training period, the next ``val_frac`` early stopping and threshold
    calibration, the rest the test period where episodes are injected.
    """

    model: str = param("masked_lstm_ae", "Autoencoder from the registry (qseq models).",
                       choices=_autoencoders)
    levels: int = param(10, "Book levels per side used as inputs (4 columns each).")
    sampling: str = param("100ms", "Clock interval of the samples (100ms, 1s, ...).")
    lookback: int = param(50, "Window length in samples (50 x 100 ms: 5 s).")
    features: tuple[str, ...] = param(DEFAULT_FEATURES, "Book and message-rate features beside "
                                      "the LOBSTER columns, comma-separated.")
    level_prices: bool = param(False, "Also feed the level prices (bps from the mid) beside the "
                               "level sizes.")
    hidden_size: int = param(32, "Recurrent state width (and PCA components).")
    num_layers: int = param(1, "Stacked recurrent layers.", cli="--layers")
    last_bar_weight: float = param(8.0, "Weight of each window's last sample (the scored one) in "
                                   "the reconstruction loss.")
    score_window: int = param(600, "Samples of past errors whose mean scales each feature's "
                              "error (causal; 0: the training scale only).")
    score_combine: str = param("calibrated", "How per-feature scores make a sample's score: "
                               "the max of each over its validation 99% quantile (calibrated), "
                               "the plain max, or the mean.", choices=lambda: COMBINE)
    zscore_window: int = param(600, "Trailing samples of the rolling z-score baseline.")
    target_far: float = param(0.01, "False-alarm rate the thresholds are set for (validation "
                              "samples).")
    short_life: float = param(5.0, "Seconds: a cancellation of an order younger than this is "
                              "short-lived.", hidden=True)
    flash_life: float = param(0.1, "Seconds: a cancellation of an order younger than this is a "
                              "flash.", hidden=True)
    far_level: int = param(2, "Orders behind this many better levels are far from the touch.",
                           hidden=True)
    train_frac: float = param(0.5, "Share of samples in the clean training period.", hidden=True)
    val_frac: float = param(0.1, "Share of samples for early stopping and thresholds.",
                            hidden=True)
    seed: int = param(0, "Model seed (the injection seeds are separate).")
    train: TrainConfig = param(lambda: TrainConfig(epochs=10, lr=2e-3, patience=3),
                               "Training loop settings.")

    def __post_init__(self) -> None:
        from qseq.config import _positive_int, _strings

        object.__setattr__(self, "features", _strings(self.features))
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", TrainConfig(**self.train))
        check_choice("autoencoder", self.model, _autoencoders())
        check_choice("score combination", self.score_combine, COMBINE)
        for name in self.features:
            check_choice("order-book anomaly feature", name, (*BOOK_FEATURES, *MESSAGE_FEATURES))
        if len(set(self.features)) != len(self.features):
            raise ConfigError(f"features listed twice: {list(self.features)}")
        if sampling_interval(self.sampling) is None:
            raise ConfigError("anomaly samples need a clock interval such as 100ms or 1s, not "
                              "'event' (message rates are counted per interval)")
        _positive_int("levels", self.levels)
        _positive_int("lookback", self.lookback, minimum=2)
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("num_layers", self.num_layers)
        _positive_int("far_level", self.far_level)
        _positive_int("score_window", self.score_window, minimum=0)
        _positive_int("zscore_window", self.zscore_window, minimum=2)
        _positive_int("seed", self.seed, minimum=0)
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1
                and self.train_frac + self.val_frac < 0.9):
            raise ConfigError(f"train_frac={self.train_frac} and val_frac={self.val_frac} must be "
                              "shares leaving at least 10% of the samples for the test period")
        if not (self.last_bar_weight > 0 and self.short_life > 0 and self.flash_life > 0):
            raise ConfigError("last_bar_weight, short_life and flash_life must be > 0")
        from qseq.anomaly.thresholds import check_far

        check_far(self.target_far)


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
    from qseq.lob.synthetic import inject_quote_stuffing, inject_spoofing

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


# ------------------------------------------------------------------------------ evaluation


@dataclass
class _Fitted:
    """Everything fit on the clean stream: the split, scaler, volume unit, models, thresholds."""

    config: LobAnomalyConfig
    split: LobSplit
    scaler: StandardScaler
    size_unit: float
    names: tuple[str, ...]
    models: dict
    thresholds: dict
    scales: dict


def _windows(values: np.ndarray, time: np.ndarray, names: tuple[str, ...], lookback: int,
             anchors: np.ndarray, source: str) -> Windows:
    from qseq.data.windows import Windows
    from qseq.lob.windows import to_datetime

    n = len(values)
    return Windows(values, np.zeros((n, 0), np.float32), np.zeros(n, np.int64), to_datetime(time),
                   anchors.astype(np.int64), lookback, names, (source or "order book",))


def _anchors(values: np.ndarray, lookback: int, rows: range) -> np.ndarray:
    """Rows of ``rows`` that end a window of ``lookback`` finite rows inside ``rows``."""
    bad = np.r_[0, np.cumsum(~np.isfinite(values).all(axis=1))]
    r = np.arange(rows.start + lookback - 1, rows.stop)
    return r[bad[r + 1] - bad[r + 1 - lookback] == 0]


def _feature_scores(fitted: _Fitted, windows: Windows) -> dict[str, np.ndarray]:
    """[R, F] causal per-feature score of every row for the methods that have one (NaN where
    none): the autoencoder's and PCA's contributions (:func:`qseq.anomaly.scores.score_frame`)
    and the rolling z-score of each feature alone."""
    from qseq.anomaly.scores import score_windows

    cfg, out, n = fitted.config, {}, len(windows.values)
    for name in ("autoencoder", "pca"):
        model, norms = fitted.models[name]
        frame = score_windows(model, windows, *norms, scale_window=cfg.score_window)
        out[name] = np.full((n, len(fitted.names)), np.nan)
        out[name][windows.anchors] = frame[list(windows.feature_names)].to_numpy()
    zscore = fitted.models["rolling_zscore"]
    out["rolling_zscore"] = np.stack(
        [zscore.row_scores(windows.with_values(windows.values[:, [j]]))
         for j in range(windows.values.shape[1])], axis=1)
    return out


def _method_scores(fitted: _Fitted, windows: Windows) -> dict[str, np.ndarray]:
    """[R] causal score of every row per method (NaN where a method has none): the per-feature
    scores combined by ``config.score_combine`` (``calibrated``: each over its validation
    quantile ``fitted.scales``, then the max), and IsolationForest's own score."""
    out = {}
    for name, per in _feature_scores(fitted, windows).items():
        if fitted.config.score_combine == "calibrated":
            per = per / fitted.scales[name]
        none = np.isnan(per).all(axis=1)
        top = per.mean(axis=1) if fitted.config.score_combine == "mean" else \
            np.where(np.isnan(per), -np.inf, per).max(axis=1)
        out[name] = np.where(none, np.nan, top)
    out["isolation_forest"] = fitted.models["isolation_forest"].row_scores(windows)
    return {name: out[name] for name in METHODS}


def fit_detectors(stream: MessageStream, config: LobAnomalyConfig, *,
                  device: str = "auto") -> tuple[_Fitted, np.ndarray]:
    """Fit the autoencoder and the baselines on the clean stream's training samples; set every
    method's threshold on its validation scores. Returns the fitted state and the grid [S]."""
    import torch

    from qseq.anomaly.baselines import IsolationForestBaseline, RollingZScore, fit_pca_reconstruction
    from qseq.anomaly.scores import fit_normalisers
    from qseq.anomaly.thresholds import calibrate
    from qseq.anomaly.training import fit_autoencoder
    from qseq.lob.windows import fit_scaler, lob_splits
    from qseq.models import ModelConfig, build_model

    book = stream.book()
    sampled, _ = sample(book, config.sampling)
    grid = sampled.time
    split = lob_splits(len(grid), train=config.train_frac, val=config.val_frac,
                       purge=config.lookback)
    if config.zscore_window >= split.val.start:
        raise DataError(f"zscore_window of {config.zscore_window} samples leaves the rolling "
                        f"z-score no score before validation ({split.val.start} samples); use a "
                        "smaller zscore_window or a longer stream")
    size_unit = typical_size(stream.messages, grid[split.train.stop - 1])
    values, names, grid = anomaly_features(stream.messages, book, config, size_unit=size_unit)
    scaler = fit_scaler(values, split)
    scaled = scaler.transform(values)
    train_rows, val_rows = (_anchors(scaled, config.lookback, r) for r in (split.train, split.val))
    if len(train_rows) < 64 or len(val_rows) < 20:
        raise DataError(f"{len(grid)} samples of {config.sampling} leave {len(train_rows)} training "
                        f"and {len(val_rows)} validation windows (need >= 64 and >= 20); use a "
                        "longer stream or a shorter sampling interval")
    train = _windows(scaled, grid, names, config.lookback, train_rows, stream.source)
    val = _windows(scaled, grid, names, config.lookback, val_rows, stream.source)
    mc = ModelConfig(input_size=len(names), horizons=1, hidden_size=config.hidden_size,
                     num_layers=config.num_layers, lookback=config.lookback)
    torch.manual_seed(config.seed)
    model = build_model(config.model, mc, kind="autoencoder")
    fit_autoencoder(model, train, val, config.train, seed=config.seed, device=device,
                    last_bar_weight=config.last_bar_weight)
    model.cpu().eval()
    pca = fit_pca_reconstruction(train, config.hidden_size, config.seed)
    models = {"autoencoder": (model, fit_normalisers(model, train)),
              "pca": (pca, fit_normalisers(pca, train)),
              "rolling_zscore": RollingZScore(config.zscore_window).fit(train),
              "isolation_forest": IsolationForestBaseline(seed=config.seed).fit(train)}
    fitted = _Fitted(config, split, scaler, size_unit, names, models, {}, {})
    every = _windows(scaled, grid, names, config.lookback,
                     _anchors(scaled, config.lookback, range(0, len(grid))), stream.source)
    fitted.scales = {k: np.maximum(np.nanquantile(v[val_rows], CALIBRATION_QUANTILE, axis=0), 1e-12)
                     for k, v in _feature_scores(fitted, every).items()}
    scores = _method_scores(fitted, every)
    fitted.thresholds = {k: calibrate(v[val_rows], config.target_far, "quantile").value
                         for k, v in scores.items()}
    log.info("fitted %s on %d training windows (%d features)", config.model, len(train_rows),
             len(names))
    return fitted, grid


def _runs(mask: np.ndarray) -> np.ndarray:
    """[S] int64 id of each run of consecutive True (-1 where False)."""
    start = mask & ~np.r_[False, mask[:-1]]
    return np.where(mask, np.cumsum(start) - 1, -1)


def evaluate_lob_anomalies(stream: MessageStream, config: LobAnomalyConfig | None = None, *,
                           kinds: Sequence[str] = KINDS, seeds: Sequence[int] = (0, 1, 2),
                           episodes: int = 20, size_multiple: float = 10.0,
                           burst_orders: int = 50, device: str = "auto") -> pd.DataFrame:
    """Fit every method on the clean ``stream`` (:func:`fit_detectors`), then per seed inject
    ``episodes`` of each of ``kinds`` into the test period (:func:`inject`, with
    ``size_multiple`` and ``burst_orders``), rebuild the book and score it.

    Returns one row per (method, kind, seed); kind ``all`` pools the kinds. Columns: method,
    kind, seed, events (runs of labelled samples), positives, samples, chance (the positive
    share: a random score's PR-AUC), and :func:`qseq.anomaly.evaluate.detection_metrics`
    (pr_auc; precision, recall, f1, pa_f1, detected at the validation-calibrated threshold).
    ``frame.attrs``: source, synthetic, sampling, features.
    """
    from qseq.anomaly.evaluate import detection_metrics

    config = config or LobAnomalyConfig()
    kinds = _check_kinds(kinds)
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError("give at least one injection seed")
    fitted, clean_grid = fit_detectors(stream, config, device=device)
    test_start = clean_grid[fitted.split.test.start]
    rows = []
    for seed in seeds:
        injected = inject(stream, kinds, start_time=test_start, seed=seed, episodes=episodes,
                          size_multiple=size_multiple, burst_orders=burst_orders)
        book = stream.book(injected.messages, injected.kind != 0)
        values, _, grid = anomaly_features(injected.messages, book, config,
                                           size_unit=fitted.size_unit)
        scaled = fitted.scaler.transform(values)
        windows = _windows(scaled, grid, fitted.names, config.lookback,
                           _anchors(scaled, config.lookback, range(0, len(grid))), stream.source)
        scores = _method_scores(fitted, windows)
        labels = sample_labels(grid, injected, _tolerance(np.r_[grid, injected.messages.time]))
        test = np.zeros(len(grid), bool)
        test[fitted.split.test.start:] = True
        touched = np.any([labels[k] > 0 for k in kinds], axis=0)
        for kind in (*kinds, ALL):
            positive = np.any([labels[k] == HIT for k in (kinds if kind == ALL else (kind,))],
                              axis=0)
            use = test & (positive | ~touched)
            event = _runs(positive)[use]
            for method, score in scores.items():
                ok = np.isfinite(score[use])
                metrics = detection_metrics(score[use][ok], event[ok], fitted.thresholds[method])
                rows.append({"method": method, "kind": kind, "seed": seed,
                             "positives": int((event[ok] >= 0).sum()), "samples": int(ok.sum()),
                             "chance": float((event[ok] >= 0).mean()), **metrics})
        log.info("seed %d: %s", seed, {r["method"]: round(r["pr_auc"], 3) for r in rows[-4:]})
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.attrs.update(source=stream.source, synthetic=stream.synthetic, sampling=config.sampling,
                       features=list(fitted.names), model=config.model)
    return frame


def summary(results: pd.DataFrame, metric: str = "pr_auc") -> pd.DataFrame:
    """``metric`` per kind (rows: each kind, then ``all``) and method (columns), the mean over
    seeds with ``<method> sd`` (standard deviation over seeds), ``chance`` (the mean positive
    share, a random score's PR-AUC), ``ae wins`` and ``ae seeds won`` (see
    :func:`qseq.anomaly.evaluate.summary_table`)."""
    from qseq.anomaly.evaluate import summary_table

    table = summary_table(results, metric).drop(index="mean over kinds")
    table = table.loc[[k for k in (*KINDS, ALL) if k in table.index]]
    table.insert(0, "chance", results.groupby("kind")["chance"].mean().loc[table.index])
    return table
