"""One recurrent forecaster for the whole RNN / LSTM / GRU family (torch's fused kernels).

    h_t = Cell(x_t ++ e_ticker, h_{t-1}),   y_hat = W h_T + b      (y_hat: [B, H])
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models.base import ModelConfig, ModelOutput, TickerEmbedding

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentForecaster(nn.Module):
    """Recurrent encoder over the lookback window and a linear multi-horizon head.

    Input:  x [B, T, F] scaled features, ticker [B] int64 ids (needed when n_tickers > 1)
    Output: ModelOutput(y_hat [B, H])
    """

    def __init__(self, config: ModelConfig, cell: str = "gru") -> None:
        super().__init__()
        if cell not in CELLS:
            raise ConfigError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        if config.dropout > 0 and config.num_layers == 1:
            warnings.warn("dropout has no effect with num_layers=1 (it acts between layers)",
                          UserWarning, stacklevel=2)
        self.config = config
        self.cell = cell
        self.ticker_embedding = (
            TickerEmbedding(config.n_tickers, config.ticker_dim) if config.n_tickers > 1 else None
        )
        in_size = config.input_size + (config.ticker_dim if self.ticker_embedding else 0)
        kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = CELLS[cell](
            input_size=in_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
            **kwargs,
        )
        self.head = nn.Linear(config.hidden_size, config.horizons)

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> ModelOutput:
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ConfigError(
                f"expected x of shape [batch, time, {self.config.input_size}], got {list(x.shape)}"
            )
        if self.ticker_embedding is not None:
            x = self.ticker_embedding(x, ticker)  # [B, T, F + E]
        out, _ = self.rnn(x)  # [B, T, hidden]
        return ModelOutput(y_hat=self.head(out[:, -1]))  # [B, H]
