"""Checkpoints: ``model.safetensors`` (tensors only) + ``config.json`` (everything else).

Never unpickles anything. Both files are written atomically; ``config.json`` records the
sha256 of the weights it belongs to, so a half-written pair is detected on load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from qseq._io import atomic_write_text, atomic_write_with
from qseq.errors import CheckpointError, ConfigError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "qseq-checkpoint"
FORMAT_VERSION = 1
T = TypeVar("T")


def settings_key(settings: dict[str, Any]) -> str:
    """16 hex digits naming one fit: sha256 of ``settings`` (data fingerprint, spec, training
    options) as canonical JSON. Same data and settings, same key, so a saved fit is reused."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


INPUT_FILE_FIELDS = ("init_embeddings", "sentiment")


def input_files(config: Any) -> dict[str, str]:
    """sha256 of each file a config reads besides the panel (its ``init_embeddings`` and
    ``sentiment`` fields, where set), by field: a reuse key that holds it changes when the file
    does, so an edited sentiment table or vectors file is never served from a stale fit."""
    out = {}
    for name in INPUT_FILE_FIELDS:
        path = getattr(config, name, None)
        if path:
            out[name] = (hashlib.sha256(Path(path).read_bytes()).hexdigest()
                         if Path(path).is_file() else "missing")
    return out


def load_saved(path: Path, load: Callable[[Path], T], refit: bool) -> tuple[T | None, str | None]:
    """The fit saved at ``path``, unless ``refit`` is set or there is none: ``(load(path), None)``;
    ``(None, reason)`` when a checkpoint is there but unusable; ``(None, None)`` otherwise."""
    if refit or not path.is_dir():
        return None, None
    try:
        return load(path), None
    except CheckpointError as exc:
        return None, str(exc)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(directory: str | Path, model: nn.Module, config: dict[str, Any]) -> Path:
    """Write weights then config into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_with(directory / WEIGHTS, lambda tmp: save_file(state, str(tmp)))
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **config,
               "weights_sha256": _sha256(directory / WEIGHTS)}
    atomic_write_text(directory / CONFIG, json.dumps(payload, indent=2, sort_keys=True))
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a qseq checkpoint ({CONFIG} missing)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); re-train or restore it") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a qseq checkpoint config")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {config.get('format_version')}, this qseq reads "
            f"{FORMAT_VERSION}; re-train with this version"
        )
    return config


@contextmanager
def config_fields(directory: str | Path, retrain: str) -> Iterator[None]:
    """Rebuild an object from a checkpoint's config.json inside this block: a missing or
    mangled field, or a value the constructor rejects, becomes one CheckpointError line naming
    the file and telling the user to ``retrain`` (e.g. "re-train the model")."""
    try:
        yield
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{directory}/config.json lacks or mangles {exc}; {retrain}") from None
    except ConfigError as exc:
        raise CheckpointError(f"{directory}/config.json: {exc}") from None


def load_weights(directory: str | Path, model: nn.Module, config: dict[str, Any]) -> nn.Module:
    """Load weights strictly into ``model`` after checking they match ``config``."""
    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{Path(directory)} has no {WEIGHTS}; the checkpoint is incomplete")
    if _sha256(path) != config.get("weights_sha256"):
        raise CheckpointError(
            f"{path} does not match its {CONFIG} (checksum differs); the checkpoint is corrupt "
            "or was half-written: re-train or restore it"
        )
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{path} does not fit the model in {CONFIG}: {first}") from None
    return model

