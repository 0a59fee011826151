"""A compact DeepLOB: convolutions over the order book, an inception module over time, an LSTM.

After Zhang, Zohren and Roberts (2019), "DeepLOB: Deep convolutional neural networks for limit
order books". The input window's first ``4 L`` columns are the book in LOBSTER order (ask price,
ask size, bid price, bid size for each of L levels); any further columns (derived features such
as order-flow imbalance) go to the LSTM beside the convolution output.

    book [B, 1, T, 4L] -> conv (1x2, stride 2): price with size     -> [B, C, T, 2L] -> 2 x conv (4x1)
                       -> conv (1x2, stride 2): ask with bid         -> [B, C, T, L]  -> 2 x conv (4x1)
                       -> conv (1xL): across levels                  -> [B, C, T, 1]  -> 2 x conv (4x1)
                       -> inception: 1x1 -> 3x1 | 1x1 -> 5x1 | maxpool 3x1 -> 1x1 -> [B, 3I, T]
    [B, T, 3I + F (+ ticker)] -> LSTM(hidden) -> last step -> head [B, H] / [B, H, C]

Differences from the paper, for size and streaming: C = 16 and I = 32 channels (paper 32 / 64),
and every temporal convolution is causal (left-padded), so the window length T is kept and no
output looks at a later event than its own. Batch normalisation follows every convolution, as
in the paper. The LSTM also reads the raw inputs beside the convolution features (a skip
connection the paper does not have): stacked causal convolutions weight the newest event least
(one path reaches the output from it, many from events a few steps back), and without the
skip the model did not learn the one-column known tasks in ``tests/models/test_classes.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models.base import ForecastHead, ModelConfig, ModelOutput, TickerEmbedding
from qseq.models.recurrent import check_input
from qseq.models.sizes import DEEPLOB_CONV_CHANNELS as CONV_CHANNELS
from qseq.models.sizes import DEEPLOB_INCEPTION_CHANNELS as INCEPTION_CHANNELS


class CausalConv(nn.Module):
    """Conv2d over [B, C, T, W] with a (k x 1) kernel, left-padded in time (keeps T)."""

    def __init__(self, in_ch: int, out_ch: int, k: int) -> None:
        super().__init__()
        self.pad = k - 1
        self.conv = nn.Conv2d(in_ch, out_ch, (k, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pad(x, (0, 0, self.pad, 0)))


def _block(in_ch: int, ch: int, kernel: tuple[int, int], stride: tuple[int, int]) -> nn.Sequential:
    """A spatial convolution then two causal (4 x 1) temporal ones, each followed by a leaky
    ReLU and batch normalisation (as in the paper)."""
    act = nn.LeakyReLU(0.01)
    return nn.Sequential(nn.Conv2d(in_ch, ch, kernel, stride=stride), act, nn.BatchNorm2d(ch),
                         CausalConv(ch, ch, 4), act, nn.BatchNorm2d(ch),
                         CausalConv(ch, ch, 4), act, nn.BatchNorm2d(ch))


class DeepLOB(nn.Module):
    """Input: x [B, T, F] with the book in its first 4 L columns (``config.book_levels`` = L),
    ticker [B] | None. Output: ModelOutput(y_hat [B, H], [B, H, Q] or [B, H, C] logits)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        levels = config.book_levels
        if levels < 1:
            raise ConfigError("deeplob reads order-book windows: build it from order-book data "
                              "(qseq lob train), which sets ModelConfig.book_levels")
        self.config = config
        c, i = CONV_CHANNELS, INCEPTION_CHANNELS
        self.conv = nn.Sequential(_block(1, c, (1, 2), (1, 2)),  # price with size: 4L -> 2L
                                  _block(c, c, (1, 2), (1, 2)),  # ask with bid: 2L -> L
                                  _block(c, c, (1, levels), (1, 1)))  # across levels: L -> 1
        act = nn.LeakyReLU(0.01)
        self.branch3 = nn.Sequential(nn.Conv2d(c, i, 1), act, nn.BatchNorm2d(i),
                                     CausalConv(i, i, 3), act, nn.BatchNorm2d(i))
        self.branch5 = nn.Sequential(nn.Conv2d(c, i, 1), act, nn.BatchNorm2d(i),
                                     CausalConv(i, i, 5), act, nn.BatchNorm2d(i))
        self.branch_pool = nn.Sequential(nn.Conv2d(c, i, 1), act, nn.BatchNorm2d(i))
        self.ticker_embedding = (TickerEmbedding(config.n_tickers, config.ticker_dim)
                                 if config.n_tickers > 1 else None)
        in_size = 3 * i + config.input_size + (config.ticker_dim if self.ticker_embedding else 0)
        self.rnn = nn.LSTM(in_size, config.hidden_size, batch_first=True)
        self.head = ForecastHead(config.hidden_size, config.horizons, config.quantiles,
                                 config.classes)
        # He initialisation for the leaky ReLUs (torch's default shrinks the signal per layer)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.01, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)

    def encode(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, F] -> the LSTM's inputs [B, T, 3I + F (+ ticker)]; step t depends on
        steps <= t only."""
        check_input(x, self.config.input_size)
        width = 4 * self.config.book_levels
        z = self.conv(x[..., :width].unsqueeze(1))  # [B, C, T, 1]
        pooled = nn.functional.max_pool2d(nn.functional.pad(z, (0, 0, 2, 0), value=-torch.inf),
                                          (3, 1), stride=1)  # causal 3 x 1 max-pool
        z = torch.cat([self.branch3(z), self.branch5(z), self.branch_pool(pooled)], dim=1)
        z = z.squeeze(-1).transpose(1, 2)  # [B, T, 3I]
        z = torch.cat([z, x], dim=-1)  # + the raw inputs (book and derived features)
        if self.ticker_embedding is not None:
            z = self.ticker_embedding(z, ticker)
        return z

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> ModelOutput:
        out, _ = self.rnn(self.encode(x, ticker))  # [B, T, hidden]
        return ModelOutput(y_hat=self.head(out[:, -1]))
