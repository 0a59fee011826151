"""The one registry mapping model names to constructors. The CLI choices, ``qseq models``
and the parametrized model tests all read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from qseq.errors import ConfigError
from qseq.models.base import ModelConfig
from qseq.models.recurrent import RecurrentForecaster
from qseq.models.seq2seq import DualStageAttentionForecaster, Seq2SeqForecaster


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[ModelConfig], nn.Module]
    description: str
    streams: bool = False
    attention: bool = False
    feature_attention: bool = False


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    if spec.name in MODELS:
        raise ConfigError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec


def list_models() -> list[str]:
    return sorted(MODELS)


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {list_models()}")
    return MODELS[name]


def build_model(name: str, config: ModelConfig) -> nn.Module:
    return get_spec(name).build(config)


for _cell, _desc in (("rnn", "vanilla (tanh) RNN"), ("lstm", "LSTM"), ("gru", "GRU"),
                     ("lstm_peephole", "LSTM with peephole connections")):
    register(ModelSpec(_cell, partial(RecurrentForecaster, cell=_cell),
                       f"{_desc} encoder + linear multi-horizon head", streams=True))
for _cell, _desc in (("rnn", "vanilla RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    register(ModelSpec(f"bi{_cell}", partial(RecurrentForecaster, cell=_cell, bidirectional=True),
                       f"bidirectional {_desc} encoder + linear multi-horizon head"))
register(ModelSpec("seq2seq", partial(Seq2SeqForecaster, cell="gru"),
                   "GRU encoder-decoder, autoregressive decoder (teacher forcing / scheduled "
                   "sampling)", streams=True))
register(ModelSpec("lstm_seq2seq", partial(Seq2SeqForecaster, cell="lstm"),
                   "LSTM encoder-decoder, autoregressive decoder", streams=True))
register(ModelSpec("attn_seq2seq", partial(Seq2SeqForecaster, cell="gru", attention="bahdanau"),
                   "GRU encoder-decoder with Bahdanau (additive) attention", attention=True))
register(ModelSpec("luong_seq2seq", partial(Seq2SeqForecaster, cell="gru", attention="luong"),
                   "GRU encoder-decoder with Luong attention (ModelConfig.attention: dot, "
                   "general, concat)", attention=True))
register(ModelSpec("da_rnn", partial(DualStageAttentionForecaster, cell="lstm"),
                   "dual-stage attention RNN: input (feature) attention encoder + temporal "
                   "attention decoder", attention=True, feature_attention=True))
