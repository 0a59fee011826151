"""The model contract shared by every qseq model.

``forward(x [B, T, F], ticker [B] | None) -> ModelOutput`` with ``y_hat [B, H]`` (scaled target
units) and, for models that have them, attention weights. Losses live in the training code.
:class:`ModelConfig` lives in :mod:`qseq.models.config` (no torch) and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models.config import ATTENTION_SCORES as ATTENTION_SCORES  # re-exported
from qseq.models.config import ModelConfig as ModelConfig  # re-exported


@dataclass
class ModelOutput:
    """y_hat: [B, H] (or [B, H, Q] for quantile models, [B, H, C] logits for classifiers);
    attention: [B, H, T] temporal weights; feature_attention: [B, T, F] input-attention weights
    (None when a model has none)."""

    y_hat: torch.Tensor
    attention: torch.Tensor | None = None
    feature_attention: torch.Tensor | None = None


class ForecastHead(nn.Linear):
    """Linear multi-horizon head: [B, D] -> [B, H]; with quantiles [B, H, Q]; with classes
    [B, H, C] logits.

    Quantiles are non-crossing by construction: the lowest level is free and each next level
    adds a softplus (>= 0) increment. Parameters are a plain ``nn.Linear``'s (weight, bias).
    """

    def __init__(self, in_dim: int, horizons: int, quantiles: tuple[float, ...] = (),
                 classes: int = 0) -> None:
        super().__init__(in_dim, horizons * max(len(quantiles), classes, 1))
        self.horizons = horizons
        self.n_quantiles = len(quantiles)
        self.classes = classes

    def forward(self, h: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """h [..., D] -> [..., H] (or [..., H, Q]); ``extra`` [..., H * Q] is added to the raw
        outputs first (a highway)."""
        out = super().forward(h)
        return self.finish(out if extra is None else out + extra)

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw outputs [..., H * Q] -> forecasts [..., H], non-crossing [..., H, Q] or logits
        [..., H, C]."""
        if self.classes:
            return raw.view(*raw.shape[:-1], self.horizons, self.classes)
        if not self.n_quantiles:
            return raw  # [..., H]
        return monotone_quantiles(raw.view(*raw.shape[:-1], self.horizons, self.n_quantiles))


def monotone_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """[..., Q] unconstrained -> [..., Q] non-decreasing along the last axis."""
    if raw.shape[-1] == 1:
        return raw
    steps = nn.functional.softplus(raw[..., 1:])
    return torch.cat([raw[..., :1], raw[..., :1] + torch.cumsum(steps, dim=-1)], dim=-1)


class TickerEmbedding(nn.Module):
    """Learned ticker vectors joined to every time step: [B, T, F] -> [B, T, F + E]."""

    def __init__(self, n_tickers: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_tickers, dim)

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None) -> torch.Tensor:
        if ticker is None:
            raise ConfigError("this model was built for several tickers; pass ticker ids [B]")
        emb = self.embedding(ticker)  # [B, E]
        return torch.cat([x, emb.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)


MAX_INIT_ABS = 1e3  # trained embeddings are O(1); larger starting values mean a diverged file


def init_ticker_embeddings(model: nn.Module, tickers: tuple[str, ...], vectors: dict[str, object],
                           ) -> int:
    """Copy ``vectors[ticker]`` ([E] each) into the ticker embedding of ``model`` (and of every
    ensemble member) for each of ``tickers`` (the model's vocabulary, in id order) that has
    one; the others keep their random start. Returns how many rows were set."""
    tables = [m.embedding for m in model.modules() if isinstance(m, TickerEmbedding)]
    if not tables:
        raise ConfigError("init_embeddings needs a model with ticker embeddings: a panel of "
                          "several tickers")
    dim = tables[0].embedding_dim
    found = 0
    with torch.no_grad():
        for i, ticker in enumerate(tickers):
            if ticker not in vectors:
                continue
            row = torch.as_tensor(vectors[ticker], dtype=torch.float32)
            if row.shape != (dim,):
                raise ConfigError(f"init_embeddings has {row.numel()}-dimensional vectors but the "
                                  f"ticker embedding has {dim}; set ticker_dim to {row.numel()}")
            if not torch.isfinite(row).all() or float(row.abs().max()) > MAX_INIT_ABS:
                raise ConfigError(f"init_embeddings: the vector of {ticker} has non-finite or huge "
                                  f"values (max |x| {float(row.abs().max()):.3g}); the vectors "
                                  "diverged in training: retrain them (lower lr)")
            for table in tables:
                table.weight[i] = row
            found += 1
    return found
