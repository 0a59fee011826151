"""Process-pool worker set-up, in a module that imports nothing heavy: a spawned worker runs it
before it imports torch for its first task, so it is watching its parent within a moment."""

from __future__ import annotations

import os
import time


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
