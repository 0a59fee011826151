"""The training loop, in plain sight: AdamW, gradient clipping, an LR schedule, early stopping
on validation loss that restores the best weights. Seeded and deterministic on CPU."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
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
    """Quantile (pinball) loss: y_hat [B, H, Q] against y [B, H]; the mean, or with
    ``reduction="none"`` the [B, H, Q] values."""

    def __init__(self, quantiles: tuple[float, ...], reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("q", torch.tensor(quantiles, dtype=torch.float32))
        self.reduction = reduction

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        diff = y.unsqueeze(-1) - y_hat  # [B, H, Q]
        loss = torch.maximum(self.q * diff, (self.q - 1) * diff)
        return loss if self.reduction == "none" else loss.mean()


class QlikeLoss(nn.Module):
    """QLIKE of variance forecasts made in scaled log units, plus ``mse`` times the squared
    error there: y_hat, y [B, H] are ``(ln v - mean_h) / scale_h``, so
    ``d = scale_h (y - y_hat) = ln(v / f)`` for the forecast ``f = exp(unscaled y_hat)`` and
    ``QLIKE(v, f) = v / f - ln(v / f) - 1 = exp(d) - d - 1`` (Patton 2011; its minimiser is
    ``f = E[v]``, so no smearing is needed for a mean). ``d`` is capped at 30 so a wild early
    prediction cannot overflow. The mean, or with ``reduction="none"`` the [B, H] values."""

    def __init__(self, scale, mse: float, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(-1))
        self.mse = float(mse)
        self.reduction = reduction

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        e = y - y_hat
        d = (e * self.scale).clamp(max=30.0)
        loss = torch.expm1(d) - d + self.mse * e * e
        return loss if self.reduction == "none" else loss.mean()


class ClassLoss(nn.Module):
    """Cross-entropy of logits y_hat [B, H, C] against class ids y [B, H] (stored as floats),
    each sample weighted by its class's weight in ``weights`` [H, C] (inverse training
    frequency, mean 1 over the training labels; all ones for no weighting). The mean, or with
    ``reduction="none"`` the [B, H] weighted values."""

    def __init__(self, weights: torch.Tensor, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("w", weights.float())
        self.reduction = reduction

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ids = y.long()  # [B, H]
        nll = -torch.log_softmax(y_hat, dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)  # [B, H]
        loss = nll * self.w[torch.arange(ids.shape[1], device=ids.device), ids]
        return loss if self.reduction == "none" else loss.mean()


def class_weights(windows: Windows, classes: int, balanced: bool = True) -> torch.Tensor:
    """[H, C] weights of each class per horizon: ``1 / (K_h p_hc)`` from the labels of the
    training windows, with K_h the number of classes present at horizon h (so the weights
    average 1 over those labels); ones when not ``balanced``. An absent class gets weight 1."""
    labels = windows.y.astype(np.int64)  # [N, H]
    horizons = labels.shape[1]
    if not balanced or len(labels) == 0:
        return torch.ones(horizons, classes)
    if labels.min() < 0 or labels.max() >= classes:
        raise ConfigError(f"class labels must be 0..{classes - 1}, got {labels.min()}..{labels.max()}")
    counts = np.stack([np.bincount(labels[:, h], minlength=classes) for h in range(horizons)])
    share = counts / len(labels)
    present = (counts > 0).sum(axis=1, keepdims=True)  # [H, 1]
    with np.errstate(divide="ignore"):
        w = np.where(counts > 0, 1.0 / (present * share), 1.0)
    return torch.as_tensor(w, dtype=torch.float32)


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
    member_best_epochs: list[int] = field(default_factory=list)  # ensembles: each member's

    def to_dict(self) -> dict:
        return {"history": [asdict(h) for h in self.history], "best_epoch": self.best_epoch,
                "best_val_loss": self.best_val_loss, "stopped_early": self.stopped_early,
                "member_best_epochs": self.member_best_epochs}

    @classmethod
    def from_dict(cls, data: dict) -> TrainResult:
        """The summary a checkpoint keeps (its per-epoch history is not restored)."""
        return cls(best_epoch=data["best_epoch"], best_val_loss=data["best_val_loss"],
                   stopped_early=data["stopped_early"],
                   member_best_epochs=list(data.get("member_best_epochs", [])))


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


class HorizonWeightedLoss(nn.Module):
    """``base`` (elementwise, [B, H] or [B, H, Q]) averaged per horizon, then weighted:
    ``sum_h w_h mean(loss[:, h]) / sum_h w_h``. Equal weights give the plain mean."""

    def __init__(self, base: nn.Module, weights: tuple[float, ...]) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("w", torch.tensor(weights, dtype=torch.float32) / sum(weights))

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        per = self.base(y_hat, y)  # [B, H] or [B, H, Q]
        per = per.mean(dim=tuple(d for d in range(per.dim()) if d != 1))  # [H]
        return per @ self.w


def loss_function(config: TrainConfig, model: nn.Module, train: Windows | None = None,
                  target_scale: Sequence[float] | None = None) -> nn.Module:
    """Weighted cross-entropy for classifiers (class weights from the ``train`` labels, see
    :func:`class_weights`), the pinball loss for quantile models, else MSE, Huber or QLIKE
    (:class:`QlikeLoss`, which needs ``target_scale`` [H], the scale of the log-variance
    targets) as configured; with ``config.horizon_weights``, each horizon's mean loss weighted
    (:class:`HorizonWeightedLoss`)."""
    model_config = getattr(model, "config", None)
    quantiles = getattr(model_config, "quantiles", ())
    classes = getattr(model_config, "classes", 0)
    weights = config.horizon_weights

    def reduced(make: Callable[[str], nn.Module]) -> nn.Module:
        # elementwise loss per horizon, weighted; or the plain mean without weights
        return HorizonWeightedLoss(make("none"), weights) if weights else make("mean")

    if classes:
        if train is None:
            raise ConfigError("a classifier's loss needs its training windows (class weights)")
        per_class = class_weights(train, classes, config.class_weights == "balanced")
        return reduced(lambda r: ClassLoss(per_class, reduction=r))
    if quantiles:
        return reduced(lambda r: PinballLoss(quantiles, reduction=r))
    if config.loss == "mse":
        return reduced(lambda r: nn.MSELoss(reduction=r))
    if config.loss == "qlike":
        if target_scale is None:
            raise ConfigError("loss 'qlike' needs a variance target modelled in log space "
                              "(target: variance); use loss mse or huber here")
        return reduced(lambda r: QlikeLoss(target_scale, config.qlike_mse, reduction=r))
    return reduced(lambda r: nn.HuberLoss(reduction=r, delta=config.huber_delta))


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


class MemberRun:
    """One model's optimiser, LR schedule and early stopping (a lone fit has one; a grouped
    ensemble fit has one per member, so each member trains exactly as it would alone)."""

    def __init__(self, model: nn.Module, config: TrainConfig, has_val: bool) -> None:
        self.model, self.config, self.has_val = model, config, has_val
        self.opt = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
        if config.lr_schedule == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=config.epochs)
        elif config.lr_schedule == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.5, patience=2)
        else:
            self.sched = None
        self.result = TrainResult()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best = math.inf
        self.bad_epochs = 0
        self.finished = False

    def step(self) -> None:
        """Clip this model's gradients and take one optimiser step."""
        if self.config.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        self.opt.step()

    def end_epoch(self, epoch: int, train_loss: float, val_loss: float | None, seconds: float,
                  teacher_forcing: float | None) -> EpochLog:
        """Log the epoch, step the schedule, keep the best weights, decide whether to stop."""
        if not math.isfinite(train_loss):
            raise TrainingError(
                f"training loss became non-finite in epoch {epoch}; lower the learning rate "
                "(--lr), check the data for extreme values, or use loss='huber'"
            )
        lr = self.opt.param_groups[0]["lr"]
        if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.sched.step(val_loss if val_loss is not None else train_loss)
        elif self.sched is not None:
            self.sched.step()
        entry = EpochLog(epoch, train_loss, val_loss, lr, seconds, teacher_forcing)
        self.result.history.append(entry)
        log.debug("epoch %d train %.5f val %s", epoch, train_loss, val_loss)
        score = val_loss if val_loss is not None else train_loss
        if score < self.best - self.config.min_delta:
            self.best, self.bad_epochs = score, 0
            self.result.best_epoch, self.result.best_val_loss = epoch, val_loss
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        self.result.stopped_early = self.has_val and self.bad_epochs >= self.config.patience
        self.finished = self.result.stopped_early or epoch == self.config.epochs
        return entry

    def snapshot(self, epoch: int, generator: torch.Generator, fingerprint: str) -> TrainState:
        """Everything needed to continue this run after ``epoch`` exactly."""
        r = self.result
        return TrainState(
            epoch=epoch, model=self.model.state_dict(), best=self.best_state,
            optimizer=self.opt.state_dict(),
            scheduler=self.sched.state_dict() if self.sched is not None else None,
            torch_rng=torch.get_rng_state(), shuffle_rng=generator.get_state(),
            meta={"fingerprint": fingerprint, "best_score": self.best, "bad_epochs": self.bad_epochs,
                  "history": [asdict(h) for h in r.history], "best_epoch": r.best_epoch,
                  "best_val_loss": r.best_val_loss, "stopped_early": r.stopped_early,
                  "finished": self.finished})

    def restore(self, saved: TrainState, generator: torch.Generator, device: torch.device) -> int:
        """Continue from ``saved`` (see :meth:`snapshot`); returns the next epoch."""
        self.model.load_state_dict(saved.model)
        self.opt.load_state_dict(saved.optimizer)
        if self.sched is not None and saved.scheduler is not None:
            self.sched.load_state_dict(saved.scheduler)
        torch.set_rng_state(saved.torch_rng)
        generator.set_state(saved.shuffle_rng)
        self.best_state = ({k: v.to(device) for k, v in saved.best.items()} if saved.best
                           else None)
        self.best, self.bad_epochs = saved.meta["best_score"], saved.meta["bad_epochs"]
        r = self.result
        r.history = [EpochLog(**h) for h in saved.meta["history"]]
        r.best_epoch, r.best_val_loss = saved.meta["best_epoch"], saved.meta["best_val_loss"]
        r.stopped_early = saved.meta["stopped_early"]
        self.finished = saved.meta["finished"]
        return saved.epoch + 1

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.eval()


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
    member_epochs: Sequence[int] | None = None,
    target_scale: Sequence[float] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train`` windows; early-stop on ``val`` and restore the best
    weights. ``train``/``val`` values and targets must already be scaled. ``member_epochs``:
    the epoch count of each ensemble member (of the lone model: one count), replacing
    ``config.epochs`` (a refit on all data for the epochs early stopping chose).
    ``target_scale`` [H]: the scale of log-variance targets, for ``config.loss == "qlike"``.

    With ``state_dir``, the full training state is saved after every epoch and an interrupted
    run of the same configuration on the same data resumes from its last finished epoch,
    ending with exactly the weights an uninterrupted run would have.

    An :class:`qseq.models.ensemble.Ensemble` trains member k as a lone model fitted with seed
    ``seed + k`` would be (its own shuffling, optimiser and early stopping); members of the
    recurrent family train together as one grouped model (see :func:`fit_grouped`).
    """
    from qseq.models.ensemble import Ensemble

    configure_torch_threads(adapt=True)  # qseq's thread policy: the cores free right now
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if len(train) == 0:
        raise TrainingError("no training windows; use more data or a shorter lookback/horizon")
    if isinstance(model, Ensemble):
        configs = [config if member_epochs is None else replace(config, epochs=max(1, int(e)))
                   for e in (member_epochs or [config.epochs] * len(model.members))]
        if len(configs) != len(model.members):
            raise ConfigError(f"member_epochs has {len(configs)} counts for "
                              f"{len(model.members)} members")
        if model.grouped:
            return fit_grouped(model, train, val, configs, seed=seed, device=dev, on_epoch=on_epoch,
                               state_dir=state_dir, target_scale=target_scale)
        results = [fit_model(m, train, val, configs[k], seed=seed + k, device=dev, on_epoch=on_epoch,
                             state_dir=None if state_dir is None else Path(state_dir) / f"member_{k}",
                             target_scale=target_scale)
                   for k, m in enumerate(model.members)]
        model.eval()
        return ensemble_result(results)
    if member_epochs is not None:
        config = replace(config, epochs=max(1, int(member_epochs[0])))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(dev)
    train_data = WindowBatches(train, dev)
    val_data = WindowBatches(val, dev) if val is not None and len(val) else None
    loss_fn = loss_function(config, model, train, target_scale).to(dev)
    forcing = getattr(model, "teacher_forcing", False)
    run = MemberRun(model, config, val_data is not None)
    opt, result = run.opt, run.result
    start_epoch = 1
    state_path = Path(state_dir) if state_dir is not None else None
    fingerprint = run_fingerprint(model, train, val, config, seed) if state_path else ""
    saved = load_state(state_path, fingerprint) if state_path else None
    if saved is not None:
        start_epoch = run.restore(saved, generator, dev)
        log.info("resuming training from epoch %d (%s)", start_epoch, state_path)

    for epoch in range(start_epoch, config.epochs + 1):
        if run.finished:
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
            run.step()
            total += loss.detach() * len(y)
        val_loss = evaluate_loss(model, val_data, loss_fn) if val_data else None
        entry = run.end_epoch(epoch, float(total) / len(train_data), val_loss,
                              time.perf_counter() - t0, p_true if forcing else None)
        if state_path is not None:
            save_state(state_path, run.snapshot(epoch, generator, fingerprint))
        if on_epoch is not None:
            on_epoch(entry)
    run.restore_best()
    return result


def ensemble_result(results: list[TrainResult]) -> TrainResult:
    """One summary of the members' fits: mean losses per epoch, the median best epoch, the
    members' best epochs in ``member_best_epochs``."""
    epochs = max(len(r.history) for r in results)
    history = []
    for i in range(epochs):
        logs = [r.history[i] for r in results if len(r.history) > i]
        vals = [e.val_loss for e in logs if e.val_loss is not None]
        history.append(EpochLog(i + 1, float(np.mean([e.train_loss for e in logs])),
                                float(np.mean(vals)) if vals else None, logs[0].lr,
                                float(sum(e.seconds for e in logs)), logs[0].teacher_forcing))
    best = [r.best_epoch for r in results]
    vals = [r.best_val_loss for r in results if r.best_val_loss is not None]
    return TrainResult(history=history, best_epoch=int(np.median(best)),
                       best_val_loss=float(np.mean(vals)) if vals else None,
                       stopped_early=all(r.stopped_early for r in results),
                       member_best_epochs=best)


def fit_grouped(model: nn.Module, train: Windows, val: Windows | None,
                configs: Sequence[TrainConfig], *, seed: int, device: torch.device,
                on_epoch: Callable[[EpochLog], None] | None = None,
                state_dir: str | Path | None = None,
                target_scale: Sequence[float] | None = None) -> TrainResult:
    """Train the members of a grouped :class:`~qseq.models.ensemble.Ensemble` together.

    Each step gathers one batch per member ([N, B, T, F], member k shuffled by its own
    generator seeded ``seed + k``), runs one grouped forward, and backpropagates the sum of the
    members' losses (each member's gradient is its own loss's); every member then clips and
    steps its own optimiser. A member whose patience (or its own epoch count, ``configs[k]``)
    runs out leaves the group, so it ends with the weights its lone fit would have (up to
    float rounding of batched products). Every config shares the batch size and loss.
    Dropout between layers draws from one generator, so with dropout > 0 members match lone
    fits in distribution only. With ``state_dir`` every member's state is saved after each
    epoch (``member_<k>/``) and an interrupted fit resumes when all members' states belong to
    this run and end at the same epoch (otherwise it starts afresh).
    """
    from qseq.models.ensemble import grouped_recurrent

    members = list(model.members)
    torch.manual_seed(seed)
    model.to(device)
    gens = [torch.Generator().manual_seed(seed + k) for k in range(len(members))]
    train_data = WindowBatches(train, device)
    val_data = WindowBatches(val, device) if val is not None and len(val) else None
    config = configs[0]
    loss_fn = loss_function(config, model, train, target_scale).to(device)
    runs = [MemberRun(m, c, val_data is not None) for m, c in zip(members, configs, strict=True)]
    lookback = train_data.lookback
    start_epoch = 1
    paths = prints = None
    if state_dir is not None:
        paths = [Path(state_dir) / f"member_{k}" for k in range(len(members))]
        prints = [run_fingerprint(m, train, val, c, seed + k)
                  for k, (m, c) in enumerate(zip(members, configs, strict=True))]
        saved = [load_state(p, f) for p, f in zip(paths, prints, strict=True)]
        if all(s is not None for s in saved) and len({s.epoch for s in saved}) == 1:
            for run, gen, state in zip(runs, gens, saved, strict=True):
                start_epoch = run.restore(state, gen, device)
            log.info("resuming the ensemble's training from epoch %d (%s)", start_epoch, state_dir)
    for epoch in range(start_epoch, max(c.epochs for c in configs) + 1):
        active = [k for k, r in enumerate(runs) if not r.finished]
        if not active:
            break
        t0 = time.perf_counter()
        model.train()
        group = [members[k] for k in active]
        orders = [train_data.anchors[torch.randperm(len(train_data), generator=gens[k])]
                  for k in active]
        totals = torch.zeros(len(active), device=device)
        for start in range(0, len(train_data), config.batch_size):
            sel = torch.stack([o[start:start + config.batch_size] for o in orders])  # [A, b]
            a, b = sel.shape
            x, y, ticker = train_data.gather(sel.reshape(-1))
            y_hat = grouped_recurrent(group, x.view(a, b, lookback, -1), ticker.view(a, b))
            y = y.view(a, b, -1)
            losses = torch.stack([loss_fn(y_hat[i], y[i]) for i in range(a)])
            for k in active:
                runs[k].opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            for k in active:
                runs[k].step()
            totals += losses.detach() * b
        val_losses = grouped_val_loss(group, val_data, loss_fn) if val_data else None
        seconds = time.perf_counter() - t0
        entries = [runs[k].end_epoch(epoch, float(totals[i]) / len(train_data),
                                     None if val_losses is None else float(val_losses[i]),
                                     seconds, None)
                   for i, k in enumerate(active)]
        if paths is not None:  # every member, so all states end at the same epoch
            for run, gen, path, fp in zip(runs, gens, paths, prints, strict=True):
                save_state(path, run.snapshot(epoch, gen, fp))
        if on_epoch is not None:
            vals = [e.val_loss for e in entries if e.val_loss is not None]
            on_epoch(EpochLog(epoch, float(np.mean([e.train_loss for e in entries])),
                              float(np.mean(vals)) if vals else None, entries[0].lr, seconds))
    for run in runs:
        run.restore_best()
    model.eval()
    return ensemble_result([r.result for r in runs])


@torch.no_grad()
def grouped_val_loss(members: list[nn.Module], data: WindowBatches, loss_fn: nn.Module,
                     batch_size: int = 4096) -> torch.Tensor:
    """Each member's mean validation loss [N] (one grouped forward per batch)."""
    from qseq.models.ensemble import grouped_recurrent

    for m in members:
        m.eval()
    total = torch.zeros(len(members))
    for x, y, ticker, _ in data.batches(batch_size):
        y_hat = grouped_recurrent(members, x, ticker)
        total += torch.stack([loss_fn(y_hat[i], y) for i in range(len(members))]).cpu() * len(y)
    return total / max(len(data), 1)


@torch.no_grad()
def predict_outputs(model: nn.Module, windows: Windows, device: str | torch.device = "cpu",
                    batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Every model output for every window, in scaled units: ``y_hat`` [N, H] (or [N, H, Q], or
    logits [N, H, C]) and,
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
