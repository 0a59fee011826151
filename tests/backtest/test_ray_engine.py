"""The Ray engine against a real local Ray cluster (loopback only, no dashboard)."""

from __future__ import annotations

import pandas as pd
import pytest

from qseq.backtest.folds import WalkForwardConfig
from qseq.backtest.walk_forward import WalkForwardSpec, run_walk_forward
from qseq.config import ForecastConfig
from qseq.data.sources import load_prices
from qseq.train import TrainConfig

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'qseq[ray]'")


@pytest.mark.slow
def test_ray_engine_matches_local_engine_on_a_real_cluster(monkeypatch):
    panel = load_prices(["AAPL", "MSFT"], start="2008-01-01", end="2012-12-31", offline=True)
    forecast = ForecastConfig(model="gru", lookback=8, horizons=(1, 2), hidden_size=4, num_layers=1,
                              train=TrainConfig(epochs=1, batch_size=128), seed=1)
    spec = WalkForwardSpec(forecast=forecast, per_ticker=True,
                           folds=WalkForwardConfig(train_bars=500, test_bars=200),
                           baselines=("random_walk",), permutation_repeats=1, threads=1)
    local = run_walk_forward(panel, spec)
    inits = []
    real_init = ray.init

    def spy_init(**kwargs):
        inits.append(kwargs)
        return real_init(**kwargs)

    monkeypatch.setattr(ray, "init", spy_init)
    remote = run_walk_forward(panel, spec, engine="ray", workers=2)
    assert inits and inits[0]["_node_ip_address"] == "127.0.0.1" and inits[0]["include_dashboard"] is False
    assert not ray.is_initialized()  # the engine shut down the cluster it started
    assert set(remote.forecasts["ticker"]) == {"AAPL", "MSFT"}
    pd.testing.assert_frame_equal(local.forecasts, remote.forecasts)
    pd.testing.assert_frame_equal(local.importance, remote.importance)
    assert (remote.folds["threads"] == 1).all()  # one torch thread per 1-CPU Ray task
