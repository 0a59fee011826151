"""Encoder-decoder forecasters: a recurrent encoder reads the window, a recurrent decoder emits
the H horizons one step at a time, feeding back its previous output.

Decoder variants (``attention``):
- ``None``: plain seq2seq (Sutskever et al., 2014 / Cho et al., 2014).
- ``"bahdanau"``: additive attention computed from the previous decoder state; the context joins
  the decoder input and the output layer (Bahdanau et al., 2015).
- ``"luong"``: the decoder steps first, then attends with its new state (dot, general or concat
  score); the attentional state tanh(W_c [context; s_k]) is fed to the output and, as "input
  feeding", to the next step (Luong et al., 2015).

Training: with ``target`` given, each decoder input is the true previous value with probability
``teacher_forcing`` (per sample and step, as in scheduled sampling, Bengio et al., 2015) and the
model's own (detached) previous forecast otherwise. Inference is autoregressive.
"""

from __future__ import annotations

import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models.attention import Attention, InputAttention
from qseq.models.base import ForecastHead, ModelConfig, ModelOutput, TickerEmbedding
from qseq.models.recurrent import check_input, init_memory_gates, make_rnn

DECODER_CELLS = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell, "lstm_peephole": nn.LSTMCell}


class Decoder(nn.Module):
    """Emits H steps from an initial state and (for attention) the encoder outputs [B, T, D]."""

    def __init__(self, config: ModelConfig, cell: str, attention: str | None, key_dim: int) -> None:
        super().__init__()
        if attention not in (None, "bahdanau", "luong"):
            raise ConfigError(f"unknown decoder attention {attention!r}")
        self.config, self.cell_name, self.attention_kind = config, cell, attention
        hid = config.hidden_size
        self.lstm = cell in ("lstm", "lstm_peephole")
        in_dim = 1 + config.future_size
        if attention == "bahdanau":
            self.attn = Attention(hid, key_dim, "additive", hid)
            in_dim += key_dim
            out_dim = hid + key_dim
        elif attention == "luong":
            self.attn = Attention(hid, key_dim, config.attention, hid)
            self.combine = nn.Linear(hid + key_dim, hid)
            in_dim += hid  # input feeding
            out_dim = hid
        else:
            out_dim = hid
        self.cell = DECODER_CELLS[cell](in_dim, hid)
        self.head = ForecastHead(out_dim, 1, config.quantiles, config.classes)
        # a classifier feeds back its expected class, centred: sum_c p_c (c - (C - 1) / 2)
        centre = (config.classes - 1) / 2
        self.register_buffer("class_values", torch.arange(config.classes) - centre, persistent=False)
        self.start = nn.Parameter(torch.zeros(1))
        q = config.quantiles
        self.point_index = min(range(len(q)), key=lambda i: abs(q[i] - 0.5)) if q else None

    def forward(self, state, keys: torch.Tensor | None, target: torch.Tensor | None,
                teacher_forcing: float, future: torch.Tensor | None):
        """state: h [B, hid] (or (h, c)); returns (y_hat [B, H(, Q | C)], attention [B, H, T] | None)."""
        cfg = self.config
        h = state[0] if self.lstm else state
        batch = h.shape[0]
        if cfg.future_size and future is None:
            raise ConfigError(f"this model was built with {cfg.future_size} known-future inputs; "
                              "pass future [B, H, C]")
        prepared = self.attn.prepare(keys) if self.attention_kind else None
        prev = self.start.expand(batch, 1)  # [B, 1]
        feed = h.new_zeros(batch, cfg.hidden_size) if self.attention_kind == "luong" else None
        outs, weights = [], []
        for k in range(cfg.horizons):
            parts = [prev]
            if cfg.future_size:
                parts.append(future[:, k])
            if self.attention_kind == "bahdanau":
                context, w = self.attn(h, keys, prepared)
                parts.append(context)
            elif self.attention_kind == "luong":
                parts.append(feed)
            state = self.cell(torch.cat(parts, dim=-1), state)
            h = state[0] if self.lstm else state
            if self.attention_kind == "bahdanau":
                y = self.head(torch.cat([h, context], dim=-1))
            elif self.attention_kind == "luong":
                context, w = self.attn(h, keys, prepared)
                feed = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))
                y = self.head(feed)
            else:
                y = self.head(h)
            y = y[:, 0]  # [B], [B, Q] or [B, C]
            outs.append(y)
            if self.attention_kind:
                weights.append(w)
            if cfg.classes:
                point = (torch.softmax(y, dim=-1) @ self.class_values).unsqueeze(-1)  # [B, 1]
            else:
                point = (y[:, self.point_index] if self.point_index is not None else y).unsqueeze(-1)
            prev = point.detach() if self.training else point
            if target is not None and teacher_forcing > 0:
                use_true = torch.rand(batch, 1, device=h.device) < teacher_forcing
                true = target[:, k : k + 1] - ((cfg.classes - 1) / 2 if cfg.classes else 0.0)
                prev = torch.where(use_true, true, prev)
        y_hat = torch.stack(outs, dim=1)  # [B, H] or [B, H, Q]
        attention = torch.stack(weights, dim=1) if weights else None  # [B, H, T]
        return y_hat, attention


class Seq2SeqForecaster(nn.Module):
    """Recurrent encoder (stacked, ``cell``) + step-by-step decoder, optionally with attention.

    Input:  x [B, T, F], ticker [B] | None, target [B, H] (scaled, training only),
            teacher_forcing in [0, 1], future [B, H, C] known-future inputs (optional)
    Output: ModelOutput(y_hat [B, H(, Q)], attention [B, H, T] for attention decoders)
    """

    teacher_forcing = True

    def __init__(self, config: ModelConfig, cell: str = "gru", attention: str | None = None) -> None:
        super().__init__()
        self.config, self.cell = config, cell
        self.ticker_embedding = (
            TickerEmbedding(config.n_tickers, config.ticker_dim) if config.n_tickers > 1 else None
        )
        in_size = config.input_size + (config.ticker_dim if self.ticker_embedding else 0)
        self.encoder = make_rnn(cell, in_size, config)
        self.decoder = Decoder(config, cell, attention, config.hidden_size)

    def _decoder_state(self, final):
        if self.decoder.lstm:
            return final[0][-1], final[1][-1]  # top layer (h, c)
        return final[-1]

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None,
                target: torch.Tensor | None = None, teacher_forcing: float = 0.0,
                future: torch.Tensor | None = None) -> ModelOutput:
        check_input(x, self.config.input_size)
        if self.ticker_embedding is not None:
            x = self.ticker_embedding(x, ticker)
        keys, final = self.encoder(x)  # keys: [B, T, hidden]
        y_hat, attention = self.decoder(self._decoder_state(final), keys, target, teacher_forcing,
                                        future)
        return ModelOutput(y_hat=y_hat, attention=attention)


class DualStageAttentionForecaster(nn.Module):
    """DA-RNN (Qin et al., 2017): an input-attention encoder weights the F features at every
    step, and a temporal-attention (Bahdanau) decoder emits the H horizons.

    Output: ModelOutput(y_hat [B, H(, Q)], attention [B, H, T], feature_attention [B, T, F]).
    The ticker embedding (several tickers) joins the encoder input after feature attention, so
    feature weights are over the market features only.
    """

    teacher_forcing = True

    def __init__(self, config: ModelConfig, cell: str = "lstm") -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ConfigError(f"da_rnn supports lstm or gru cells, got {cell!r}")
        if config.lookback < 1:
            raise ConfigError("da_rnn needs the window length: set ModelConfig(lookback=...)")
        self.config, self.cell, window = config, cell, config.lookback
        hid = config.hidden_size
        self.ticker_embedding = (
            nn.Embedding(config.n_tickers, config.ticker_dim) if config.n_tickers > 1 else None
        )
        in_size = config.input_size + (config.ticker_dim if self.ticker_embedding else 0)
        self.lstm = cell == "lstm"
        self.encoder_cell = (nn.LSTMCell if self.lstm else nn.GRUCell)(in_size, hid)
        init_memory_gates(self.encoder_cell, cell, hid)
        self.input_attention = InputAttention(config.input_size, window,
                                              2 * hid if self.lstm else hid, hid)
        self.decoder = Decoder(config, cell, "bahdanau", hid)

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None,
                target: torch.Tensor | None = None, teacher_forcing: float = 0.0,
                future: torch.Tensor | None = None) -> ModelOutput:
        check_input(x, self.config.input_size)
        batch, steps, _ = x.shape
        prepared = self.input_attention.prepare(x)  # [B, F, A]
        emb = None
        if self.ticker_embedding is not None:
            if ticker is None:
                raise ConfigError("this model was built for several tickers; pass ticker ids [B]")
            emb = self.ticker_embedding(ticker)
        h = x.new_zeros(batch, self.config.hidden_size)
        state = (h, h) if self.lstm else h
        outs, alphas = [], []
        for t in range(steps):
            query = torch.cat(state, dim=-1) if self.lstm else state
            alpha = self.input_attention(query, prepared)  # [B, F]
            inp = alpha * x[:, t]
            if emb is not None:
                inp = torch.cat([inp, emb], dim=-1)
            state = self.encoder_cell(inp, state)
            outs.append(state[0] if self.lstm else state)
            alphas.append(alpha)
        keys = torch.stack(outs, dim=1)  # [B, T, hidden]
        y_hat, attention = self.decoder(state, keys, target, teacher_forcing, future)
        return ModelOutput(y_hat=y_hat, attention=attention,
                           feature_attention=torch.stack(alphas, dim=1))  # [B, T, F]
