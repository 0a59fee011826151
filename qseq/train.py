"""The training loop, in plain sight: AdamW, gradient clipping, an LR schedule, early stopping
on validation loss that restores the best weights. Seeded and deterministic on CPU."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qseq.config import TrainConfig, teacher_forcing_probability
from qseq.data.windows import Windows
from qseq.errors import ConfigError, TrainingError
from qseq.runtime import configure_torch_threads
from qseq.train_state import TrainState, load_state, save_state

log = logging.getLogger(__name__)
class PinballLoss(nn.Module):
    """Mean quantile (pinball) loss: y_hat [B, H, Q] against y [B, H]."""

    def __init__(self, quantiles: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("q", torch.tensor(quantiles, dtype=torch.float32))

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        diff = y.unsqueeze(-1) - y_hat  # [B, H, Q]
        return torch.maximum(self.q * diff, (self.q - 1) * diff).mean()


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float
    teacher_forcing: float | None = None


@dataclass
class TrainResult:
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float | None = None
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return {"history": [asdict(h) for h in self.history], "best_epoch": self.best_epoch,
                "best_val_loss": self.best_val_loss, "stopped_early": self.stopped_early}

    @classmethod
    def from_dict(cls, data: dict) -> TrainResult:
        """The summary a checkpoint keeps (its per-epoch history is not restored)."""
        return cls(best_epoch=data["best_epoch"], best_val_loss=data["best_val_loss"],
                   stopped_early=data["stopped_early"])


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available; use auto or cpu")
    return dev


class WindowBatches:
    """Gathers batches of windows from the row tensor with one index op per batch.

    x: [B, lookback, F], y: [B, H], ticker: [B], future: [B, H, C] known-future inputs or None
    """

    def __init__(self, windows: Windows, device: torch.device) -> None:
        self.lookback = windows.lookback
        self.values = torch.as_tensor(windows.values, device=device)  # [R, F]
        self.targets = torch.as_tensor(windows.targets, device=device)  # [R, H]
        self.row_ticker = torch.as_tensor(windows.row_ticker, device=device)  # [R]
        self.anchors = torch.as_tensor(windows.anchors, device=device)  # [N]
        self.offsets = torch.arange(-self.lookback + 1, 1, device=device)  # [L]
        self.future = self.row_day = None
        if windows.future is not None:
            self.future = torch.as_tensor(windows.future, device=device)  # [D, H, C]
            self.row_day = torch.as_tensor(windows.row_day, device=device)  # [R]

    def __len__(self) -> int:
        return len(self.anchors)

    def gather(self, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = (anchors[:, None] + self.offsets).reshape(-1)  # [B * L]
        x = self.values.index_select(0, rows).view(len(anchors), self.lookback, -1)
        return x, self.targets[anchors], self.row_ticker[anchors]

    def future_of(self, anchors: torch.Tensor) -> torch.Tensor | None:
        """[B, H, C] known-future inputs of the windows ending at ``anchors``, or None."""
        return None if self.future is None else self.future[self.row_day[anchors]]

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        """Yields (x, y, ticker, future) per batch; shuffled when ``generator`` is given."""
        order = (torch.randperm(len(self.anchors), generator=generator).to(self.anchors.device)
                 if generator is not None else None)
        for start in range(0, len(self.anchors), batch_size):
            sel = self.anchors[start:start + batch_size] if order is None else \
                self.anchors[order[start:start + batch_size]]
            yield (*self.gather(sel), self.future_of(sel))


def future_kwargs(future: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Keyword arguments passing known-future inputs to a model (none without them)."""
    return {} if future is None else {"future": future}


def loss_function(config: TrainConfig, model: nn.Module) -> nn.Module:
    """Pinball loss for quantile models, else MSE or Huber as configured."""
    quantiles = getattr(getattr(model, "config", None), "quantiles", ())
    if quantiles:
        return PinballLoss(quantiles)
    return nn.MSELoss() if config.loss == "mse" else nn.HuberLoss(delta=config.huber_delta)


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: WindowBatches, loss_fn: nn.Module,
                  batch_size: int = 4096) -> float:
    model.eval()
    total, count = 0.0, 0
    for x, y, ticker, future in data.batches(batch_size):
        total += float(loss_fn(model(x, ticker, **future_kwargs(future)).y_hat, y)) * len(y)
        count += len(y)
    return total / max(count, 1)


def run_fingerprint(model: nn.Module, train: Windows, val: Windows | None, config: TrainConfig,
                    seed: int) -> str:
    """Identifies one training run: configuration, seed, model shapes and the exact data."""
    h = hashlib.sha256()
    h.update(json.dumps({"config": asdict(config), "seed": seed,
                         "model": type(model).__name__,
                         "params": [(k, list(v.shape)) for k, v in model.state_dict().items()]},
                        sort_keys=True).encode())
    for w in (train, val):
        if w is not None:
            h.update(np.ascontiguousarray(w.anchors).tobytes())
            h.update(np.ascontiguousarray(w.values).tobytes())
            h.update(np.ascontiguousarray(w.targets).tobytes())
            if w.future is not None:
                h.update(np.ascontiguousarray(w.future).tobytes())
    return h.hexdigest()


def fit_model(
    model: nn.Module,
    train: Windows,
    val: Windows | None,
    config: TrainConfig,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    on_epoch: Callable[[EpochLog], None] | None = None,
    state_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train`` windows; early-stop on ``val`` and restore the best
    weights. ``train``/``val`` values and targets must already be scaled.

    With ``state_dir``, the full training state is saved after every epoch and an interrupted
    run of the same configuration on the same data resumes from its last finished epoch,
    ending with exactly the weights an uninterrupted run would have.
    """
    configure_torch_threads(adapt=True)  # qseq's thread policy: the cores free right now
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if len(train) == 0:
        raise TrainingError("no training windows; use more data or a shorter lookback/horizon")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(dev)
    train_data = WindowBatches(train, dev)
    val_data = WindowBatches(val, dev) if val is not None and len(val) else None
    loss_fn = loss_function(config, model).to(dev)
    forcing = getattr(model, "teacher_forcing", False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    elif config.lr_schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    else:
        sched = None

    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    best = math.inf
    bad_epochs = 0
    start_epoch, finished = 1, False
    state_path = Path(state_dir) if state_dir is not None else None
    fingerprint = run_fingerprint(model, train, val, config, seed) if state_path else ""
    saved = load_state(state_path, fingerprint) if state_path else None
    if saved is not None:
        model.load_state_dict(saved.model)
        opt.load_state_dict(saved.optimizer)
        if sched is not None and saved.scheduler is not None:
            sched.load_state_dict(saved.scheduler)
        torch.set_rng_state(saved.torch_rng)
        generator.set_state(saved.shuffle_rng)
        best_state = {k: v.to(dev) for k, v in saved.best.items()} if saved.best else None
        best, bad_epochs = saved.meta["best_score"], saved.meta["bad_epochs"]
        result.history = [EpochLog(**h) for h in saved.meta["history"]]
        result.best_epoch, result.best_val_loss = saved.meta["best_epoch"], saved.meta["best_val_loss"]
        result.stopped_early = saved.meta["stopped_early"]
        start_epoch, finished = saved.epoch + 1, saved.meta["finished"]
        log.info("resuming training from epoch %d (%s)", start_epoch, state_path)

    for epoch in range(start_epoch, config.epochs + 1):
        if finished:
            break
        t0 = time.perf_counter()
        model.train()
        total = torch.zeros((), device=dev)
        p_true = teacher_forcing_probability(config, epoch) if forcing else 0.0
        for x, y, ticker, future in train_data.batches(config.batch_size, generator):
            extra = future_kwargs(future)
            out = (model(x, ticker, target=y, teacher_forcing=p_true, **extra) if forcing
                   else model(x, ticker, **extra))
            loss = loss_fn(out.y_hat, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            opt.step()
            total += loss.detach() * len(y)
        train_loss = float(total) / len(train_data)
        if not math.isfinite(train_loss):
            raise TrainingError(
                f"training loss became non-finite in epoch {epoch}; lower the learning rate "
                "(--lr), check the data for extreme values, or use loss='huber'"
            )
        val_loss = evaluate_loss(model, val_data, loss_fn) if val_data else None
        lr = opt.param_groups[0]["lr"]
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(val_loss if val_loss is not None else train_loss)
        elif sched is not None:
            sched.step()
        entry = EpochLog(epoch, train_loss, val_loss, lr, time.perf_counter() - t0,
                         p_true if forcing else None)
        result.history.append(entry)
        log.debug("epoch %d train %.5f val %s", epoch, train_loss, val_loss)

        score = val_loss if val_loss is not None else train_loss
        if score < best - config.min_delta:
            best, bad_epochs = score, 0
            result.best_epoch, result.best_val_loss = epoch, val_loss
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        result.stopped_early = val_data is not None and bad_epochs >= config.patience
        finished = result.stopped_early or epoch == config.epochs
        if state_path is not None:
            save_state(state_path, TrainState(
                epoch=epoch, model=model.state_dict(), best=best_state, optimizer=opt.state_dict(),
                scheduler=sched.state_dict() if sched is not None else None,
                torch_rng=torch.get_rng_state(), shuffle_rng=generator.get_state(),
                meta={"fingerprint": fingerprint, "best_score": best, "bad_epochs": bad_epochs,
                      "history": [asdict(h) for h in result.history],
                      "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
                      "stopped_early": result.stopped_early, "finished": finished},
            ))
        if on_epoch is not None:
            on_epoch(entry)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result


@torch.no_grad()
def predict_outputs(model: nn.Module, windows: Windows, device: str | torch.device = "cpu",
                    batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Every model output for every window, in scaled units: ``y_hat`` [N, H] (or [N, H, Q]) and,
    when the model has them, ``attention`` [N, H, T] and ``feature_attention`` [N, T, F]."""
    configure_torch_threads()  # qseq's thread policy (qseq.runtime)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model.eval()
    data = WindowBatches(windows, dev)
    parts: dict[str, list[torch.Tensor]] = {}
    for x, _, ticker, future in data.batches(batch_size):
        out = model(x, ticker, **future_kwargs(future))
        for name in ("y_hat", "attention", "feature_attention"):
            value = getattr(out, name)
            if value is not None:
                parts.setdefault(name, []).append(value.cpu())
    if not parts:
        return {"y_hat": np.zeros((0, windows.targets.shape[1]), dtype=np.float32)}
    return {name: torch.cat(chunks).numpy() for name, chunks in parts.items()}


@torch.no_grad()
def predict_windows(model: nn.Module, windows: Windows, device: str | torch.device = "cpu",
                    batch_size: int = 4096) -> np.ndarray:
    """Model outputs for every window: [N, H] (scaled units)."""
    return predict_outputs(model, windows, device, batch_size)["y_hat"]
