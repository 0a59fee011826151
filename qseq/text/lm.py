"""Language models over return tokens, their training loop, and scenario sampling.

Two models of ``p(w_t | w_<t)`` over the ids of :class:`qseq.text.tokens.ReturnTokenizer`:

- :class:`NGramLM`, the neural n-gram model of Bengio et al. (2003): the embeddings of the
  previous ``order - 1`` tokens are concatenated, ``x [B, (n-1) E]``, and
  ``logits = b + W x + U tanh(d + H x)`` (``W x``, the direct connections, optional).
- :class:`RNNLM`: embeddings -> GRU or LSTM -> linear map to the vocabulary.

Either can swap its free softmax for an :class:`OrdinalHead` (``head="ordinal"``): a small
mixture over the ordered bins, for when there are few days per bin. Training
(:func:`fit_token_model`) is cross-entropy with AdamW, optionally against targets smoothed over
neighbouring bins, with early stopping on a validation period.

Every token model here (and :class:`qseq.text.beam.TokenSeq2Seq`) speaks one step protocol, so
one sampler and one beam search serve them all:

- ``start(context [B, T]) -> (logits [B, V], state)``: read the last T tokens, return the
  logits of the next token;
- ``step(state, token [B]) -> (logits [B, V], state)``: feed the token just chosen.

A state is a tuple of tensors with the batch first (parts wrapped in :class:`Shared` are
common to all rows); :func:`select_state` picks rows of it.
:func:`sample_paths` draws ``[B, paths, H]`` token paths with a temperature (0: greedy), and
:func:`scenario_returns` turns them into log-return paths for forecast origins.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from qseq.errors import ConfigError, DataError, TrainingError
from qseq.text.tokens import EwmaScale, ReturnTokenizer

log = logging.getLogger(__name__)
__all__ = ["HEADS", "NGramConfig", "NGramLM", "OrdinalHead", "output_head", "RNNLMConfig",
           "RNNLM", "Shared", "TokenTrainConfig", "TokenTrainLog", "fit_token_model",
           "fit_temperature", "cross_entropy", "ngram_examples", "chunk_examples", "perplexity",
           "select_state", "sample_paths", "scenario_returns", "seeded"]

CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class Shared:
    """A part of a decoding state common to many rows (encoder outputs per context, indexed by
    a row -> context map elsewhere in the state); :func:`select_state` leaves it as it is, so
    a thousand paths of one context do not copy its encoder outputs a thousand times."""

    value: torch.Tensor


State = tuple["torch.Tensor | Shared", ...]


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block under ``torch.manual_seed(seed)`` without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


# -- output heads -------------------------------------------------------------------------------
HEADS = ("softmax", "ordinal")


class OrdinalHead(nn.Module):
    """Logits [..., V] over ``n_specials`` special tokens then ``n_bins`` ordered bins from a
    state [..., D], through a mixture of ``components`` logistic distributions on the bins'
    normal scores: bin i spans ``(z_i, z_{i+1}]``, ``z_i = Phi^-1(i / n_bins)`` (quantile bins
    are equiprobable in training, so the training marginal is about N(0, 1) there), and
    ``p(bin i) = sum_k pi_k [sigma((z_{i+1} - mu_k) / s_k) - sigma((z_i - mu_k) / s_k)]``.
    3K numbers per step instead of V logits: neighbouring bins share statistical strength,
    which the plain softmax of a few thousand days cannot learn. Special tokens get learned
    constant logits (they are never return values)."""

    def __init__(self, hidden_size: int, n_specials: int, n_bins: int, components: int = 3) -> None:
        super().__init__()
        from scipy import stats

        edges = stats.norm.ppf(np.arange(1, n_bins) / n_bins)
        self.register_buffer("edges", torch.tensor(edges, dtype=torch.float32))
        self.params = nn.Linear(hidden_size, 3 * components)
        self.special = nn.Parameter(torch.full((n_specials,), -10.0))
        self.components = components

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        w, mu, log_s = self.params(h).chunk(3, dim=-1)  # each [..., K]
        scale = torch.exp(log_s.clamp(-5.0, 3.0))
        cdf = torch.sigmoid((self.edges - mu[..., None]) / scale[..., None])  # [..., K, N-1]
        zeros, ones = cdf.new_zeros(*cdf.shape[:-1], 1), cdf.new_ones(*cdf.shape[:-1], 1)
        probs = torch.diff(torch.cat([zeros, cdf, ones], dim=-1), dim=-1)  # [..., K, N]
        mixed = torch.logsumexp(torch.log_softmax(w, -1)[..., None]
                                + torch.log(probs.clamp_min(1e-12)), dim=-2)  # [..., N]
        special = self.special.expand(*mixed.shape[:-1], -1)
        return torch.cat([special, mixed], dim=-1)


def output_head(hidden_size: int, vocab_size: int, head: str, n_specials: int,
                components: int) -> nn.Module:
    """The map from a model's state [..., D] to logits [..., V]: ``softmax`` (a linear layer,
    one free logit per token) or ``ordinal`` (:class:`OrdinalHead`)."""
    if head == "softmax":
        return nn.Linear(hidden_size, vocab_size)
    return OrdinalHead(hidden_size, n_specials, vocab_size - n_specials, components)


def _check_head(config: object) -> None:
    head, n_specials = config.head, config.n_specials
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; choose one of {list(HEADS)}")
    if head == "ordinal" and not 0 <= n_specials < config.vocab_size - 1:
        raise ConfigError(f"n_specials must leave >= 2 bins of the {config.vocab_size} tokens, "
                          f"got {n_specials}")
    _positive("components", config.components)


# -- models -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NGramConfig:
    """Neural n-gram LM: ``order`` n (the context is n - 1 tokens), embedding and hidden widths,
    ``direct`` connections from the embeddings to the logits (softmax head only), the output
    ``head`` (``softmax``: Bengio's; ``ordinal``: :class:`OrdinalHead` with ``components``, the
    first ``n_specials`` ids being special tokens)."""

    vocab_size: int
    order: int = 6
    embed_dim: int = 16
    hidden_size: int = 64
    direct: bool = True
    dropout: float = 0.0
    head: str = "softmax"
    n_specials: int = 3
    components: int = 3

    def __post_init__(self) -> None:
        for name in ("vocab_size", "order", "embed_dim", "hidden_size"):
            _positive(name, getattr(self, name))
        _check_head(self)
        if self.order < 2:
            raise ConfigError(f"order must be >= 2 (a context of n-1 tokens), got {self.order}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class NGramLM(nn.Module):
    """Bengio et al. (2003): ``logits = b + W x + U tanh(d + H x)``, x the concatenated
    embeddings of the previous ``order - 1`` tokens.

    forward(context [B, n-1] int64) -> logits [B, V].
    """

    def __init__(self, config: NGramConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        width = (config.order - 1) * config.embed_dim
        with seeded(seed):
            self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
            self.hidden = nn.Linear(width, config.hidden_size)  # d + H x
            self.out = output_head(config.hidden_size, config.vocab_size, config.head,
                                   config.n_specials, config.components)  # b + U h
            direct = config.direct and config.head == "softmax"
            self.direct = nn.Linear(width, config.vocab_size, bias=False) if direct else None
        self.drop = nn.Dropout(config.dropout)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        n = self.config.order - 1
        if context.dim() != 2 or context.shape[1] != n:
            raise DataError(f"expected context tokens [batch, {n}], got {list(context.shape)}")
        x = self.drop(self.embed(context).flatten(1))  # [B, (n-1) E]
        logits = self.out(torch.tanh(self.hidden(x)))  # [B, V]
        return logits + self.direct(x) if self.direct is not None else logits

    def start(self, context: torch.Tensor) -> tuple[torch.Tensor, State]:
        n = self.config.order - 1
        if context.shape[1] < n:
            raise DataError(f"the n-gram model needs at least {n} context tokens, got "
                            f"{context.shape[1]}")
        window = context[:, -n:]
        return self(window), (window,)

    def step(self, state: State, token: torch.Tensor) -> tuple[torch.Tensor, State]:
        window = torch.cat([state[0][:, 1:], token[:, None]], dim=1)  # [B, n-1]
        return self(window), (window,)


@dataclass(frozen=True)
class RNNLMConfig:
    """Recurrent LM: ``cell`` gru or lstm, ``num_layers`` stacked, dropout between layers and
    before the output ``head`` (see :class:`NGramConfig`)."""

    vocab_size: int
    embed_dim: int = 16
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "gru"
    dropout: float = 0.0
    head: str = "softmax"
    n_specials: int = 3
    components: int = 3

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            _positive(name, getattr(self, name))
        _check_head(self)
        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell {self.cell!r}; choose one of {list(CELLS)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class RNNLM(nn.Module):
    """Embedding -> GRU/LSTM -> linear. forward(tokens [B, L]) -> logits [B, L, V], where
    ``logits[:, t]`` predicts token ``t + 1``. The state (batch first) is ``(h,)`` for a GRU and
    ``(h, c)`` for an LSTM, each [B, layers, hidden]."""

    def __init__(self, config: RNNLMConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        with seeded(seed):
            self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
            self.rnn = rnn(config.embed_dim, config.hidden_size, config.num_layers,
                           batch_first=True,
                           dropout=config.dropout if config.num_layers > 1 else 0.0)
            self.out = output_head(config.hidden_size, config.vocab_size, config.head,
                                   config.n_specials, config.components)
        self.drop = nn.Dropout(config.dropout)

    def _run(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        if tokens.dim() != 2:
            raise DataError(f"expected tokens [batch, length], got {list(tokens.shape)}")
        hidden = None
        if state is not None:  # batch-first [B, layers, H] -> torch's [layers, B, H]
            parts = tuple(s.transpose(0, 1).contiguous() for s in state)
            hidden = parts[0] if self.config.cell == "gru" else parts
        y, hidden = self.rnn(self.embed(tokens), hidden)  # y [B, L, H]
        parts = (hidden,) if self.config.cell == "gru" else hidden
        return self.out(self.drop(y)), tuple(s.transpose(0, 1) for s in parts)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._run(tokens, None)[0]

    def start(self, context: torch.Tensor) -> tuple[torch.Tensor, State]:
        logits, state = self._run(context, None)
        return logits[:, -1], state

    def step(self, state: State, token: torch.Tensor) -> tuple[torch.Tensor, State]:
        logits, state = self._run(token[:, None], state)
        return logits[:, -1], state


def select_state(state: State, index: torch.Tensor) -> State:
    """The rows ``index`` [B'] of every (batch-first) tensor of ``state``; :class:`Shared`
    parts are kept whole."""
    return tuple(s if isinstance(s, Shared) else s.index_select(0, index) for s in state)


# -- training examples ----------------------------------------------------------------------------
def _tokens_1d(tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
    if t.dim() != 1:
        raise DataError(f"expected a 1-D token sequence, got shape {list(t.shape)}")
    return t


def ngram_examples(tokens: np.ndarray, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sliding n-grams of a token sequence [L]: contexts [L-n+1, n-1] and next tokens [L-n+1]."""
    t = _tokens_1d(tokens)
    if t.numel() < order:
        raise DataError(f"need at least order={order} tokens, got {t.numel()}")
    grams = t.unfold(0, order, 1)  # [N, n]
    return grams[:, :-1].contiguous(), grams[:, -1].contiguous()


def chunk_examples(tokens: np.ndarray, length: int, stride: int | None = None,
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunks of ``length`` tokens (every ``stride``, default ``length // 2``) of a sequence [L]
    and the same chunks shifted by one: inputs [N, length], targets [N, length]."""
    t = _tokens_1d(tokens)
    stride = stride or max(1, length // 2)
    if t.numel() < length + 1:
        raise DataError(f"need at least length + 1 = {length + 1} tokens, got {t.numel()}")
    chunks = t.unfold(0, length + 1, stride)  # [N, length + 1]
    return chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous()


# -- training -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenTrainConfig:
    """Cross-entropy training: AdamW at ``lr`` with ``weight_decay``, gradients clipped to
    ``clip_grad_norm``, ``epochs`` over shuffled batches, early stopping after ``patience``
    epochs without a better validation loss (the best weights are restored). ``smoothing``: the
    width in bins of a Gaussian kernel that spreads each target over neighbouring bins (0: plain
    one-hot targets); it helps when there are few days per bin."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    clip_grad_norm: float = 1.0
    patience: int = 5
    smoothing: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            _positive(name, getattr(self, name))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.weight_decay < 0 or self.clip_grad_norm < 0 or self.smoothing < 0:
            raise ConfigError("weight_decay, clip_grad_norm and smoothing must be >= 0")


@dataclass
class TokenTrainLog:
    """Per-epoch mean training / validation cross-entropy (nats per token)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


def _soft_targets(vocab_size: int, first_bin: int, width: float) -> torch.Tensor:
    """[V, V] row-stochastic targets: bin token j spreads over bins by a Gaussian of ``width``
    bins; special tokens stay one-hot."""
    eye = torch.eye(vocab_size)
    if width <= 0:
        return eye
    bins = torch.arange(vocab_size - first_bin, dtype=torch.float64)
    kernel = torch.exp(-0.5 * ((bins[:, None] - bins[None, :]) / width) ** 2)
    eye[first_bin:, first_bin:] = (kernel / kernel.sum(1, keepdim=True)).float()
    return eye


def _loss(logits: torch.Tensor, targets: torch.Tensor, soft: torch.Tensor | None,
          ignore: int | None) -> torch.Tensor:
    """Mean cross-entropy per token of logits [..., V] against ids [...] (``ignore`` skipped)."""
    logp = torch.log_softmax(logits.reshape(-1, logits.shape[-1]), dim=-1)
    ids = targets.reshape(-1)
    keep = torch.ones_like(ids, dtype=torch.bool) if ignore is None else ids != ignore
    nll = -(soft[ids] * logp).sum(-1) if soft is not None else -logp.gather(1, ids[:, None])[:, 0]
    return nll[keep].mean()


def fit_token_model(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    config: TokenTrainConfig,
    *,
    val: tuple[tuple[torch.Tensor, ...], torch.Tensor] | None = None,
    first_bin: int = 0,
    ignore_index: int | None = None,
) -> TokenTrainLog:
    """Train ``model`` in place: ``model(*inputs[batch]) -> logits [b, ..., V]`` against
    ``targets[batch]`` [b, ...] (token ids). ``val`` = (inputs, targets) for early stopping;
    without it all epochs run. ``first_bin``: the id of the first bin token (targets below it are
    specials, never smoothed). Seeded by ``config.seed``; deterministic on CPU."""
    n = len(targets)
    if n == 0 or any(len(x) != n for x in inputs):
        raise TrainingError(f"inputs and targets need the same non-zero length, got "
                            f"{[len(x) for x in inputs]} and {n}")
    from qseq.runtime import configure_torch_threads

    configure_torch_threads(adapt=True)  # qseq's thread policy: the cores free right now
    vocab = None
    generator = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = TokenTrainLog()
    best, best_state, waited = math.inf, None, 0
    soft: torch.Tensor | None = None
    with seeded(config.seed):  # dropout masks
        for epoch in range(1, config.epochs + 1):
            model.train()
            total = 0.0
            for batch in torch.randperm(n, generator=generator).split(config.batch_size):
                logits = model(*(x[batch] for x in inputs))
                if vocab is None:
                    vocab = logits.shape[-1]
                    soft = _soft_targets(vocab, first_bin, config.smoothing) if config.smoothing else None
                loss = _loss(logits, targets[batch], soft, ignore_index)
                if not torch.isfinite(loss):
                    raise TrainingError(f"loss became {loss.item()} at epoch {epoch}; lower lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_grad_norm:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
                opt.step()
                total += float(loss.detach()) * len(batch)
            result.train_loss.append(total / n)
            if val is None:
                result.best_epoch = epoch
                continue
            v = cross_entropy(model, val[0], val[1], ignore_index=ignore_index)
            result.val_loss.append(v)
            log.debug("epoch %d train %.4f val %.4f", epoch, total / n, v)
            if v < best - 1e-6:
                best, best_state, waited = v, copy.deepcopy(model.state_dict()), 0
                result.best_epoch = epoch
            else:
                waited += 1
                if waited >= config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result


@torch.no_grad()
def cross_entropy(model: nn.Module, inputs: tuple[torch.Tensor, ...], targets: torch.Tensor, *,
                  ignore_index: int | None = None, batch_size: int = 4096) -> float:
    """Mean cross-entropy (nats per token) of ``model`` on (inputs, targets), in eval mode."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in torch.arange(len(targets)).split(batch_size):
        logits = model(*(x[batch] for x in inputs))
        y = targets[batch]
        k = int((y != ignore_index).sum()) if ignore_index is not None else y.numel()
        total += float(_loss(logits, y, None, ignore_index)) * k
        count += k
    model.train(was)
    return total / count


def perplexity(model: nn.Module, inputs: tuple[torch.Tensor, ...], targets: torch.Tensor, *,
               ignore_index: int | None = None) -> float:
    """``exp`` of the mean cross-entropy per token (1 = the model is certain and right)."""
    return math.exp(cross_entropy(model, inputs, targets, ignore_index=ignore_index))


@torch.no_grad()
def fit_temperature(model: nn.Module, inputs: tuple[torch.Tensor, ...], targets: torch.Tensor,
                    *, grid: tuple[float, ...] = tuple(np.round(np.arange(0.5, 1.55, 0.05), 2)),
                    banned: tuple[int, ...] = (), batch_size: int = 4096) -> float:
    """Temperature scaling (Guo et al., 2017): the ``T`` of ``grid`` that minimises the
    cross-entropy of ``softmax(logits / T)`` on held-out (inputs, targets), ``banned`` ids
    masked. Fit it on a validation period, never on the test data."""
    was = model.training
    model.eval()
    ban = torch.tensor(banned, dtype=torch.int64) if banned else None
    parts = []
    for batch in torch.arange(len(targets)).split(batch_size):
        logits = model(*(x[batch] for x in inputs)).double()
        parts.append((logits.reshape(-1, logits.shape[-1]), targets[batch].reshape(-1)))
    model.train(was)
    logits = _masked(torch.cat([p[0] for p in parts]), ban)
    ids = torch.cat([p[1] for p in parts])
    losses = [float(-torch.log_softmax(logits / t, -1).gather(1, ids[:, None]).mean())
              for t in grid]
    return float(grid[int(np.argmin(losses))])


# -- sampling -----------------------------------------------------------------------------------
def _masked(logits: torch.Tensor, banned: torch.Tensor | None) -> torch.Tensor:
    if banned is None or banned.numel() == 0:
        return logits
    return logits.index_fill(1, banned, -math.inf)


def _draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One id per row of ``probs`` [B, V] by inverting the CDF at a uniform draw (faster than
    ``torch.multinomial``; ids of zero probability are never drawn)."""
    cdf = probs.cumsum(-1)
    u = torch.rand(len(probs), 1, generator=generator, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_(max=probs.shape[1] - 1)


@torch.no_grad()
def sample_paths(
    model: nn.Module,
    context: torch.Tensor,
    horizon: int,
    n_paths: int,
    *,
    temperature: float = 1.0,
    banned: tuple[int, ...] = (),
    seed: int = 0,
    max_rows: int = 16384,
) -> torch.Tensor:
    """Ancestral sampling of ``n_paths`` token paths of ``horizon`` steps after each context.

    context: [B, T] int64 (the last T tokens before each forecast origin). Returns [B, n_paths,
    horizon] int64. Each step draws from ``softmax(logits / temperature)``; ``temperature == 0``
    takes the argmax (greedy; every path is then the same). ``banned`` ids (the special tokens)
    are never drawn. Origins are processed in chunks of at most ``max_rows`` paths; the draws
    come from one generator seeded with ``seed``, so the result is reproducible.
    """
    _positive("horizon", horizon)
    _positive("n_paths", n_paths)
    if temperature < 0 or not math.isfinite(temperature):
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    if context.dim() != 2:
        raise DataError(f"expected context tokens [origins, T], got {list(context.shape)}")
    from qseq.runtime import configure_torch_threads

    configure_torch_threads()
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    ban = torch.tensor(banned, dtype=torch.int64) if banned else None
    per_chunk = max(1, max_rows // n_paths)
    out = []
    for ctx in context.split(per_chunk):
        logits, state = model.start(ctx)
        rows = torch.arange(len(ctx)).repeat_interleave(n_paths)  # [b * paths]
        logits, state = logits.index_select(0, rows), select_state(state, rows)
        steps = []
        for h in range(horizon):
            logits = _masked(logits, ban)
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                token = _draw(torch.softmax(logits.double() / temperature, dim=-1), generator)
            steps.append(token)
            if h + 1 < horizon:
                logits, state = model.step(state, token)
        out.append(torch.stack(steps, dim=1).view(len(ctx), n_paths, horizon))
    return torch.cat(out)


def scenario_returns(
    model: nn.Module,
    tokenizer: ReturnTokenizer,
    tokens: np.ndarray,
    origins: np.ndarray,
    *,
    lookback: int,
    horizon: int,
    n_paths: int,
    temperature: float = 1.0,
    within_bin: bool = True,
    seed: int = 0,
    scale: EwmaScale | None = None,
    sigma: np.ndarray | None = None,
) -> np.ndarray:
    """Sampled daily log-return paths [N, n_paths, horizon] after each forecast origin.

    ``tokens`` [L]: the encoded daily returns (or standardised returns, see ``scale``);
    ``origins`` [N]: positions in it of the last known day (the context is
    ``tokens[o - lookback + 1 : o + 1]``, nothing after ``o``). Token paths come from
    :func:`sample_paths` (specials banned) and are decoded with :meth:`ReturnTokenizer.decode`
    (``within_bin``: uniform within the bin, else its median). With ``scale`` (and ``sigma``
    [L + 1] from its ``standardize``), tokens are standardised returns and the decoded paths
    are rescaled by :meth:`EwmaScale.rescale_paths` from ``sigma[o + 1]``.
    """
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and (origins.min() < lookback - 1 or origins.max() >= len(tokens)):
        raise DataError(f"origins must lie in [{lookback - 1}, {len(tokens) - 1}] to have "
                        f"{lookback} context tokens")
    if (scale is None) != (sigma is None):
        raise ConfigError("pass scale and sigma together (sigma from scale.standardize)")
    ctx = np.stack([tokens[o - lookback + 1:o + 1] for o in origins]) if origins.size else (
        np.zeros((0, lookback), dtype=np.int64))
    paths = sample_paths(model, torch.as_tensor(ctx, dtype=torch.int64), horizon, n_paths,
                         temperature=temperature, banned=tuple(range(tokenizer.n_specials)),
                         seed=seed)
    values = tokenizer.decode(paths.numpy(), sample=within_bin,
                              generator=np.random.default_rng(seed))
    if scale is None:
        return values
    return scale.rescale_paths(values, np.asarray(sigma)[origins + 1])
