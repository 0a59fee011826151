"""Resumable training state: everything needed to continue an interrupted ``fit`` exactly.

``state.safetensors`` holds tensors (current and best weights, optimizer moments, RNG states);
``state.json`` holds the rest (epoch, early-stopping counters, history, scheduler state, a
fingerprint of the run it belongs to). Both are written atomically after every epoch; nothing
is pickled. A state whose fingerprint differs from the current run is ignored, not loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from qseq._io import atomic_write_text, atomic_write_with
from qseq.errors import CheckpointError

TENSORS = "state.safetensors"
META = "state.json"


@dataclass
class TrainState:
    epoch: int
    model: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    torch_rng: torch.Tensor
    shuffle_rng: torch.Tensor
    meta: dict[str, Any]  # best score, counters, history, fingerprint


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _json_restore(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _json_restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_restore(v) for v in value]
    return value


def save_state(directory: Path, state: TrainState) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in state.model.items():
        tensors[f"model.{k}"] = v
    for k, v in (state.best or {}).items():
        tensors[f"best.{k}"] = v
    opt_state: dict[str, dict[str, Any]] = {}
    for idx, slots in state.optimizer["state"].items():
        opt_state[str(idx)] = {}
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{idx}.{name}"] = value
            else:
                opt_state[str(idx)][name] = value
    tensors["rng.torch"] = state.torch_rng
    tensors["rng.shuffle"] = state.shuffle_rng
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {
        "epoch": state.epoch,
        "has_best": state.best is not None,
        "optimizer": {"param_groups": state.optimizer["param_groups"], "scalars": opt_state},
        "scheduler": state.scheduler,
        **state.meta,
    }
    # Tensors first: a state.json always points at complete tensors of the same epoch or later.
    atomic_write_with(directory / TENSORS, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write_text(directory / META, json.dumps(_json_safe(meta), indent=1))


def load_state(directory: Path, fingerprint: str) -> TrainState | None:
    """The saved state of the run with ``fingerprint``, or None if there is none."""
    if not (directory / META).is_file() or not (directory / TENSORS).is_file():
        return None
    try:
        meta = _json_restore(json.loads((directory / META).read_text(encoding="utf-8")))
        tensors = load_file(str(directory / TENSORS))
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"training state in {directory} is unreadable ({exc}); "
                              "delete that folder to start training afresh") from None
    if meta.get("fingerprint") != fingerprint:
        return None
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} if meta["has_best"] else None
    opt_state: dict[int, dict[str, Any]] = {}
    for idx, scalars in meta["optimizer"]["scalars"].items():
        opt_state[int(idx)] = dict(scalars)
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    optimizer = {"state": opt_state, "param_groups": meta["optimizer"]["param_groups"]}
    rest = {k: v for k, v in meta.items() if k not in ("epoch", "has_best", "optimizer", "scheduler")}
    return TrainState(epoch=meta["epoch"], model=model, best=best, optimizer=optimizer,
                      scheduler=meta["scheduler"], torch_rng=tensors["rng.torch"],
                      shuffle_rng=tensors["rng.shuffle"], meta=rest)
