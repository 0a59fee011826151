"""Model family: one registry (:data:`MODELS`) and the shared model contract."""

from qseq.models.base import ModelConfig, ModelOutput
from qseq.models.registry import MODELS, ModelSpec, build_model, get_spec, list_models, register

__all__ = ["MODELS", "ModelConfig", "ModelOutput", "ModelSpec", "build_model", "get_spec",
           "list_models", "register"]
