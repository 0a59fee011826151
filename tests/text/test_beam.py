"""Beam search on hand-set models (known answers), and the token seq2seq with attention."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.text.beam import (
    Seq2SeqConfig,
    TokenSeq2Seq,
    beam_search,
    length_penalty,
    seq2seq_examples,
)
from qseq.text.lm import NGramConfig, NGramLM, TokenTrainConfig, fit_token_model, sample_paths

PAD, BOS, EOS, A, B, X, Y, Z = range(8)


class TableLM(nn.Module):
    """A bigram model set by hand: ``table[prev]`` gives the next-token probabilities; the
    first step reads the last context token. State: (previous token [B],)."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int = 8) -> None:
        super().__init__()
        logp = torch.full((vocab, vocab), -math.inf, dtype=torch.float64)
        for prev, row in table.items():
            for tok, p in row.items():
                logp[prev, tok] = math.log(p)
        self.logp = logp

    def start(self, context):
        return self.step((context[:, -1],), None)

    def step(self, state, token):
        prev = state[0] if token is None else token
        return self.logp[prev], (prev,)


def _seq_logp(model: TableLM, first: int, path: list[int]) -> float:
    prev, total = first, 0.0
    for tok in path:
        total += float(model.logp[prev, tok])
        prev = tok
    return total


GREEDY_TRAP = TableLM({BOS: {A: 0.6, B: 0.4}, A: {X: 0.34, Y: 0.33, Z: 0.33},
                       B: {X: 0.9, Y: 0.05, Z: 0.05}, X: {X: 1.0}, Y: {X: 1.0}, Z: {X: 1.0}})


def test_beam_finds_what_greedy_misses():
    ctx = torch.tensor([[BOS]])
    greedy = beam_search(GREEDY_TRAP, ctx, 2, beam_width=1)
    assert greedy.tokens[0, 0].tolist() == [A, X]
    assert greedy.log_prob[0, 0] == pytest.approx(math.log(0.6 * 0.34))
    beam = beam_search(GREEDY_TRAP, ctx, 2, beam_width=2, n_best=2)
    assert beam.tokens[0, 0].tolist() == [B, X] and beam.tokens[0, 1].tolist() == [A, X]
    assert beam.log_prob[0].tolist() == pytest.approx([math.log(0.36), math.log(0.204)])


def test_beam_width_one_is_greedy_sampling():
    torch.manual_seed(0)
    model = NGramLM(NGramConfig(9, order=3, embed_dim=4, hidden_size=8), seed=4)
    ctx = torch.randint(3, 9, (6, 2))
    greedy = sample_paths(model, ctx, 5, 1, temperature=0.0, banned=(0, 1, 2))[:, 0]
    beam = beam_search(model, ctx, 5, beam_width=1, banned=(0, 1, 2))
    assert torch.equal(beam.tokens[:, 0], greedy)


def test_wide_beam_is_exhaustive():
    """With beam_width >= V^(L-1) nothing is pruned: the top path is the brute-force argmax."""
    model = NGramLM(NGramConfig(5, order=2, embed_dim=3, hidden_size=6), seed=9)
    ctx = torch.tensor([[1], [3]])
    res = beam_search(model, ctx, 3, beam_width=25, n_best=3)
    with torch.no_grad():
        for b in range(2):
            scores = {}
            for path in itertools.product(range(5), repeat=3):
                prev, total = int(ctx[b, 0]), 0.0
                for tok in path:
                    total += float(torch.log_softmax(model(torch.tensor([[prev]])).double(), -1)[0, tok])
                    prev = tok
                scores[path] = total
            ranked = sorted(scores, key=scores.get, reverse=True)[:3]
            assert [tuple(p) for p in res.tokens[b].tolist()] == ranked
            assert res.log_prob[b].tolist() == pytest.approx([scores[p] for p in ranked])


# short [EOS] has log-prob -1.0; the longer [A, X, EOS] has -1.2 but wins once lengths count
P_A = 1 - math.exp(-1.0)
EOS_MODEL = TableLM({BOS: {EOS: math.exp(-1.0), A: P_A},
                     A: {X: math.exp(-1.2) / P_A, Y: 1 - math.exp(-1.2) / P_A},
                     X: {EOS: 1.0}, Y: {EOS: 0.5, Z: 0.5}, Z: {EOS: 1.0}, EOS: {EOS: 1.0}})


def test_length_normalisation():
    assert length_penalty(5, 1.0) == pytest.approx(10 / 6)
    assert length_penalty(3, 0.0) == 1.0
    ctx = torch.tensor([[BOS]])
    raw = beam_search(EOS_MODEL, ctx, 4, beam_width=3, eos_id=EOS, alpha=0.0)
    assert raw.tokens[0, 0].tolist() == [EOS, PAD, PAD, PAD] and raw.length[0, 0] == 1
    assert raw.log_prob[0, 0] == pytest.approx(-1.0)
    norm = beam_search(EOS_MODEL, ctx, 4, beam_width=3, eos_id=EOS, alpha=1.0, n_best=2)
    assert norm.tokens[0, 0].tolist() == [A, X, EOS, PAD] and norm.length[0, 0] == 3
    assert norm.score[0, 0] == pytest.approx(-1.2 / length_penalty(3, 1.0))
    assert norm.score[0, 1] == pytest.approx(-1.0)  # [EOS], lp(1) = 1
    assert norm.tokens[0, 1].tolist()[:1] == [EOS]
    assert _seq_logp(EOS_MODEL, BOS, [A, X, EOS]) == pytest.approx(-1.2)


def test_beam_arguments():
    with pytest.raises(ConfigError, match="n_best"):
        beam_search(GREEDY_TRAP, torch.tensor([[BOS]]), 2, beam_width=1, n_best=2)
    with pytest.raises(ConfigError, match="alpha"):
        beam_search(GREEDY_TRAP, torch.tensor([[BOS]]), 2, alpha=-1)


def test_seq2seq_examples_known_answer():
    (ctx, dec), tgt = seq2seq_examples(np.arange(10, 17), 3, 2)
    assert ctx[0].tolist() == [10, 11, 12] and dec[0].tolist() == [12, 13]
    assert tgt[0].tolist() == [13, 14] and len(tgt) == 3


@pytest.mark.parametrize("score", ["additive", "general", "dot", "concat"])
def test_seq2seq_step_protocol_matches_teacher_forcing(score):
    model = TokenSeq2Seq(Seq2SeqConfig(9, embed_dim=4, hidden_size=6, score=score), seed=1).eval()
    ctx = torch.randint(3, 9, (3, 5))
    target = torch.randint(3, 9, (3, 4))
    dec_in = torch.cat([ctx[:, -1:], target[:, :-1]], dim=1)
    with torch.no_grad():
        forced = model(ctx, dec_in)  # [3, 4, 9]
        logits, state = model.start(ctx)
        steps = [logits]
        for t in range(3):
            logits, state = model.step(state, target[:, t])
            steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), forced, atol=1e-6)


def test_seq2seq_learns_to_copy_the_context():
    """Targets repeat the context's last H tokens: attention must look back."""
    gen = np.random.default_rng(0)
    seq = np.concatenate([np.r_[block, block] for block in gen.integers(3, 7, (160, 3))])
    (ctx, dec), tgt = seq2seq_examples(seq, 3, 3)
    keep = torch.arange(0, len(tgt), 6)  # origins at block starts: the next 3 copy the context
    model = TokenSeq2Seq(Seq2SeqConfig(7, embed_dim=8, hidden_size=24), seed=0)
    fit_token_model(model, (ctx[keep], dec[keep]), tgt[keep],
                    TokenTrainConfig(epochs=40, batch_size=16, lr=1e-2), first_bin=3)
    best = beam_search(model, ctx[keep[:20]], 3, beam_width=3, banned=(0, 1, 2))
    assert (best.tokens[:, 0] == tgt[keep[:20]]).float().mean() > 0.9
