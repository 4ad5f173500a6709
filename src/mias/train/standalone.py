"""Standalone training of one network: final training, baselines, ranking, the benchmark.

One small loop serves every caller that trains a single network on `PREP/` (final
training, the fixed U-Net and random-architecture baselines, the search-cost benchmark,
ranking correlation, MED-NAS-Bench), so they all spend a budget the same way: SGD with
the preset's momentum/Nesterov/weight decay, a per-step poly (nnU-Net), cosine or constant
learning rate, batches from the seeded `PatchSampler`. With a `checkpoint_dir` it writes a
checkpoint at the end of every epoch (weights, optimiser, sampler and torch RNG states,
step), atomically, and resumes from it, so an interrupted run finishes with exactly the
weights of an uninterrupted one. Without one it does no I/O at all: short trainings stay
cheap.
"""

from __future__ import annotations

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
from mias.train.data import PatchSampler, PreparedData, fit_patch, total_stride, whole_cases
from mias.train.device import torch_device
from mias.train.losses import task_loss
from mias.train.scoring import Scorer

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_SCHEMA_VERSION = 1
VAL_CHUNK = 4

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

    def summary(self) -> dict[str, Any]:
        """JSON-ready record (no weights)."""
        return {"val_score": self.val_score, "metric": self.metric, "steps": self.steps,
                "seconds": self.seconds, "resumed_at": self.resumed_at,
                "diverged": self.diverged, "history": self.history, "epochs": self.epochs,
                "settings": self.settings}


def learning_rate(settings: TrainSettings, step: int, total: int) -> float:
    """The learning rate of `step` (0-based) of `total`: poly, cosine or constant."""
    frac = min(step / max(total, 1), 1.0)
    if settings.schedule == "poly":
        return settings.lr * (1.0 - frac) ** settings.poly_exponent
    if settings.schedule == "cosine":
        return settings.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
    return settings.lr


def steps_per_epoch(settings: TrainSettings, data: PreparedData) -> int:
    """The preset's value, or one pass over the training cases."""
    if settings.steps_per_epoch is not None:
        return settings.steps_per_epoch
    return max(1, math.ceil(len(data.splits["train"]) / settings.batch))


def training_patch(settings: TrainSettings, data: PreparedData) -> tuple[int, ...]:
    return fit_patch(settings.patch, data.task.input_shape, total_stride(data.space),
                     settings.patch_voxels)


def make_optimizer(net: nn.Module, settings: TrainSettings) -> torch.optim.SGD:
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


def train_network(net: nn.Module, data: PreparedData, settings: TrainSettings, *,
                  device: str | torch.device = "cpu", seed: int = 0,
                  checkpoint_dir: str | Path | None = None, progress: Progress | None = None,
                  scorer: Scorer | None = None, validate_every: int = 0) -> TrainResult:
    """Train `net` in place for `settings.epochs × steps_per_epoch` SGD steps.

    `validate_every` > 0 scores the validation split after every that many epochs (for
    progress plots); the final score is always computed. Same seed, same weights on CPU.
    """
    dev = torch_device(device)
    net.to(dev).train()
    scorer = scorer or Scorer.for_task(data.task)
    per_epoch = steps_per_epoch(settings, data)
    total = settings.epochs * per_epoch
    sampler = PatchSampler(data.split("train"), data.task, training_patch(settings, data),
                           augment=settings.augment, seed=seed, foreground=settings.foreground)
    optimizer = make_optimizer(net, settings)
    loss_fn = task_loss(data.task)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    key = _run_key(net, data, settings, seed, scorer)
    history: list[dict[str, float]] = []
    epochs: list[dict[str, float]] = []
    start_epoch, resumed_at, diverged = 0, None, False
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if ckpt is not None and ckpt.is_file():
            state = _load_checkpoint(ckpt, key)
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            sampler.state = state["sampler"]
            torch.set_rng_state(state["torch_rng"])
            history, epochs = state["history"], state["epochs"]
            start_epoch, resumed_at = state["epoch"], state["step"]
        for epoch in range(start_epoch, settings.epochs):
            for i in range(per_epoch):
                step = epoch * per_epoch + i
                lr = learning_rate(settings, step, total)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images, targets = sampler.batch(settings.batch)
                loss = loss_fn(net(images.to(dev)), targets.to(dev))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = float(loss.detach())
                history.append({"step": step, "epoch": epoch, "loss": value, "lr": lr})
                if progress is not None:
                    progress("train", step + 1, total)
                if not math.isfinite(value):
                    diverged = True
                    break
            if diverged:
                break
            if validate_every and (epoch + 1) % validate_every == 0:
                epochs.append({"epoch": epoch + 1, "step": (epoch + 1) * per_epoch,
                               "val_score": validate(net, data, scorer, dev)})
            if ckpt is not None:
                _save_checkpoint(ckpt, key, net, optimizer, sampler, epoch + 1,
                                 (epoch + 1) * per_epoch, history, epochs)
    final = epochs[-1]["val_score"] if epochs and epochs[-1]["step"] == total and not \
        diverged else validate(net, data, scorer, dev)
    net.eval()
    return TrainResult(network=net, history=history, epochs=epochs, val_score=float(final),
                       metric=scorer.label, steps=len(history),
                       seconds=time.perf_counter() - t0, resumed_at=resumed_at,
                       diverged=diverged, settings=settings.model_dump(mode="json"))


def train_architecture(space: SearchSpace, arch: Architecture, data: PreparedData,
                       settings: TrainSettings, *, device: str | torch.device = "cpu",
                       seed: int = 0, init_state: dict[str, torch.Tensor] | None = None,
                       checkpoint_dir: str | Path | None = None,
                       progress: Progress | None = None, scorer: Scorer | None = None,
                       validate_every: int = 0) -> TrainResult:
    """Build `arch` (seeded; or with `init_state`, e.g. inherited supernet weights) and train it."""
    from mias.space import build_network

    net = build_network(space, arch, seed=seed)
    if init_state is not None:
        net.load_state_dict(init_state)
    return train_network(net, data, settings, device=device, seed=seed,
                         checkpoint_dir=checkpoint_dir, progress=progress, scorer=scorer,
                         validate_every=validate_every)


def _run_key(net: nn.Module, data: PreparedData, settings: TrainSettings, seed: int,
             scorer: Scorer) -> str:
    """What a checkpoint must match to be resumed: data, settings, seed, network shape."""
    shapes = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    payload = json.dumps({"data": data.fingerprint, "settings": settings.model_dump(mode="json"),
                          "seed": seed, "shapes": shapes, "metric": scorer.metric},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, key: str, net: nn.Module, optimizer: torch.optim.Optimizer,
                     sampler: PatchSampler, epoch: int, step: int,
                     history: list[dict[str, float]], epochs: list[dict[str, float]]) -> None:
    payload = {"schema_version": CHECKPOINT_SCHEMA_VERSION, "key": key, "epoch": epoch,
               "step": step, "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
               "optimizer": _to_cpu(optimizer.state_dict()),
               "sampler": json.dumps(sampler.state), "torch_rng": torch.get_rng_state(),
               "history": history, "epochs": epochs}
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
    return state


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj

