"""The model contract shared by every qseq model.

``forward(x [B, T, F], ticker [B] | None) -> ModelOutput`` with ``y_hat [B, H]`` (scaled target
units) and, for models that have them, attention weights. Losses live in the training code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from qseq.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters handed to every model constructor.

    input_size:   F, features per time step
    horizons:     H, number of forecast horizons (outputs per window)
    hidden_size:  recurrent state width
    num_layers:   stacked recurrent layers
    dropout:      dropout between stacked layers (no effect with one layer)
    n_tickers:    ticker vocabulary size; > 1 adds a ticker embedding
    ticker_dim:   width of the ticker embedding joined to every time step
    quantiles:    empty for point forecasts, else increasing levels in (0, 1); the output is
                  then [B, H, Q] and non-crossing by construction
    future_size:  known-future inputs per horizon (calendar features) for seq2seq decoders
    attention:    Luong attention score (dot | general | concat)
    lookback:     window length T, for models whose shape depends on it (DA-RNN); 0 = any
    """

    input_size: int
    horizons: int
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    n_tickers: int = 1
    ticker_dim: int = 8
    quantiles: tuple[float, ...] = ()
    future_size: int = 0
    attention: str = "general"
    lookback: int = 0

    def __post_init__(self) -> None:
        for name in ("input_size", "horizons", "hidden_size", "num_layers", "n_tickers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"model {name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model dropout must be in [0, 1), got {self.dropout}")
        if self.n_tickers > 1 and self.ticker_dim < 1:
            raise ConfigError(f"ticker_dim must be >= 1 for {self.n_tickers} tickers")
        qs = tuple(float(q) for q in self.quantiles)
        object.__setattr__(self, "quantiles", qs)
        if qs and (any(not 0 < q < 1 for q in qs) or list(qs) != sorted(set(qs))):
            raise ConfigError(f"quantiles must be distinct, increasing and in (0, 1), got {list(qs)}")
        if self.future_size < 0:
            raise ConfigError(f"future_size must be >= 0, got {self.future_size}")
        if self.attention not in ATTENTION_SCORES:
            raise ConfigError(f"unknown attention {self.attention!r}; choose one of "
                              f"{list(ATTENTION_SCORES)}")


ATTENTION_SCORES = ("dot", "general", "concat")


@dataclass
class ModelOutput:
    """y_hat: [B, H] (or [B, H, Q] for quantile models); attention: [B, H, T] temporal weights;
    feature_attention: [B, T, F] input-attention weights (None when a model has none)."""

    y_hat: torch.Tensor
    attention: torch.Tensor | None = None
    feature_attention: torch.Tensor | None = None


class ForecastHead(nn.Linear):
    """Linear multi-horizon head: [B, D] -> [B, H] or, with quantiles, [B, H, Q].

    Quantiles are non-crossing by construction: the lowest level is free and each next level
    adds a softplus (>= 0) increment. Parameters are a plain ``nn.Linear``'s (weight, bias).
    """

    def __init__(self, in_dim: int, horizons: int, quantiles: tuple[float, ...] = ()) -> None:
        super().__init__(in_dim, horizons * max(len(quantiles), 1))
        self.horizons = horizons
        self.n_quantiles = len(quantiles)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = super().forward(h)
        if not self.n_quantiles:
            return out  # [B, H]
        return monotone_quantiles(out.view(*out.shape[:-1], self.horizons, self.n_quantiles))


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
