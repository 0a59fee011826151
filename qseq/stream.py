"""Streaming inference: ``stream = forecaster.stream(ticker)``, then ``stream.update(bar)``
gives the forecast made at that bar without re-encoding the lookback window.

Two modes, both carrying recurrent state per ticker:

- ``window`` (default): forecasts equal the fixed-lookback forecasts of ``Forecaster.predict``.
  The stream keeps one recurrent state per window start: a bank of ``lookback`` staggered states
  advanced together by one batched cell step per bar; the state that has just read ``lookback``
  bars gives the forecast, and its slot restarts from zero. One cell call per bar, whatever the
  lookback (the arithmetic is that of a batch of ``lookback`` rows).
- ``stateful``: a single state carried across every bar since the stream started: O(1) work per
  bar. Its forecasts equal re-encoding all bars since the start (an expanding window), which is
  not what the model was trained on; with a fading-memory model they stay close to the window
  forecasts, and ``bench/bench_stream.py`` reports how close.

Features are updated incrementally from the raw bars (pure Python arithmetic on the last few
bars), so a bar costs the same after ten thousand bars as after ten.

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
        self.model = forecaster.model_.eval()
        self.lookback = forecaster.spec.lookback
        self.batch = self.lookback if mode == "window" else 1
        multi = len(forecaster.tickers_) > 1
        tid = forecaster.tickers_.index(ticker)
        self._ticker = torch.full((self.batch,), tid, dtype=torch.long) if multi else None
        mx, sx, my, sy = forecaster._scaler_tensors()
        self._mx, self._sx, self._my, self._sy = mx, sx, my, sy
        self.features = IncrementalFeatures(forecaster.spec.features)
        self.state = None
        self.count = 0  # feature rows consumed
        self.last_date: str | None = None

    def update(self, bar: Mapping[str, Any] | Any) -> np.ndarray | None:
        """Consume one bar (open, high, low, close, volume; date optional) and return the forecast
        made at it, [H] (quantile models: [H, Q]) in target units, or None while warming up."""
        row = self.features.update(*_bar_values(bar))
        date = bar.get("date") if isinstance(bar, Mapping) else getattr(bar, "date", None)
        self.last_date = None if date is None else str(date)
        if row is None:
            return None
        with torch.inference_mode():
            x = (torch.tensor(row, dtype=torch.float32) - self._mx) / self._sx  # [F]
            x = x.expand(self.batch, -1)
            if self.mode == "window":
                slot = self.count % self.lookback
                if self.state is not None:  # the sequence starting at this bar starts from zero
                    for part in self.state if isinstance(self.state, tuple) else (self.state,):
                        part[:, slot] = 0.0
            self.state = self.model.stream_step(x, self._ticker, self.state)
            self.count += 1
            if self.mode == "window":
                if self.count < self.lookback:
                    return None
                rows = slice(self.count % self.lookback, self.count % self.lookback + 1)
            else:
                rows = slice(0, 1)
            y = self.model.stream_forecast(self.state, rows)[0]  # [H] or [H, Q]
            if y.dim() == 2:
                return (y * self._sy[:, None] + self._my[:, None]).numpy()
            return (y * self._sy + self._my).numpy()

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
        parts = self.state if isinstance(self.state, tuple) else (self.state,)
        tensors = {f"state.{i}": p.contiguous() for i, p in enumerate(parts) if p is not None}
        meta = {"ticker": self.ticker, "mode": self.mode, "count": self.count,
                "last_date": self.last_date, "features": self.features.state(),
                "lstm": isinstance(self.state, tuple), "model": self.forecaster.spec.model,
                "lookback": self.lookback}
        atomic_write_with(directory / "stream.safetensors",
                          lambda tmp: save_file(tensors or {"empty": torch.zeros(1)}, str(tmp)))
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
        stream.count, stream.last_date = meta["count"], meta["last_date"]
        stream.features.restore(meta["features"])
        parts = [tensors[k] for k in sorted(k for k in tensors if k.startswith("state."))]
        if parts:
            stream.state = tuple(parts) if meta["lstm"] else parts[0]
        return stream


def _registry():
    from qseq.models import MODELS

    return MODELS
