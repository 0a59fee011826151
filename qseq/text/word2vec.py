"""Skip-gram and CBOW with negative sampling (Mikolov et al. 2013), trained with PyTorch on CPU.

Per epoch the corpus is subsampled (a token of frequency ``f`` is kept with probability
``(sqrt(f/t) + 1) t/f``), each kept position draws a window in ``1..window`` (word2vec's dynamic
window), and all (input, context) examples are built with numpy in one pass and shuffled. Each
batch of ``batch_size`` examples (pairs for skip-gram, centres for CBOW) takes ``negative``
noise tokens per example from the unigram^0.75 distribution and one plain-SGD step on the summed
loss (the batched form of word2vec's per-pair updates; the rate decays linearly from ``lr`` to
``lr * 1e-4``):

    loss = -log σ(h·u_o) - Σ_k log σ(-h·u_k)      h: the input vector (CBOW: the mean of the
                                                   context's input vectors), u: output vectors

Gradients are written by hand and applied with ``index_add_`` to the two ``[V, D]`` tables:
only touched rows move and there is no optimizer state (``index_add_`` is deterministic on CPU;
``index_put_(accumulate=True)`` is not with several threads). A row used by so many examples of
one batch that ``lr x uses > MAX_RATE`` has its update scaled down to ``MAX_RATE``, which keeps
small vocabularies stable at large batches. As in word2vec.c and gensim (``cbow_mean=1``), CBOW passes
the gradient of the mean to every context vector undivided. The returned vectors are the input
table.

    from qseq.text import train_word2vec
    vec = train_word2vec(sentences, dim=64, window=5, sg=True, epochs=5, seed=0)
    vec.most_similar("AAPL", k=5)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from qseq.errors import ConfigError, DataError
from qseq.text.vectors import Vectors

log = logging.getLogger(__name__)

MIN_LR_FRACTION = 1e-4  # word2vec.c decays the rate to starting_alpha * 0.0001
# Within one batch a row's summed learning rate (lr x the examples that use it) is capped here:
# per-example SGD (word2vec) sees each update before the next, a batch does not, and a token in
# hundreds of a batch's examples (a small vocabulary) would overshoot and diverge. 4.0 is 160
# uses at lr 0.025: twice too much diverged on a 20-token corpus, a tenth of it slowed learning.
MAX_RATE = 4.0


@dataclass(frozen=True)
class Corpus:
    """Sentences as token ids: ``tokens[ids[n]]`` is the n-th kept token, in sentence
    ``sentence[n]``; out-of-vocabulary tokens are dropped (the others close up, as in word2vec
    and GloVe's cooccur). ``counts[v]`` is how often ``tokens[v]`` occurs ([V] int64)."""

    tokens: tuple[str, ...]
    counts: np.ndarray  # [V] int64
    ids: np.ndarray  # [N] int64
    sentence: np.ndarray  # [N] int64, non-decreasing


def encode_corpus(sentences: Sequence[Sequence[str]], *, min_count: int = 1,
                  vocab: Sequence[str] | None = None) -> Corpus:
    """Vocabulary and id arrays of ``sentences``. Without ``vocab`` the tokens seen at least
    ``min_count`` times, most frequent first (ties by token); with it, exactly those tokens in
    that order (``min_count`` then ignored)."""
    import pandas as pd

    sentences = _check_sentences(sentences)
    if vocab is None and (isinstance(min_count, bool) or not isinstance(min_count, int)
                          or min_count < 1):
        raise ConfigError(f"min_count must be an int >= 1, got {min_count!r}")
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    flat = np.empty(int(lengths.sum()), dtype=object)
    flat[:] = list(chain.from_iterable(sentences))
    codes, uniques = pd.factorize(flat)  # [N] ids into uniques (first-seen order)
    uniques = np.asarray(uniques, dtype=object)
    for token in uniques:
        if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
            raise DataError(f"token {token!r} is not a non-empty string without whitespace; "
                            "tokens must be words or tickers")
    seen = np.bincount(codes, minlength=len(uniques))  # [U]
    if vocab is None:
        kept = np.flatnonzero(seen >= min_count)
        kept = kept[np.lexsort((uniques[kept].astype(str), -seen[kept]))]
        tokens = tuple(str(t) for t in uniques[kept])  # plain str, not numpy's str_
        remap = np.full(len(uniques), -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
    else:
        tokens = tuple(str(t) for t in vocab)
        if len(set(tokens)) != len(tokens):
            raise DataError("vocab repeats a token; pass each token once")
        remap = pd.Index(tokens).get_indexer(uniques).astype(np.int64)
    ids = remap[codes]
    keep = ids >= 0
    if not keep.any():
        raise DataError(f"no token of the {len(sentences)} sentences is in the vocabulary "
                        f"(min_count={min_count}); lower min_count or check the vocab")
    sentence = np.repeat(np.arange(len(sentences), dtype=np.int64), lengths)[keep]
    counts = np.bincount(ids[keep], minlength=len(tokens)).astype(np.int64)
    return Corpus(tokens, counts, ids[keep], sentence)


def keep_probabilities(counts: np.ndarray, subsample: float) -> np.ndarray:
    """``[V]`` probability of keeping each occurrence of a token with ``counts [V]``:
    ``min(1, (sqrt(f/t) + 1) t/f)`` with ``f = count / total`` and ``t = subsample``
    (word2vec.c); all ones when ``subsample == 0``."""
    counts = np.asarray(counts, dtype=np.float64)
    if subsample == 0:
        return np.ones_like(counts)
    freq = counts / counts.sum()
    with np.errstate(divide="ignore"):
        keep = (np.sqrt(freq / subsample) + 1.0) * subsample / freq
    return np.minimum(keep, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """``[V]`` negative-sampling distribution: ``counts ** power``, normalised to sum to 1."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table of a ``[V]`` distribution (Vose's construction, O(V) once):
    ``accept [V]`` and ``alias [V]`` such that drawing a column ``i`` uniformly, then keeping it
    with probability ``accept[i]`` or else taking ``alias[i]``, samples ``probs`` exactly."""
    scaled = np.asarray(probs, dtype=np.float64) * len(probs) / np.sum(probs)
    accept = np.ones(len(scaled))
    alias = np.arange(len(scaled), dtype=np.int64)
    small = [i for i, p in enumerate(scaled) if p < 1.0]
    large = [i for i, p in enumerate(scaled) if p >= 1.0]
    while small and large:
        lo, hi = small.pop(), large.pop()
        accept[lo], alias[lo] = scaled[lo], hi
        scaled[hi] -= 1.0 - scaled[lo]
        (small if scaled[hi] < 1.0 else large).append(hi)
    return accept, alias  # leftovers (rounding) keep accept 1


def draw_alias(accept: np.ndarray, alias: np.ndarray, rng: np.random.Generator,
               shape: tuple[int, ...]) -> np.ndarray:
    """Samples of shape ``shape`` (int64 ids) from an :func:`alias_table`."""
    column = rng.integers(0, len(accept), size=shape)
    return np.where(rng.random(shape) < accept[column], column, alias[column])


def context_matrix(ids: np.ndarray, sentence: np.ndarray, window: int,
                   reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contexts of every position: ``ctx [N, 2W]`` token ids at offsets ``-W..-1, 1..W`` and
    ``mask [N, 2W]``, true where the offset lies inside the same sentence and within the
    position's own window ``reduced [N]`` (each in ``1..W``)."""
    n = len(ids)
    ctx = np.zeros((n, 2 * window), dtype=np.int64)
    mask = np.zeros((n, 2 * window), dtype=bool)
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[d:] == sentence[:-d]  # [N-d]: positions i and i+d share a sentence
        left, right = window - d, window + d - 1  # columns of offsets -d and +d
        ctx[d:, left], mask[d:, left] = ids[:-d], same & (reduced[d:] >= d)
        ctx[:-d, right], mask[:-d, right] = ids[d:], same & (reduced[:-d] >= d)
    return ctx, mask


def skipgram_pairs(ids: np.ndarray, sentence: np.ndarray, window: int,
                   reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All skip-gram examples ``(centre [P], context [P])``, by position then offset."""
    ctx, mask = context_matrix(ids, sentence, window, reduced)
    return np.broadcast_to(ids[:, None], mask.shape)[mask], ctx[mask]


def negative_sampling_step(w_in, w_out, inputs, mask, targets, lr: float,
                           max_rate: float | None = MAX_RATE):
    """One SGD step of negative sampling on the summed loss; returns that loss (a 0-d tensor).

    ``w_in``, ``w_out``: ``[V, D]`` float tables, updated in place. ``inputs [B, C]`` input
    ids and ``mask [B, C]`` (float, 1 = present; skip-gram: C = 1): the example's input vector is
    the masked mean of their rows. ``targets [B, 1 + K]``: the true output then K noise tokens;
    a noise token equal to the true one is ignored (as in word2vec). Every present input row
    takes the full gradient of the mean (word2vec's CBOW convention). A row used by ``n``
    examples with ``lr * n > max_rate`` has its summed update scaled by ``max_rate / (lr * n)``
    (None: plain summed SGD, the exact gradient step of the summed loss).
    """
    import torch
    import torch.nn.functional as F

    (size, dim), (batch, width) = w_in.shape, inputs.shape
    # index_select, not w[idx], and index_add_ without alpha: each several times faster on CPU
    if width == 1:  # skip-gram: the input vector is one row
        hidden = torch.index_select(w_in, 0, inputs[:, 0])  # [B, D]
    else:
        rows = torch.index_select(w_in, 0, inputs.reshape(-1)).view(batch, width, dim)
        hidden = (rows * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # [B, D]
    out = torch.index_select(w_out, 0, targets.reshape(-1)).view(batch, -1, dim)  # [B, 1+K, D]
    score = (out * hidden[:, None, :]).sum(-1)  # [B, 1+K] (faster than bmm for small D)
    valid = torch.ones_like(score)
    valid[:, 1:] = targets[:, 1:] != targets[:, :1]
    grad = torch.sigmoid(score) * valid  # d loss / d score: σ(s) - label
    grad[:, 0] -= 1.0
    loss = -(F.logsigmoid(score[:, 0]) + (F.logsigmoid(-score[:, 1:]) * valid[:, 1:]).sum(1)).sum()
    step_hidden = (grad[..., None] * out).sum(1).mul_(-lr)  # [B, D]: -lr d loss / d hidden
    step_out = grad * -lr  # [B, 1+K]
    if max_rate is not None:
        step_out *= _repeat_scale(targets, torch.ones_like(grad), size, max_rate / lr)
        mask = mask * _repeat_scale(inputs, mask, size, max_rate / lr)  # [B, C]
    w_out.index_add_(0, targets.reshape(-1), (step_out[..., None] * hidden[:, None, :]).view(-1, dim))
    if width == 1:
        w_in.index_add_(0, inputs[:, 0], step_hidden * mask)
    else:
        w_in.index_add_(0, inputs.reshape(-1), (mask[..., None] * step_hidden[:, None, :]).view(-1, dim))
    return loss


def _repeat_scale(index, present, size: int, max_uses: float):
    """``min(1, max_uses / n)`` per entry of ``index [B, C]``, n = the row's uses in the batch
    (entries with ``present == 0`` not counted)."""
    import torch

    flat = index.reshape(-1)
    uses = torch.zeros(size, dtype=present.dtype).index_add_(0, flat, present.reshape(-1))
    return (max_uses / torch.index_select(uses, 0, flat).view(index.shape)).clamp_(max=1.0)


def train_word2vec(sentences: Sequence[Sequence[str]], *, dim: int = 64, window: int = 5,
                   negative: int = 5, sg: bool = True, min_count: int = 1,
                   subsample: float = 1e-3, epochs: int = 5, lr: float = 0.025,
                   batch_size: int = 2048, seed: int = 0, progress: bool = False) -> Vectors:
    """Train word2vec on ``sentences`` (lists of string tokens); ``[V, D]`` input vectors.

    ``sg``: skip-gram (each context token predicted from the centre) or CBOW (the centre from
    the mean of its context). ``window``: the largest distance (each centre draws 1..window).
    ``negative``: noise tokens per example. ``subsample``: the threshold ``t`` (0 = keep all).
    ``batch_size``: examples per SGD step. Deterministic on CPU for a given ``seed`` and torch
    thread count. ``progress`` shows a bar with the mean loss per example.
    """
    import torch

    check_positive_ints(dim=dim, window=window, negative=negative, epochs=epochs, batch_size=batch_size)
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, got {lr!r}")
    if not 0 <= subsample < 1:
        raise ConfigError(f"subsample must be in [0, 1), got {subsample!r}; 1e-3..1e-5 is usual")
    corpus = encode_corpus(sentences, min_count=min_count)
    rng = np.random.default_rng(seed)
    vocab_size = len(corpus.tokens)
    w_in = torch.from_numpy((rng.random((vocab_size, dim), dtype=np.float32) - 0.5) / dim)
    w_out = torch.zeros(vocab_size, dim)
    keep_prob = keep_probabilities(corpus.counts, subsample)[corpus.ids]  # [N]
    accept, alias = alias_table(noise_distribution(corpus.counts))
    bar = None
    if progress:
        from qseq.progress import epoch_progress

        bar = epoch_progress(epochs)
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            inputs, mask, targets = _epoch_examples(corpus, keep_prob, window, sg, rng)
            steps = -(-len(targets) // batch_size)  # 0 when subsampling left no example
            total, rate = 0.0, lr
            for step in range(steps):
                sl = slice(step * batch_size, (step + 1) * batch_size)
                rate = lr * max(MIN_LR_FRACTION, 1.0 - (epoch + step / steps) / epochs)
                noise = draw_alias(accept, alias, rng, (len(targets[sl]), negative))  # [B, K]
                batch_targets = np.concatenate([targets[sl, None], noise], axis=1)  # [B, 1+K]
                loss = negative_sampling_step(w_in, w_out, torch.from_numpy(inputs[sl]),
                                              torch.from_numpy(mask[sl]),
                                              torch.from_numpy(batch_targets), rate)
                total += float(loss)
            mean = total / max(1, len(targets))
            log.info("word2vec epoch %d/%d: loss %.4f over %d examples", epoch + 1, epochs, mean,
                     len(targets))
            if bar is not None:
                from qseq.train import EpochLog

                bar.update(EpochLog(epoch + 1, mean, None, rate, time.perf_counter() - start))
    finally:
        if bar is not None:
            bar.close()
    return Vectors(corpus.tokens, w_in.numpy())


def _epoch_examples(corpus: Corpus, keep_prob: np.ndarray, window: int, sg: bool,
                    rng: np.random.Generator):
    """One epoch's shuffled examples: ``inputs [P, C]`` ids, their ``mask [P, C]`` (float32)
    and ``targets [P]``. Skip-gram: C = 1, centre -> context; CBOW: C = 2W, context -> centre."""
    kept = rng.random(len(corpus.ids)) < keep_prob
    ids, sentence = corpus.ids[kept], corpus.sentence[kept]
    reduced = rng.integers(1, window + 1, size=len(ids))
    if sg:
        centre, context = skipgram_pairs(ids, sentence, window, reduced)
        order = rng.permutation(len(centre))
        return centre[order, None], np.ones((len(centre), 1), dtype=np.float32), context[order]
    ctx, mask = context_matrix(ids, sentence, window, reduced)
    order = rng.permutation(np.flatnonzero(mask.any(1)))  # centres with at least one context
    return ctx[order], mask[order].astype(np.float32), ids[order]


def _check_sentences(sentences: Sequence[Sequence[str]]) -> Sequence[Sequence[str]]:
    if isinstance(sentences, str):
        raise DataError("sentences is one string; pass a list of token lists, e.g. "
                        "[line.split() for line in lines]")
    sentences = list(sentences)
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            raise DataError(f"sentence {i} is a string, not a list of tokens; split it first "
                            "(e.g. text.split())")
    if not any(len(s) for s in sentences):
        raise DataError("no tokens: every sentence is empty; pass lists of string tokens")
    return sentences


def check_positive_ints(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
