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
numpy arrays built once from the model's weights (see :mod:`qseq.stream_kernel`), equal to the torch model to
1e-5 (tests/test_stream.py).

While a stream is open, numpy's BLAS pool runs on one thread (:class:`qseq.runtime.BlasPin`):
the per-bar products are too small to share, and on a busy host waking a second BLAS thread
made an update hundreds of times slower (bench/bench_shared_host.py). ``close()``, leaving
``with forecaster.stream(...)`` or dropping the last reference gives the pin back once no
other stream is open.

Bidirectional and attention models cannot stream: a new bar changes every backward state, and
attention re-weights every encoder state of the window.
"""

from __future__ import annotations

import json
import math
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from qseq._io import atomic_write_text, atomic_write_with
from qseq.data.calendar_features import future_inputs
from qseq.data.features import (
    CROSS_SECTIONAL_FEATURES,
    NEWS_FEATURES,
    VARIANCE_FLOOR,
    parse_feature,
)
from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.models import get_spec
from qseq.runtime import BlasPin
from qseq.stream_kernel import Kernel

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
        panel_wide = [n for n, (base, _) in zip(names, self.parsed, strict=True)
                      if base in CROSS_SECTIONAL_FEATURES]
        if panel_wide:
            raise ConfigError(f"features {panel_wide} read every ticker of the panel on each date; "
                              "a per-ticker stream cannot compute them (use predict on the panel)")
        news = [n for n, (base, _) in zip(names, self.parsed, strict=True) if base in NEWS_FEATURES]
        if news:
            raise ConfigError(f"features {news} read the daily sentiment table; a bar stream has "
                              "no headlines (use predict on the panel with sentiment=)")
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
        if base == "log_parkinson_var":
            return f"pkv_{window}"
        if base == "log_garman_klass_var":
            return f"gkv_{window}"
        return None

    def update(self, o: float, h: float, lo: float, c: float, v: float) -> list[float] | None:
        logvol = math.log1p(v) if v == v else math.nan
        hl = math.log(h / lo) if h == h and lo == lo else math.nan
        for key, buf in self.buffers.items():
            if key.startswith("logvol"):
                buf.append(logvol)
            elif key.startswith("pkv"):
                buf.append(max(hl * hl / (4 * _LN2), VARIANCE_FLOOR))
            elif key.startswith("pk"):
                buf.append(hl * hl / (4 * _LN2))
            else:
                co = math.log(c / o)
                var = 0.5 * hl * hl - (2 * _LN2 - 1) * co * co
                buf.append(max(var, VARIANCE_FLOOR) if key.startswith("gkv") else var)
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
                elif base.startswith("log_"):
                    out.append(math.log(mean))
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
        spec = get_spec(forecaster.config.model)
        if not spec.streams:
            streaming = sorted(n for n, s in _registry().items() if s.streams)
            raise ConfigError(
                f"model {forecaster.config.model!r} cannot stream (bidirectional and attention "
                f"models need the whole window at every bar); streaming models: {streaming}"
            )
        if forecaster.config.highway:
            raise ConfigError("a model with a highway cannot stream yet; use "
                              "predict(panel, last_only=True) or fit with highway=False")
        if forecaster.config.ensemble > 1:
            raise ConfigError(f"an ensemble of {forecaster.config.ensemble} members cannot "
                              "stream yet; use predict(panel, last_only=True) or fit with "
                              "ensemble=1")
        if ticker not in forecaster.tickers_:
            raise DataError(f"ticker {ticker!r} was not seen in training "
                            f"(known: {list(forecaster.tickers_)})")
        self.forecaster, self.ticker, self.mode = forecaster, ticker, mode
        self.lookback = forecaster.config.lookback
        columns = self.lookback if mode == "window" else 1
        self.kernel = Kernel(forecaster, forecaster.tickers_.index(ticker), columns)
        self.features = IncrementalFeatures(forecaster.config.features)
        self.future_features = forecaster.config.future_features
        self._future_table: tuple[Any, np.ndarray] = (np.datetime64("1970-01-01"), np.empty(0))
        self.count = 0  # feature rows consumed
        self._date: Any = None
        self._release = weakref.finalize(self, BlasPin().close)  # one BLAS thread while open

    def close(self) -> None:
        """Give back the stream's BLAS pin (numpy's BLAS pool gets its thread count back when
        no other stream is open). The stream still updates afterwards, on the host's BLAS
        threads."""
        self._release()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def last_date(self) -> str | None:
        """Date of the last bar seen (as given), or None."""
        return None if self._date is None else str(self._date)

    def update(self, bar: Mapping[str, Any] | Any) -> np.ndarray | None:
        """Consume one bar (open, high, low, close, volume; date optional) and return the forecast
        made at it, [H] (quantile models: [H, Q]) in target units, or None while warming up."""
        values = _bar_values(bar)
        date = bar.get("date") if isinstance(bar, Mapping) else getattr(bar, "date", None)
        future = self._future(date) if self.future_features else None
        row = self.features.update(*values)
        self._date = date
        if row is None:
            return None
        kernel = self.kernel
        if self.mode == "stateful":
            kernel.step(row)
            self.count += 1
            return self.forecaster._target_units(kernel.forecast(0, future)[None])[0]
        slot = self.count % self.lookback
        kernel.reset(slot)  # the window starting at this bar starts from a zero state
        kernel.step(row)
        self.count += 1
        if self.count < self.lookback:
            return None
        # the column that has read lookback bars
        return self.forecaster._target_units(
            kernel.forecast(self.count % self.lookback, future)[None])[0]

    def _future(self, date: Any) -> np.ndarray:
        """[H, C] calendar inputs of the forecast dates after bar date ``date``."""
        if date is None:
            raise DataError("this model takes calendar inputs of the forecast dates; give every "
                            "bar a date")
        try:
            day = np.datetime64(pd.Timestamp(date).date(), "D")
        except (TypeError, ValueError):
            raise DataError(f"bar date {date!r} is not a date") from None
        start, table = self._future_table
        i = int((day - start) // np.timedelta64(1, "D"))
        if not 0 <= i < len(table):  # build a year of days at once: per-bar cost is a lookup
            start = day - np.timedelta64(7, "D")
            days = start + np.arange(400)
            table = future_inputs(days, self.forecaster.config.horizons, self.future_features)
            self._future_table, i = (start, table), 7
        return table[i]

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
                "lstm": len(parts) == 2, "model": self.forecaster.config.model, "lookback": self.lookback}
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
        if meta.get("model") != forecaster.config.model or meta.get("lookback") != forecaster.config.lookback:
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
