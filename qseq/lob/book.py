"""The two arrays every order-book module shares: event messages and the top-N book after each
event. Readers (:mod:`qseq.lob.lobster`, :mod:`qseq.lob.level3`) produce them, the feature code
(:mod:`qseq.lob.features`) consumes them. Plain numpy; no torch, no pandas.

Units: prices in dollars (LOBSTER files store 1/10,000 dollars; readers convert), sizes in
shares (or coins for crypto), times in seconds (LOBSTER: after midnight of the trading day;
level-3 captures: since the Unix epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qseq.errors import DataError

# LOBSTER event types (the message file's second column)
SUBMIT, CANCEL, DELETE, EXECUTE, HIDDEN_EXECUTE, CROSS, HALT = 1, 2, 3, 4, 5, 6, 7
EVENT_TYPES = {SUBMIT: "submission", CANCEL: "partial cancellation", DELETE: "deletion",
               EXECUTE: "visible execution", HIDDEN_EXECUTE: "hidden execution",
               CROSS: "cross trade", HALT: "trading halt"}
PRICE_SCALE = 10_000  # LOBSTER (and the simulator's integer grid) store dollars x 10,000
BUY, SELL = 1, -1  # direction: +1 a buy limit order (bid side), -1 a sell limit order (ask side)


@dataclass(frozen=True)
class Messages:
    """One row per event, [E] arrays.

    time:       float64 seconds
    event_type: int8, one of :data:`EVENT_TYPES`
    order_id:   int64
    size:       float64 shares (coins)
    price:      float64 dollars
    direction:  int8, :data:`BUY` or :data:`SELL`
    """

    time: np.ndarray
    event_type: np.ndarray
    order_id: np.ndarray
    size: np.ndarray
    price: np.ndarray
    direction: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True)
class Book:
    """The top ``levels`` price levels of each side after each event.

    time:       [E] float64 seconds
    ask_price:  [E, L] float64 dollars, best first (ascending); NaN where the level is empty
    ask_size:   [E, L] float64, 0 where the level is empty
    bid_price:  [E, L] float64 dollars, best first (descending); NaN where the level is empty
    bid_size:   [E, L] float64, 0 where the level is empty
    halted:     [E] bool, trading halted after this event (LOBSTER type 7)
    source:     where the book came from (a file name, "bitstamp sample", "synthetic ...")
    synthetic:  True for generated books; every report and table built on it says so
    """

    time: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    bid_price: np.ndarray
    bid_size: np.ndarray
    halted: np.ndarray | None = None
    source: str = ""
    synthetic: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n, levels = self.ask_price.shape if self.ask_price.ndim == 2 else (-1, -1)
        for name in ("ask_price", "ask_size", "bid_price", "bid_size"):
            if getattr(self, name).shape != (n, levels) or levels < 1:
                raise DataError(f"book {name} must be [events, levels] like ask_price "
                                f"{self.ask_price.shape}, got {getattr(self, name).shape}")
        if self.time.shape != (n,):
            raise DataError(f"book time must be [{n}], got {self.time.shape}")

    def __len__(self) -> int:
        return len(self.time)

    @property
    def levels(self) -> int:
        return self.ask_price.shape[1]

    @property
    def crossed(self) -> np.ndarray:
        """[E] bool: best bid >= best ask (both sides present)."""
        with np.errstate(invalid="ignore"):
            return self.bid_price[:, 0] >= self.ask_price[:, 0]

    def as_lobster(self) -> np.ndarray:
        """[E, 4 L] float64 in the LOBSTER column order (ask price, ask size, bid price,
        bid size per level), prices in dollars, NaN for empty levels."""
        out = np.empty((len(self), 4 * self.levels))
        out[:, 0::4], out[:, 1::4] = self.ask_price, self.ask_size
        out[:, 2::4], out[:, 3::4] = self.bid_price, self.bid_size
        return out
