"""Small, seeded tasks with known answers: evidence that the models learn what they should.

- Sum-of-sines returns: every registered model beats the zero (random-walk) forecast clearly.
- Delayed copy: LSTM and GRU carry a value across 20 noisy steps, the vanilla RNN does not; the
  gradient reaching the copied input shows why (vanishing gradient, measured).
- Pointer task: the target is the input at fixed earlier steps; attention decoders beat the plain
  seq2seq, and Luong attention peaks exactly at those steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import qseq
from qseq.models import ModelConfig, build_model, list_models


def sines_panel(n: int = 1400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    ret = 0.01 * (np.sin(2 * np.pi * t / 20) + 0.5 * np.sin(2 * np.pi * t / 7 + 1.0))
    ret += 0.002 * rng.standard_normal(n)
    close = 100 * np.exp(np.cumsum(ret))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    volume = rng.lognormal(12, 0.3, n)
    idx = pd.MultiIndex.from_arrays([pd.bdate_range("2000-01-03", periods=n), ["SIN"] * n],
                                    names=["date", "ticker"])
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": volume}, index=idx)


@pytest.fixture(scope="module")
def sines():
    return sines_panel()


@pytest.mark.parametrize("name", list_models())
def test_every_model_beats_the_random_walk_on_sines(name, sines):
    f = qseq.Forecaster(name, lookback=24, horizons=3, hidden_size=24, num_layers=1,
                        features=["log_return"], seed=0, device="cpu",
                        train=qseq.TrainConfig(epochs=8, batch_size=64, lr=3e-3, patience=8))
    f.fit(sines)
    test = f.metrics_["test"]
    assert test.loc["all", "mse_ratio"] < 0.5, test  # noise floor is about 0.11
    assert test.loc["all", "dir_acc"] > 0.8


def _train(model: nn.Module, make_batch, steps: int, lr: float, seed: int = 0) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x, y = make_batch(128, gen)
        loss = nn.functional.mse_loss(model(x).y_hat, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()


def _copy_run(cell: str, lag: int, steps: int = 600, window: int = 50):
    torch.manual_seed(0)
    model = build_model(cell, ModelConfig(input_size=1, horizons=1, hidden_size=32, num_layers=1))

    def batch(n, gen):
        x = torch.randn(n, window, 1, generator=gen)
        return x, x[:, window - 1 - lag]

    _train(model, batch, steps, lr=1e-2)
    x, y = batch(2048, torch.Generator().manual_seed(99))
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(x).y_hat, y).item()
    xg = x[:256].clone().requires_grad_(True)
    model(xg).y_hat.sum().backward()
    grad = xg.grad.abs().mean(dim=(0, 2))[window - 1 - lag].item()  # d forecast / d copied input
    return mse, grad


@pytest.fixture
def two_threads():
    """The copy task's training is chaotic; float summation order (thread count) changes its
    trajectory, so it runs with the thread count it was calibrated on."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_vanishing_gradient_story_on_a_delayed_copy(two_threads):
    # the long lag gets more steps: a gated cell needs them to find the 20-step path (an LSTM
    # ends at MSE 0.62 after 900 steps on one CPU and ~0.2 on another, 0.006 after 1500), while
    # the vanilla RNN's gradient at that input is ~1e-7 however long it trains
    runs = {(cell, lag): _copy_run(cell, lag, steps=600 if lag == 5 else 1500)
            for cell in ("rnn", "lstm", "gru") for lag in (5, 20)}
    # a short lag is easy for every cell (target variance is 1)
    for cell in ("rnn", "lstm", "gru"):
        assert runs[cell, 5][0] < 0.05, runs
    rnn_long, rnn_grad = runs["rnn", 20]
    assert rnn_long > 0.9  # the vanilla RNN has learnt nothing at lag 20 ...
    assert rnn_grad < 1e-5  # ... because almost no gradient reaches that input
    for cell in ("lstm", "gru"):
        mse, grad = runs[cell, 20]
        assert mse < 0.6 * rnn_long, runs  # gated cells carry most of the value across 20 steps
        assert grad > 1e3 * rnn_grad, runs


POSITIONS = (4, 12, 20)


def _pointer_run(name: str, score: str = "general"):
    torch.manual_seed(0)
    window = 30
    model = build_model(name, ModelConfig(input_size=1, horizons=3, hidden_size=32, num_layers=1,
                                          lookback=window, attention=score))

    def batch(n, gen):
        x = torch.randn(n, window, 1, generator=gen)
        return x, x[:, list(POSITIONS), 0]

    _train(model, batch, steps=500, lr=1e-2)
    x, y = batch(1024, torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = model(x)
    return nn.functional.mse_loss(out.y_hat, y).item(), out.attention


def test_attention_finds_the_step_the_target_depends_on():
    plain, _ = _pointer_run("seq2seq")
    bahdanau, _ = _pointer_run("attn_seq2seq")
    luong, weights = _pointer_run("luong_seq2seq", "general")
    assert plain > 0.25  # the plain decoder must squeeze three values through one state
    assert bahdanau < 0.6 * plain and luong < 0.1 * plain
    for h, pos in enumerate(POSITIONS):  # Luong attention points at the right step
        assert (weights[:, h].argmax(-1) == pos).float().mean() > 0.9
