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


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[ModelConfig], nn.Module]
    description: str
    streams: bool = False
    attention: bool = False


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


for _cell, _desc in (("rnn", "vanilla (tanh) RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    register(ModelSpec(_cell, partial(RecurrentForecaster, cell=_cell),
                       f"{_desc} encoder + linear multi-horizon head"))
