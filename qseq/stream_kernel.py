"""The per-bar kernel behind :class:`qseq.stream.Stream`.

torch costs several microseconds per operator call on a small CPU, more than the arithmetic of
one cell step on a few rows, so the stream runs the trained weights as float32 numpy arrays
with preallocated buffers: one matrix product per layer (the bias rides along as a row of
ones) and a handful of in-place element-wise passes. Gates that go through a sigmoid have their
weight rows halved once (exact in binary floating point), because
sigmoid(a) = 0.5 * tanh(a / 2) + 0.5: one tanh pass then serves every gate of a layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from qseq.forecaster import Forecaster


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


class _Layer:
    """One recurrent layer stepping B sequences in place, one column per sequence.

    ``buf`` [I + H + 1, B] stacks the layer's input, its hidden state h and a row of ones, so
    ``weight @ buf`` gives every gate pre-activation, bias included, and each gate is a
    contiguous block of rows (element-wise passes over contiguous blocks run about twice as fast
    as over column slices). Gate rows of the product: rnn (a); gru (r/2, z/2, W_in x + b_in,
    W_hn h + b_hn); lstm (i/2, f/2, o/2, g); lstm_peephole (i/2, f/2, g, o/2), with the
    peepholes added before the sigmoid.
    """

    def __init__(self, kind: str, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
                 b_hh: np.ndarray, peephole: np.ndarray | None, columns: int) -> None:
        hid, inp = w_hh.shape[1], w_ih.shape[1]
        self.kind, self.hidden, self.inputs = kind, hid, inp
        if kind == "gru":
            w_x = np.concatenate([w_ih[:2 * hid] / 2, w_ih[2 * hid:], np.zeros((hid, inp))])
            w_h = np.concatenate([w_hh[:2 * hid] / 2, np.zeros((hid, hid)), w_hh[2 * hid:]])
            bias = np.concatenate([(b_ih[:2 * hid] + b_hh[:2 * hid]) / 2, b_ih[2 * hid:], b_hh[2 * hid:]])
        else:
            order = {"rnn": [0], "lstm": [0, 1, 3, 2], "lstm_peephole": [0, 1, 2, 3]}[kind]
            halve = {"rnn": [1.0], "lstm": [0.5, 0.5, 0.5, 1.0], "lstm_peephole": [0.5, 0.5, 1.0, 0.5]}[kind]
            blocks = [slice(g * hid, (g + 1) * hid) for g in order]
            w_x = np.concatenate([w_ih[b] * s for b, s in zip(blocks, halve, strict=True)])
            w_h = np.concatenate([w_hh[b] * s for b, s in zip(blocks, halve, strict=True)])
            bias = np.concatenate([(b_ih[b] + b_hh[b]) * s for b, s in zip(blocks, halve, strict=True)])
        self.weight = np.ascontiguousarray(np.concatenate([w_x, w_h, bias[:, None]], axis=1), np.float32)
        self.peephole = None if peephole is None else (peephole[:, :, None] / 2).astype(np.float32)
        self.buf = np.zeros((inp + hid + 1, columns), np.float32)
        self.buf[-1] = 1.0
        self.x = self.buf[:inp]  # [I, B]
        self.h = self.buf[inp:inp + hid]  # [H, B]
        self.c = np.zeros((hid, columns), np.float32) if kind.startswith("lstm") else None
        self.gates = np.empty((len(self.weight), columns), np.float32)
        self.tmp = np.empty((hid, columns), np.float32)

    def step(self) -> None:
        """h (and c) <- cell(x, h (, c)) for every column; x must already be in ``self.x``."""
        hid, a, h, tmp = self.hidden, self.gates, self.h, self.tmp
        np.matmul(self.weight, self.buf, out=a)  # [G * H, B]
        if self.kind == "rnn":
            np.tanh(a, out=h)
        elif self.kind == "gru":
            rz, n, gh_n = a[:2 * hid], a[2 * hid:3 * hid], a[3 * hid:]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5  # r, z
            gh_n *= a[:hid]  # r * (W_hn h + b_hn)
            n += gh_n
            np.tanh(n, out=n)
            np.subtract(h, n, out=tmp)
            tmp *= a[hid:2 * hid]
            np.add(n, tmp, out=h)  # h = n + z * (h - n)
        elif self.kind == "lstm":
            np.tanh(a, out=a)
            ifo = a[:3 * hid]
            ifo *= 0.5
            ifo += 0.5
            self.c *= a[hid:2 * hid]  # f * c
            np.multiply(a[:hid], a[3 * hid:], out=tmp)  # i * g
            self.c += tmp
            np.tanh(self.c, out=tmp)
            np.multiply(a[2 * hid:3 * hid], tmp, out=h)  # h = o * tanh(c)
        else:  # lstm_peephole: i and f see c_{t-1}, o sees c_t
            c, peep = self.c, self.peephole  # peep: [3, H, 1] halved
            for gate in (0, 1):
                np.multiply(peep[gate], c, out=tmp)
                a[gate * hid:(gate + 1) * hid] += tmp
            ifg = a[:3 * hid]
            np.tanh(ifg, out=ifg)
            if_ = a[:2 * hid]
            if_ *= 0.5
            if_ += 0.5
            c *= a[hid:2 * hid]
            np.multiply(a[:hid], a[2 * hid:3 * hid], out=tmp)
            c += tmp
            o = a[3 * hid:]
            np.multiply(peep[2], c, out=tmp)
            o += tmp
            np.tanh(o, out=o)
            o *= 0.5
            o += 0.5
            np.tanh(c, out=tmp)
            np.multiply(o, tmp, out=h)

    def reset(self, column: int) -> None:
        self.h[:, column] = 0.0
        if self.c is not None:
            self.c[:, column] = 0.0


class Kernel:
    """A trained streaming model as numpy arrays: an encoder bank of B sequences (columns) and
    the forecast from one of them. Built once per stream from the model's weights (no copy of the model code:
    tests check it against the torch forward pass to 1e-5)."""

    def __init__(self, forecaster: Forecaster, ticker_id: int, columns: int) -> None:
        from qseq.models.recurrent import RecurrentForecaster

        model = forecaster.model_
        mx, sx, my, sy = (a.numpy() for a in forecaster._scaler_tensors())
        self.mx, self.sx, self.my, self.sy = mx, sx, my, sy
        self.n_features = len(forecaster.config.features)
        rnn = model.rnn if isinstance(model, RecurrentForecaster) else model.encoder
        self.layers = [
            _Layer(model.cell, *(_array(getattr(rnn, f"{name}_l{k}")) for name in
                                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
                   _array(getattr(rnn, f"peephole_l{k}")) if model.cell == "lstm_peephole" else None,
                   columns)
            for k in range(rnn.num_layers)
        ]
        if model.ticker_embedding is not None:  # a constant input block for this ticker
            emb = _array(model.ticker_embedding.embedding.weight[ticker_id])
            self.layers[0].x[self.n_features:] = emb[:, None]
        if isinstance(model, RecurrentForecaster):
            self.decoder = None
            self.head, self.n_quantiles = _head(model.head), model.head.n_quantiles
            self.classes = model.head.classes
            if not self.n_quantiles and not self.classes:  # fold the target unscaling into the head
                self.head = np.ascontiguousarray(self.head * sy, np.float32)
                self.head[-1] += my
        else:
            dec = model.decoder
            kind = "lstm" if dec.lstm else "gru" if dec.cell_name == "gru" else "rnn"
            cell = dec.cell
            self.decoder = _Layer(kind, _array(cell.weight_ih), _array(cell.weight_hh),
                                  _array(cell.bias_ih), _array(cell.bias_hh), None, 1)
            self.head, self.n_quantiles = _head(dec.head), dec.head.n_quantiles
            self.classes = dec.head.classes  # a classifier feeds back its expected class, centred
            self.class_values = np.arange(self.classes, dtype=np.float32) - (self.classes - 1) / 2
            self.start = float(dec.start.detach()[0])
            self.point = dec.point_index or 0
            self.horizons = model.config.horizons

    def step(self, row: list[float]) -> None:
        """Advance every column of the bank by one bar of raw features ``row`` [F]."""
        layers = self.layers
        x = layers[0].x[:self.n_features]  # [F, B], the same bar for every column
        np.subtract(row, self.mx, out=x.T)
        x /= self.sx[:, None]
        for k, layer in enumerate(layers):
            layer.step()
            if k + 1 < len(layers):
                np.copyto(layers[k + 1].x, layer.h)

    def reset(self, column: int) -> None:
        for layer in self.layers:
            layer.reset(column)

    def forecast(self, column: int, future: np.ndarray | None = None) -> np.ndarray:
        """The forecast from bank column ``column``, in target units: [H] or [H, Q].
        future: [H, C] known-future inputs for decoders built with them."""
        top = self.layers[-1]
        if self.decoder is None:
            y = top.buf[top.inputs:, column] @ self.head  # [h, 1] @ [H + 1, out]
            if self.classes:
                return y.reshape(-1, self.classes)  # logits [H, C]
            if not self.n_quantiles:
                return y
            return _monotone(y.reshape(-1, self.n_quantiles)) * self.sy[:, None] + self.my[:, None]
        dec, outs, prev = self.decoder, [], self.start
        dec.h[:, 0] = top.h[:, column]
        if dec.c is not None:
            dec.c[:, 0] = top.c[:, column]
        for k in range(self.horizons):
            dec.x[0, 0] = prev
            if future is not None:
                dec.x[1:1 + future.shape[1], 0] = future[k]
            dec.step()
            y = dec.buf[dec.inputs:, 0] @ self.head  # [h, 1] @ [H + 1, out]: [1], [Q] or [C]
            if self.classes:  # logits [C]; feed back sum_c softmax(y)_c (c - (C - 1) / 2)
                outs.append(y)
                p = np.exp(y - y.max())
                prev = float(p @ self.class_values / p.sum())
                continue
            y = _monotone(y[None])[0] if self.n_quantiles else y[0]
            outs.append(y)
            prev = y[self.point] if self.n_quantiles else y
        y = np.stack(outs)  # [H], [H, Q] or logits [H, C]
        if self.classes:
            return y
        return y * self.sy[:, None] + self.my[:, None] if self.n_quantiles else y * self.sy + self.my


def _head(head: torch.nn.Linear) -> np.ndarray:
    """Linear head as one [D + 1, out] matrix: weight rows, then the bias row."""
    return np.ascontiguousarray(np.concatenate([_array(head.weight).T, _array(head.bias)[None]]))


def _monotone(raw: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`qseq.models.base.monotone_quantiles` (softplus threshold 20)."""
    if raw.shape[-1] == 1:
        return raw
    step = raw[..., 1:]
    with np.errstate(over="ignore"):
        step = np.where(step > 20, step, np.log1p(np.exp(step)))
    return np.concatenate([raw[..., :1], raw[..., :1] + np.cumsum(step, axis=-1)], axis=-1)
