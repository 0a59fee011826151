"""qseq on a shared host: the volatility pipeline and a stream's per-bar update, on an idle machine
and beside CPU-bound neighbours, with qseq's thread policy (``qseq/runtime.py``) and without.

(a) Pipeline: ``qseq pipeline run bench/specs/shared_host_volatility.yaml --offline`` (the
    volatility pipeline as shipped when this was measured; a fresh
    ``--out`` each run, so nothing is reused), idle and beside ``--neighbours`` processes running
    ``while True: pass``, one configuration after the other in every round (interleaved):

    - ``qseq``: qseq's defaults (no thread variable set: ``OMP_WAIT_POLICY=PASSIVE`` and
      ``qseq.runtime.DEFAULT_THREADS`` torch threads);
    - ``torch``: the behaviour before the policy: torch's own count (``QSEQ_THREADS`` = the
      count torch picks alone) and libgomp's default spin (``GOMP_SPINCOUNT=300000``, the value
      it uses when ``OMP_WAIT_POLICY`` is unset; setting it keeps qseq's default off);
    - ``omp1`` (with ``--configs``): ``OMP_NUM_THREADS=1``, one thread for torch and OpenBLAS.

    Each run reports wall seconds and the CPU seconds of the CLI process (its pool workers
    included), and the torch threads its fits ran with (``folds.parquet``). A run that passes
    ``--timeout`` is killed and shown as ``>timeout``. Fair share beside N neighbours on C cores
    is C / (N + 1) CPUs; ``x fair`` is the wall time over (the least CPU seconds any
    configuration needed idle) / (that share).

(b) Stream: a GRU (hidden 64, 2 layers, lookback 64, horizon 5; one epoch on the bundled
    S&P 500) replayed in ``window`` mode; microseconds per ``Stream.update`` with the BLAS pin
    (qseq's default) and without it (the stream closed at once: the host's BLAS threads), and,
    idle only, a ``threadpool_limits`` context entered per bar (the design not taken). Medians
    and ranges over interleaved rounds.

    python bench/bench_shared_host.py                 # real spec, 1 round (about 10 minutes:
                                                      # the torch run beside neighbours is cut
                                                      # at --timeout 300)
    python bench/bench_shared_host.py --quick         # data from 2011 (11 folds): a smoke run
    python bench/bench_shared_host.py --rounds 3 --configs qseq,torch,omp1
    python bench/bench_shared_host.py --skip-pipeline # the stream part only

Run it alone on the machine: other work changes both the idle and the loaded figures. The
neighbours run in this session, as the measured processes do (see ``neighbours``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "bench" / "specs" / "shared_host_volatility.yaml"
_SCRIPT = Path(sys.executable).with_name("qseq")  # the console script of this environment
QSEQ = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "qseq.cli.main"]
THREAD_VARS = ("QSEQ_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


# -- helpers -------------------------------------------------------------------------------
@contextmanager
def neighbours(count: int):
    """``count`` CPU-bound processes for the duration of the block; always killed.

    They stay in this session, as does the measured run: with the scheduler's autogroups (on by
    default on many Linux systems) each session gets an equal share of the CPUs, so a run in a
    session of its own would get half of 2 CPUs beside any number of neighbours."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(0.5 if count else 0)
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(extra)
    return env


def torch_default_threads() -> int:
    """The count torch picks when nobody sets one, asked of a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         env=clean_env(), capture_output=True, text=True, check=True)
    return int(out.stdout)


def configs(names: list[str]) -> dict[str, dict[str, str]]:
    table = {
        "qseq": clean_env(),
        "torch": clean_env(QSEQ_THREADS=str(torch_default_threads()), GOMP_SPINCOUNT="300000"),
        "omp1": clean_env(OMP_NUM_THREADS="1"),
    }
    unknown = sorted(set(names) - set(table))
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {sorted(table)}")
    return {n: table[n] for n in names}


def run_pipeline(spec: Path, env: dict[str, str], timeout: float) -> dict:
    """One CLI run: wall s, CPU s of the child and its reaped children, fit threads."""
    out = Path(tempfile.mkdtemp(prefix="qseq_shared_host_"))
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*QSEQ, "pipeline", "run", str(spec), "--offline", "--out", str(out)],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=os.setpgrp)  # own group (to kill), same session
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if not killed and time.perf_counter() - t0 > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode and not killed:
            raise SystemExit(f"pipeline failed ({proc.returncode}):\n{err[-2000:]}")
        threads = None
        folds = sorted(out.glob("*/*/folds.parquet"))
        if folds:
            import pandas as pd

            column = pd.read_parquet(folds[0]).get("threads")
            threads = None if column is None else sorted({int(t) for t in column})
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "killed": killed,
                "threads": threads}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def quick_spec(directory: Path) -> Path:
    """The real spec with data from 2011 (11 folds instead of 48)."""
    import yaml

    spec = yaml.safe_load(SPEC.read_text())
    spec["data"]["start"] = "2011-01-01"
    path = directory / SPEC.name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# -- (a) pipeline --------------------------------------------------------------------------
def bench_pipeline(args) -> None:
    table = configs(args.configs.split(","))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"(a) pipeline: {cores} CPUs, {args.neighbours} neighbours, timeout {args.timeout:.0f} s, "
          f"{args.rounds} round(s), configurations interleaved")
    for name, env in table.items():
        shown = {k: env[k] for k in THREAD_VARS if k in env} or "(none set)"
        print(f"  {name:6s} env: {shown}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = quick_spec(Path(tmp)) if args.quick else SPEC
        print(f"  spec: {spec if args.quick else spec.relative_to(ROOT)}"
              f"{' (--quick: data from 2011)' if args.quick else ''}")
        runs: dict[tuple[str, str], list[dict]] = {}
        for rnd in range(args.rounds):
            for cond, count in (("idle", 0), ("loaded", args.neighbours)):
                with neighbours(count):
                    for name, env in table.items():
                        r = run_pipeline(spec, env, args.timeout)
                        runs.setdefault((name, cond), []).append(r)
                        wall = f">{args.timeout:.0f}" if r["killed"] else f"{r['wall']:.1f}"
                        print(f"  round {rnd} {cond:6s} {name:6s} wall {wall:>6s} s  "
                              f"cpu {r['cpu']:6.1f} s  fit threads {r['threads']}", flush=True)
    finished = [r["cpu"] for (_, cond), rs in runs.items() if cond == "idle" for r in rs
                if not r["killed"]]
    share = cores / (args.neighbours + 1)
    fair = min(finished) / share if finished else None
    if fair is not None:
        print(f"\n  fair-share wall beside {args.neighbours} neighbours: {min(finished):.1f} CPU-s / "
              f"{share:.2f} CPUs = {fair:.0f} s")
    print(f"  {'config':6s} {'condition':9s} {'wall s (median, range)':>26s} {'cpu s':>7s} {'x fair':>7s}")
    for (name, cond), rs in runs.items():
        walls = [r["wall"] for r in rs]
        cut = any(r["killed"] for r in rs)
        med = f"{'>' if cut else ''}{np.median(walls):.1f}"
        xfair = f"{np.median(walls) / fair:.2f}" if cond == "loaded" and fair else ""
        print(f"  {name:6s} {cond:9s} {med:>8s} ({min(walls):.1f}-{max(walls):.1f}){'':>6s}"
              f" {np.median([r['cpu'] for r in rs]):7.1f} {xfair:>7s}")


# -- (b) stream ----------------------------------------------------------------------------
def bench_stream(args) -> None:
    import qseq
    from qseq.data.bundled import load_dataset
    from qseq.runtime import thread_settings

    warm, timed = 100, 150 if args.quick else 300
    panel = load_dataset("sp500")
    panel = panel[panel.index.get_level_values("date") >= "2012-01-01"]
    f = qseq.Forecaster("gru", lookback=64, horizons=5, hidden_size=64, num_layers=2, device="cpu",
                        seed=0, train=qseq.TrainConfig(epochs=1, batch_size=256)).fit(panel)
    frame = panel.xs("^GSPC", level="ticker")
    cols = ["open", "high", "low", "close", "volume"]
    bars = [{"date": d, **dict(zip(cols, v, strict=True))}
            for d, v in zip(frame.index, frame[cols].to_numpy(), strict=True)][-(warm + timed):]
    print(f"\n(b) stream update, GRU hidden 64 x 2 layers, lookback 64, window mode; {timed} timed bars "
          f"after {warm}, {args.rounds_stream} interleaved rounds")
    print(f"  thread settings: {json.dumps(thread_settings())}")

    def replay(variant: str) -> float:
        from threadpoolctl import threadpool_limits

        stream = f.stream(mode="window")
        if variant != "pinned":
            stream.close()  # gives the pin back: the host's BLAS threads
        times = []
        for i, bar in enumerate(bars):
            t0 = time.perf_counter_ns()
            if variant == "context per bar":
                with threadpool_limits(limits=1, user_api="blas"):
                    stream.update(bar)
            else:
                stream.update(bar)
            if i >= warm:
                times.append(time.perf_counter_ns() - t0)
        stream.close()
        return float(np.median(times)) / 1e3

    for cond, count in (("idle", 0), ("loaded", args.neighbours)):
        variants = ["pinned", "unpinned"] + (["context per bar"] if cond == "idle" else [])
        with neighbours(count):
            got: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(args.rounds_stream):
                for v in variants:
                    got[v].append(replay(v))
        for v in variants:
            us = got[v]
            print(f"  {cond:6s} {v:16s} median {np.median(us):9.1f} us/bar  "
                  f"(round medians {min(us):.1f}-{max(us):.1f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="data from 2011 (11 folds), fewer bars")
    ap.add_argument("--rounds", type=int, default=1, help="pipeline rounds (each: idle, loaded)")
    ap.add_argument("--rounds-stream", type=int, default=None, help="default 5 (--quick: 3)")
    ap.add_argument("--neighbours", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is killed")
    ap.add_argument("--configs", default="qseq,torch", help="comma-separated: qseq, torch, omp1")
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--skip-stream", action="store_true")
    args = ap.parse_args()
    if args.rounds_stream is None:
        args.rounds_stream = 3 if args.quick else 5
    print(f"python {sys.version.split()[0]}; thread variables in this shell: "
          f"{ {k: os.environ[k] for k in THREAD_VARS if k in os.environ} or '(none)'}")
    if not args.skip_pipeline:
        bench_pipeline(args)
    if not args.skip_stream:
        bench_stream(args)


if __name__ == "__main__":
    main()
