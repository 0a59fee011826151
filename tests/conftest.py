"""Shared fixtures: small seeded panels cut from the bundled real data; no network, ever."""

from __future__ import annotations

import pandas as pd
import pytest

from qseq.data import bundled


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path_factory):
    """Every test gets its own QSEQ_HOME and a yfinance that refuses to touch the network."""
    monkeypatch.setenv("QSEQ_HOME", str(tmp_path_factory.mktemp("qseq_home")))

    def offline(*_args, **_kwargs):
        raise ConnectionError("network disabled in tests: Could not resolve host")

    monkeypatch.setattr("qseq.data.yahoo._call_download", offline)
    yield
    _reset_thread_policy()


def _reset_thread_policy() -> None:
    """Forget any torch thread count a test chose (e.g. with QSEQ_THREADS=1): qseq keeps a
    count it set explicitly for the rest of the process, which would leak into later tests."""
    import sys

    runtime = sys.modules.get("qseq.runtime")
    if runtime is None or runtime._applied is None:
        return
    import torch

    torch.set_num_threads(runtime.torch_default_threads())
    runtime._applied, runtime._from_load = None, False


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    return bundled.load_dataset("sp500")


@pytest.fixture
def spx_small(sp500) -> pd.DataFrame:
    """~600 bars of the real S&P 500 index (2010-2012), ticker ^GSPC."""
    dates = sp500.index.get_level_values("date")
    return sp500[(dates >= "2010-01-01") & (dates <= "2012-06-30")].copy()


@pytest.fixture
def two_stocks() -> pd.DataFrame:
    """AAPL and MSFT, 2008-2010, from the bundled Quandl WIKI panel."""
    panel = bundled.load_dataset("stocks5")
    dates = panel.index.get_level_values("date")
    tick = panel.index.get_level_values("ticker")
    return panel[(dates >= "2008-01-01") & (dates <= "2010-12-31") & tick.isin(["AAPL", "MSFT"])]


@pytest.fixture
def data(spx_small):
    """Scaled (train, val) windows of ``spx_small``: 16 bars of log return and log volume
    change, horizons 1-3, a chronological split with a 3-bar purge (the training-loop tests)."""
    import numpy as np

    from qseq.data.windows import StandardScaler, chronological_split, make_windows

    w = make_windows(spx_small, ["log_return", "log_volume_change"], 16, (1, 2, 3))
    split = chronological_split(w, 0.2, 0.2, gap=3)
    sx = StandardScaler().fit(w.values[np.isfinite(w.values).all(axis=1)])
    sy = StandardScaler().fit(w.subset(split.train).y)
    scaled = w.with_values(sx.transform(w.values), sy.transform(w.targets))
    return scaled.subset(split.train), scaled.subset(split.val)


class Interrupt(Exception):
    """Stands in for Ctrl-C in the resume tests."""


def stop_after(epoch: int):
    """An ``on_epoch`` callback that interrupts training once ``epoch`` has finished."""
    def callback(entry) -> None:
        if entry.epoch == epoch:
            raise Interrupt
    return callback


@pytest.fixture
def interrupt():
    """``(Interrupt, stop_after)``: the exception and the callback factory above, for tests
    that kill a fit mid-way and resume it."""
    return Interrupt, stop_after
