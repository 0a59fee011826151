"""The thread policy: environment defaults set only where the user set nothing, and torch thread
counts that honour the user's choice."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from qseq import runtime
from qseq.errors import ConfigError


@pytest.fixture
def clean(monkeypatch):
    """No user thread settings; torch at its untouched default; a host whose load reads as
    busy (one thread by default); restored afterwards."""
    for var in ("QSEQ_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
                "GOMP_SPINCOUNT"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "_applied", None)
    monkeypatch.setattr(runtime, "_from_load", False)
    monkeypatch.setattr(runtime, "busy_besides_us", lambda: 4)
    torch.set_num_threads(runtime.torch_default_threads())
    yield
    torch.set_num_threads(before)


def test_env_defaults_fill_only_what_the_user_left_unset(clean, monkeypatch):
    import os

    assert runtime.apply_env_defaults() == {"GOMP_SPINCOUNT": "10000"}
    assert os.environ["GOMP_SPINCOUNT"] == "10000"
    assert runtime.apply_env_defaults() == {}  # a second call changes nothing
    monkeypatch.setenv("GOMP_SPINCOUNT", "300000")
    assert runtime.apply_env_defaults() == {} and os.environ["GOMP_SPINCOUNT"] == "300000"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # a wait policy is the user's choice too
    assert runtime.apply_env_defaults() == {} and "GOMP_SPINCOUNT" not in os.environ


def test_importing_runtime_loads_neither_torch_nor_numpy():
    code = ("import sys, qseq.runtime; "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_thread_count(clean):
    assert runtime.configure_torch_threads() == runtime.DEFAULT_THREADS
    assert torch.get_num_threads() == runtime.DEFAULT_THREADS
    assert runtime.configure_torch_threads() == runtime.DEFAULT_THREADS  # stable on repeat


def test_qseq_threads_and_an_explicit_count(clean, monkeypatch):
    monkeypatch.setenv("QSEQ_THREADS", "3")
    assert runtime.configure_torch_threads() == 3 == torch.get_num_threads()
    assert runtime.configure_torch_threads(2) == 2 == torch.get_num_threads()  # explicit wins
    monkeypatch.setenv("QSEQ_THREADS", "two")
    with pytest.raises(ConfigError, match="QSEQ_THREADS must be a positive integer, got 'two'"):
        runtime.configure_torch_threads()
    monkeypatch.setenv("QSEQ_THREADS", "0")
    with pytest.raises(ConfigError, match="QSEQ_THREADS"):
        runtime.configure_torch_threads()


def test_the_users_own_choice_is_left_alone(clean, monkeypatch):
    other = runtime.torch_default_threads() + 1  # a count torch would not pick by itself
    torch.set_num_threads(other)  # chosen before qseq's first fit
    assert runtime.configure_torch_threads() == other == torch.get_num_threads()

    torch.set_num_threads(runtime.torch_default_threads())
    assert runtime.configure_torch_threads() == runtime.DEFAULT_THREADS
    torch.set_num_threads(other)  # changed after qseq set its count
    assert runtime.configure_torch_threads() == other == torch.get_num_threads()

    monkeypatch.setattr(runtime, "_applied", None)
    torch.set_num_threads(runtime.torch_default_threads())
    monkeypatch.setenv("OMP_NUM_THREADS", str(runtime.torch_default_threads()))  # read by torch
    assert runtime.configure_torch_threads() == runtime.torch_default_threads()


def test_thread_settings_report_the_pools():
    import numpy  # noqa: F401 (loaded, so its BLAS pool is reported)

    settings = runtime.thread_settings()
    assert settings["torch_threads"] == torch.get_num_threads()
    assert settings["blas_threads"] and all(n >= 1 for n in settings["blas_threads"].values())
    assert "OMP_WAIT_POLICY" in settings and "QSEQ_THREADS" in settings


def test_a_count_qseq_set_stands_and_a_task_puts_the_callers_back(clean):
    assert runtime.configure_torch_threads(3) == 3
    assert runtime.configure_torch_threads() == 3  # a fit inside a pool worker keeps its share
    runtime._applied = None
    torch.set_num_threads(runtime.torch_default_threads())
    with runtime.torch_threads(2) as inside:  # a walk-forward task with engine.threads = 2
        assert inside == 2 == torch.get_num_threads()
        assert runtime.configure_torch_threads() == 2  # the task's fits
    assert torch.get_num_threads() == runtime.torch_default_threads()
    assert runtime._applied is None  # so the caller's next fit gets the default again
    with runtime.torch_threads() as inside:
        assert inside == runtime.DEFAULT_THREADS
    assert runtime.configure_torch_threads() == runtime.DEFAULT_THREADS


def test_fits_take_the_cores_free_of_other_work(clean, monkeypatch):
    """Idle host: torch's default count; busy host: one thread; re-read at each fit (adapt),
    kept by predict calls; an explicit share is never re-read."""
    cores = runtime.torch_default_threads()
    monkeypatch.setattr(runtime, "busy_besides_us", lambda: 0)
    assert runtime.configure_torch_threads(adapt=True) == cores == torch.get_num_threads()
    monkeypatch.setattr(runtime, "busy_besides_us", lambda: 4)  # neighbours started
    assert runtime.configure_torch_threads() == cores  # a predict keeps the count
    assert runtime.configure_torch_threads(adapt=True) == 1 == torch.get_num_threads()  # next fit
    assert runtime.configure_torch_threads(3) == 3  # a pool worker's share
    monkeypatch.setattr(runtime, "busy_besides_us", lambda: 0)
    assert runtime.configure_torch_threads(adapt=True) == 3  # stands
    monkeypatch.setattr(runtime, "busy_besides_us", lambda: None)  # no /proc/loadavg
    assert runtime.default_threads() == runtime.DEFAULT_THREADS


@pytest.mark.skipif(not __import__("os").path.exists("/proc/loadavg"), reason="no /proc/loadavg")
def test_busy_besides_us_reads_the_running_count():
    busy = runtime.busy_besides_us()
    assert isinstance(busy, int) and busy >= 0
