"""Recurrent autoencoders (LSTM / GRU encoder-decoder) that reconstruct their input window, for
reconstruction-based anomaly detection (Malhotra et al., 2016, "LSTM-based encoder-decoder for
multi-sensor anomaly detection").

    encoder:  h_t = Cell_enc(x_t ++ e, h_{t-1}),        code z = h_T (last layer)      [B, D]
    decoder:  s_t = Cell_dec(z ++ e, s_{t-1}),          s_0 = encoder final state
              x_hat_t = W [s_t ; c_t] + b,              c_t = Attn(s_t, h_1..h_T) (optional)

``e`` is the ticker embedding (one table shared by encoder and decoder), so one model serves a
whole panel and a rare ticker borrows strength from the rest.

With ``mask_last`` (the ``masked_*_ae`` models) the encoder sees the window with its last bar's
inputs set to 0 (the training mean of the scaled features): the other bars are reconstructed,
the last bar is *predicted* from the earlier ones. A bar is scored as the last bar of its window,
so its error is then an innovation (what the past did not foretell) rather than what the
bottleneck failed to copy through; an extreme bar cannot be partly copied into its own
reconstruction. ``ModelConfig.mask_steps`` = G > 1 masks the last G bars, so the last bar is
predicted from the bars up to G before it: an episode shorter than G bars is never in the
context its own bars are predicted from. Without attention the decoder sees the window only
through the code z and the final state: a D-wide bottleneck that cannot copy an unusual bar
through. With attention the decoder also reads the encoder states, which
makes reconstruction easier (of anomalies too); it is the optional variant.

Output: ``ModelOutput(y_hat=x_hat [B, T, F], attention=[B, T, T] | None)`` in scaled feature
units. The reconstruction loss lives in the training code
(:mod:`qseq.anomaly.training`).
"""

from __future__ import annotations

import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models.attention import Attention
from qseq.models.base import ModelConfig, ModelOutput, TickerEmbedding
from qseq.models.recurrent import check_input, make_rnn

EMBEDDING_INIT_STD = 0.1


class RecurrentAutoencoder(nn.Module):
    """LSTM/GRU encoder-decoder reconstructing x [B, T, F] (T is free: any window length).

    Input:  x [B, T, F] scaled features, ticker [B] int64 ids (needed when n_tickers > 1);
            with ``mask_last`` the values of x[:, -G:] are not used (G = config.mask_steps)
    Output: ModelOutput(y_hat=x_hat [B, T, F], attention [B, T, T] when ``attention``)

    ``config.horizons`` is unused (an autoencoder forecasts nothing).
    """

    def __init__(self, config: ModelConfig, cell: str = "lstm", attention: bool = False,
                 mask_last: bool = False) -> None:
        super().__init__()
        self.config = config
        self.cell = cell
        self.mask_last = mask_last
        if mask_last and config.lookback and config.mask_steps >= config.lookback:
            raise ConfigError(f"mask_steps {config.mask_steps} leaves no unmasked bar in a window "
                              f"of {config.lookback}; use mask_steps < lookback")
        self.ticker_embedding = (
            TickerEmbedding(config.n_tickers, config.ticker_dim) if config.n_tickers > 1 else None
        )
        if self.ticker_embedding is not None:
            # start the tickers close together so that where they end up is learnt, not drawn
            nn.init.normal_(self.ticker_embedding.embedding.weight, std=EMBEDDING_INIT_STD)
        emb = config.ticker_dim if self.ticker_embedding else 0
        hidden = config.hidden_size
        self.encoder = make_rnn(cell, config.input_size + emb, config)
        self.decoder = make_rnn(cell, hidden + emb, config)
        self.attention = Attention(hidden, hidden, score="additive") if attention else None
        self.output = nn.Linear(hidden * (2 if attention else 1), config.input_size)

    def embeddings(self) -> torch.Tensor | None:
        """The learned ticker vectors [n_tickers, ticker_dim] (None for a one-ticker model)."""
        if self.ticker_embedding is None:
            return None
        return self.ticker_embedding.embedding.weight

    def _join(self, x: torch.Tensor, ticker: torch.Tensor | None) -> torch.Tensor:
        return x if self.ticker_embedding is None else self.ticker_embedding(x, ticker)

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> ModelOutput:
        check_input(x, self.config.input_size)
        steps = x.shape[1]
        if self.mask_last:  # the last bar is predicted from the earlier ones, never copied
            masked = self.config.mask_steps
            if masked >= steps:
                raise ConfigError(f"a window of {steps} bars with mask_steps {masked} has no "
                                  "unmasked bar; use longer windows or a smaller mask_steps")
            x = torch.cat([x[:, :-masked], torch.zeros_like(x[:, -masked:])], dim=1)
        enc_out, state = self.encoder(self._join(x, ticker))  # [B, T, D], final state(s)
        code = enc_out[:, -1]  # [B, D]
        dec_in = self._join(code.unsqueeze(1).expand(-1, steps, -1), ticker)  # [B, T, D (+ E)]
        dec_out, _ = self.decoder(dec_in, state)  # [B, T, D]
        if self.attention is None:
            return ModelOutput(y_hat=self.output(dec_out))  # [B, T, F]
        b, t, d = dec_out.shape
        keys = enc_out.unsqueeze(1).expand(b, t, t, d).reshape(b * t, t, d)  # [B*T, T, D]
        context, weights = self.attention(dec_out.reshape(b * t, d), keys)  # [B*T, D], [B*T, T]
        x_hat = self.output(torch.cat([dec_out, context.view(b, t, d)], dim=-1))  # [B, T, F]
        return ModelOutput(y_hat=x_hat, attention=weights.view(b, t, t))

