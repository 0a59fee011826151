"""GloVe (Pennington et al. 2014): weighted least squares on the log co-occurrence counts.

    J = 1/2 Σ_{ij: X_ij > 0} f(X_ij) (w_i·w̃_j + b_i + b̃_j - log X_ij)²,
    f(X) = min(1, (X / x_max)^alpha)

``X`` counts, over a symmetric window, each pair of tokens at distance ``d`` with weight ``1/d``.
Training is AdaGrad as in glove.c (learning rate ``lr``, squared-gradient sums starting at 1, a
step per non-zero cell) over the shuffled cells in batches of ``batch_size``; every cell of a
batch reads the squared sums from before the batch. Each table holds its bias as a last column,
``P = [W | b]`` and ``Q = [W̃ | b̃]`` (``[V, D + 1]``). The returned vectors are ``W + W̃``.

    from qseq.text import cooccurrence, train_glove
    tokens, counts = cooccurrence(sentences, window=10)        # scipy.sparse.coo_matrix [V, V]
    vec = train_glove((tokens, counts), dim=64, epochs=50)     # or train_glove(sentences)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from qseq.errors import ConfigError, DataError, TrainingError
from qseq.text.vectors import Vectors
from qseq.text.word2vec import check_positive_ints, encode_corpus

log = logging.getLogger(__name__)


def cooccurrence(sentences: Sequence[Sequence[str]], window: int = 10, min_count: int = 1,
                 vocab: Sequence[str] | None = None):
    """``(tokens, X)``: ``X`` a symmetric ``scipy.sparse.coo_matrix [V, V]`` (float64) where
    ``X[i, j]`` sums ``1/d`` over every occurrence of ``tokens[j]`` at distance ``d <= window``
    from ``tokens[i]`` in the same sentence. Tokens outside the vocabulary (seen fewer than
    ``min_count`` times, or not in ``vocab``) are dropped first and the rest close up, as in
    GloVe's cooccur. A token next to itself adds to the diagonal from both sides."""
    from scipy import sparse

    check_positive_ints(window=window)
    corpus = encode_corpus(sentences, min_count=min_count, vocab=vocab)
    ids, sentence, size = corpus.ids, corpus.sentence, len(corpus.tokens)
    total = sparse.csr_matrix((size, size), dtype=np.float64)
    for d in range(1, min(window, len(ids) - 1) + 1):
        same = sentence[d:] == sentence[:-d]  # positions n and n+d share a sentence
        left, right = ids[:-d][same], ids[d:][same]
        weight = np.full(2 * len(left), 1.0 / d)
        pairs = sparse.coo_matrix((weight, (np.concatenate([left, right]), np.concatenate([right, left]))),
                                  shape=(size, size))
        total = total + pairs.tocsr()  # sums duplicates
    return corpus.tokens, total.tocoo()


def glove_gradients(p, q, rows, cols, log_x, weight):
    """Loss and gradients of one batch of cells (``torch`` tensors, no autograd).

    ``p``, ``q``: ``[V, D + 1]`` tables ``[W | b]`` and ``[W̃ | b̃]``; ``rows``, ``cols``: ``[B]``
    cell indices; ``log_x``, ``weight``: ``[B]`` log counts and ``f(X)``. Returns
    ``(loss, grad_p [B, D + 1], grad_q [B, D + 1])`` with ``loss = 1/2 Σ f (w·w̃ + b + b̃ - log X)²``
    and the per-cell gradients of that loss with respect to ``p[rows]`` and ``q[cols]``.
    """
    import torch

    dim = p.shape[1] - 1
    p_rows, q_cols = torch.index_select(p, 0, rows), torch.index_select(q, 0, cols)  # [B, D+1]
    diff = (p_rows[:, :dim] * q_cols[:, :dim]).sum(1) + p_rows[:, dim] + q_cols[:, dim] - log_x  # [B]
    fdiff = weight * diff
    loss = 0.5 * (fdiff * diff).sum()
    grad_p = fdiff[:, None] * q_cols  # d/dw_i = f·diff·w̃_j ...
    grad_p[:, dim] = fdiff  # ... and d/db_i = f·diff
    grad_q = fdiff[:, None] * p_rows
    grad_q[:, dim] = fdiff
    return loss, grad_p, grad_q


# Moves of one row per batch that add up at full size; more are damped (see adagrad_rows). At
# the bundled 524-ticker panel's batch of 8192 cells a row recurs ~17 times; an 80-ticker panel
# has every row 80 times in its one batch and diverged to 1e8 without the cap.
MAX_USES = 24.0


def adagrad_rows(table, sq_sum, index, grad, lr: float, max_uses: float | None = None) -> None:
    """AdaGrad as in glove.c, one step per example, in place: example ``n`` moves row
    ``index[n]`` of ``table [V, C]`` by ``-lr grad[n] / sqrt(G)`` and adds ``grad[n]²`` to ``G``
    (``sq_sum [V, C]``, starting at 1). All examples of a batch read ``G`` before the batch, and
    a row's moves within a batch add up (glove.c's Hogwild threads, batched). ``max_uses``: a
    row used n > max_uses times in the batch has each of its moves scaled by max_uses / n (so a
    small vocabulary, whose every row recurs in every batch, cannot take one huge summed step)."""
    import torch

    scale = torch.index_select(sq_sum, 0, index).rsqrt_().mul_(-lr)  # [B, C]
    if max_uses is not None:
        uses = torch.bincount(index, minlength=table.shape[0]).to(scale.dtype)  # [V]
        scale.mul_((max_uses / torch.index_select(uses, 0, index)).clamp_(max=1.0)[:, None])
    sq_sum.index_add_(0, index, grad * grad)
    table.index_add_(0, index, scale.mul_(grad))


def train_glove(corpus, *, dim: int = 64, window: int = 10, min_count: int = 1,
                x_max: float = 100.0, alpha: float = 0.75, epochs: int = 50, lr: float = 0.05,
                batch_size: int = 8192, seed: int = 0, progress: bool = False) -> Vectors:
    """Train GloVe on ``corpus``: sentences (lists of string tokens; counted with
    :func:`cooccurrence` and ``window``, ``min_count``) or a ``(tokens, X)`` pair from it.

    ``x_max``, ``alpha``: the weighting ``f``. ``batch_size``: non-zero cells updated together.
    Deterministic on CPU for a given ``seed``. ``progress`` shows a bar with the mean weighted
    squared error per cell. Returns ``W + W̃`` (``[V, D]``).
    """
    import torch

    check_positive_ints(dim=dim, epochs=epochs, batch_size=batch_size)
    for name, value in (("x_max", x_max), ("alpha", alpha), ("lr", lr)):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0, got {value!r}")
    tokens, counts = _counts(corpus, window, min_count)
    coo = counts.tocoo()
    nonzero = coo.data > 0
    rows, cols, x = coo.row[nonzero].astype(np.int64), coo.col[nonzero].astype(np.int64), coo.data[nonzero]
    if len(x) == 0:
        raise DataError("the co-occurrence matrix is all zeros (no two tokens within the window); "
                        "pass longer sentences or a wider window")
    size = len(tokens)
    rng = np.random.default_rng(seed)
    p = torch.from_numpy((rng.random((size, dim + 1), dtype=np.float32) - 0.5) / dim)  # [W | b]
    q = torch.from_numpy((rng.random((size, dim + 1), dtype=np.float32) - 0.5) / dim)  # [W̃ | b̃]
    sq_p, sq_q = torch.ones_like(p), torch.ones_like(q)
    log_x = torch.from_numpy(np.log(x).astype(np.float32))
    weight = torch.from_numpy(np.minimum(1.0, (x / x_max) ** alpha).astype(np.float32))
    rows_t, cols_t = torch.from_numpy(rows), torch.from_numpy(cols)
    bar = None
    if progress:
        from qseq.progress import epoch_progress

        bar = epoch_progress(epochs)
    try:
        for epoch in range(epochs):
            start, total = time.perf_counter(), 0.0
            order = torch.from_numpy(rng.permutation(len(x)))
            for batch in order.split(batch_size):
                r, c = rows_t[batch], cols_t[batch]
                loss, grad_p, grad_q = glove_gradients(p, q, r, c, log_x[batch], weight[batch])
                adagrad_rows(p, sq_p, r, grad_p, lr, MAX_USES)
                adagrad_rows(q, sq_q, c, grad_q, lr, MAX_USES)
                total += float(loss)
            mean = 2.0 * total / len(x)
            log.info("glove epoch %d/%d: weighted squared error %.5f over %d cells", epoch + 1,
                     epochs, mean, len(x))
            if bar is not None:
                from qseq.train import EpochLog

                bar.update(EpochLog(epoch + 1, mean, None, lr, time.perf_counter() - start))
    finally:
        if bar is not None:
            bar.close()
    out = (p[:, :dim] + q[:, :dim]).numpy()
    if not np.isfinite(out).all():
        raise TrainingError(f"GloVe diverged (non-finite vectors) at lr={lr}; lower lr")
    return Vectors(tokens, out)


def _counts(corpus, window: int, min_count: int):
    """``(tokens, X)`` from sentences or from a ready ``(tokens, X)`` pair (checked)."""
    from scipy import sparse

    if isinstance(corpus, tuple) and len(corpus) == 2 and sparse.issparse(corpus[1]):
        tokens, counts = tuple(corpus[0]), corpus[1]
        if counts.shape != (len(tokens), len(tokens)):
            raise DataError(f"co-occurrence matrix has shape {counts.shape} for {len(tokens)} "
                            "tokens; pass the (tokens, X) pair from cooccurrence()")
        if counts.nnz and counts.tocoo().data.min() < 0:
            raise DataError("co-occurrence matrix has negative counts; counts must be >= 0")
        return tokens, counts
    return cooccurrence(corpus, window=window, min_count=min_count)
