"""Token language models: they learn a deterministic sequence, sampling, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from qseq.errors import ConfigError, DataError
from qseq.text.lm import (
    RNNLM,
    NGramConfig,
    NGramLM,
    OrdinalHead,
    RNNLMConfig,
    Shared,
    TokenTrainConfig,
    _soft_targets,
    chunk_examples,
    fit_temperature,
    fit_token_model,
    ngram_examples,
    perplexity,
    sample_paths,
    scenario_returns,
    select_state,
)
from qseq.text.tokens import ReturnTokenizer

VOCAB = 10  # 3 specials + 7 bins
CYCLE = np.tile(np.arange(3, 10), 20)  # 3 4 5 ... 9 3 4 ...: each token fixes the next
FAST = TokenTrainConfig(epochs=25, batch_size=32, lr=2e-2, seed=0)


def _ngram(seed: int = 0, **kw) -> NGramLM:
    return NGramLM(NGramConfig(VOCAB, order=3, embed_dim=8, hidden_size=16, **kw), seed=seed)


def _trained_ngram(**kw) -> NGramLM:
    model = _ngram(**kw)
    x, y = ngram_examples(CYCLE, 3)
    fit_token_model(model, (x,), y, FAST, first_bin=3)
    return model


def test_ngram_examples_known_answer():
    x, y = ngram_examples(np.array([5, 6, 7, 8]), 3)
    assert x.tolist() == [[5, 6], [6, 7]] and y.tolist() == [7, 8]
    x, y = chunk_examples(np.arange(7), 3, stride=2)
    assert x.tolist() == [[0, 1, 2], [2, 3, 4]] and y.tolist() == [[1, 2, 3], [3, 4, 5]]


@pytest.mark.parametrize("head", ["softmax", "ordinal"])
def test_ngram_learns_a_deterministic_sequence(head):
    model = _trained_ngram(head=head)
    x, y = ngram_examples(CYCLE, 3)
    assert perplexity(model, (x,), y) < 1.1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rnn_learns_a_deterministic_sequence(cell):
    model = RNNLM(RNNLMConfig(VOCAB, embed_dim=8, hidden_size=16, cell=cell), seed=0)
    x, y = chunk_examples(CYCLE, 12, stride=3)
    fit_token_model(model, (x,), y, FAST, first_bin=3)
    assert perplexity(model, (x,), y) < 1.1
    paths = sample_paths(model, torch.tensor([[3, 4, 5, 6]]), 5, 4, seed=0)
    assert paths.tolist() == [[[7, 8, 9, 3, 4]] * 4]  # it continues the cycle


def test_training_is_seeded():
    a, b = _trained_ngram(), _trained_ngram()
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(_ngram(seed=0).embed.weight, _ngram(seed=1).embed.weight)


def test_early_stopping_restores_best():
    model = _ngram()
    x, y = ngram_examples(CYCLE, 3)
    log = fit_token_model(model, (x,), y, TokenTrainConfig(epochs=8, lr=1e-2, patience=2),
                          val=((x,), y), first_bin=3)
    assert len(log.val_loss) <= 8
    assert log.val_loss[log.best_epoch - 1] == pytest.approx(min(log.val_loss))


def test_sampling_temperature_to_zero_is_greedy():
    model = _ngram(seed=3)  # untrained: a random but fixed distribution
    ctx = torch.tensor([[3, 4], [8, 9], [5, 5]])
    greedy = sample_paths(model, ctx, 6, 3, temperature=0.0, banned=(0, 1, 2))
    cold = sample_paths(model, ctx, 6, 3, temperature=1e-4, banned=(0, 1, 2), seed=7)
    assert torch.equal(greedy, cold)
    assert (greedy == greedy[:, :1]).all()  # every greedy path is the same


def test_sampling_shapes_bans_and_determinism():
    model = _ngram(seed=3)
    ctx = torch.tensor([[3, 4], [8, 9]])
    a = sample_paths(model, ctx, 4, 50, banned=(0, 1, 2), seed=1, max_rows=16)
    b = sample_paths(model, ctx, 4, 50, banned=(0, 1, 2), seed=1, max_rows=16)
    c = sample_paths(model, ctx, 4, 50, banned=(0, 1, 2), seed=2)
    assert a.shape == (2, 50, 4) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 3 and a.max() < VOCAB
    with pytest.raises(ConfigError, match="temperature"):
        sample_paths(model, ctx, 4, 2, temperature=-1)


def test_sampling_frequencies_follow_the_model():
    model = _ngram(seed=5)
    ctx = torch.tensor([[4, 6]])
    probs = torch.softmax(model(ctx)[0].detach().double(), -1)
    draws = sample_paths(model, ctx, 1, 20000, seed=0)[0, :, 0]
    freq = torch.bincount(draws, minlength=VOCAB).double() / 20000
    assert torch.allclose(freq, probs, atol=0.015)


def test_scenario_returns_use_only_the_past():
    tok = ReturnTokenizer(7).fit(np.linspace(-0.03, 0.03, 70))
    tokens = tok.encode(np.random.default_rng(0).normal(0, 0.01, 40))
    model = _ngram(seed=1)
    out = scenario_returns(model, tok, tokens, np.array([5, 20]), lookback=4, horizon=3,
                           n_paths=6, seed=0)
    assert out.shape == (2, 6, 3) and np.all(np.abs(out) <= 0.03)
    later = tokens.copy()
    later[21:] = 3  # the future of the last origin
    again = scenario_returns(model, tok, later, np.array([5, 20]), lookback=4, horizon=3,
                             n_paths=6, seed=0)
    np.testing.assert_array_equal(out, again)
    with pytest.raises(DataError, match="origins"):
        scenario_returns(model, tok, tokens, np.array([2]), lookback=4, horizon=3, n_paths=2)


def test_select_state_keeps_shared_parts():
    keys = torch.randn(2, 5, 3)
    state = (torch.arange(4.0)[:, None], Shared(keys))
    picked = select_state(state, torch.tensor([3, 3, 0]))
    assert picked[0][:, 0].tolist() == [3.0, 3.0, 0.0] and picked[1].value is keys


def test_ordinal_head_is_a_distribution_over_bins():
    head = OrdinalHead(4, n_specials=3, n_bins=16, components=2)
    logits = head(torch.randn(5, 4))
    assert logits.shape == (5, 19)
    total = torch.logsumexp(logits[:, 3:], -1)
    assert torch.allclose(total, torch.zeros(5), atol=1e-5)


def test_soft_targets_rows_sum_to_one():
    soft = _soft_targets(8, 3, 1.0)
    assert torch.allclose(soft.sum(1), torch.ones(8))
    assert torch.equal(soft[:3], torch.eye(8)[:3])  # specials stay one-hot
    assert soft[5, 5] > soft[5, 6] > soft[5, 7] > 0


class _Fixed(nn.Module):
    """Logits = 2 x the true log-probabilities of a fixed distribution, for any input."""

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__()
        self.logits = 2 * probs.log()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def test_temperature_scaling_recovers_a_known_temperature():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    targets = torch.tensor([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    model = _Fixed(probs)
    t = fit_temperature(model, (torch.zeros(100, 1),), targets,
                        grid=tuple(np.round(np.arange(1.0, 3.05, 0.05), 2)))
    assert t == pytest.approx(2.0)
    assert math.isclose(float(-torch.log_softmax(model.logits / t, -1)[targets].mean()),
                        float(-(probs.log()[targets]).mean()), rel_tol=1e-5)
