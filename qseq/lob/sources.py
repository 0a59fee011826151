"""Where an order book comes from, one function for the CLI and notebooks: a LOBSTER file pair,
a level-3 capture (Bitstamp format), the real Bitstamp sample, or a synthetic book."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qseq.errors import ConfigError
from qseq.lob.book import Book

# level-3 files this large are read in chunks (the same book; bench/README: 2-3x faster and a
# bounded peak on large files, slower on the small gzipped sample)
CHUNKED_BYTES = 32 << 20


@dataclass(frozen=True)
class BookSource:
    """What to load. Exactly one of: ``messages`` (+ optional ``book``, a LOBSTER pair),
    ``level3`` (+ optional ``trades``), ``bitstamp_sample``, ``synthetic`` (events, generated
    with ``synthetic_seed``)."""

    messages: str | None = None
    book: str | None = None
    level3: str | None = None
    trades: str | None = None
    bitstamp_sample: bool = False
    synthetic: int = 0
    synthetic_seed: int = 0

    def __post_init__(self) -> None:
        given = [name for name, on in (("--messages", self.messages), ("--level3", self.level3),
                                       ("--bitstamp-sample", self.bitstamp_sample),
                                       ("--synthetic", self.synthetic)) if on]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ConfigError(f"give one order-book source (--messages M [--book B], --level3 "
                              f"ORDERS [--trades T], --bitstamp-sample or --synthetic EVENTS), "
                              f"got {what}")
        if self.book and not self.messages:
            raise ConfigError("--book needs --messages (the LOBSTER message file it belongs to)")
        if self.trades and not self.level3:
            raise ConfigError("--trades needs --level3 (the order events they belong to)")
        if self.synthetic < 0:
            raise ConfigError(f"--synthetic must be >= 0 events, got {self.synthetic}")

    def describe(self) -> str:
        """One line naming the source."""
        if self.messages:
            return f"LOBSTER {Path(self.messages).name}"
        if self.level3:
            return f"level-3 {Path(self.level3).name}"
        if self.bitstamp_sample:
            return "Bitstamp BTC/USD sample"
        return f"SYNTHETIC book, {self.synthetic} events, seed {self.synthetic_seed}"


def load_book(source: BookSource, levels: int = 10) -> Book:
    """The top ``levels`` book after every event. LOBSTER and level-3 files are
    validated; a bad file raises one DataError naming the file and line. A level-3 file of
    :data:`CHUNKED_BYTES` or more is read chunk by chunk
    (:func:`qseq.lob.level3_stream.read_level3_book`)."""
    if source.messages:
        from qseq.lob.lobster import read_lobster

        return read_lobster(source.messages, source.book, levels=levels)[1]
    if source.level3:
        from qseq.lob.level3 import level3_book, read_level3
        from qseq.lob.level3_stream import read_level3_book

        name = Path(source.level3).name
        if Path(source.level3).is_file() and Path(source.level3).stat().st_size >= CHUNKED_BYTES:
            return read_level3_book(source.level3, source.trades, levels=levels, source=name)
        return level3_book(read_level3(source.level3, source.trades), levels, source=name)
    if source.bitstamp_sample:
        from qseq.lob.level3 import load_bitstamp_sample

        return load_bitstamp_sample(levels)
    from qseq.lob.synthetic import simulate

    return simulate(source.synthetic, levels=levels, seed=source.synthetic_seed)[1]
