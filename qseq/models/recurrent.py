"""One recurrent forecaster for the whole RNN / LSTM / GRU family (torch's fused kernels),
stacked and optionally bidirectional.

    h_t = Cell(x_t ++ e_ticker, h_{t-1}),   y_hat = W h_T + b      (y_hat: [B, H] or [B, H, Q])
    with ``highway``:                        y_hat = W h_T + b + A x_T + c

Bidirectional models read the window both ways and join the last layer's final forward state
(after x_T) with its final backward state (after x_1). They cannot stream: the backward pass
starts from the newest bar, so every new bar changes every backward state and the whole window
must be re-encoded.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models.base import ForecastHead, ModelConfig, ModelOutput, TickerEmbedding
from qseq.models.peephole import PeepholeLSTM

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU, "lstm_peephole": PeepholeLSTM}


def check_input(x: torch.Tensor, input_size: int) -> None:
    if x.dim() != 3 or x.shape[-1] != input_size:
        raise ConfigError(f"expected x of shape [batch, time, {input_size}], got {list(x.shape)}")


def make_rnn(cell: str, input_size: int, config: ModelConfig, bidirectional: bool = False) -> nn.Module:
    """torch's fused recurrent module for ``cell``, warning when dropout would do nothing."""
    if cell not in CELLS:
        raise ConfigError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
    if config.dropout > 0 and config.num_layers == 1:
        warnings.warn("dropout has no effect with num_layers=1 (it acts between layers)",
                      UserWarning, stacklevel=3)
    dropout = config.dropout if config.num_layers > 1 else 0.0
    if cell == "lstm_peephole":
        if bidirectional:
            raise ConfigError("lstm_peephole has no bidirectional variant; use bilstm")
        module = PeepholeLSTM(input_size, config.hidden_size, config.num_layers, dropout)
    else:
        kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        module = CELLS[cell](input_size=input_size, hidden_size=config.hidden_size,
                             num_layers=config.num_layers, dropout=dropout, batch_first=True,
                             bidirectional=bidirectional, **kwargs)
    init_memory_gates(module, cell, config.hidden_size)
    return module


def init_memory_gates(module: nn.Module, cell: str, hidden: int) -> None:
    """Start the gates that carry memory open: the LSTM forget gate and the GRU update gate get
    an input bias of 1 (Gers et al., 2000; Jozefowicz et al., 2015), so gradients reach early
    bars from the first step of training. Gate order: LSTM (i, f, g, o), GRU (r, z, n)."""
    if cell == "rnn":
        return
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.startswith("bias_ih"):
                param[hidden : 2 * hidden].fill_(1.0)


class RecurrentForecaster(nn.Module):
    """Recurrent encoder over the lookback window and a linear multi-horizon head.

    Input:  x [B, T, F] scaled features, ticker [B] int64 ids (needed when n_tickers > 1)
    Output: ModelOutput(y_hat [B, H], [B, H, Q] with quantiles or [B, H, C] logits with classes)
    """

    def __init__(self, config: ModelConfig, cell: str = "gru", bidirectional: bool = False) -> None:
        super().__init__()
        self.config = config
        self.cell = cell
        self.bidirectional = bidirectional
        self.ticker_embedding = (
            TickerEmbedding(config.n_tickers, config.ticker_dim) if config.n_tickers > 1 else None
        )
        in_size = config.input_size + (config.ticker_dim if self.ticker_embedding else 0)
        self.rnn = make_rnn(cell, in_size, config, bidirectional)
        self.head = ForecastHead(config.hidden_size * (2 if bidirectional else 1), config.horizons,
                                 config.quantiles, config.classes)
        # the highway: a linear map of the last bar's inputs straight to the raw outputs
        self.highway = (nn.Linear(config.input_size, self.head.out_features) if config.highway
                        else None)

    def _embed(self, x: torch.Tensor, ticker: torch.Tensor | None) -> torch.Tensor:
        return x if self.ticker_embedding is None else self.ticker_embedding(x, ticker)

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> ModelOutput:
        check_input(x, self.config.input_size)
        out, _ = self.rnn(self._embed(x, ticker))  # [B, T, hidden * dirs]
        if self.bidirectional:
            size = self.config.hidden_size
            last = torch.cat([out[:, -1, :size], out[:, 0, size:]], dim=-1)  # [B, 2 * hidden]
        else:
            last = out[:, -1]  # [B, hidden]
        extra = None if self.highway is None else self.highway(x[:, -1])  # [B, H * Q]
        return ModelOutput(y_hat=self.head(last, extra))
