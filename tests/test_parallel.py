"""Pool workers share the CPUs and die with their parent, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from qseq.parallel import process_pool

PARENT = textwrap.dedent("""
    import os, sys, time

    from qseq.parallel import process_pool


    def report_and_sleep(path):
        with open(path, "a") as fh:  # written after the initializer ran
            fh.write(f"{os.getpid()}\\n")
        time.sleep(600)


    if __name__ == "__main__":
        pool = process_pool(2, 1)
        futures = [pool.submit(report_and_sleep, sys.argv[1]) for _ in range(2)]
        time.sleep(600)
""")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no procfs
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and POSIX parents")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    script, pid_file = tmp_path / "parent.py", tmp_path / "workers.txt"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)], cwd=tmp_path)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120  # two spawned interpreters importing qseq and torch
        while len(workers) < 2:
            assert parent.poll() is None, "the parent died before its workers started"
            assert time.monotonic() < deadline, "the workers did not start in 120 s"
            time.sleep(0.2)
            if pid_file.exists():
                workers = sorted({int(line) for line in pid_file.read_text().split()})
        assert all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        killed_at = time.monotonic()
        while any(_alive(pid) for pid in workers) and time.monotonic() - killed_at < 10:
            time.sleep(0.1)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"workers {left} outlived their killed parent by 10 s"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _worker_threads() -> tuple[int, int]:
    import torch

    return torch.get_num_threads(), os.getpid()


@pytest.mark.slow
def test_pool_workers_run_with_their_thread_share():
    with process_pool(2, 3) as pool:
        results = [pool.submit(_worker_threads).result(timeout=120) for _ in range(4)]
    assert {threads for threads, _ in results} == {3}
    assert os.getpid() not in {pid for _, pid in results}


def test_pool_rejects_empty_shares():
    with pytest.raises(ValueError, match="threads >= 1"):
        process_pool(2, 0)
