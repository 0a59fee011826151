"""The one registry mapping model names to constructors. The CLI choices, ``qseq models``
and the parametrized model tests all read it.

The registry is a catalogue that imports no torch: each :class:`ModelSpec` names its class as
``"module:Class"`` plus the fixed constructor keywords (``cell="gru"``, ``bidirectional=True``),
and :func:`build_model` imports the class only when a model is built. Listing models, reading
their capabilities and counting their parameters (:meth:`ModelSpec.parameter_count`) stay cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qseq.errors import ConfigError
from qseq.models.config import ModelConfig
from qseq.models.sizes import PARAMETER_COUNTS

if TYPE_CHECKING:
    from torch import nn

# forecast: forward -> y_hat [B, H(, Q | C)]; autoencoder: forward -> reconstruction x_hat [B, T, F];
# order_book: a forecaster that reads the order-book layout (ModelConfig.book_levels), so it
# takes order-book windows only (every forecaster takes them: their inputs are generic)
KINDS = ("forecast", "autoencoder", "order_book")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    name:              registry key (``qseq forecast --model NAME``)
    model:             the class, as ``"module:Class"``; imported by :meth:`build` only
    description:       one line for ``qseq models``
    options:           fixed constructor keywords, ``Class(config, **options)``
    streams:           can advance bar by bar (the numpy kernel of :mod:`qseq.stream_kernel`)
    attention:         returns temporal attention weights [B, H, T]
    feature_attention: also returns input (feature) attention weights [B, T, F]
    future_inputs:     a decoder that takes known-future inputs [B, H, C]
    kind:              one of :data:`KINDS`
    """

    name: str
    model: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    streams: bool = False
    attention: bool = False
    feature_attention: bool = False
    future_inputs: bool = False
    kind: str = "forecast"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown model kind {self.kind!r}; choose one of {list(KINDS)}")
        module, _, cls = self.model.partition(":")
        if not module or not cls:
            raise ConfigError(f"model {self.name!r}: expected the class as 'module:Class', "
                              f"got {self.model!r}")
        object.__setattr__(self, "options", dict(self.options))  # a copy: the caller keeps theirs

    def model_class(self) -> type[nn.Module]:
        """Import and return the model class (this is where torch gets loaded)."""
        module, _, cls = self.model.partition(":")
        return getattr(importlib.import_module(module), cls)

    def build(self, config: ModelConfig) -> nn.Module:
        return self.model_class()(config, **self.options)

    def parameter_count(self, config: ModelConfig) -> int:
        """Trainable parameters of ``build(config)``, from the formulas in
        :mod:`qseq.models.sizes` (no torch); a class without a formula is built and counted."""
        count = PARAMETER_COUNTS.get(self.model)
        if count is None:
            return sum(p.numel() for p in self.build(config).parameters())
        return count(config, **self.options)


MODELS: dict[str, ModelSpec] = {}  # forecasters (what ``qseq forecast`` and its tests run)
AUTOENCODERS: dict[str, ModelSpec] = {}  # reconstruction models (``qseq anomaly``)
ORDER_BOOK_MODELS: dict[str, ModelSpec] = {}  # forecasters of order-book windows only
_BY_KIND = {"forecast": MODELS, "autoencoder": AUTOENCODERS, "order_book": ORDER_BOOK_MODELS}


def register(spec: ModelSpec) -> None:
    if any(spec.name in specs for specs in _BY_KIND.values()):
        raise ConfigError(f"model {spec.name!r} is already registered")
    _BY_KIND[spec.kind][spec.name] = spec


def list_models(kind: str | None = "forecast") -> list[str]:
    """Registered model names of one ``kind`` (forecasters by default; None: every model)."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {list(KINDS)}")
    return sorted(name for k, specs in _BY_KIND.items() if kind in (None, k) for name in specs)


def order_book_models() -> list[str]:
    """Models that take order-book windows: every forecaster and the order-book-only ones."""
    return sorted([*MODELS, *ORDER_BOOK_MODELS])


def get_spec(name: str, kind: str | None = "forecast") -> ModelSpec:
    """The spec of model ``name``, which must be of ``kind`` (None: any kind)."""
    for k, specs in _BY_KIND.items():
        if name in specs and kind in (None, k):
            return specs[name]
        if name in specs:
            raise ConfigError(f"model {name!r} is of kind {k!r}, not {kind!r}; choose one of "
                              f"{list_models(kind)}")
    what = "model" if kind in (None, "forecast") else f"{kind} model"
    raise ConfigError(f"unknown {what} {name!r}; choose one of {list_models(kind)}")


def build_model(name: str, config: ModelConfig, kind: str | None = "forecast") -> nn.Module:
    return get_spec(name, kind).build(config)


RECURRENT = "qseq.models.recurrent:RecurrentForecaster"  # the family the highway applies to
_SEQ2SEQ = "qseq.models.seq2seq:Seq2SeqForecaster"
_DA_RNN = "qseq.models.seq2seq:DualStageAttentionForecaster"
_AUTOENCODER = "qseq.models.autoencoder:RecurrentAutoencoder"

for _cell, _desc in (("rnn", "vanilla (tanh) RNN"), ("lstm", "LSTM"), ("gru", "GRU"),
                     ("lstm_peephole", "LSTM with peephole connections")):
    register(ModelSpec(_cell, RECURRENT, f"{_desc} encoder + linear multi-horizon head",
                       {"cell": _cell}, streams=True))
for _cell, _desc in (("rnn", "vanilla RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    register(ModelSpec(f"bi{_cell}", RECURRENT,
                       f"bidirectional {_desc} encoder + linear multi-horizon head",
                       {"cell": _cell, "bidirectional": True}))
register(ModelSpec("seq2seq", _SEQ2SEQ,
                   "GRU encoder-decoder, autoregressive decoder (teacher forcing / scheduled "
                   "sampling)", {"cell": "gru"}, streams=True, future_inputs=True))
register(ModelSpec("lstm_seq2seq", _SEQ2SEQ, "LSTM encoder-decoder, autoregressive decoder",
                   {"cell": "lstm"}, streams=True, future_inputs=True))
register(ModelSpec("attn_seq2seq", _SEQ2SEQ, "GRU encoder-decoder with Bahdanau (additive) attention",
                   {"cell": "gru", "attention": "bahdanau"}, attention=True, future_inputs=True))
register(ModelSpec("luong_seq2seq", _SEQ2SEQ,
                   "GRU encoder-decoder with Luong attention (ModelConfig.attention: dot, "
                   "general, concat)", {"cell": "gru", "attention": "luong"}, attention=True,
                   future_inputs=True))
register(ModelSpec("da_rnn", _DA_RNN,
                   "dual-stage attention RNN: input (feature) attention encoder + temporal "
                   "attention decoder", {"cell": "lstm"}, attention=True, feature_attention=True,
                   future_inputs=True))
register(ModelSpec("deeplob", "qseq.models.deeplob:DeepLOB",
                   "compact DeepLOB: order-book convolutions, inception module, LSTM "
                   "(Zhang, Zohren and Roberts 2019)", kind="order_book"))
for _cell, _desc in (("lstm", "LSTM"), ("gru", "GRU")):
    register(ModelSpec(f"{_cell}_ae", _AUTOENCODER,
                       f"{_desc} encoder-decoder reconstructing its input window",
                       {"cell": _cell}, kind="autoencoder"))
    register(ModelSpec(f"attn_{_cell}_ae", _AUTOENCODER,
                       f"{_desc} encoder-decoder autoencoder with Bahdanau attention in the decoder",
                       {"cell": _cell, "attention": True}, attention=True, kind="autoencoder"))
    register(ModelSpec(f"masked_{_cell}_ae", _AUTOENCODER,
                       f"{_desc} encoder-decoder reconstructing its window with the last bar's "
                       "inputs masked (the last bar is predicted)",
                       {"cell": _cell, "mask_last": True}, kind="autoencoder"))
