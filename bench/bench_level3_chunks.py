"""Level-3 reconstruction in chunks (:func:`qseq.lob.iter_level3_book`) against the whole-file
path (:func:`read_level3` + :func:`level3_book`): time and peak memory, each in a fresh process.

    python bench/bench_level3_chunks.py              # the Bitstamp sample x 10, chunks of 200,000
    python bench/bench_level3_chunks.py --copies 30 --chunk-rows 100000

The file: the real Bitstamp sample's orders (ob-analytics 0.1.0, GPL; read from the installed
package) written ``--copies`` times one after the other into a temporary CSV, each copy with
its order ids and times shifted past the previous one (its snapshot and end deletes become
ordinary rows, so no meta.json). Both paths must give the same book (checked: rows and a
checksum). Peak memory is the child's ``ru_maxrss``; the book itself (10 levels, float64) is
part of the whole-file peak but not of the chunked one, which keeps only a running checksum,
as a caller writing chunks to disk would. numba's compiled loop comes from its cache (a warm-up
child runs first). Threads: pyarrow's CSV reader uses its own pool (2 cores here); numpy 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from qseq.lob.level3 import level3_book, read_level3
from qseq.lob.level3_stream import iter_level3_book
t = time.perf_counter()
rows, check = 0, 0.0
if {chunk} == 0:
    book = level3_book(read_level3({path!r}), {levels})
    rows, check = len(book), float(np.nansum(book.bid_price[:, 0]) + book.ask_size.sum())
else:
    for book in iter_level3_book({path!r}, levels={levels}, chunk_rows={chunk}):
        rows += len(book)
        check += float(np.nansum(book.bid_price[:, 0]) + book.ask_size.sum())
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "rows": rows, "check": check,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def write_copies(path: Path, copies: int) -> int:
    """The sample's orders ``copies`` times, ids and times shifted; returns the row count."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from qseq.lob.level3 import bitstamp_sample_paths

    table = pcsv.read_csv(bitstamp_sample_paths().orders)
    ids = table.column("id").to_numpy()
    times = {c: table.column(c).to_numpy() for c in ("timestamp", "exchange_timestamp")}
    id_step = int(ids.max() - ids.min()) + 1
    span = int(max(t.max() - t.min() for t in times.values())) + 1000
    with pcsv.CSVWriter(path, table.schema) as out:
        for k in range(copies):
            part = table.set_column(table.schema.get_field_index("id"), "id",
                                    pa.array(ids + k * id_step))
            for name, values in times.items():
                part = part.set_column(part.schema.get_field_index(name), name,
                                       pa.array(values + k * span))
            out.write_table(part)
    return copies * len(table)


def child(path: Path, chunk: int, levels: int) -> dict:
    code = _CHILD.format(root=str(ROOT), path=str(path), chunk=chunk, levels=levels)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        rows = write_copies(path, args.copies)
        print(f"file: the Bitstamp sample x {args.copies}: {rows:,} rows, "
              f"{path.stat().st_size / 1e6:.0f} MB; levels {args.levels}; "
              f"chunks of {args.chunk_rows:,} rows")
        child(path, args.chunk_rows, args.levels)  # warm numba's cache and the page cache
        runs: dict[str, list[dict]] = {"whole file": [], "chunks": []}
        for _ in range(args.repeats):  # interleaved
            runs["whole file"].append(child(path, 0, args.levels))
            runs["chunks"].append(child(path, args.chunk_rows, args.levels))
    (whole, chunked) = (runs["whole file"][0], runs["chunks"][0])
    assert whole["rows"] == chunked["rows"], (whole, chunked)
    assert abs(whole["check"] - chunked["check"]) <= 1e-9 * abs(whole["check"]), (whole, chunked)
    print(f"same book: {whole['rows']:,} rows, checksum equal")
    print(f"{'path':12} {'seconds (median, range)':>28} {'rows/s':>12} {'peak RSS MB':>22}")
    for name, rs in runs.items():
        sec = [r["seconds"] for r in rs]
        rss = [r["rss_mb"] for r in rs]
        print(f"{name:12} {statistics.median(sec):>9.2f} ({min(sec):.2f}-{max(sec):.2f})"
              f"{rows / statistics.median(sec):>19,.0f} {statistics.median(rss):>10.0f} "
              f"({min(rss):.0f}-{max(rss):.0f})")
    ratio = statistics.median(r["seconds"] for r in runs["whole file"]) / statistics.median(
        r["seconds"] for r in runs["chunks"])
    print(f"chunks vs whole file: {ratio:.2f}x the speed")
    time.sleep(0)


if __name__ == "__main__":
    main()
