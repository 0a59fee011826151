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
    """

    input_size: int
    horizons: int
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    n_tickers: int = 1
    ticker_dim: int = 8

    def __post_init__(self) -> None:
        for name in ("input_size", "horizons", "hidden_size", "num_layers", "n_tickers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"model {name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model dropout must be in [0, 1), got {self.dropout}")
        if self.n_tickers > 1 and self.ticker_dim < 1:
            raise ConfigError(f"ticker_dim must be >= 1 for {self.n_tickers} tickers")


@dataclass
class ModelOutput:
    """y_hat: [B, H]; attention: [B, H, T] temporal weights or None."""

    y_hat: torch.Tensor
    attention: torch.Tensor | None = None


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
