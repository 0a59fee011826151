"""Streaming inference: ``stream = forecaster.stream(ticker)``, then ``stream.update(bar)``
gives the forecast made at that bar without re-encoding the lookback window.

Two modes, both carrying recurrent state per ticker:

- ``window`` (default): forecasts equal the fixed-lookback forecasts of ``Forecaster.predict``.
  The stream keeps one recurrent state per window start: a bank of ``lookback`` staggered states
  advanced together by one batched cell step per bar; the state that has just read ``lookback``
  bars gives the forecast, and its slot restarts from zero. The multiply-adds per bar are those
  of re-encoding one window (a nonlinear recurrence cannot drop its oldest bar), done as one
  matrix product per layer instead of ``lookback`` sequential ones: cheaper by how much better
  a [lookback]-wide product uses the CPU than a batch-1 step (``bench/bench_stream.py``).
- ``stateful``: a single state carried across every bar since the stream started: O(1) work per
  bar. Its forecasts equal re-encoding all bars since the start (an expanding window), which is
  not what the model was trained on; with a fading-memory model they stay close to the window
  forecasts, and ``bench/bench_stream.py`` reports how close.

Features are updated incrementally from the raw bars (pure Python arithmetic on the last few
bars), so a bar costs the same after ten thousand bars as after ten. The cells run as float32
numpy arrays built once from the model's weights (see ``_Layer``), equal to the torch model to
1e-5 (tests/test_stream.py).

Bidirectional and attention models cannot stream: a new bar changes every backward state, and
attention re-weights every encoder state of the window.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from qseq._io import atomic_write_text, atomic_write_with
from qseq.data.features import parse_feature
from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.models import get_spec

if TYPE_CHECKING:
    from qseq.forecaster import Forecaster

MODES = ("window", "stateful")
_LN2 = math.log(2.0)


class IncrementalFeatures:
    """The causal features of :mod:`qseq.data.features`, one bar at a time.

    update(open, high, low, close, volume) -> list of F floats, or None while some feature has
    no value yet (the first bar has no return; rolling features need their window).
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.parsed = [parse_feature(n) for n in names]
        self.prev_close: float | None = None
        self.prev_logvol: float | None = None
        self.buffers: dict[str, deque] = {}
        for base, window in self.parsed:
            key = self._key(base, window)
            if key is not None:
                self.buffers[key] = deque(maxlen=window)

    @staticmethod
    def _key(base: str, window: int) -> str | None:
        if base == "volume_zscore":
            return f"logvol_{window}"
        if base == "parkinson_vol":
            return f"pk_{window}"
        if base == "garman_klass_vol":
            return f"gk_{window}"
        return None

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> list[float] | None:
        logvol = math.log1p(v) if v == v else math.nan
        hl = math.log(h / lo) if h == h and lo == lo else math.nan
        for key, buf in self.buffers.items():
            if key.startswith("logvol"):
                buf.append(logvol)
            elif key.startswith("pk"):
                buf.append(hl * hl / (4 * _LN2))
            else:
                co = math.log(c / o)
                buf.append(0.5 * hl * hl - (2 * _LN2 - 1) * co * co)
        out: list[float] = []
        for base, window in self.parsed:
            if base == "log_return":
                out.append(math.log(c / self.prev_close) if self.prev_close else math.nan)
            elif base == "log_volume_change":
                out.append(logvol - self.prev_logvol if self.prev_logvol is not None else math.nan)
            else:
                buf = self.buffers[self._key(base, window)]
                if len(buf) < window:
                    out.append(math.nan)
                    continue
                mean = sum(buf) / window
                if base == "volume_zscore":
                    sd = math.sqrt(sum((b - mean) ** 2 for b in buf) / (window - 1))
                    out.append((logvol - mean) / sd if sd > 0 else math.nan)
                else:
                    out.append(math.sqrt(max(mean, 0.0)))
        self.prev_close, self.prev_logvol = c, logvol
        return None if any(x != x for x in out) else out

    def state(self) -> dict[str, Any]:
        return {"prev_close": self.prev_close, "prev_logvol": self.prev_logvol,
                "buffers": {k: list(b) for k, b in self.buffers.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.prev_close, self.prev_logvol = state["prev_close"], state["prev_logvol"]
        for key, values in state["buffers"].items():
            self.buffers[key].clear()
            self.buffers[key].extend(values)


def _bar_values(bar: Mapping[str, Any] | Any) -> tuple[float, float, float, float, float]:
    get = bar.get if isinstance(bar, Mapping) else (lambda k, d=None: getattr(bar, k, d))
    try:
        c = float(get("close"))
    except (TypeError, ValueError):
        raise DataError(f"bar has no numeric close: {bar!r}") from None
    o, h, lo = (float(get(k, c)) for k in ("open", "high", "low"))
    v = float(get("volume", math.nan))
    if not (c > 0 and o > 0 and h > 0 and lo > 0):
        raise DataError(f"bar prices must be positive, got open={o} high={h} low={lo} close={c}")
    if h < max(o, c) * (1 - 1e-9) or lo > min(o, c) * (1 + 1e-9):
        raise DataError(f"bar is inconsistent: high={h} low={lo} with open={o} close={c}")
    return o, h, lo, c, v


# -- the per-bar kernel -------------------------------------------------------------------
# torch costs several microseconds per operator call on a small CPU, more than the arithmetic of
# one cell step on a few rows, so the stream runs the trained weights as float32 numpy arrays
# with preallocated buffers: one matrix product per layer (the bias rides along as a row of
# ones) and a handful of in-place element-wise passes. Gates that go through a sigmoid have their
# weight rows halved once (exact in binary floating point), because
# sigmoid(a) = 0.5 * tanh(a / 2) + 0.5: one tanh pass then serves every gate of a layer.


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


class _Kernel:
    """A trained streaming model as numpy arrays: an encoder bank of B sequences (columns) and
    the forecast from one of them. Built once per stream from the model's weights (no copy of the model code:
    tests check it against the torch forward pass to 1e-5)."""

    def __init__(self, forecaster: Forecaster, ticker_id: int, columns: int) -> None:
        from qseq.models.recurrent import RecurrentForecaster

        model = forecaster.model_
        mx, sx, my, sy = (a.numpy() for a in forecaster._scaler_tensors())
        self.mx, self.sx, self.my, self.sy = mx, sx, my, sy
        self.n_features = len(forecaster.spec.features)
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
            if not self.n_quantiles:  # fold the target unscaling into the head
                self.head = np.ascontiguousarray(self.head * sy, np.float32)
                self.head[-1] += my
        else:
            dec = model.decoder
            kind = "lstm" if dec.lstm else "gru" if dec.cell_name == "gru" else "rnn"
            cell = dec.cell
            self.decoder = _Layer(kind, _array(cell.weight_ih), _array(cell.weight_hh),
                                  _array(cell.bias_ih), _array(cell.bias_hh), None, 1)
            self.head, self.n_quantiles = _head(dec.head), dec.head.n_quantiles
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

    def forecast(self, column: int) -> np.ndarray:
        """The forecast from bank column ``column``, in target units: [H] or [H, Q]."""
        top = self.layers[-1]
        if self.decoder is None:
            y = top.buf[top.inputs:, column] @ self.head  # [h, 1] @ [H + 1, out]
            if not self.n_quantiles:
                return y
            return _monotone(y.reshape(-1, self.n_quantiles)) * self.sy[:, None] + self.my[:, None]
        dec, outs, prev = self.decoder, [], self.start
        dec.h[:, 0] = top.h[:, column]
        if dec.c is not None:
            dec.c[:, 0] = top.c[:, column]
        for _ in range(self.horizons):
            dec.x[0, 0] = prev
            dec.step()
            y = dec.buf[1:, 0] @ self.head  # [1] or [Q]
            y = _monotone(y[None])[0] if self.n_quantiles else y[0]
            outs.append(y)
            prev = y[self.point] if self.n_quantiles else y
        y = np.stack(outs)  # [H] or [H, Q]
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


class Stream:
    """Per-ticker streaming forecaster; build with :meth:`Forecaster.stream`."""

    def __init__(self, forecaster: Forecaster, ticker: str, mode: str = "window") -> None:
        forecaster._check_fitted()
        if mode not in MODES:
            raise ConfigError(f"unknown stream mode {mode!r}; choose one of {list(MODES)}")
        spec = get_spec(forecaster.spec.model)
        if not spec.streams:
            streaming = sorted(n for n, s in _registry().items() if s.streams)
            raise ConfigError(
                f"model {forecaster.spec.model!r} cannot stream (bidirectional and attention "
                f"models need the whole window at every bar); streaming models: {streaming}"
            )
        if ticker not in forecaster.tickers_:
            raise DataError(f"ticker {ticker!r} was not seen in training "
                            f"(known: {list(forecaster.tickers_)})")
        self.forecaster, self.ticker, self.mode = forecaster, ticker, mode
        self.lookback = forecaster.spec.lookback
        columns = self.lookback if mode == "window" else 1
        self.kernel = _Kernel(forecaster, forecaster.tickers_.index(ticker), columns)
        self.features = IncrementalFeatures(forecaster.spec.features)
        self.count = 0  # feature rows consumed
        self._date: Any = None

    @property
    def last_date(self) -> str | None:
        """Date of the last bar seen (as given), or None."""
        return None if self._date is None else str(self._date)

    def update(self, bar: Mapping[str, Any] | Any) -> np.ndarray | None:
        """Consume one bar (open, high, low, close, volume; date optional) and return the forecast
        made at it, [H] (quantile models: [H, Q]) in target units, or None while warming up."""
        row = self.features.update(*_bar_values(bar))
        self._date = bar.get("date") if isinstance(bar, Mapping) else getattr(bar, "date", None)
        if row is None:
            return None
        kernel = self.kernel
        if self.mode == "stateful":
            kernel.step(row)
            self.count += 1
            return kernel.forecast(0)
        slot = self.count % self.lookback
        kernel.reset(slot)  # the window starting at this bar starts from a zero state
        kernel.step(row)
        self.count += 1
        if self.count < self.lookback:
            return None
        return kernel.forecast(self.count % self.lookback)  # the column that has read lookback bars

    def warmup(self, panel) -> np.ndarray | None:
        """Feed this ticker's bars from ``panel`` (the last ``lookback`` + feature-window bars
        are enough); returns the forecast at the last bar."""
        frame = panel.xs(self.ticker, level="ticker")
        need = self.lookback + max(w for _, w in self.features.parsed) + 2
        out = None
        cols = [c for c in ("open", "high", "low", "close", "volume") if c in frame.columns]
        tail = frame.iloc[-need:]
        for date, values in zip(tail.index, tail[cols].to_numpy(), strict=True):
            out = self.update({"date": date, **dict(zip(cols, values, strict=True))})
        return out

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the stream (recurrent state + feature buffers) to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        layers = self.kernel.layers
        parts = ("h", "c") if layers[0].c is not None else ("h",)
        tensors = {f"state.{i}": torch.from_numpy(np.ascontiguousarray(  # [L, B, H]
                       np.stack([getattr(layer, part).T for layer in layers])))
                   for i, part in enumerate(parts)}
        meta = {"ticker": self.ticker, "mode": self.mode, "count": self.count,
                "last_date": self.last_date, "features": self.features.state(),
                "lstm": len(parts) == 2, "model": self.forecaster.spec.model, "lookback": self.lookback}
        atomic_write_with(directory / "stream.safetensors", lambda tmp: save_file(tensors, str(tmp)))
        atomic_write_text(directory / "stream.json", json.dumps(meta))
        return directory

    @classmethod
    def load(cls, forecaster: Forecaster, directory: str | Path) -> Stream:
        directory = Path(directory)
        try:
            meta = json.loads((directory / "stream.json").read_text(encoding="utf-8"))
            tensors = load_file(str(directory / "stream.safetensors"))
        except (OSError, json.JSONDecodeError, ValueError) as exc:
            raise CheckpointError(f"cannot read the stream in {directory}: {exc}") from None
        if meta.get("model") != forecaster.spec.model or meta.get("lookback") != forecaster.spec.lookback:
            raise CheckpointError(f"the stream in {directory} belongs to another model "
                                  f"({meta.get('model')}, lookback {meta.get('lookback')})")
        stream = cls(forecaster, meta["ticker"], meta["mode"])
        stream.count, stream._date = meta["count"], meta["last_date"]
        stream.features.restore(meta["features"])
        layers = stream.kernel.layers
        want = (len(layers), *layers[0].h.T.shape)
        for key, attr in (("state.0", "h"), ("state.1", "c")):
            if getattr(layers[0], attr) is None or (key not in tensors and not stream.count):
                continue
            if key not in tensors or tuple(tensors[key].shape) != want:
                raise CheckpointError(f"the stream in {directory} has no {key} of shape {list(want)}; "
                                      "save the stream again with this model")
            for layer, part in zip(layers, tensors[key].numpy(), strict=True):
                getattr(layer, attr)[...] = part.T
        return stream


def _registry():
    from qseq.models import MODELS

    return MODELS
