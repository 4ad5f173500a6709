"""Standalone training of one network: final training, baselines, ranking, the benchmark.

One recipe serves every caller that trains a single network on `PREP/` (final training,
the baselines, the search-cost benchmark, ranking ground truth, MED-NAS-Bench), so they all
spend a budget the same way: He initialisation, the patch and batch planned from the data
and the memory budget (`plan`), nnU-Net's augmentation and sampling (`PatchSampler`), deep
supervision where the network has ≥ 2 down-sampling stages (`deep_supervision`, or a
network that returns stacked heads itself, as MONAI's DynUNet), SGD (Nesterov, poly) or
AdamW (warm-up, cosine) with the gradient norm clipped, a budget in steps or minutes, and
early stopping on an exponential moving average of the validation metric. With a
`checkpoint_dir` it writes a checkpoint at the end of every epoch (weights, optimiser,
sampler and torch RNG states, step, best weights), atomically, and resumes from it, so an
interrupted step-budget run finishes with exactly the weights of an uninterrupted one.
Without one it does no I/O at all: short trainings stay cheap.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mias.atomic import atomic_file
from mias.errors import InputError
from mias.presets.models import TrainSettings
from mias.space import Architecture, SearchSpace
from mias.train.data import PatchSampler, PreparedData, whole_cases
from mias.train.deep_supervision import DeepSupervised, supports_deep_supervision
from mias.train.device import torch_device
from mias.train.losses import task_loss
from mias.train.plan import TrainPlan, plan_training
from mias.train.scoring import Scorer
from mias.train.threshold import loss_class_weights

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_SCHEMA_VERSION = 2
VAL_CHUNK = 4
HE_SLOPE = 1e-2

Progress = Callable[[str, int, int], None]


@dataclass
class TrainResult:
    """What a training did: the trained network, per-step history, validation scores."""

    network: nn.Module
    history: list[dict[str, float]]
    epochs: list[dict[str, float]]
    val_score: float
    metric: str
    steps: int
    seconds: float
    resumed_at: int | None = None
    diverged: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    stopped: str = "budget"
    best_step: int | None = None
    draws: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready record (no weights, no augmentation draws)."""
        return {"val_score": self.val_score, "metric": self.metric, "steps": self.steps,
                "seconds": self.seconds, "resumed_at": self.resumed_at,
                "diverged": self.diverged, "stopped": self.stopped,
                "best_step": self.best_step, "plan": self.plan, "history": self.history,
                "epochs": self.epochs, "settings": self.settings}


def learning_rate(settings: TrainSettings, step: int, total: int,
                  progress: float | None = None) -> float:
    """The learning rate of `step` (0-based) of `total`: linear warm-up over the first
    `warmup` share, then poly, cosine or constant over the rest. `progress` (the share of a
    time budget spent) advances the schedule when it is ahead of the steps."""
    frac = min(step / max(total, 1), 1.0)
    if progress is not None:
        frac = max(frac, min(progress, 1.0))
    if settings.warmup > 0:
        if frac < settings.warmup:
            return settings.lr * max(frac / settings.warmup, 1.0 / max(total, 1))
        frac = (frac - settings.warmup) / (1.0 - settings.warmup)
    if settings.schedule == "poly":
        return settings.lr * (1.0 - frac) ** settings.poly_exponent
    if settings.schedule == "cosine":
        return settings.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
    return settings.lr


def steps_per_epoch(settings: TrainSettings, data: PreparedData, batch: int | None = None) -> int:
    """The preset's value, or one pass over the training cases."""
    if settings.steps_per_epoch is not None:
        return settings.steps_per_epoch
    return max(1, math.ceil(len(data.splits["train"]) / (batch or settings.batch)))


def total_steps(settings: TrainSettings, per_epoch: int) -> int:
    return settings.steps if settings.steps is not None else settings.epochs * per_epoch


def he_init(net: nn.Module) -> None:
    """nnU-Net's `InitWeights_He(1e-2)`: Kaiming-normal convolutions, zero biases."""
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    for m in net.modules():
        if isinstance(m, convs):
            nn.init.kaiming_normal_(m.weight, a=HE_SLOPE)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def make_optimizer(net: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(net.parameters(), lr=settings.lr, betas=settings.betas,
                                 weight_decay=settings.weight_decay)
    return torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum,
                           nesterov=settings.nesterov and settings.momentum > 0,
                           weight_decay=settings.weight_decay)


@torch.no_grad()
def predict_logits(net: nn.Module, images: torch.Tensor, device: torch.device,
                   chunk: int = VAL_CHUNK) -> torch.Tensor:
    """Logits for a batch of whole inputs, a few at a time, on CPU."""
    was_training = net.training
    net.eval()
    out = [net(images[i:i + chunk].to(device)).float().cpu()
           for i in range(0, len(images), chunk)]
    net.train(was_training)
    return torch.cat(out)


def validate(net: nn.Module, data: PreparedData, scorer: Scorer, device: torch.device,
             split: str = "val") -> float:
    """The scorer's figure on every case of `split`, whole, in the prepared space."""
    images, targets = whole_cases(data.split(split), data.task)
    return scorer(predict_logits(net, images, device), targets)


def _with_heads(net: nn.Module, data: PreparedData, settings: TrainSettings, plan: TrainPlan,
                dev: torch.device, reinit: bool) -> nn.Module:
    """`net` wrapped with deep-supervision heads when the recipe calls for them."""
    if not (settings.deep_supervision and data.task.kind == "segmentation"
            and supports_deep_supervision(net)):
        return net
    probe = torch.zeros(1, data.task.in_channels, *plan.patch, device=dev)
    model = DeepSupervised(net, probe).to(dev)
    if reinit and settings.weight_init == "he":
        he_init(model.aux)
    return model


@dataclass
class _Smoothed:
    """Exponential moving average of the validation score (higher is better: a `Scorer`
    negates errors) and its best value."""

    factor: float
    value: float | None = None
    best: float | None = None
    best_step: int | None = None
    since_best: int = 0

    def update(self, score: float, step: int) -> bool:
        """Fold `score` in; True when the smoothed metric reached a new best."""
        self.value = score if self.value is None else \
            self.factor * self.value + (1 - self.factor) * score
        better = self.best is None or self.value > self.best
        if better:
            self.best, self.best_step, self.since_best = self.value, step, 0
        else:
            self.since_best += 1
        return better


def train_network(net: nn.Module, data: PreparedData, settings: TrainSettings, *,
                  device: str | torch.device = "cpu", seed: int = 0,
                  checkpoint_dir: str | Path | None = None, progress: Progress | None = None,
                  scorer: Scorer | None = None, validate_every: int = 0,
                  reinit: bool = True, record_draws: bool = False) -> TrainResult:
    """Train `net` in place with the recipe of the module docstring.

    `validate_every` > 0 scores the validation split after every that many epochs (for the
    learning curve and early stopping); the final score is always computed. `reinit`
    applies the settings' weight initialisation (off for inherited weights). Early stopping
    restores the weights of the best smoothed validation metric. Same seed, same weights
    on CPU under a step budget.
    """
    dev = torch_device(device)
    net.to(dev).train()
    scorer = scorer or Scorer.for_task(data.task)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    history: list[dict[str, float]] = []
    epochs: list[dict[str, float]] = []
    draws: list[dict[str, Any]] = []
    start, resumed_at, diverged, stopped, elapsed = 0, None, False, "budget", 0.0
    best_state: dict[str, torch.Tensor] | None = None
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if reinit and settings.weight_init == "he":
            he_init(net)
        plan = plan_training(net, data, settings, dev)
        model = _with_heads(net, data, settings, plan, dev, reinit)
        per_epoch = steps_per_epoch(settings, data, plan.batch)
        total = total_steps(settings, per_epoch)
        sampler = PatchSampler(data.split("train"), data.task, plan.patch,
                               augment=settings.augment, seed=seed,
                               foreground=settings.foreground)
        optimizer = make_optimizer(model, settings)
        loss_fn = task_loss(data.task, loss_class_weights(
            data.task, [c.target for c in data.split("train")]))
        key = _run_key(model, data, settings, seed, scorer)
        smooth = _Smoothed(settings.early_stop_smoothing)
        if ckpt is not None and ckpt.is_file():
            state = _load_checkpoint(ckpt, key)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            sampler.state = state["sampler"]
            torch.set_rng_state(state["torch_rng"])
            history, epochs, draws = state["history"], state["epochs"], state["draws"]
            start = resumed_at = state["step"]
            elapsed, best_state = state["elapsed"], state["best"]
            for e in epochs:
                smooth.update(e["val_score"], e["step"])
        budget_s = None if settings.time_budget_min is None else 60 * settings.time_budget_min
        t_start = time.perf_counter() - elapsed
        step = start
        while step < total and stopped == "budget":
            spent = time.perf_counter() - t_start
            # the clock steers the schedule only once the steps are projected to overrun
            # the time budget: a training the budget does not bind stays a function of its
            # seed, whatever else the machine is doing
            binds = budget_s is not None and step > 0 and spent * total / step > budget_s
            lr = learning_rate(settings, step, total, spent / budget_s if binds else None)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, targets = sampler.batch(plan.batch)
            loss = loss_fn(model(images.to(dev)), targets.to(dev))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = float("nan")
            if settings.grad_clip is not None:
                norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                            settings.grad_clip))
            optimizer.step()
            value = float(loss.detach())
            epoch = step // per_epoch
            history.append({"step": step, "epoch": epoch, "loss": value, "lr": lr,
                            "grad_norm": norm})
            if record_draws:
                draws.extend({"step": step, **d} for d in sampler.last_draws)
            step += 1
            if progress is not None:
                progress("train", step, total)
            if not math.isfinite(value):
                diverged, stopped = True, "diverged"
                break
            out_of_time = budget_s is not None and time.perf_counter() - t_start >= budget_s
            if step % per_epoch and step < total and not out_of_time:
                continue
            due = bool(validate_every) and (epoch + 1) % validate_every == 0
            if due or ((out_of_time or step == total) and epochs):
                score = float(validate(net, data, scorer, dev))
                smoothed_best = smooth.update(score, step)
                epochs.append({"epoch": epoch + 1, "step": step, "val_score": score,
                               "val_smoothed": smooth.value})
                if smoothed_best and settings.early_stop_patience is not None:
                    best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                if settings.early_stop_patience is not None and \
                        smooth.since_best >= settings.early_stop_patience:
                    stopped = "early_stop"
            if out_of_time and stopped == "budget" and step < total:
                stopped = "time_budget"
            if ckpt is not None:
                _save_checkpoint(ckpt, key, model, optimizer, sampler, step, history, epochs,
                                 draws, time.perf_counter() - t_start, best_state)
    restored = stopped == "early_stop" and best_state is not None
    if restored:
        net.load_state_dict(copy.deepcopy(best_state))
    final = epochs[-1]["val_score"] if epochs and epochs[-1]["step"] == step and not \
        (diverged or restored) else validate(net, data, scorer, dev)
    net.eval()
    record = settings.model_dump(mode="json")
    record["deep_supervision_heads"] = len(getattr(model, "aux", ())) + 1 \
        if model is not net else None
    return TrainResult(network=net, history=history, epochs=epochs, val_score=float(final),
                       metric=scorer.label, steps=len(history),
                       seconds=time.perf_counter() - t0, resumed_at=resumed_at,
                       diverged=diverged, settings=record, plan=plan.to_dict(),
                       stopped=stopped, best_step=smooth.best_step if restored else None,
                       draws=draws)


def train_architecture(space: SearchSpace, arch: Architecture, data: PreparedData,
                       settings: TrainSettings, *, device: str | torch.device = "cpu",
                       seed: int = 0, init_state: dict[str, torch.Tensor] | None = None,
                       checkpoint_dir: str | Path | None = None,
                       progress: Progress | None = None, scorer: Scorer | None = None,
                       validate_every: int = 0, record_draws: bool = False) -> TrainResult:
    """Build `arch` (seeded; or with `init_state`, e.g. inherited supernet weights) and train it."""
    from mias.space import build_network

    net = build_network(space, arch, seed=seed)
    if init_state is not None:
        net.load_state_dict(init_state)
    return train_network(net, data, settings, device=device, seed=seed,
                         checkpoint_dir=checkpoint_dir, progress=progress, scorer=scorer,
                         validate_every=validate_every, reinit=init_state is None,
                         record_draws=record_draws)


def _run_key(net: nn.Module, data: PreparedData, settings: TrainSettings, seed: int,
             scorer: Scorer) -> str:
    """What a checkpoint must match to be resumed: data, settings, seed, network shape."""
    shapes = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    payload = json.dumps({"data": data.fingerprint, "settings": settings.model_dump(mode="json"),
                          "seed": seed, "shapes": shapes, "metric": scorer.metric},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, key: str, net: nn.Module, optimizer: torch.optim.Optimizer,
                     sampler: PatchSampler, step: int, history: list[dict[str, float]],
                     epochs: list[dict[str, float]], draws: list[dict[str, Any]],
                     elapsed: float, best: dict[str, torch.Tensor] | None) -> None:
    payload = {"schema_version": CHECKPOINT_SCHEMA_VERSION, "key": key, "step": step,
               "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
               "optimizer": _to_cpu(optimizer.state_dict()),
               "sampler": json.dumps(sampler.state), "torch_rng": torch.get_rng_state(),
               "history": history, "epochs": epochs, "draws": json.dumps(draws),
               "elapsed": elapsed, "best": best}
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)


def _load_checkpoint(path: Path, key: str) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("schema_version") != CHECKPOINT_SCHEMA_VERSION:
            raise ValueError(f"schema_version {state.get('schema_version')!r}")
    except (RuntimeError, ValueError, OSError, AttributeError) as exc:
        raise InputError(path, f"cannot read the training checkpoint ({exc})",
                         "delete it to start the training afresh") from exc
    if state["key"] != key:
        raise InputError(path, "the checkpoint belongs to a different training (data, "
                         "settings, seed or architecture changed)",
                         "delete it, or re-run with the settings it was written with")
    state["sampler"] = json.loads(state["sampler"])
    state["draws"] = json.loads(state["draws"])
    return state


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj

