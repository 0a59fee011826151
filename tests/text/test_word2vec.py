"""word2vec: known answers (vocabulary, subsampling, noise, pairs, the SGD step against autograd),
determinism, and learning planted structure with skip-gram and CBOW."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qseq.errors import ConfigError, DataError
from qseq.text.word2vec import (
    alias_table,
    context_matrix,
    draw_alias,
    encode_corpus,
    keep_probabilities,
    negative_sampling_step,
    noise_distribution,
    skipgram_pairs,
    train_word2vec,
)

from . import analogy_hits, cluster_purity, gender_roles, two_clusters

# -- known answers -------------------------------------------------------------------------------

def test_vocabulary_order_min_count_and_close_up():
    corpus = encode_corpus([["b", "a", "x", "b"], ["a", "c", "b"]], min_count=2)
    assert corpus.tokens == ("b", "a")  # by count, the rare x and c dropped
    np.testing.assert_array_equal(corpus.counts, [3, 2])
    np.testing.assert_array_equal(corpus.ids, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(corpus.sentence, [0, 0, 0, 1, 1])
    tie = encode_corpus([["z", "y", "y", "z", "w"]])
    assert tie.tokens == ("y", "z", "w") and all(type(t) is str for t in tie.tokens)
    given = encode_corpus([["a", "b", "c"]], vocab=["c", "a"])
    assert given.tokens == ("c", "a")
    np.testing.assert_array_equal(given.ids, [1, 0])


def test_subsampling_probability_by_hand():
    # f = (0.75, 0.25), t = 0.25: keep = (sqrt(f/t) + 1) t/f, capped at 1
    np.testing.assert_allclose(keep_probabilities(np.array([3, 1]), 0.25), [(1 + np.sqrt(3)) / 3, 1.0])
    f = np.array([1000, 10, 1]) / 1011
    np.testing.assert_allclose(keep_probabilities(np.array([1000, 10, 1]), 1e-3),
                               [(np.sqrt(f[0] / 1e-3) + 1) * 1e-3 / f[0],
                                (np.sqrt(f[1] / 1e-3) + 1) * 1e-3 / f[1], 1.0])
    np.testing.assert_array_equal(keep_probabilities(np.array([3, 1]), 0.0), [1.0, 1.0])


def test_noise_distribution_and_alias_sampler():
    np.testing.assert_allclose(noise_distribution(np.array([16, 1])), [8 / 9, 1 / 9])
    probs = noise_distribution(np.array([50, 20, 5, 1, 1, 300]))
    accept, alias = alias_table(probs)
    implied = np.zeros(len(probs))  # column i: accept[i] / V to i, the rest to alias[i]
    np.add.at(implied, np.arange(len(probs)), accept / len(probs))
    np.add.at(implied, alias, (1 - accept) / len(probs))
    np.testing.assert_allclose(implied, probs, atol=1e-12)
    draws = draw_alias(accept, alias, np.random.default_rng(0), (200_000,))
    np.testing.assert_allclose(np.bincount(draws, minlength=6) / 200_000, probs, atol=4e-3)


def test_pairs_of_a_tiny_corpus_by_hand():
    corpus = encode_corpus([["a", "b", "c"], ["d", "e"]], vocab=list("abcde"))
    reduced = np.array([2, 1, 2, 2, 1])  # each position's drawn window
    centre, context = skipgram_pairs(corpus.ids, corpus.sentence, 2, reduced)
    assert list(zip(centre.tolist(), context.tolist(), strict=True)) == [
        (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (3, 4), (4, 3)]
    ctx, mask = context_matrix(corpus.ids, corpus.sentence, 2, reduced)  # offsets -2, -1, +1, +2
    np.testing.assert_array_equal(mask[2], [True, True, False, False])  # d is another sentence
    np.testing.assert_array_equal(ctx[2, :2], [0, 1])


def _autograd_loss(w_in, w_out, inputs, mask, targets):
    hidden = (w_in[inputs] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    score = (w_out[targets] * hidden[:, None]).sum(-1)
    valid = (targets[:, 1:] != targets[:, :1]).float()
    return -(F.logsigmoid(score[:, 0]) + (F.logsigmoid(-score[:, 1:]) * valid).sum(1)).sum()


@pytest.mark.parametrize("width", [1, 3])
def test_sgd_step_matches_autograd(width):
    gen = torch.Generator().manual_seed(0)
    w_in, w_out = torch.randn(7, 4, generator=gen), torch.randn(7, 4, generator=gen)
    inputs = torch.randint(0, 7, (5, width), generator=gen)
    mask = torch.ones(5, width)
    targets = torch.randint(0, 7, (5, 4), generator=gen)
    targets[0, 2] = targets[0, 0]  # a noise token equal to the true one is ignored
    a, b = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    loss = _autograd_loss(a, b, inputs, mask, targets)
    loss.backward()
    new_in, new_out = w_in.clone(), w_out.clone()
    got = negative_sampling_step(new_in, new_out, inputs, mask, targets, lr=0.1, max_rate=None)
    assert float(got) == pytest.approx(float(loss.detach()), rel=1e-6)
    torch.testing.assert_close((new_out - w_out) / -0.1, b.grad, rtol=1e-4, atol=1e-5)
    # CBOW (word2vec's convention): each context row takes the gradient of the mean undivided
    torch.testing.assert_close((new_in - w_in) / -0.1, a.grad * width, rtol=1e-4, atol=1e-5)


def test_rows_repeated_past_the_cap_are_scaled_down():
    gen = torch.Generator().manual_seed(1)
    w_in, w_out = torch.randn(1000, 4, generator=gen), torch.randn(1000, 4, generator=gen)
    inputs = torch.zeros(64, 1, dtype=torch.long)  # row 0 in every example
    targets = torch.arange(1, 64 * 3 + 1).view(64, 3)  # all distinct
    moved = {}
    for cap in (None, 3.2):  # lr 0.1 x 64 uses = 6.4: row 0 moves half as far
        new_in, new_out = w_in.clone(), w_out.clone()
        negative_sampling_step(new_in, new_out, inputs, torch.ones(64, 1), targets, 0.1, cap)
        moved[cap] = (new_in - w_in, new_out - w_out)
    torch.testing.assert_close(moved[3.2][0], moved[None][0] * 0.5)
    torch.testing.assert_close(moved[3.2][1], moved[None][1])


# -- behaviour -----------------------------------------------------------------------------------

def test_same_seed_same_vectors():
    sentences = two_clusters(100)
    one = train_word2vec(sentences, dim=8, epochs=2, batch_size=128, seed=3)
    two = train_word2vec(sentences, dim=8, epochs=2, batch_size=128, seed=3)
    other = train_word2vec(sentences, dim=8, epochs=2, batch_size=128, seed=4)
    assert one.tokens == two.tokens
    np.testing.assert_array_equal(one.matrix, two.matrix)
    assert not np.array_equal(one.matrix, other.matrix)
    assert one.matrix.shape == (20, 8) and one.matrix.dtype == np.float32


# CBOW has one example per centre (skip-gram one per pair): smaller batches, as many steps
MODES = pytest.mark.parametrize(("sg", "batch_size"), [(True, 1024), (False, 256)],
                                ids=["skipgram", "cbow"])


@MODES
def test_learns_two_clusters(sg, batch_size):
    # subsample=0: with 20 tokens every one is frequent, and t=1e-3 would drop ~98% of them
    vec = train_word2vec(two_clusters(200), dim=16, epochs=5, sg=sg, subsample=0,
                         batch_size=batch_size)
    assert cluster_purity(vec) == 1.0


@MODES
def test_analogy_by_construction(sg, batch_size):
    vec = train_word2vec(gender_roles(), dim=16, window=4, epochs=10, sg=sg, subsample=0,
                         batch_size=batch_size)
    assert vec.analogy("f0", "m0", "m1", k=1)[0][0] == "f1"
    assert analogy_hits(vec) >= 0.9


def test_large_batches_stay_finite():
    # 20 tokens, 2048 examples per step: each row is in hundreds of a batch's examples
    vec = train_word2vec(two_clusters(200), dim=16, epochs=5, subsample=0, batch_size=2048)
    assert np.isfinite(vec.matrix).all() and cluster_purity(vec) >= 0.9


def test_progress_bar_and_log(caplog):
    with caplog.at_level("INFO", logger="qseq.text.word2vec"):
        train_word2vec(two_clusters(20), dim=4, epochs=2, progress=True)
    assert "word2vec epoch 2/2: loss" in caplog.text


@pytest.mark.parametrize(("sentences", "message"), [
    ("a b c", "sentences is one string"),
    (["a b", ["c"]], "sentence 0 is a string"),
    ([[], []], "no tokens"),
    ([["a", 3]], "token 3 is not a non-empty string"),
    ([["a", "b c"]], "token 'b c' is not a non-empty string without whitespace"),
])
def test_bad_sentences(sentences, message):
    with pytest.raises(DataError, match=message):
        train_word2vec(sentences)


def test_min_count_too_high():
    with pytest.raises(DataError, match="no token of the 1 sentences is in the vocabulary"):
        train_word2vec([["a", "b"]], min_count=2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dim": 0}, "dim must be an int >= 1, got 0"),
    ({"window": 2.5}, "window must be an int >= 1"),
    ({"lr": 0}, "lr must be > 0"),
    ({"subsample": 1.0}, r"subsample must be in \[0, 1\)"),
    ({"min_count": 0}, "min_count must be an int >= 1"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        train_word2vec([["a", "b"]], **kwargs)
