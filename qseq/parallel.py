"""The process pool of the local walk-forward engine: workers that share the CPUs and die with
their parent.

:func:`process_pool` starts spawned workers whose initializer (:func:`init_worker`)

- ties the worker's life to the parent's (:func:`pool_worker_init`:
  ``PR_SET_PDEATHSIG`` on Linux plus a parent-pid watch everywhere), so a parent killed with
  SIGKILL leaves no workers computing behind it, and
- applies :func:`qseq.runtime.apply_env_defaults` and gives the worker ``threads`` torch
  threads (:func:`qseq.runtime.configure_torch_threads`), so workers x threads stays within
  the CPUs and the worker's OpenMP threads sleep instead of spinning when they wait.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int, threads: int) -> ProcessPoolExecutor:
    """A spawn-context pool of ``workers`` processes with ``threads`` torch threads each, whose
    workers exit within about a second of the parent's death, SIGKILL included.

    Create it (and submit to it) from a thread that lives as long as the pool, usually the main
    thread: on Linux a worker's death signal follows the thread that started it.
    """
    if workers < 1 or threads < 1:
        raise ValueError(f"expected workers >= 1 and threads >= 1, got {workers} and {threads}")
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=init_worker, initargs=(os.getpid(), threads))


def init_worker(parent_pid: int, threads: int) -> None:
    """Pool-worker initializer: exit with ``parent_pid``, then run with ``threads`` torch threads."""
    pool_worker_init(parent_pid)  # first, before the slow torch import
    from qseq.runtime import apply_env_defaults, configure_torch_threads

    apply_env_defaults()  # inherited from the parent already; this covers a parent without qseq's
    configure_torch_threads(threads)


def pool_worker_init(parent_pid: int) -> None:
    """Initializer of process-pool workers: exit within about a second of the parent's death,
    even when it was SIGKILLed (no cleanup ran) and the worker is busy in a fold. Linux gets
    ``PR_SET_PDEATHSIG`` (SIGKILL from the kernel); everywhere a daemon thread also polls the
    parent pid."""
    import ctypes
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass  # the polling thread below still covers it
    if os.getppid() != parent_pid:  # died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="qseq-parent-watch", daemon=True).start()
