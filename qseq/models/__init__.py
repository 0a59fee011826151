"""Model family: one registry (:data:`MODELS`) and the shared model contract.

Importing this package loads no torch: the registry is a catalogue of "module:Class" names and
:class:`ModelConfig` is plain data. :class:`ModelOutput` (a container of tensors) is imported on
first use, and :func:`build_model` imports a model's class when it builds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qseq.models.config import ModelConfig
from qseq.models.registry import (
    AUTOENCODERS,
    KINDS,
    MODELS,
    ORDER_BOOK_MODELS,
    ModelSpec,
    build_model,
    get_spec,
    list_models,
    order_book_models,
    register,
)

if TYPE_CHECKING:
    from qseq.models.base import ModelOutput

__all__ = ["AUTOENCODERS", "KINDS", "MODELS", "ORDER_BOOK_MODELS", "ModelConfig", "ModelOutput",
           "ModelSpec", "build_model", "get_spec", "list_models", "order_book_models", "register"]


def __getattr__(name: str):
    if name == "ModelOutput":  # lives with the torch helpers in base.py
        from qseq.models.base import ModelOutput

        return ModelOutput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
