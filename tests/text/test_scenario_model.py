"""Scenario paths from token language models: shapes, determinism, leakage (the future never
changes what was fit or sampled before it), beam search, evaluation and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from qseq.config import ScenarioConfig
from qseq.errors import ConfigError, DataError
from qseq.text.scenario_model import cumulative_quantiles, daily_returns, fit_scenarios

SMALL = dict(lookback=16, horizon=3, n_bins=16, order=4, embed_dim=4, hidden_size=8, epochs=3,
             paths=40, beam_width=3, train_end="2013-12-31")


def garch_panel(n: int = 900, seed: int = 0, ticker: str = "SPX") -> pd.DataFrame:
    """One ticker's closes from GARCH(1,1) returns (volatility clusters to learn)."""
    rng = np.random.default_rng(seed)
    r, var = np.empty(n), 1e-4
    for t in range(n):
        r[t] = np.sqrt(var) * rng.standard_normal()
        var = 1e-6 + 0.09 * r[t] ** 2 + 0.9 * var
    dates = pd.bdate_range("2011-01-03", periods=n)
    index = pd.MultiIndex.from_arrays([dates, [ticker] * n], names=["date", "ticker"])
    return pd.DataFrame({"close": 100 * np.exp(np.cumsum(r))}, index=index)


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    return fit_scenarios(garch_panel(), ScenarioConfig(model="rnn", **SMALL))


def test_paths_and_quantiles_have_the_documented_shapes(fitted):
    paths = fitted.paths()
    assert paths.shape == (1, 40, 3) and np.isfinite(paths).all()
    origins = np.array([100, 200, 899 - 1])
    assert fitted.paths(origins, n_paths=7).shape == (3, 7, 3)
    q = cumulative_quantiles(paths)
    assert q.shape == (1, 3, 5) and (np.diff(q, axis=2) >= 0).all()
    assert fitted.n_train == int((fitted.dates <= "2013-12-31").sum())


def test_cumulative_quantiles_known_answer():
    paths = np.array([[[1.0, 1.0], [2.0, 0.0], [3.0, -1.0]]])  # cum: [1,2], [2,2], [3,2]
    q = cumulative_quantiles(paths, (0.5,))
    np.testing.assert_allclose(q[0, :, 0], [2.0, 2.0])


def test_same_seed_same_model_and_paths(fitted):
    again = fit_scenarios(garch_panel(), ScenarioConfig(model="rnn", **SMALL))
    np.testing.assert_array_equal(fitted.paths(), again.paths())


def test_future_returns_change_nothing_fit_before_them(fitted):
    panel = garch_panel()
    dates = panel.index.get_level_values("date")
    later = dates > pd.Timestamp("2013-12-31")
    shocked = panel.copy()
    shocked.loc[later, "close"] *= np.exp(np.random.default_rng(1).normal(0, 0.05, later.sum()))
    other = fit_scenarios(shocked, ScenarioConfig(model="rnn", **SMALL))
    for a, b in zip(fitted.model.state_dict().values(), other.model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(fitted.tokenizer.values_, other.tokenizer.values_)
    origin = np.array([fitted.n_train - 1])  # the last training day: its context is all past
    np.testing.assert_array_equal(fitted.paths(origin), other.paths(origin))


@pytest.mark.parametrize("model", ["ngram", "s2s"])
def test_every_model_samples_and_beams(model):
    sm = fit_scenarios(garch_panel(), ScenarioConfig(model=model, scale="none", **SMALL))
    assert sm.paths().shape == (1, 40, 3)
    values, logp = sm.beam(n_best=2)
    assert values.shape == (1, 2, 3) and logp.shape == (1, 2)
    assert logp[0, 0] >= logp[0, 1]  # best first


def test_beam_width_one_is_the_greedy_path(fitted):
    greedy = fitted.paths(n_paths=1, temperature=0.0)
    from dataclasses import replace

    fitted_1 = replace(fitted, config=replace(fitted.config, beam_width=1))
    values, _ = fitted_1.beam(n_best=1)
    # sampling decodes a bin uniformly, the beam at its median: compare the bins
    tok = fitted.tokenizer
    z_greedy = greedy / fitted.sigma[-1]
    assert tok.encode(z_greedy[0, 0, :1])[0] == tok.encode(values[0, 0, :1] / fitted.sigma[-1])[0]


def test_evaluation_scores_model_and_baselines(fitted):
    ev = fitted.evaluate(n_paths=30)
    models = set(ev.table.index.get_level_values("model"))
    assert models == {"rnn", "bootstrap", "fhs"}
    assert (ev.origin_dates > pd.Timestamp("2013-12-30")).all()
    assert ev.table["coverage90"].between(0, 1).all()
    assert set(ev.dm.index.get_level_values("model")) == {"rnn", "fhs"}


def test_bad_input_names_the_problem():
    with pytest.raises(ConfigError, match="unknown scenario model 'lstm'"):
        ScenarioConfig(model="lstm")
    with pytest.raises(ConfigError, match="n_bins"):
        ScenarioConfig(n_bins=1)
    two = pd.concat([garch_panel(ticker="A"), garch_panel(ticker="B")]).sort_index()
    with pytest.raises(DataError, match="pick one with --ticker"):
        daily_returns(two)
    with pytest.raises(DataError, match="training days"):
        fit_scenarios(garch_panel(), ScenarioConfig(**{**SMALL, "train_end": "2011-02-01"}))
    with pytest.raises(DataError, match="not a date"):
        fit_scenarios(garch_panel(), ScenarioConfig(**{**SMALL, "train_end": "soon"}))
