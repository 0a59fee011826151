"""Write a :class:`~qseq.lob.book.Messages` / :class:`~qseq.lob.book.Book` pair as LOBSTER
files (the format :mod:`qseq.lob.lobster` reads), atomically, with a ``_synthetic.json`` sidecar
for generated books so that every reader labels them synthetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from qseq._io import atomic_path, atomic_write_text
from qseq.errors import DataError
from qseq.lob.book import HALT, PRICE_SCALE, Book, Messages
from qseq.lob.lobster import (
    DUMMY_ASK,
    DUMMY_BID,
    MESSAGE_COLUMNS,
    _book_schema,
    sidecar_path_for,
)


def _integral(values: np.ndarray) -> pa.Array:
    """Sizes as integers when they are whole (LOBSTER's form), else as floats."""
    if np.all(values == np.round(values)):
        return pa.array(values.astype(np.int64))
    return pa.array(values)


def write_lobster(directory: str | Path, messages: Messages, book: Book, *,
                  ticker: str = "SYNTH", date: str = "2012-06-21") -> tuple[Path, Path]:
    """Write ``messages`` and ``book`` as a LOBSTER file pair in ``directory``.

    Names: ``{ticker}_{date}_{start}_{end}_{message|orderbook}_{levels}.csv`` with start/end
    the whole seconds around the events. Prices become integers x 10,000 (type-7 rows keep
    their halt code), empty levels the dummy prices with size 0. Each file is written
    atomically. A synthetic book (``book.synthetic``) also gets the sidecar
    ``..._message_L_synthetic.json`` with ``book.extra["synthetic"]`` (model, parameters,
    seed), so :func:`read_lobster` labels it synthetic; a stale sidecar is removed otherwise.
    Returns (message path, order-book path).
    """
    if len(book) != len(messages) or not len(messages):
        raise DataError(f"write_lobster needs as many book rows as messages (> 0), got "
                        f"{len(book)} and {len(messages)}")
    directory = Path(directory)
    start = math.floor(messages.time[0])
    end = max(math.ceil(messages.time[-1]), start + 1)
    stem = f"{ticker}_{date}_{start}_{end}"
    msg_path = directory / f"{stem}_message_{book.levels}.csv"
    book_path = directory / f"{stem}_orderbook_{book.levels}.csv"
    halt = messages.event_type == HALT
    price = np.where(halt, messages.price, messages.price * PRICE_SCALE)
    msg_table = pa.table([pa.array(messages.time), pa.array(messages.event_type.astype(np.int64)),
                          pa.array(messages.order_id), _integral(messages.size),
                          pa.array(np.round(price).astype(np.int64)),
                          pa.array(messages.direction.astype(np.int64))],
                         names=list(MESSAGE_COLUMNS))
    columns = []
    for level in range(book.levels):
        for prices, sizes, dummy in ((book.ask_price, book.ask_size, DUMMY_ASK),
                                     (book.bid_price, book.bid_size, DUMMY_BID)):
            raw = np.round(prices[:, level] * PRICE_SCALE)
            columns += [pa.array(np.where(np.isnan(raw), dummy, raw).astype(np.int64)),
                        _integral(sizes[:, level])]
    book_table = pa.table(columns, names=_book_schema(book.levels)[0])
    sidecar = sidecar_path_for(msg_path)
    if book.synthetic:
        atomic_write_text(sidecar, json.dumps(book.extra.get("synthetic", {"model": book.source}),
                                              indent=2, sort_keys=True) + "\n")
    elif sidecar.exists():
        sidecar.unlink()
    options = pacsv.WriteOptions(include_header=False)
    for table, path in ((book_table, book_path), (msg_table, msg_path)):
        with atomic_path(path) as tmp:
            pacsv.write_csv(table, tmp, write_options=options)
    return msg_path, book_path
