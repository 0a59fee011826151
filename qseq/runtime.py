"""How qseq uses threads, so that it behaves on a shared host. Imports neither torch nor numpy.

Two thread pools run qseq's arithmetic on a CPU: torch's intra-op pool (GNU OpenMP, the
``libgomp.so.1`` shipped in the torch CPU wheel, which also drives the MKL inside torch) and
numpy's OpenBLAS pool. Both busy-wait between jobs by default, which costs little on an idle
machine and a great deal on a busy one: a thread that spins for its partner holds a CPU the
partner (or a neighbour) needs. Measured on 2 cores beside four CPU-bound neighbours, the
S&P 500 volatility pipeline did not finish in 600 s with torch's defaults (2 threads,
libgomp spinning) and took 54 s with one thread (bench/bench_shared_host.py).

The policy:

- :func:`apply_env_defaults` (called first thing in ``qseq/__init__.py``) sets
  ``GOMP_SPINCOUNT=10000``: an idle OpenMP thread spins for a few microseconds, then sleeps,
  instead of libgomp's 300,000 spins (libgomp reads it when it loads, so it must be set before
  torch is imported; ``KMP_BLOCKTIME`` is Intel OpenMP's knob and this wheel does not ship
  it). Measured on the volatility pipeline: fully passive waiting (``OMP_WAIT_POLICY=PASSIVE``)
  made two threads twice as slow as one on an idle machine (63 s against 32 s), the short spin
  kept them as fast as torch's defaults (28 s against 27 s). A user's ``OMP_WAIT_POLICY`` or
  ``GOMP_SPINCOUNT`` is left alone.
- :func:`configure_torch_threads` gives each fit as many torch threads as there are cores free
  of other work at its start (:func:`default_threads`: all of torch's default count on an idle
  host, one beside busy neighbours, where even a short spin per parallel region made two
  threads ten times slower) unless the user chose a count: ``QSEQ_THREADS``,
  ``OMP_NUM_THREADS`` /
  ``MKL_NUM_THREADS`` (read by torch itself), or a ``torch.set_num_threads`` call (a count that
  differs from torch's default, or one made after qseq set its count). Parallel work in qseq
  is across processes (``--workers``), each with its own share of threads
  (:func:`torch_threads` around a walk-forward task).
- Streams pin numpy's BLAS pool to one thread while they live (:class:`BlasPin`): their
  per-bar matrix products are small, and waking a second BLAS thread on a busy host costs
  milliseconds.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from qseq.errors import ConfigError

THREADS_ENV = "QSEQ_THREADS"
DEFAULT_THREADS = 1
"""torch threads when the host's load cannot be read (see :func:`default_threads`)."""

# variable -> (value, variables whose presence means the user already chose)
ENV_DEFAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "GOMP_SPINCOUNT": ("10000", ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")),
}
_USER_COUNT_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_lock = threading.Lock()
_applied: int | None = None  # the torch thread count qseq set last
_from_load = False  # whether it came from default_threads (re-read at the next fit)


def apply_env_defaults() -> dict[str, str]:
    """Set the thread-runtime defaults that must be in the environment before torch, OpenMP
    and OpenBLAS load, where the user has set nothing; returns what it set. Calling it again
    changes nothing; calling it after torch was imported only affects child processes."""
    applied: dict[str, str] = {}
    for name, (value, chosen_by) in ENV_DEFAULTS.items():
        if not any(os.environ.get(var) for var in chosen_by):
            os.environ[name] = value
            applied[name] = value
    return applied


def requested_threads() -> int | None:
    """``QSEQ_THREADS`` as a count, or None when unset (or empty)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return threads


@functools.lru_cache(maxsize=1)
def torch_default_threads() -> int:
    """The count torch picks when nobody sets one: the physical cores this process may run on
    (what MKL reports; torch sizes its OpenMP pool to it)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if cpus is None:
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topology = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{topology}/physical_package_id") as pkg, open(f"{topology}/core_id") as core:
                cores.add((pkg.read().strip(), core.read().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def busy_besides_us() -> int | None:
    """Runnable tasks on the host other than the caller (the smallest of three readings of
    ``/proc/loadavg``, 1 ms apart, so a passing process is not taken for load); None where
    that file does not exist."""
    import time

    counts = []
    for i in range(3):
        try:
            with open("/proc/loadavg") as fh:
                counts.append(int(fh.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        if i < 2:
            time.sleep(0.001)
    return max(0, min(counts))


def default_threads() -> int:
    """torch threads for a fit nobody chose a count for: the cores of torch's default count
    that no other task is using right now (at least 1). On an idle 2-core host, 2; beside one
    or more busy neighbours, 1: a second thread would wait on one they hold."""
    cores = torch_default_threads()
    others = busy_besides_us()
    if others is None:
        return DEFAULT_THREADS
    return max(1, min(cores, cores - others))


def configure_torch_threads(threads: int | None = None, *, adapt: bool = False) -> int:
    """Set torch's intra-op thread count for qseq's training or inference and return it.

    threads: an explicit count (a pool worker's share, ``engine.threads``); None applies, in
    order, ``QSEQ_THREADS``; the count already in effect when someone chose it (the user through
    ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` or ``torch.set_num_threads``, or qseq itself with an
    explicit count, e.g. a pool worker's share); and otherwise :func:`default_threads`, read
    again at every call with ``adapt`` (the start of each fit: a few milliseconds) and kept
    otherwise (a predict call costs a few microseconds).
    """
    global _applied, _from_load
    import torch

    with _lock:
        current = torch.get_num_threads()
        from_load = False
        if threads is None:
            threads = requested_threads()
        if threads is None:
            user = (any(os.environ.get(var) for var in _USER_COUNT_ENV)
                    or (current != torch_default_threads() if _applied is None else current != _applied))
            if user or (_applied is not None and not (_from_load and adapt)):
                return current
            threads, from_load = default_threads(), True
        if threads < 1:
            raise ConfigError(f"torch threads must be >= 1, got {threads}")
        if threads != current:
            torch.set_num_threads(threads)
        _applied, _from_load = threads, from_load
        return threads


@contextmanager
def torch_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with :func:`configure_torch_threads` (``threads``) in effect, then put
    back the count before it (and qseq's record of who chose it): the local walk-forward engine
    runs its tasks in the caller's process."""
    global _applied, _from_load
    import torch

    before, before_applied, before_load = torch.get_num_threads(), _applied, _from_load
    try:
        yield configure_torch_threads(threads)
    finally:
        with _lock:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
            _applied, _from_load = before_applied, before_load


def thread_settings() -> dict[str, object]:
    """What this process runs with: the environment knobs and, when torch and numpy are
    loaded, their pools' sizes (for benchmarks and bug reports)."""
    out: dict[str, object] = {var: os.environ.get(var) for var in
                              (THREADS_ENV, "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", *_USER_COUNT_ENV,
                               "OPENBLAS_NUM_THREADS")}
    if "torch" in sys.modules:
        out["torch_threads"] = sys.modules["torch"].get_num_threads()
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_info

        out["blas_threads"] = {p["prefix"]: p["num_threads"] for p in threadpool_info()
                               if p["user_api"] == "blas"}
    return out


class BlasPin:
    """Holds numpy's BLAS pool at one thread while at least one holder is open.

    A stream's per-bar products are a few thousand multiply-adds: a second BLAS thread never
    pays for waking it, and on a busy host the wake-up waits for a CPU (32 ms per bar instead
    of 0.1 ms). Entering a threadpoolctl context per bar costs about as much as the update
    itself (it rescans the loaded libraries), so the pin is taken once when a stream is built
    and given back when the last open holder closes. While it is held, other numpy code in the
    process also runs its BLAS on one thread.
    """

    _count = 0
    _limiter = None
    _class_lock = threading.Lock()

    def __init__(self) -> None:
        self.closed = False
        with BlasPin._class_lock:
            if BlasPin._count == 0:
                from threadpoolctl import threadpool_limits

                BlasPin._limiter = threadpool_limits(limits=1, user_api="blas")
            BlasPin._count += 1

    def close(self) -> None:
        """Give the pin back (idempotent); the pool's count returns when the last holder goes."""
        with BlasPin._class_lock:
            if self.closed:
                return
            self.closed = True
            BlasPin._count -= 1
            if BlasPin._count == 0 and BlasPin._limiter is not None:
                BlasPin._limiter.restore_original_limits()
                BlasPin._limiter = None
