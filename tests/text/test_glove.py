"""GloVe: co-occurrence counts by hand, the loss gradient against autograd, AdaGrad by hand,
determinism, and learning planted structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse

from qseq.errors import ConfigError, DataError
from qseq.text.glove import adagrad_rows, cooccurrence, glove_gradients, train_glove

from . import analogy_hits, cluster_purity, gender_roles, two_clusters


def dense(sentences, **kwargs):
    tokens, counts = cooccurrence(sentences, **kwargs)
    assert isinstance(counts, sparse.coo_matrix)
    return tokens, counts.toarray()


def test_cooccurrence_by_hand():
    tokens, x = dense([["a", "b", "c"], ["b", "a"]], window=2)
    assert tokens == ("a", "b", "c")  # a and b twice (tie by token), c once
    # sentence 1: a-b at 1, b-c at 1, a-c at 2 (1/2); sentence 2: b-a at 1; never across sentences
    np.testing.assert_allclose(x, [[0, 2, 0.5], [2, 0, 1], [0.5, 1, 0]])
    _, x1 = dense([["a", "b", "c"], ["b", "a"]], window=1)
    np.testing.assert_allclose(x1, [[0, 2, 0], [2, 0, 1], [0, 1, 0]])


def test_cooccurrence_diagonal_and_vocabulary():
    _, x = dense([["a", "a"]], window=3)
    np.testing.assert_allclose(x, [[2.0]])  # each side of the pair counts, as in cooccur.c
    # out-of-vocabulary tokens are dropped first: a and b close up to distance 1
    tokens, x = dense([["a", "x", "b"]], window=1, vocab=["b", "a"])
    assert tokens == ("b", "a")
    np.testing.assert_allclose(x, [[0, 1], [1, 0]])
    tokens, x = dense([["a", "x", "b", "a", "b"]], window=1, min_count=2)
    assert tokens == ("a", "b")
    np.testing.assert_allclose(x, [[0, 3], [3, 0]])


def test_gradient_matches_autograd():
    gen = torch.Generator().manual_seed(0)
    p, q = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)  # D = 3, + bias
    rows, cols = torch.tensor([0, 1, 1, 5, 2]), torch.tensor([1, 0, 3, 5, 2])
    x = torch.tensor([2.0, 2.0, 0.5, 150.0, 7.0])
    log_x, weight = x.log(), (x / 100.0).pow(0.75).clamp(max=1.0)
    loss, grad_p, grad_q = glove_gradients(p, q, rows, cols, log_x, weight)
    a, b = p.clone().requires_grad_(), q.clone().requires_grad_()
    diff = (a[rows, :3] * b[cols, :3]).sum(1) + a[rows, 3] + b[cols, 3] - log_x
    want = 0.5 * (weight * diff**2).sum()
    want.backward()
    assert float(loss) == pytest.approx(float(want.detach()), rel=1e-6)
    # per-cell gradients summed into rows equal the gradient of the whole loss
    torch.testing.assert_close(torch.zeros_like(p).index_add_(0, rows, grad_p), a.grad)
    torch.testing.assert_close(torch.zeros_like(q).index_add_(0, cols, grad_q), b.grad)


def test_adagrad_by_hand():
    table, sq = torch.zeros(3, 2), torch.ones(3, 2)
    grad = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    adagrad_rows(table, sq, torch.tensor([1, 1]), grad, lr=0.5)
    # both examples read G = 1 (glove.c: the step uses G from before the example)
    torch.testing.assert_close(table[1], torch.tensor([-2.0, -1.0]))
    torch.testing.assert_close(sq[1], torch.tensor([11.0, 5.0]))
    assert table[0].abs().sum() == 0 and sq[0].tolist() == [1.0, 1.0]


def test_adagrad_damps_rows_repeated_in_a_batch():
    table, sq = torch.zeros(2, 1), torch.ones(2, 1)
    index = torch.tensor([0, 0, 0, 0, 1])
    adagrad_rows(table, sq, index, torch.ones(5, 1), lr=1.0, max_uses=2.0)
    # row 0 is used 4 times: each move scaled by 2 / 4, so two unit moves in all
    torch.testing.assert_close(table[:, 0], torch.tensor([-2.0, -1.0]))


def test_same_seed_same_vectors_and_either_input():
    sentences = two_clusters(50)
    one = train_glove(sentences, dim=8, window=3, epochs=3, seed=2)
    two = train_glove(cooccurrence(sentences, window=3), dim=8, epochs=3, seed=2)
    other = train_glove(sentences, dim=8, window=3, epochs=3, seed=5)
    assert one.tokens == two.tokens
    np.testing.assert_array_equal(one.matrix, two.matrix)
    assert not np.array_equal(one.matrix, other.matrix)


def test_learns_two_clusters():
    vec = train_glove(two_clusters(200), dim=16, window=5, epochs=20, batch_size=512)
    assert cluster_purity(vec) == 1.0


def test_analogy_by_construction():
    vec = train_glove(gender_roles(), dim=16, window=4, epochs=50, batch_size=512)
    assert vec.analogy("f0", "m0", "m1", k=1)[0][0] == "f1"
    assert analogy_hits(vec) >= 0.9


def test_loss_falls_and_progress(caplog):
    with caplog.at_level("INFO", logger="qseq.text.glove"):
        train_glove(two_clusters(50), dim=8, epochs=5, progress=True)
    errors = [float(line.split("error ")[1].split()[0]) for line in caplog.messages]
    assert len(errors) == 5 and errors[-1] < errors[0]


def test_bad_inputs():
    tokens, counts = cooccurrence([["a", "b"]])
    with pytest.raises(DataError, match=r"shape \(2, 2\) for 3 tokens"):
        train_glove((("a", "b", "c"), counts))
    with pytest.raises(DataError, match="negative counts"):
        train_glove((tokens, sparse.coo_matrix(-counts.toarray())))
    with pytest.raises(DataError, match="all zeros"):
        train_glove([["a"], ["b"]])
    with pytest.raises(ConfigError, match="x_max must be > 0"):
        train_glove([["a", "b"]], x_max=0)
    with pytest.raises(ConfigError, match="window must be an int >= 1"):
        cooccurrence([["a", "b"]], window=0)
