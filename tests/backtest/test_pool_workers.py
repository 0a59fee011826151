"""Process-pool workers of the local engine exit soon after their parent dies, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent("""
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    from qseq._pool import pool_worker_init

    def busy(seconds):
        end = time.time() + seconds
        while time.time() < end:
            pass
        return os.getpid()

    if __name__ == "__main__":
        with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"),
                                 initializer=pool_worker_init, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(busy, 600) for _ in range(2)]
            time.sleep(3)
            for pid in pool._processes:
                print(pid, flush=True)
            time.sleep(600)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_exit_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(parent.stdout.readline()) for _ in range(2)]
        assert all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids), "pool workers outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in locals().get("pids", []):
            if _alive(p):
                os.kill(p, signal.SIGKILL)
