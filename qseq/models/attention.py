"""Attention modules, reusable by any decoder.

Given a query ``s [B, Dq]`` and keys ``h [B, T, Dk]`` (encoder outputs), each returns the context
``sum_j a_j h_j  [B, Dk]`` and the weights ``a [B, T]`` (softmax over time, rows sum to 1).

Scores:
- additive (Bahdanau et al., 2015):  v^T tanh(W_q s + W_k h_j)
- dot      (Luong et al., 2015):     s^T h_j               (Dq == Dk)
- general  (Luong):                  s^T W h_j
- concat   (Luong):                  v^T tanh(W [s; h_j])
"""

from __future__ import annotations

import torch
from torch import nn

from qseq.errors import ConfigError


class Attention(nn.Module):
    """Scores a query against every key and returns (context [B, Dk], weights [B, T])."""

    def __init__(self, query_dim: int, key_dim: int, score: str = "additive",
                 attn_dim: int | None = None) -> None:
        super().__init__()
        self.score = score
        attn_dim = attn_dim or key_dim
        if score == "additive":
            self.w_query = nn.Linear(query_dim, attn_dim, bias=False)
            self.w_key = nn.Linear(key_dim, attn_dim, bias=True)
            self.v = nn.Linear(attn_dim, 1, bias=False)
        elif score == "dot":
            if query_dim != key_dim:
                raise ConfigError(f"dot attention needs query_dim == key_dim, got {query_dim} "
                                  f"and {key_dim}; use 'general'")
        elif score == "general":
            self.w = nn.Linear(key_dim, query_dim, bias=False)
        elif score == "concat":
            self.w_concat = nn.Linear(query_dim + key_dim, attn_dim, bias=True)
            self.v = nn.Linear(attn_dim, 1, bias=False)
        else:
            raise ConfigError(f"unknown attention score {score!r}; choose additive, dot, "
                              "general or concat")

    def prepare(self, keys: torch.Tensor) -> torch.Tensor | None:
        """Query-independent key projections, computed once per sequence. keys: [B, T, Dk]."""
        if self.score == "additive":
            return self.w_key(keys)  # [B, T, A]
        if self.score == "general":
            return self.w(keys)  # [B, T, Dq]
        return None

    def forward(self, query: torch.Tensor, keys: torch.Tensor,
                prepared: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if prepared is None and self.score in ("additive", "general"):
            prepared = self.prepare(keys)
        if self.score == "additive":
            energy = self.v(torch.tanh(prepared + self.w_query(query).unsqueeze(1))).squeeze(-1)
        elif self.score == "dot":
            energy = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # [B, T]
        elif self.score == "general":
            energy = torch.bmm(prepared, query.unsqueeze(-1)).squeeze(-1)
        else:
            q = query.unsqueeze(1).expand(-1, keys.shape[1], -1)
            energy = self.v(torch.tanh(self.w_concat(torch.cat([q, keys], dim=-1)))).squeeze(-1)
        weights = torch.softmax(energy, dim=-1)  # [B, T]
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # [B, Dk]
        return context, weights


class InputAttention(nn.Module):
    """Input (feature) attention of DA-RNN (Qin et al., 2017), stage one.

    At step t the weight of driving series k is softmax_k(v^T tanh(W [h_{t-1}; c_{t-1}] + U x^k)),
    where x^k [T] is series k over the whole window. Returns weights [B, F].
    """

    def __init__(self, n_features: int, window: int, state_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.w_state = nn.Linear(state_dim, attn_dim, bias=False)
        self.u_series = nn.Linear(window, attn_dim, bias=True)
        self.v = nn.Linear(attn_dim, 1, bias=False)
        self.n_features = n_features
        self.window = window

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, F] -> per-series projections [B, F, A] (query-independent)."""
        if x.shape[1] != self.window:
            raise ConfigError(f"input attention was built for windows of {self.window} bars, "
                              f"got {x.shape[1]}; use the lookback the model was trained with")
        return self.u_series(x.transpose(1, 2))

    def forward(self, state: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        energy = self.v(torch.tanh(prepared + self.w_state(state).unsqueeze(1))).squeeze(-1)
        return torch.softmax(energy, dim=-1)  # [B, F]
