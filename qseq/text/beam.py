"""Seq2seq with attention over return tokens, and beam search.

:class:`TokenSeq2Seq`: a GRU encoder reads the last T tokens, ``h [B, T, D]``; a GRU-cell
decoder (Bahdanau et al., 2015) scores its previous state ``s_{t-1}`` against ``h`` with
:class:`qseq.models.attention.Attention` (additive by default; Luong's dot / general / concat
scores plug in), reads ``[emb(y_{t-1}); c_t]`` and predicts
``logits_t = W [s_t; c_t; emb(y_{t-1})]``. The first decoder input is the last context token.
Training uses teacher forcing (the true previous tokens, :func:`seq2seq_examples`).

:func:`beam_search` works on any model of the step protocol of :mod:`qseq.text.lm`
(``start`` / ``step``): it keeps the ``beam_width`` best partial paths by summed log-probability
and ranks finished paths by ``log P(Y) / lp(Y)``, ``lp(Y) = ((5 + |Y|) / 6) ** alpha``
(Wu et al., 2016). With ``eos_id`` paths may end early (|Y| counts the EOS); without it
(return paths of a fixed horizon) every path has the same length and ``alpha`` changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from qseq.errors import ConfigError, DataError
from qseq.models.attention import Attention
from qseq.text.lm import Shared, State, _check_head, _masked, _positive, output_head, seeded, select_state

__all__ = ["Seq2SeqConfig", "TokenSeq2Seq", "seq2seq_examples", "BeamResult", "beam_search",
           "length_penalty"]

@dataclass(frozen=True)
class Seq2SeqConfig:
    """Token seq2seq: embedding and state widths, the attention ``score`` (additive = Bahdanau;
    dot, general, concat = Luong), dropout on the decoder output, the output ``head``
    (see :class:`qseq.text.lm.NGramConfig`)."""

    vocab_size: int
    embed_dim: int = 16
    hidden_size: int = 64
    score: str = "additive"
    dropout: float = 0.0
    head: str = "softmax"
    n_specials: int = 3
    components: int = 3

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_size"):
            _positive(name, getattr(self, name))
        _check_head(self)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class TokenSeq2Seq(nn.Module):
    """Encoder-decoder with attention over tokens.

    forward(context [B, T], decoder_input [B, H]) -> logits [B, H, V] (teacher forcing:
    ``decoder_input[:, 0]`` is the last context token, then the true targets shifted by one).
    State of the step protocol: see :meth:`encode`.
    """

    def __init__(self, config: Seq2SeqConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        e, d = config.embed_dim, config.hidden_size
        with seeded(seed):
            self.embed = nn.Embedding(config.vocab_size, e)
            self.encoder = nn.GRU(e, d, batch_first=True)
            self.attention = Attention(d, d, score=config.score)
            self.decoder = nn.GRUCell(e + d, d)
            self.out = output_head(2 * d + e, config.vocab_size, config.head, config.n_specials,
                                   config.components)
        self.drop = nn.Dropout(config.dropout)

    def encode(self, context: torch.Tensor) -> State:
        """The decoder's starting state for context tokens [B, T]: ``(s [B, D], row [B],
        Shared(keys [B, T, D]), Shared(prepared))``, ``row`` the context of each state row."""
        if context.dim() != 2 or context.shape[1] < 1:
            raise DataError(f"expected context tokens [batch, T >= 1], got {list(context.shape)}")
        keys, last = self.encoder(self.embed(context))  # keys [B, T, D], last [1, B, D]
        prepared = self.attention.prepare(keys)  # None for dot / concat scores
        prepared = keys.new_zeros(0) if prepared is None else prepared
        return last[0], torch.arange(len(context)), Shared(keys), Shared(prepared)

    def _step(self, s: torch.Tensor, token: torch.Tensor, keys: torch.Tensor,
              prepared: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder step: state s [B, D], previous token [B], keys [B, T, D] ->
        (logits [B, V], new state [B, D])."""
        emb = self.embed(token)  # [B, E]
        context, _ = self.attention(s, keys, prepared)  # [B, D]
        s = self.decoder(torch.cat([emb, context], dim=-1), s)  # [B, D]
        return self.out(self.drop(torch.cat([s, context, emb], dim=-1))), s  # [B, V]

    def forward(self, context: torch.Tensor, decoder_input: torch.Tensor) -> torch.Tensor:
        s, _, keys, prepared = self.encode(context)
        prep = prepared.value if prepared.value.numel() else None
        steps = []
        for t in range(decoder_input.shape[1]):
            logits, s = self._step(s, decoder_input[:, t], keys.value, prep)
            steps.append(logits)
        return torch.stack(steps, dim=1)  # [B, H, V]

    def start(self, context: torch.Tensor) -> tuple[torch.Tensor, State]:
        return self.step(self.encode(context), context[:, -1])

    def step(self, state: State, token: torch.Tensor) -> tuple[torch.Tensor, State]:
        s, row, keys, prepared = state
        prep = prepared.value.index_select(0, row) if prepared.value.numel() else None
        logits, s = self._step(s, token, keys.value.index_select(0, row), prep)
        return logits, (s, row, keys, prepared)


def seq2seq_examples(tokens: np.ndarray, lookback: int, horizon: int,
                     ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Teacher-forcing examples of a token sequence [L]: ``((context [N, T], decoder_input
    [N, H]), targets [N, H])`` for every origin with T tokens before and H after it."""
    t = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
    if t.dim() != 1 or t.numel() < lookback + horizon:
        raise DataError(f"need a 1-D sequence of at least lookback + horizon = "
                        f"{lookback + horizon} tokens, got shape {list(t.shape)}")
    windows = t.unfold(0, lookback + horizon, 1)  # [N, T + H]
    context, targets = windows[:, :lookback], windows[:, lookback:]
    decoder_input = windows[:, lookback - 1:lookback + horizon - 1]
    return (context.contiguous(), decoder_input.contiguous()), targets.contiguous()


# -- beam search ------------------------------------------------------------------------------
def length_penalty(length: torch.Tensor | int, alpha: float) -> torch.Tensor | float:
    """Wu et al. (2016): ``((5 + |Y|) / 6) ** alpha`` (1 for alpha = 0)."""
    return ((5 + length) / 6) ** alpha


@dataclass
class BeamResult:
    """Best paths per context, best first: ``tokens`` [B, K, L] (padded with ``pad_id`` after an
    EOS), ``log_prob`` [B, K] summed log-probabilities, ``score`` [B, K] = log_prob / lp,
    ``length`` [B, K] tokens generated (an EOS counts)."""

    tokens: torch.Tensor
    log_prob: torch.Tensor
    score: torch.Tensor
    length: torch.Tensor


@torch.no_grad()
def beam_search(
    model: nn.Module,
    context: torch.Tensor,
    max_len: int,
    *,
    beam_width: int = 5,
    alpha: float = 0.0,
    eos_id: int | None = None,
    pad_id: int = 0,
    banned: tuple[int, ...] = (),
    n_best: int = 1,
) -> BeamResult:
    """The ``n_best`` most likely continuations (up to ``max_len`` tokens) of each context
    [B, T] under ``model`` (step protocol).

    Each step extends every live beam by every token, keeps the ``beam_width`` best by summed
    log-probability; a path that emits ``eos_id`` is finished and leaves the beam. At the end,
    finished and surviving paths are ranked by ``log_prob / length_penalty(length, alpha)``.
    ``beam_width == 1`` is greedy decoding. ``banned`` ids are never chosen.
    """
    _positive("max_len", max_len)
    _positive("beam_width", beam_width)
    _positive("n_best", n_best)
    if n_best > beam_width:
        raise ConfigError(f"n_best ({n_best}) must be <= beam_width ({beam_width})")
    if alpha < 0:
        raise ConfigError(f"alpha must be >= 0, got {alpha}")
    model.eval()
    ban = torch.tensor(banned, dtype=torch.int64) if banned else None
    logits, state = model.start(context)
    n, k = len(context), beam_width
    logp = _log_probs(logits, ban)  # [B, V]
    vocab = logp.shape[-1]
    scores = logp.new_zeros(n, 1)  # live beams: one empty path per context to start
    paths = torch.zeros(n, 1, 0, dtype=torch.int64)
    rows = torch.arange(n)  # state row of each live beam, [B * beams]
    finished: list[list[tuple[float, float, list[int]]]] = [[] for _ in range(n)]
    for t in range(max_len):
        beams = scores.shape[1]
        cand = (scores[:, :, None] + logp.view(n, beams, vocab)).view(n, beams * vocab)
        width = min(2 * k if eos_id is not None else k, cand.shape[1])
        top, idx = cand.topk(width, dim=1)  # [B, width], best first
        beam, token = idx // vocab, idx % vocab
        if eos_id is not None:
            top, beam, token = _retire(top, beam, token, paths, finished, eos_id, alpha, t + 1, k)
        paths = torch.cat([paths.gather(1, beam[:, :, None].expand(-1, -1, t)), token[:, :, None]],
                          dim=2)  # [B, k, t + 1]
        scores = top
        if t + 1 == max_len:
            break
        rows = (torch.arange(n)[:, None] * beams + beam).view(-1)
        state = select_state(state, rows)
        logits, state = model.step(state, token.reshape(-1))
        logp = _log_probs(logits, ban)
    return _rank(paths, scores, finished, alpha, max_len, n_best, pad_id)


def _log_probs(logits: torch.Tensor, ban: torch.Tensor | None) -> torch.Tensor:
    """Log-probabilities [B, V] in float64; a row with no allowed token (a dead beam) is all
    -inf rather than NaN."""
    logp = torch.log_softmax(_masked(logits.double(), ban), dim=-1)
    return torch.nan_to_num(logp, nan=-math.inf)


def _retire(top: torch.Tensor, beam: torch.Tensor, token: torch.Tensor, paths: torch.Tensor,
            finished: list, eos_id: int, alpha: float, length: int, k: int,
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Of the 2k best candidates [B, 2k] per context, those among the first k that end in EOS
    are finished (scored by log_prob / lp); the k best others stay live. Missing live slots
    (too few candidates) are dead: log-probability -inf."""
    out_top = torch.full((top.shape[0], k), -math.inf, dtype=top.dtype)
    out_beam = torch.zeros((top.shape[0], k), dtype=torch.int64)
    out_token = torch.zeros((top.shape[0], k), dtype=torch.int64)
    for b in range(top.shape[0]):
        live = []
        for j in range(top.shape[1]):
            score = float(top[b, j])
            if not math.isfinite(score):
                continue
            if int(token[b, j]) == eos_id:
                if j < k:
                    path = paths[b, int(beam[b, j])].tolist() + [eos_id]
                    finished[b].append((score / length_penalty(length, alpha), score, path))
            elif len(live) < k:
                live.append(j)
        if live:
            idx = torch.tensor(live)
            out_top[b, :len(live)] = top[b, idx]
            out_beam[b, :len(live)] = beam[b, idx]
            out_token[b, :len(live)] = token[b, idx]
    return out_top, out_beam, out_token


def _rank(paths: torch.Tensor, scores: torch.Tensor, finished: list, alpha: float, max_len: int,
          n_best: int, pad_id: int) -> BeamResult:
    """Pool finished and live paths per context and keep the n_best by normalised score."""
    n = paths.shape[0]
    out_tokens = torch.full((n, n_best, max_len), pad_id, dtype=torch.int64)
    out_logp = torch.full((n, n_best), -math.inf, dtype=torch.float64)
    out_score = torch.full((n, n_best), -math.inf, dtype=torch.float64)
    out_len = torch.zeros((n, n_best), dtype=torch.int64)
    lp = length_penalty(max_len, alpha)
    for b in range(n):
        pool = list(finished[b])
        for j in range(paths.shape[1]):
            s = float(scores[b, j])
            if math.isfinite(s):
                pool.append((s / lp, s, paths[b, j].tolist()))
        pool.sort(key=lambda item: -item[0])
        for i, (norm, raw, path) in enumerate(pool[:n_best]):
            out_tokens[b, i, :len(path)] = torch.tensor(path)
            out_logp[b, i], out_score[b, i], out_len[b, i] = raw, norm, len(path)
    return BeamResult(out_tokens, out_logp, out_score, out_len)
