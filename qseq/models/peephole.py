"""LSTM with peephole connections (Gers & Schmidhuber, 2000); torch has none.

    i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi + p_i * c_{t-1})
    f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf + p_f * c_{t-1})
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    c_t = f_t * c_{t-1} + i_t * g_t
    o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho + p_o * c_t)
    h_t = o_t * tanh(c_t)

Parameters are named and laid out as in ``nn.LSTM`` (gate order i, f, g, o), plus
``peephole_l{k}`` of shape [3, hidden] (p_i, p_f, p_o). With the peepholes at zero it computes
exactly what ``nn.LSTM`` computes.

Speed: the input projections of all time steps are one matrix multiply per layer; the time
loop does one ``addmm`` and the element-wise gate math per step. ``bench/bench_peephole.py``
measured this against a naive per-step cell, TorchScript and ``torch.compile``: TorchScript
gave nothing on CPU (and is deprecated), ``torch.compile`` was faster per step but costs about a
minute of compilation per shape, so the eager loop is kept.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _layer(xp: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, peep: torch.Tensor,
           h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One layer over time. xp: [B, T, 4H] input projections; h, c: [B, H]."""
    p_i, p_f, p_o = peep[0], peep[1], peep[2]
    outs = []
    for x_t in xp.unbind(1):  # unbind, not xp[:, t]: each slice's backward would write a full [B, T, 4H]
        gates = x_t + torch.addmm(b_hh, h, w_hh.t())  # [B, 4H]
        i, f, g, o = gates.chunk(4, dim=1)
        i = torch.sigmoid(i + p_i * c)
        f = torch.sigmoid(f + p_f * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + p_o * c) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, dim=1), h, c


class PeepholeLSTM(nn.Module):
    """Drop-in for ``nn.LSTM(batch_first=True)``: forward(x [B, T, I], (h0, c0) | None) ->
    (out [B, T, H], (h_n [L, B, H], c_n [L, B, H]))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.dropout = num_layers, dropout
        for k in range(num_layers):
            in_k = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size, in_k)))
            self.register_parameter(f"weight_hh_l{k}",
                                    nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(4 * hidden_size)))
            self.register_parameter(f"peephole_l{k}", nn.Parameter(torch.empty(3, hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)  # as nn.LSTM
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        batch = x.shape[0]
        if state is None:
            zeros = x.new_zeros(self.num_layers, batch, self.hidden_size)
            state = (zeros, zeros)
        h0, c0 = state
        hs, cs = [], []
        out = x
        for k in range(self.num_layers):
            if k > 0 and self.dropout > 0 and self.training:
                out = nn.functional.dropout(out, self.dropout, training=True)
            xp = torch.nn.functional.linear(out, getattr(self, f"weight_ih_l{k}"),
                                            getattr(self, f"bias_ih_l{k}"))  # [B, T, 4H]
            out, h, c = _layer(xp, getattr(self, f"weight_hh_l{k}"), getattr(self, f"bias_hh_l{k}"),
                               getattr(self, f"peephole_l{k}"), h0[k], c0[k])
            hs.append(h)
            cs.append(c)
        return out, (torch.stack(hs), torch.stack(cs))
