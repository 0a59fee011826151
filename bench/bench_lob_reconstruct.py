"""Level-3 reconstruction of the real Bitstamp sample: qseq against ob-analytics 0.1.0, one run.

    python bench/bench_lob_reconstruct.py                 # 5 warm repeats, ob-analytics once
    python bench/bench_lob_reconstruct.py --skip-ob       # qseq only

Needs ``pip install ob-analytics==0.1.0`` (GPL; imported here only, never by qseq).

Rows printed:
- qseq, first call in a fresh interpreter with an empty numba cache (compile included), first
  call with the cache warm (a fresh interpreter loading the compiled loop), and warm calls in
  this process (median of ``--repeats``): read + validate + convert (:func:`read_level3`), the
  book (:func:`level3_book`, top ``--levels``), the whole path (:func:`load_bitstamp_sample`),
  and a bare pyarrow parse of the same orders file for reference. Rates are file rows per
  second (314,057 rows).
- ob-analytics' whole pipeline (``Pipeline().run``) on the same file, and the ratio.
- parity: our best bid/ask against theirs after the same file row, wherever both are defined.
- why they differ: their depth rows replayed through our reading of their engine (two rules:
  a level is present while its float volume is > 0; a new level evicts every opposite level
  it strictly crosses), which must reproduce their output, then the mechanisms with counts and
  one specific event each.
- the trade cross-check (:func:`check_trades`) of both books: a taker buy at or above the best
  ask just before it, a taker sell at or below the best bid.

Timings on a shared machine move by tens of percent; the ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qseq.lob.book import Book  # noqa: E402
from qseq.lob.level3 import (  # noqa: E402
    bitstamp_sample_paths,
    check_trades,
    level3_book,
    load_bitstamp_sample,
    read_level3,
)

_CHILD = """
import json, time
t0 = time.perf_counter()
from qseq.lob.level3 import load_bitstamp_sample
t1 = time.perf_counter()
book = load_bitstamp_sample({levels})
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "call": t2 - t1, "rows": len(book)}}))
"""


def _child(levels: int, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _CHILD.format(levels=levels)], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _rate(rows: int, seconds: float) -> str:
    return f"{seconds:7.3f} s  {rows / seconds / 1e3:8.0f}k rows/s"


def time_qseq(levels: int, repeats: int) -> dict:
    paths = bitstamp_sample_paths()
    rows = 314_057
    with tempfile.TemporaryDirectory(prefix="qseq_numba_") as cache:
        cold = _child(levels, cache)
        cached = _child(levels, cache)
    import pyarrow.csv as pcsv

    parse, _ = _median(lambda: pcsv.read_csv(paths.orders), repeats)
    load_bitstamp_sample(levels)  # compile / load the loop in this process
    read, l3 = _median(lambda: read_level3(paths.orders, paths.trades, meta_path=paths.meta), repeats)
    book_s, _ = _median(lambda: level3_book(l3, levels), repeats)
    whole, _ = _median(lambda: load_bitstamp_sample(levels), repeats)
    print(f"qseq, {rows:,} rows, top {levels} levels (median of {repeats})")
    for name, run in (("numba compile included", cold), ("compiled loop cached  ", cached)):
        print(f"  first call, {name}  {_rate(rows, run['call'])}   (+{run['import']:.2f} s import)")
    print(f"  read + validate + convert           {_rate(rows, read)}")
    print(f"  book (engine, {len(l3.messages):,} events)     {_rate(rows, book_s)}")
    print(f"  whole path, warm                    {_rate(rows, whole)}")
    print(f"  bare pyarrow parse of orders.csv.gz {_rate(rows, parse)}")
    print(f"  whole path / 200k rows/s target: {rows / whole / 200e3:.1f}x;  bare parse / whole path: "
          f"{whole / parse:.1f}x the time")
    return {"rows": rows, "whole": whole, "cold": cold["call"], "cached": cached["call"]}


def _replay(price: np.ndarray, volume: np.ndarray, is_bid: np.ndarray
            ) -> tuple[np.ndarray, list[tuple[int, int, list[int]]]]:
    """Their depth rows (price in cents, the level's new total volume, side) through a plain
    level book with their two rules: a level is present while its volume is > 0; a new level
    evicts every opposite level it strictly crosses. Returns ([R, 2] best bid, best ask in
    dollars, 0 when empty; evictions as (row, evicted side +1 bid / -1 ask, prices in cents))."""
    bids: list[int] = []
    asks: list[int] = []
    out = np.zeros((len(price), 2))
    evictions = []
    for i in range(len(price)):
        p, side = int(price[i]), bids if is_bid[i] else asks
        at = bisect.bisect_left(side, p)
        present = at < len(side) and side[at] == p
        if volume[i] > 0:
            if not present:
                side.insert(at, p)
            if is_bid[i] and asks and asks[0] < p:
                cut = bisect.bisect_left(asks, p)
                evictions.append((i, -1, asks[:cut]))
                del asks[:cut]
            elif not is_bid[i] and bids and bids[-1] > p:
                cut = bisect.bisect_right(bids, p)
                evictions.append((i, 1, bids[cut:]))
                del bids[cut:]
        elif present:
            del side[at]
        out[i] = (bids[-1] if bids else 0, asks[0] if asks else 0)
    return out / 100, evictions


def parity(levels: int, ob_repeats: int, rows: int, qseq_whole: float) -> None:
    from loguru import logger
    from ob_analytics import Pipeline, sample_csv_path

    logger.remove()
    seconds, result = _median(lambda: Pipeline().run(sample_csv_path()), ob_repeats)
    print(f"\nob-analytics 0.1.0 Pipeline().run     {_rate(rows, seconds)}   "
          f"(qseq warm whole path is {seconds / qseq_whole:.0f}x faster)")

    paths = bitstamp_sample_paths()
    l3 = read_level3(paths.orders, paths.trades, meta_path=paths.meta)
    ours_all = level3_book(l3, 1, keep_synthetic=True, drop_flashes=False)   # one row per event
    ours_default = level3_book(l3, levels)
    events, summary, depth = result.events, result.depth_summary, result.depth
    line_of = dict(zip(events["event_id"], events["original_number"] + 1, strict=True))  # header: 1
    their_line = summary["event_id"].map(line_of).to_numpy()
    # our state once the stream has reached that line (a taker's deferred rest counts as reached)
    reached = np.maximum.accumulate(ours_all.extra["line"])
    at = np.searchsorted(reached, their_line, side="right") - 1
    ours = np.where(at[:, None] >= 0, np.c_[ours_all.bid_price[at, 0], ours_all.ask_price[at, 0]], np.nan)
    theirs = summary[["best_bid_price", "best_ask_price"]].to_numpy()
    theirs = np.where(theirs > 0, theirs, np.nan)
    both = ~np.isnan(ours).any(axis=1) & ~np.isnan(theirs).any(axis=1)
    same = (ours == theirs).all(axis=1)
    in_book = np.isin(their_line, ours_default.extra["line"])
    print(f"\nparity: best bid and ask identical on {same[both].mean():.1%} of {both.sum():,} rows where "
          f"both are defined ({same[both & in_book].mean():.1%} on the rows of our default book; bid "
          f"alone {(ours[:, 0] == theirs[:, 0])[both].mean():.1%}, ask alone "
          f"{(ours[:, 1] == theirs[:, 1])[both].mean():.1%})")

    cents = np.round(depth["price"].to_numpy() * 100)
    is_bid = depth["direction"].to_numpy() == "bid"
    vol = depth["volume"].to_numpy()
    replayed, evictions = _replay(cents, vol, is_bid)
    reproduced = (replayed == summary[["best_bid_price", "best_ask_price"]].to_numpy()).all(axis=1)
    print(f"\nwhy: their depth rows replayed with their two rules reproduce their best bid/ask on "
          f"{reproduced.mean():.1%} of rows; the rules and what feeds them:")
    dust = {side: ((summary[f"best_{side}_vol"] > 0) & (summary[f"best_{side}_vol"] < 1e-9)).to_numpy()
            for side in ("bid", "ask")}
    k = int(np.argmax(dust["bid"]))
    print(f"- float level volumes: a level summed back to ~0 stays 'present'. {dust['bid'].sum():,} rows "
          f"have a best bid and {dust['ask'].sum():,} a best ask of under 1e-9 BTC; first: line "
          f"{their_line[k]}, bid {theirs[k, 0]:.0f} with {summary['best_bid_vol'].iloc[k]:.3g} BTC "
          "(ours: integer satoshis, exactly 0)")
    print(f"- eviction: {len(evictions):,} new levels evicted the opposite levels they crossed; the stream "
          f"has {ours_default.extra['counts']['crossing_flash']:,} crossing flashes (orders that lock or "
          "cross the touch and are deleted unfilled by the next row); an evicted level stays out until "
          "another row touches its price")
    snapshot_rows = json.loads(paths.meta.read_text())["synthetic_created"]
    for row, side, evicted in evictions:
        line = their_line[row]
        if line <= 1 + snapshot_rows:
            continue
        alive = _resting(l3, evicted[0] / 100, side, line)
        if alive != "none":
            (i,) = np.flatnonzero(l3.line == line)[:1]
            m = l3.messages
            flash = m.event_type[i + 1] == 3 and m.order_id[i + 1] == m.order_id[i]
            print(f"  e.g. line {line}: a {'bid' if side < 0 else 'ask'} at {cents[row] / 100:.0f}"
                  f"{f' (deleted unfilled on line {l3.line[i + 1]})' if flash else ''} evicts their "
                  f"{'ask' if side < 0 else 'bid'} level {evicted[0] / 100:.0f}, where rest {alive}")
            break
    off = l3.counts.get("price_off_resting", 0)
    print(f"- deletes at another price: {off:,} rows remove an order at a price other than the one it "
          "rests at; they subtract at the reported price (clipped at 0), leaving the order's volume "
          "where it rests; ours removes it where it rests (e.g. " + _off_price_example(paths.orders) + ")")
    order_rank = summary["event_id"].map(line_of).to_numpy()
    behind = int((order_rank < np.maximum.accumulate(order_rank)).sum())
    print(f"- order: they apply rows by receive time, we by exchange time (the file's order); {behind:,} "
          "of their rows come after a later file row, among them the whole snapshot (received at "
          "383.2 s, after 2 s of live rows)")
    print(f"- takers and placeholders: their market-limit orders enter at full volume, with fills "
          f"subtracted at the fill prices; ours: {l3.counts.get('taker_matching', 0)} taker rows and "
          f"{l3.counts.get('market_order', 0)} placeholder-priced rows make no event")

    mine = check_trades(ours_default, l3.trades)
    exchange = dict(zip(events["event_id"], _seconds(events["exchange_timestamp"]), strict=True))
    clock = np.maximum.accumulate(summary["event_id"].map(exchange).to_numpy())
    their_book = Book(time=clock, ask_price=theirs[:, 1:], ask_size=np.ones((len(clock), 1)),
                      bid_price=theirs[:, :1], bid_size=np.ones((len(clock), 1)))
    their = check_trades(their_book, l3.trades)
    their_recv = check_trades(replace(their_book, time=_seconds(summary["timestamp"])),
                              replace(l3.trades, time=l3.trades.received))
    print(f"\ntrade cross-check ({mine.checked} trades): qseq {mine.share:.1%} consistent "
          f"({mine.at_touch} exactly at the touch); ob-analytics {their.share:.1%} "
          f"({their.at_touch} at the touch; {their_recv.share:.1%} on their receive clock)")
    if len(mine.worst):
        k = int(mine.worst[0])
        print(f"  our worst: trade {k} at {l3.trades.price[k]:.0f}, gap {mine.gap[k]:.0f}: its maker was "
              "placed in the trade's own millisecond, after the last book row strictly before it")


def _seconds(column) -> np.ndarray:
    """A pandas datetime column (any unit) as float seconds since the epoch."""
    return column.to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9


def _resting(l3, price: float, direction: int, line: int) -> str:
    """Orders resting at ``price`` on a side when the stream reaches ``line`` (from our events)."""
    m = l3.messages
    here = (m.price == price) & (m.direction == direction) & (l3.line <= line)
    alive: dict[int, int] = {}
    for i in np.flatnonzero(here):
        if m.event_type[i] == 1:
            alive[int(m.order_id[i])] = int(l3.line[i])
        else:
            alive.pop(int(m.order_id[i]), None)
    return ", ".join(f"order ...{o % 10**6} from line {ln}" for o, ln in list(alive.items())[:3]) or "none"


def _off_price_example(orders: Path) -> str:
    import pandas as pd

    raw = pd.read_csv(orders, usecols=["id", "price", "action"])
    first = raw.groupby("id")["price"].transform("first")
    off = raw[(raw["action"] == "deleted") & (raw["price"] != first) & (first > 0) & (first < 1e8)]
    row = off.index[0]
    return (f"line {row + 2}: order {raw['id'][row]} created at {first[row]:.0f}, deleted at "
            f"{raw['price'][row]:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ob-repeats", type=int, default=1)
    parser.add_argument("--skip-ob", action="store_true", help="qseq timings only")
    args = parser.parse_args()
    figures = time_qseq(args.levels, args.repeats)
    if not args.skip_ob:
        parity(args.levels, args.ob_repeats, figures["rows"], figures["whole"])


if __name__ == "__main__":
    main()
