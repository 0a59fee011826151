"""Replay a fitted order-book model event by event: ``stream = LobStream(forecaster)``, then
``stream.update(time, ask_price, ask_size, bid_price, bid_size)`` gives the forecast made at
that event (class probabilities [K, 3] or mid log returns [K]) without rebuilding the window.

Per event the stream updates the model-input row in O(1) (:class:`IncrementalBookFeatures`: the
numbers :func:`qseq.lob.features.feature_matrix` gives for that row, order-flow imbalance,
forward fill and clock sampling included), scales it with the training scaler, and advances
the model. Two modes, as for the daily streams of :mod:`qseq.stream`:

- ``recurrent`` (default for models whose registry spec ``streams``: rnn, lstm, gru,
  lstm_peephole, seq2seq, lstm_seq2seq): one recurrent state carried across every sample since
  the stream started, advanced by the numpy kernel of :mod:`qseq.stream_kernel`: O(1) work per
  sample. Its forecasts equal running the model over every sample since the first complete
  row (an expanding window), not over the fixed ``lookback`` it was trained on; a fading-memory
  model stays close to the window forecasts.
- ``window``: forecasts equal :meth:`LobForecaster.predict` on the same rows (the last
  ``lookback`` samples). Streaming models keep a bank of ``lookback`` staggered numpy states (a
  [lookback]-wide product per layer and sample, independent of how many events were seen);
  the other models (bidirectional, attention, deeplob) re-run the last ``lookback`` rows through
  the torch model (``engine == "torch"``). The only mode those models have.

``replay(forecaster, book)`` drives a stream over a book and times every update.
"""

from __future__ import annotations

import math
import time as _time
import weakref
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from qseq.errors import ConfigError, DataError
from qseq.lob.book import Book
from qseq.lob.labels import probabilities
from qseq.lob.stream_features import IncrementalBookFeatures

if TYPE_CHECKING:
    from qseq.lob.model import LobForecaster

MODES = ("recurrent", "window")
ENGINES = ("kernel", "torch")
CLASS_COLUMNS = ("p_down", "p_stationary", "p_up")


class Sample(NamedTuple):
    """One sample a stream completed: its time (seconds; the grid time for clock sampling),
    the source event (0-based count of events fed), and the forecast (None while warming up)."""

    time: float
    event: int
    output: np.ndarray | None


# -- the model, one row at a time -------------------------------------------------------------
class _KernelModel:
    """What :class:`qseq.stream_kernel.Kernel` reads from a forecaster, for one member model:
    rows arrive already scaled (identity input scaling) and outputs stay raw (identity target
    scaling: logits or scaled returns)."""

    def __init__(self, model: Any, n_inputs: int, n_outputs: int) -> None:
        import torch

        self.model_ = model
        self.config = SimpleNamespace(features=tuple(range(n_inputs)))
        self._scaling = (torch.zeros(n_inputs), torch.ones(n_inputs), torch.zeros(n_outputs),
                         torch.ones(n_outputs))

    def _scaler_tensors(self) -> tuple[Any, ...]:
        return self._scaling


class _KernelEngine:
    """Streaming models (ensemble members each) as numpy kernels with ``columns`` states."""

    engine = "kernel"

    def __init__(self, forecaster: LobForecaster, columns: int) -> None:
        from qseq.models.seq2seq import Seq2SeqForecaster
        from qseq.stream_kernel import Kernel

        model = forecaster.model_
        self.members = list(getattr(model, "members", [model]))
        mc = forecaster.model_config_
        self.horizons, self.classes = mc.horizons, mc.classes
        n_out = mc.horizons * max(mc.classes, 1)
        self.kernels = [Kernel(_KernelModel(m, mc.input_size, n_out), 0, columns)
                        for m in self.members]
        # a classifier's decoder feeds back its expected class; where the kernel only feeds
        # back point forecasts (no ``classes`` attribute), the decoder runs in torch from the
        # kernel's encoder state (exact, but H torch cell calls per forecast)
        self.torch_decoder = [isinstance(m, Seq2SeqForecaster) and bool(mc.classes)
                              and not hasattr(k, "classes")
                              for m, k in zip(self.members, self.kernels, strict=True)]

    def reset(self, column: int) -> None:
        for kernel in self.kernels:
            kernel.reset(column)

    def step(self, row: np.ndarray) -> None:
        """Advance every state by one scaled row [F]."""
        for kernel in self.kernels:
            kernel.step(row)

    def raw(self, column: int) -> np.ndarray:
        """Raw outputs of state ``column``: logits [K, 3] or scaled returns [K]."""
        outs = [self._decode(m, k, column) if torch_dec else k.forecast(column)
                for m, k, torch_dec in zip(self.members, self.kernels, self.torch_decoder,
                                           strict=True)]
        out = outs[0] if len(outs) == 1 else np.mean(outs, axis=0)
        return out.reshape(self.horizons, self.classes) if self.classes else out

    @staticmethod
    def _decode(member: Any, kernel: Any, column: int) -> np.ndarray:
        import torch

        top = kernel.layers[-1]
        h = torch.from_numpy(top.h[:, column].copy())[None]  # [1, hidden]
        state = (h, torch.from_numpy(top.c[:, column].copy())[None]) if member.decoder.lstm else h
        with torch.inference_mode():
            y_hat, _ = member.decoder(state, None, None, 0.0, None)  # [1, K, C]
        return y_hat[0].numpy()

    def nbytes(self) -> int:
        return sum(a.nbytes for k in self.kernels for layer in k.layers
                   for a in (layer.buf, layer.gates, layer.tmp, layer.c) if a is not None)


class _TorchEngine:
    """Any model: the last ``lookback`` scaled rows in a ring, re-run through torch."""

    engine = "torch"

    def __init__(self, forecaster: LobForecaster) -> None:
        import torch

        self.model = forecaster.model_
        self.device = next(self.model.parameters()).device
        self.lookback = forecaster.config.lookback
        width = forecaster.model_config_.input_size
        self.ring = np.zeros((2 * self.lookback, width), np.float32)  # each row written twice
        self.pos = 0
        self._torch = torch

    def push(self, row: np.ndarray) -> None:
        self.ring[self.pos] = self.ring[self.pos + self.lookback] = row
        self.pos = (self.pos + 1) % self.lookback

    def raw(self) -> np.ndarray:
        """Raw outputs of the last ``lookback`` rows: logits [K, 3] or scaled returns [K]."""
        torch = self._torch
        x = torch.from_numpy(self.ring[self.pos:self.pos + self.lookback][None]).to(self.device)
        with torch.inference_mode():
            return self.model(x).y_hat[0].float().cpu().numpy()

    def nbytes(self) -> int:
        return self.ring.nbytes


class LobStream:
    """A fitted :class:`~qseq.lob.model.LobForecaster` fed one book event at a time.

    mode: ``"recurrent"`` (O(1) carried state; models whose spec ``streams``) or ``"window"``
    (equal to :meth:`LobForecaster.predict`); None picks ``recurrent`` where the model streams
    and ``window`` otherwise. engine: what runs the model, ``"kernel"`` (numpy; streaming
    models) or ``"torch"`` (re-runs the last ``lookback`` rows; window mode); None picks the
    kernel where the model streams. See :mod:`qseq.lob.stream`.

    While the stream is open numpy's BLAS pool runs on one thread (as :class:`qseq.stream.
    Stream`); ``close()`` or leaving ``with`` gives it back.
    """

    def __init__(self, forecaster: LobForecaster, mode: str | None = None, *,
                 engine: str | None = None) -> None:
        from qseq.models import get_spec
        from qseq.runtime import BlasPin

        forecaster._check_fitted()
        cfg = forecaster.config
        streams = get_spec(cfg.model, kind=None).streams
        mode = mode if mode is not None else ("recurrent" if streams else "window")
        if mode not in MODES:
            raise ConfigError(f"unknown stream mode {mode!r}; choose one of {list(MODES)}")
        if mode == "recurrent" and not streams:
            from qseq.models import MODELS

            can = sorted(n for n, s in MODELS.items() if s.streams)
            raise ConfigError(f"model {cfg.model!r} cannot carry a recurrent state (it needs the "
                              f"whole window at every sample); use mode 'window' or one of {can}")
        engine = engine if engine is not None else ("kernel" if streams else "torch")
        if engine not in ENGINES:
            raise ConfigError(f"unknown stream engine {engine!r}; choose one of {list(ENGINES)}")
        if (engine, mode) == ("torch", "recurrent") or (engine == "kernel" and not streams):
            raise ConfigError(f"engine {engine!r} cannot run mode {mode!r} for model "
                              f"{cfg.model!r}; the torch engine re-runs windows, the kernel "
                              "runs streaming models only")
        self.forecaster, self.mode, self.lookback = forecaster, mode, cfg.lookback
        self.direction = cfg.target == "direction"
        self.features = IncrementalBookFeatures(cfg.features, cfg.levels, cfg.prices, cfg.sampling)
        if self.features.names != tuple(forecaster.feature_names_):
            raise DataError(f"the stream builds columns {list(self.features.names)} but the model "
                            f"was trained on {list(forecaster.feature_names_)}; re-train it")
        self.mean = np.asarray(forecaster.scaler_.mean_, np.float64)
        self.std = np.asarray(forecaster.scaler_.std_, np.float64)
        if engine == "torch":
            self.model: _KernelEngine | _TorchEngine = _TorchEngine(forecaster)
        else:
            self.model = _KernelEngine(forecaster, 1 if mode == "recurrent" else cfg.lookback)
        self.engine = self.model.engine
        self.count = 0  # consecutive finite rows (window) or rows fed (recurrent)
        self._release = weakref.finalize(self, BlasPin().close)

    def describe(self) -> str:
        """One line: mode and what runs the model."""
        if self.mode == "recurrent":
            return "recurrent: one carried state, numpy kernel, O(1) per sample"
        if self.engine == "kernel":
            return f"window: {self.lookback} staggered numpy states (equals predict)"
        return f"window: the last {self.lookback} samples re-run through torch (equals predict)"

    def close(self) -> None:
        """Give back the BLAS pin; the stream still updates afterwards."""
        self._release()

    def __enter__(self) -> LobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget every event and state (a new session)."""
        self.features.reset()
        self.count = 0
        if isinstance(self.model, _KernelEngine):
            for column in range(self.model.kernels[0].layers[0].h.shape[1]):
                self.model.reset(column)

    def nbytes(self) -> int:
        """Bytes of state held: features and model; independent of the events seen."""
        return self.features.nbytes() + self.model.nbytes()

    # -- updates ---------------------------------------------------------------------------
    def step(self, time: float, ask_price: Any, ask_size: Any, bid_price: Any, bid_size: Any
             ) -> list[Sample]:
        """Feed one event (time in seconds; per level, best first: prices in dollars, NaN for
        an empty level, sizes in shares) and return every sample it completed with its
        forecast: one with event sampling; zero or more with clock sampling."""
        return [self._forecast(*s) for s in self.features.event(time, ask_price, ask_size,
                                                                bid_price, bid_size)]

    def update(self, time: float, ask_price: Any, ask_size: Any, bid_price: Any, bid_size: Any
               ) -> np.ndarray | None:
        """Feed one event; the forecast at the newest sample it completed: class probabilities
        [K, 3] (down, stationary, up) or mid log returns [K]; None while warming up or when
        the event closed no clock interval."""
        samples = self.step(time, ask_price, ask_size, bid_price, bid_size)
        return samples[-1].output if samples else None

    def flush(self) -> list[Sample]:
        """At the end of a replay with clock sampling: the grid times not yet emitted."""
        return [self._forecast(*s) for s in self.features.flush()]

    def _forecast(self, time: float, event: int, row: np.ndarray) -> Sample:
        if not np.isfinite(row).all():  # leading rows before every column has a value
            self.count = 0
            return Sample(time, event, None)
        scaled = ((row - self.mean) / self.std).astype(np.float32)  # StandardScaler.transform
        model = self.model
        if isinstance(model, _TorchEngine):
            model.push(scaled)
            self.count += 1
            raw = model.raw() if self.count >= self.lookback else None
        elif self.mode == "recurrent":
            model.step(scaled)
            self.count += 1
            raw = model.raw(0)
        else:  # the bank: the column started lookback rows ago gives the forecast
            model.reset(self.count % self.lookback)
            model.step(scaled)
            self.count += 1
            raw = model.raw(self.count % self.lookback) if self.count >= self.lookback else None
        return Sample(time, event, None if raw is None else self._finish(raw))

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        if self.direction:
            return probabilities(raw)
        return self.forecaster.target_scaler_.inverse(raw[None])[0]


# -- replay -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    """Per-event update latency of a replay (``perf_counter_ns`` around each ``step``).

    mode, engine, how: the stream's mode, what ran the model, and one line saying so;
    events: events fed; samples: samples completed; forecasts: samples with a forecast;
    ``*_us``: microseconds per event; events_per_s: events / summed update time.
    """

    mode: str
    engine: str
    how: str
    events: int
    samples: int
    forecasts: int
    median_us: float
    p90_us: float
    p99_us: float
    max_us: float
    mean_us: float
    events_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_stats(ns: np.ndarray, *, mode: str, engine: str, how: str, samples: int,
                  forecasts: int) -> Latency:
    """Summary of per-event update times ``ns`` [E] (nanoseconds)."""
    us = np.asarray(ns, dtype=np.float64) / 1e3
    if not len(us):
        raise DataError("no events were replayed; give a book with at least one event")
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    total = us.sum() / 1e6
    return Latency(mode, engine, how, len(us), samples, forecasts, float(p50), float(p90), float(p99),
                   float(us.max()), float(us.mean()), len(us) / total if total > 0 else math.inf)


def replay(forecaster: LobForecaster, book: Book, *, mode: str | None = None,
           engine: str | None = None, events: int | None = None
           ) -> tuple[pd.DataFrame, Latency]:
    """Stream the first ``events`` events of ``book`` (all when None) through a new
    :class:`LobStream` (``mode``, ``engine``) and time each update.

    Returns (forecasts, latency): one row per forecast sample and horizon k with ``time``
    (seconds), ``event`` (source event index), ``k``, then ``p_down``, ``p_stationary``,
    ``p_up`` and ``label`` (0 down, 1 stationary, 2 up) for direction models or ``y_hat``
    (mid log return) for return models; and the :class:`Latency` of the updates.
    """
    cfg = forecaster.config
    if book.levels < cfg.levels:
        raise DataError(f"{book.source or 'the book'} has {book.levels} levels but the model "
                        f"reads {cfg.levels}; stream a book with at least {cfg.levels} levels")
    if events is not None and (isinstance(events, bool) or events < 1):
        raise ConfigError(f"events must be a count >= 1 (or None: all), got {events!r}")
    n = len(book) if events is None else min(events, len(book))
    with LobStream(forecaster, mode, engine=engine) as stream:
        t, ap, asz, bp, bsz = book.time, book.ask_price, book.ask_size, book.bid_price, book.bid_size
        ns = np.empty(n, np.int64)
        samples: list[Sample] = []
        clock = _time.perf_counter_ns
        for i in range(n):
            start = clock()
            out = stream.step(t[i], ap[i], asz[i], bp[i], bsz[i])
            ns[i] = clock() - start
            samples += out
        samples += stream.flush()
        used = {"mode": stream.mode, "engine": stream.engine, "how": stream.describe()}
    done = [s for s in samples if s.output is not None]
    stats = latency_stats(ns, **used, samples=len(samples), forecasts=len(done))
    return forecast_frame(done, cfg.horizons, cfg.target == "direction"), stats


def forecast_frame(samples: list[Sample], horizons: tuple[int, ...], direction: bool
                   ) -> pd.DataFrame:
    """Samples with forecasts as a tidy frame (see :func:`replay`)."""
    k = np.asarray(horizons)
    n = len(samples)
    frame: dict[str, Any] = {
        "time": np.repeat(np.array([s.time for s in samples], dtype=np.float64), len(k)),
        "event": np.repeat(np.array([s.event for s in samples], dtype=np.int64), len(k)),
        "k": np.tile(k, n),
    }
    if direction:
        probs = (np.stack([s.output for s in samples]).reshape(-1, 3) if n
                 else np.empty((0, 3), np.float32))
        frame.update(dict(zip(CLASS_COLUMNS, probs.T, strict=True)),
                     label=probs.argmax(axis=1))
    else:
        frame["y_hat"] = (np.stack([s.output for s in samples]).reshape(-1) if n
                          else np.empty(0))
    return pd.DataFrame(frame)

