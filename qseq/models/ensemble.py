"""Seed ensembles: N members of one architecture whose forecasts are averaged.

Members of the recurrent family (``rnn``, ``lstm``, ``gru``, stacked, bidirectional) run as one
grouped model: their weights are stacked on the fly (``torch.stack`` of each member's own
parameters, so gradients reach every member's leaves) and each time step is one batched matrix
product for all members, ``h [N, B, D] @ W_hh^T [N, D, G]``. Every other model runs its members
one after another. Either way member ``k`` computes exactly what the lone model would.

    x [B, T, F] (shared) or [N, B, T, F] (one batch per member)  ->  y_hat [N, B, H(, Q)]
"""

from __future__ import annotations

import torch
from torch import nn

from qseq.models.base import ModelOutput
from qseq.models.recurrent import RecurrentForecaster, check_input

GROUPED_CELLS = ("rnn", "lstm", "gru")


def _stack(members: list[nn.Module], name: str) -> torch.Tensor:
    return torch.stack([m.get_parameter(name) for m in members])


def _gates(cell: str, gx: torch.Tensor, gh: torch.Tensor, h: torch.Tensor,
           c: torch.Tensor | None, hidden: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One step of ``cell`` with torch's gate layouts: gx, gh [N, B, G] input and recurrent
    pre-activations (biases included), h, c [N, B, D] -> new (h, c)."""
    if cell == "gru":  # (r, z, n)
        i_rz, i_n = gx.split((2 * hidden, hidden), -1)
        h_rz, h_n = gh.split((2 * hidden, hidden), -1)
        r, z = torch.sigmoid(i_rz + h_rz).chunk(2, -1)
        n = torch.tanh(torch.addcmul(i_n, r, h_n))
        return torch.lerp(n, h, z), None
    if cell == "lstm":  # (i, f, g, o)
        g = gx + gh
        i, f = torch.sigmoid(g[..., :2 * hidden]).chunk(2, -1)
        o = torch.sigmoid(g[..., 3 * hidden:])
        c = torch.addcmul(f * c, i, torch.tanh(g[..., 2 * hidden:3 * hidden]))
        return o * torch.tanh(c), c
    return torch.tanh(gx + gh), None  # rnn (tanh)


def _direction(cell: str, gx: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor,
               hidden: int, reverse: bool, keep_all: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs one direction of one layer. gx [N, B, T, G] -> (outputs [N, B, T, D] or None,
    final state [N, B, D])."""
    n, b, t, _ = gx.shape
    h = gx.new_zeros(n, b, hidden)
    c = gx.new_zeros(n, b, hidden) if cell == "lstm" else None
    w_t, bias = w_hh.transpose(1, 2), b_hh[:, None]
    steps = gx.unbind(2)  # slicing gx per step would give each step's backward a full-size grad
    outs = []
    for s in (range(t - 1, -1, -1) if reverse else range(t)):
        h, c = _gates(cell, steps[s], torch.baddbmm(bias, h, w_t), h, c, hidden)
        if keep_all:
            outs.append(h)
    if not keep_all:
        return None, h
    if reverse:
        outs.reverse()
    return torch.stack(outs, 2), h


def grouped_recurrent(members: list[RecurrentForecaster], x: torch.Tensor,
                      ticker: torch.Tensor | None) -> torch.Tensor:
    """y_hat [N, B, H(, Q)] of N recurrent forecasters of one configuration.

    x: [B, T, F] read by every member, or [N, B, T, F]; ticker: [B] or [N, B] ids (or None).
    """
    first = members[0]
    cfg, cell, hidden = first.config, first.cell, first.config.hidden_size
    n_feat = cfg.input_size
    dirs = ("", "_reverse") if first.bidirectional else ("",)
    layer_in = x if x.dim() == 4 else x.unsqueeze(0)  # [N or 1, B, T, F]
    check_input(layer_in[0], n_feat)
    emb = None
    if first.ticker_embedding is not None:
        from qseq.errors import ConfigError

        if ticker is None:
            raise ConfigError("this model was built for several tickers; pass ticker ids [B]")
        table = _stack(members, "ticker_embedding.embedding.weight")  # [N, V, E]
        ids = ticker if ticker.dim() == 2 else ticker.expand(len(members), -1)
        emb = torch.gather(table, 1, ids[..., None].expand(-1, -1, table.shape[-1]))  # [N, B, E]
    finals = []
    for layer in range(cfg.num_layers):
        last_layer = layer == cfg.num_layers - 1
        outs, finals = [], []
        for suffix in dirs:
            w_ih = _stack(members, f"rnn.weight_ih_l{layer}{suffix}")  # [N, G, F_in]
            bias = _stack(members, f"rnn.bias_ih_l{layer}{suffix}")
            if layer == 0 and emb is not None:
                w_x, w_e = w_ih[..., :n_feat], w_ih[..., n_feat:]
                bias = bias[:, None] + torch.bmm(emb, w_e.transpose(1, 2))  # [N, B, G]
            else:
                w_x, bias = w_ih, bias[:, None]
            gx = torch.matmul(layer_in, w_x.transpose(1, 2)[:, None]) + bias[:, :, None]
            out, final = _direction(cell, gx, _stack(members, f"rnn.weight_hh_l{layer}{suffix}"),
                                    _stack(members, f"rnn.bias_hh_l{layer}{suffix}"), hidden,
                                    reverse=bool(suffix), keep_all=not last_layer)
            outs.append(out)
            finals.append(final)
        if not last_layer:
            layer_in = torch.cat(outs, -1) if len(outs) > 1 else outs[0]
            if cfg.dropout > 0 and first.training:
                layer_in = nn.functional.dropout(layer_in, cfg.dropout, training=True)
    last = torch.cat(finals, -1)  # [N, B, D * dirs]: forward after x_T, backward after x_1
    y = torch.baddbmm(_stack(members, "head.bias")[:, None], last,
                      _stack(members, "head.weight").transpose(1, 2))  # [N, B, H * Q]
    if first.highway is not None:  # + A x_T + c, member by member
        x_last = (x if x.dim() == 4 else x.unsqueeze(0))[:, :, -1].expand(len(members), -1, -1)
        y = y + torch.baddbmm(_stack(members, "highway.bias")[:, None], x_last,
                              _stack(members, "highway.weight").transpose(1, 2))
    return first.head.finish(y)


def can_group(members: list[nn.Module]) -> bool:
    """Whether ``members`` run as one grouped model (the recurrent family without peepholes)."""
    first = members[0]
    return isinstance(first, RecurrentForecaster) and first.cell in GROUPED_CELLS


class Ensemble(nn.Module):
    """N members of one configuration; ``forward`` returns their mean forecast (and mean
    attention weights where the members have them). Classifiers average their logits (a
    normalised geometric mean of the members' class probabilities).

    Input:  x [B, T, F], ticker [B] (and whatever else the members take, e.g. ``future``)
    Output: ModelOutput(y_hat [B, H] or [B, H, Q]); :meth:`member_outputs` gives [N, B, ...]
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            from qseq.errors import ConfigError

            raise ConfigError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)
        self.grouped = can_group(list(members))

    @property
    def config(self):  # the members' ModelConfig (the loss reads its quantiles)
        return self.members[0].config

    @property
    def teacher_forcing(self) -> bool:
        return bool(getattr(self.members[0], "teacher_forcing", False))

    def member_outputs(self, x: torch.Tensor, ticker: torch.Tensor | None = None,
                       members: list[nn.Module] | None = None, **extra) -> list[ModelOutput]:
        """Each member's output (grouped members: one ModelOutput with y_hat [N, B, ...])."""
        members = list(self.members) if members is None else members
        if self.grouped and not extra:
            return [ModelOutput(y_hat=grouped_recurrent(members, x, ticker))]
        return [m(x, ticker, **extra) for m in members]

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None, **extra) -> ModelOutput:
        outs = self.member_outputs(x, ticker, **extra)
        if len(outs) == 1:  # grouped
            return ModelOutput(y_hat=outs[0].y_hat.mean(0))

        def mean(name: str) -> torch.Tensor | None:
            values = [getattr(o, name) for o in outs]
            return None if values[0] is None else torch.stack(values).mean(0)

        return ModelOutput(y_hat=mean("y_hat"), attention=mean("attention"),
                           feature_attention=mean("feature_attention"))


def build_ensemble(name: str, config, seed: int, size: int) -> nn.Module:
    """``size`` members of registry model ``name``, member k initialised from seed ``seed + k``
    (exactly as a lone model built after ``torch.manual_seed(seed + k)``); one member is
    returned as the bare model."""
    from qseq.models.registry import build_model

    members = []
    for k in range(size):
        torch.manual_seed(seed + k)
        members.append(build_model(name, config, kind=None))
    return members[0] if size == 1 else Ensemble(members)
