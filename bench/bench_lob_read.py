"""LOBSTER reading: qseq's validated reader vs a bare pyarrow parse and ob-analytics 0.1.0.

One synthetic LOBSTER file pair (``qseq.lob.synthetic.simulate`` written by ``write_lobster``;
default 2,000,000 events, 10 levels) in a temporary directory, read by:

- messages only: a bare ``pyarrow.csv.read_csv`` of the message file (the same explicit column
  types and no header, nothing after the parse); qseq ``read_lobster_messages`` (parse, numpy
  arrays, every check); ob-analytics' ``LobsterLoader.load`` (its LOBSTER loader: pandas'
  parser and its event frame; it reads the message file only);
- the message and order-book files: a bare pyarrow parse of both (book prices int64, sizes
  float64, as qseq reads them); qseq ``read_lobster`` (both files, every check, [E, L] arrays);
  qseq ``iter_lobster`` in chunks (memory bounded by the chunk, not the file).

Also the generator's own rate (``simulate``, numba-compiled; the compile is not timed; one
run, which includes first touching its four [E, L] float64 outputs, 640 MB at the defaults).

    python bench/bench_lob_read.py                     # 2M events (about 2 minutes on 2 cores)
    python bench/bench_lob_read.py --events 200000     # a smoke run

Threads: pyarrow's CPU pool is set to ``--threads`` (default 2) for the bare parse and for qseq
alike; OMP/MKL/OpenBLAS/numba threads are pinned to 1 (nothing here uses them). pandas' parser,
under ob-analytics, is single-threaded. Every figure runs in its own spawned process (best of
``--repeat`` runs and the first of them, peak RSS of that process) after the files were
written, so all of them read from a warm page cache. Ratios are events/s of qseq over the
reference (>1: qseq is faster). ob-analytics is GPL: it is imported here only, never by
qseq; without it its rows are skipped.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from multiprocessing import get_context  # noqa: E402

MESSAGE_TYPES = ("float64", "int64", "int64", "float64", "int64", "int64")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _threads(n: int) -> None:
    import pyarrow as pa

    pa.set_cpu_count(n)
    pa.set_io_thread_count(n)


def _bare(path: str, types: list[str]):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{j}" for j in range(len(types))]
    options = {"read_options": pacsv.ReadOptions(column_names=names),
               "convert_options": pacsv.ConvertOptions(column_types={
                   n: pa.type_for_alias(t) for n, t in zip(names, types, strict=True)})}
    return lambda: pacsv.read_csv(path, **options).num_rows


def _book_types(levels: int) -> list[str]:
    return ["int64", "float64"] * (2 * levels)


# each figure: (msg, book, levels, chunk) -> a zero-argument run returning the events read;
# imports happen here, outside the timing


def bare_messages(msg: str, book: str, levels: int, chunk: int):
    return _bare(msg, list(MESSAGE_TYPES))


def qseq_messages(msg: str, book: str, levels: int, chunk: int):
    from qseq.lob.lobster import read_lobster_messages

    return lambda: len(read_lobster_messages(msg))


def ob_messages(msg: str, book: str, levels: int, chunk: int):
    from loguru import logger

    logger.disable("ob_analytics")
    from ob_analytics.lobster import LobsterLoader

    return lambda: len(LobsterLoader(trading_date="2012-06-21").load(msg))


def bare_pair(msg: str, book: str, levels: int, chunk: int):
    messages, orderbook = _bare(msg, list(MESSAGE_TYPES)), _bare(book, _book_types(levels))
    return lambda: (messages(), orderbook())[0]


def qseq_pair(msg: str, book: str, levels: int, chunk: int):
    from qseq.lob.lobster import read_lobster

    return lambda: len(read_lobster(msg, book)[0])


def qseq_chunks(msg: str, book: str, levels: int, chunk: int):
    from qseq.lob.lobster import iter_lobster

    return lambda: sum(len(m) for m, _ in iter_lobster(msg, book, chunk_events=chunk))


FIGURES = {  # name -> (label, figure)
    "bare_messages": ("messages: bare pyarrow parse", bare_messages),
    "qseq_messages": ("messages: qseq read_lobster_messages", qseq_messages),
    "ob_messages": ("messages: ob-analytics LobsterLoader.load", ob_messages),
    "bare_pair": ("pair: bare pyarrow parse of both files", bare_pair),
    "qseq_pair": ("pair: qseq read_lobster", qseq_pair),
    "qseq_chunks": ("pair: qseq iter_lobster (chunks)", qseq_chunks),
}


def measure(name: str, msg: str, book: str, levels: int, chunk: int, threads: int,
            repeat: int) -> tuple[float, int, float, float]:
    """(best seconds, events, peak RSS MB, first run's seconds) of one figure, in this (fresh)
    process. The first run also pays for first touching every page it allocates; later runs
    may reuse memory their allocator kept (pyarrow's pool does, numpy's large arrays do not)."""
    _threads(threads)
    run = FIGURES[name][1](msg, book, levels, chunk)
    times, events = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        events = run()
        times.append(time.perf_counter() - t0)
    return min(times), events, _peak_mb(), times[0]


def generate(directory: str, events: int, levels: int, threads: int) -> tuple[str, str, float]:
    """Write the synthetic pair; returns its paths and the generator's events/s (compiled)."""
    _threads(threads)
    from qseq.lob.lobster_write import write_lobster
    from qseq.lob.synthetic import simulate

    simulate(1_000, levels=levels)  # compile (or load numba's cache)
    t0 = time.perf_counter()
    messages, book = simulate(events, levels=levels, seed=0)
    rate = events / (time.perf_counter() - t0)
    msg, bk = write_lobster(directory, messages, book)
    return str(msg), str(bk), rate


def _has_ob_analytics() -> bool:
    try:
        import ob_analytics  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=100_000, help="iter_lobster chunk_events")
    parser.add_argument("--threads", type=int, default=2, help="pyarrow CPU threads")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args()

    ctx = get_context("spawn")
    names = [n for n in FIGURES if n != "ob_messages" or _has_ob_analytics()]
    with tempfile.TemporaryDirectory(prefix="qseq_bench_lob_") as tmp:
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            msg, book, sim_rate = pool.submit(generate, tmp, args.events, args.levels,
                                              args.threads).result()
        sizes = {p: os.path.getsize(p) / 1e6 for p in (msg, book)}
        print(f"files: {os.path.basename(msg)} ({sizes[msg]:.0f} MB), "
              f"{os.path.basename(book)} ({sizes[book]:.0f} MB); pyarrow threads "
              f"{args.threads}, best of {args.repeat}")
        rows = {}
        for name in names:
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:  # one fresh process each
                rows[name] = pool.submit(measure, name, msg, book, args.levels, args.chunk,
                                         args.threads, args.repeat).result()
            assert rows[name][1] == args.events, (name, rows[name][1])

    rate = {name: events / seconds for name, (seconds, events, _, _) in rows.items()}
    first = {name: events / t1 for name, (_, events, _, t1) in rows.items()}
    print(f"{'figure':<46}{'seconds':>9}{'M events/s':>12}{'peak RSS MB':>13}{'first run s':>13}")
    for name, (seconds, _events, peak, t1) in rows.items():
        label = FIGURES[name][0].replace("(chunks)", f"(chunks of {args.chunk:,})")
        print(f"{label:<46}{seconds:>9.3f}{rate[name] / 1e6:>12.3f}{peak:>13.0f}{t1:>13.3f}")
    print(f"{'simulate (numba, compiled)':<46}{args.events / sim_rate:>9.3f}"
          f"{sim_rate / 1e6:>12.3f}")
    print(f"ratios (events/s, qseq / reference; best of {args.repeat} | first run of a fresh process):")
    pairs = [("qseq_messages", "bare_messages", "messages: qseq / bare pyarrow", ">= 0.5"),
             ("qseq_messages", "ob_messages", "messages: qseq / ob-analytics", ">= 3"),
             ("qseq_pair", "bare_pair", "pair: qseq / bare pyarrow", ""),
             ("qseq_chunks", "qseq_pair", "pair: chunked / whole", "")]
    for mine, ref, label, target in pairs:
        if mine in rate and ref in rate:
            note = f"  (target {target})" if target else ""
            print(f"  {label:<44}{rate[mine] / rate[ref]:>9.2f} | "
                  f"{first[mine] / first[ref]:.2f}{note}")


if __name__ == "__main__":
    main()
