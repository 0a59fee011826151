"""The one registry mapping model names to constructors. The CLI choices, ``qseq models``
and the parametrized model tests all read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from qseq.errors import ConfigError
from qseq.models.autoencoder import RecurrentAutoencoder
from qseq.models.base import ModelConfig
from qseq.models.recurrent import RecurrentForecaster
from qseq.models.seq2seq import DualStageAttentionForecaster, Seq2SeqForecaster

# forecast: forward -> y_hat [B, H(, Q)]; autoencoder: forward -> reconstruction x_hat [B, T, F]
KINDS = ("forecast", "autoencoder")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[ModelConfig], nn.Module]
    description: str
    streams: bool = False
    attention: bool = False
    feature_attention: bool = False
    future_inputs: bool = False  # a decoder that takes known-future inputs [B, H, C]
    kind: str = "forecast"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown model kind {self.kind!r}; choose one of {list(KINDS)}")


MODELS: dict[str, ModelSpec] = {}  # forecasters (what ``qseq forecast`` and its tests run)
AUTOENCODERS: dict[str, ModelSpec] = {}  # reconstruction models (``qseq anomaly``)
_BY_KIND = {"forecast": MODELS, "autoencoder": AUTOENCODERS}


def register(spec: ModelSpec) -> None:
    if any(spec.name in specs for specs in _BY_KIND.values()):
        raise ConfigError(f"model {spec.name!r} is already registered")
    _BY_KIND[spec.kind][spec.name] = spec


def list_models(kind: str | None = "forecast") -> list[str]:
    """Registered model names of one ``kind`` (forecasters by default; None: every model)."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {list(KINDS)}")
    return sorted(name for k, specs in _BY_KIND.items() if kind in (None, k) for name in specs)


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


for _cell, _desc in (("rnn", "vanilla (tanh) RNN"), ("lstm", "LSTM"), ("gru", "GRU"),
                     ("lstm_peephole", "LSTM with peephole connections")):
    register(ModelSpec(_cell, partial(RecurrentForecaster, cell=_cell),
                       f"{_desc} encoder + linear multi-horizon head", streams=True))
for _cell, _desc in (("rnn", "vanilla RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    register(ModelSpec(f"bi{_cell}", partial(RecurrentForecaster, cell=_cell, bidirectional=True),
                       f"bidirectional {_desc} encoder + linear multi-horizon head"))
register(ModelSpec("seq2seq", partial(Seq2SeqForecaster, cell="gru"),
                   "GRU encoder-decoder, autoregressive decoder (teacher forcing / scheduled "
                   "sampling)", streams=True, future_inputs=True))
register(ModelSpec("lstm_seq2seq", partial(Seq2SeqForecaster, cell="lstm"),
                   "LSTM encoder-decoder, autoregressive decoder", streams=True,
                   future_inputs=True))
register(ModelSpec("attn_seq2seq", partial(Seq2SeqForecaster, cell="gru", attention="bahdanau"),
                   "GRU encoder-decoder with Bahdanau (additive) attention", attention=True,
                   future_inputs=True))
register(ModelSpec("luong_seq2seq", partial(Seq2SeqForecaster, cell="gru", attention="luong"),
                   "GRU encoder-decoder with Luong attention (ModelConfig.attention: dot, "
                   "general, concat)", attention=True, future_inputs=True))
register(ModelSpec("da_rnn", partial(DualStageAttentionForecaster, cell="lstm"),
                   "dual-stage attention RNN: input (feature) attention encoder + temporal "
                   "attention decoder", attention=True, feature_attention=True,
                   future_inputs=True))
for _cell, _desc in (("lstm", "LSTM"), ("gru", "GRU")):
    register(ModelSpec(f"{_cell}_ae", partial(RecurrentAutoencoder, cell=_cell),
                       f"{_desc} encoder-decoder reconstructing its input window",
                       kind="autoencoder"))
    register(ModelSpec(f"attn_{_cell}_ae", partial(RecurrentAutoencoder, cell=_cell, attention=True),
                       f"{_desc} encoder-decoder autoencoder with Bahdanau attention in the decoder",
                       attention=True, kind="autoencoder"))
