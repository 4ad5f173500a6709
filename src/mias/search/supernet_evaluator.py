"""Real training behind the `Evaluator` interface: the weight-sharing supernet.

A step trains the shared weights on the K sampled paths — one training batch for all of
them, the task-loss gradients of the K paths summed (each weighted ε_ce, as FairNAS
accumulates its m paths: a candidate gets the full gradient of the path that ran it, not a
K-th of it; under the sandwich rule the largest path teaches the others in place), one SGD
update — and then scores every path on one validation batch (the same
batch for all K, so their differences are the paths' and not the batches'). Validation
patches are centred on the structure, so every one of them can tell a path that finds it
from one that does not. Steps score by the task metric on probabilities (soft Dice) where
the task is segmentation, so paths differ before their hard masks find the structure;
`score` re-ranks paths by the hard metric on the whole validation split at the full input
shape; `race` trains paths on their own, with the run's final training recipe, for the
depth decision.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from mias.presets import Preset, SearchSettings
from mias.presets.models import with_tuned
from mias.search.evaluator import Evaluator, PathScore
from mias.search.hpo import tune_supernet
from mias.search.state import CandidateMask
from mias.space import Architecture, FewShotSupernet, build_supernet
from mias.train.data import (
    PatchSampler,
    PreparedData,
    fit_patch,
    total_stride,
    whole_cases,
)
from mias.train.losses import distillation_loss, main_output, task_loss
from mias.train.scoring import Scorer
from mias.train.standalone import train_architecture


class SupernetEvaluator(Evaluator):
    trains = True

    def __init__(self, data: PreparedData, settings: SearchSettings, scorer: Scorer, *,
                 device: torch.device, seed: int, hpo_storage: Path | None = None,
                 recipe: Preset | None = None,
                 path_reduction: Literal["sum", "mean"] = "sum") -> None:
        self.data = data
        self.path_reduction = path_reduction
        self.recipe = recipe
        self.settings = settings
        self.scorer = scorer
        self.final_scorer = dataclasses.replace(scorer, soft=False)
        self.metric_label = scorer.label
        self.device = device
        self.seed = seed
        self.hpo_storage = hpo_storage
        self.supernet = build_supernet(
            data.space, seed=seed,
            few_shot=settings.few_shot and settings.few_shot_split == 0).to(device)
        self.loss_fn = task_loss(data.task)
        self.distill_fn = distillation_loss(data.task)
        patch = fit_patch(settings.patch, data.task.input_shape, total_stride(data.space),
                     settings.patch_voxels)
        self.patch = patch
        self.train_sampler = PatchSampler(data.split("train"), data.task, patch,
                                          augment=settings.augment, seed=seed,
                                          foreground=settings.foreground)
        # validation patches are drawn as the training ones are (a share on a structure,
        # the rest uniform and pad-aware): patches always centred on the structure hide the
        # false positives elsewhere that dominate a whole volume's Dice
        self.val_sampler = PatchSampler(data.split("val"), data.task, patch, augment=False,
                                        seed=seed + 1, foreground=settings.foreground)
        self.hparams = {"lr": settings.lr, "momentum": settings.momentum,
                        "weight_decay": settings.weight_decay}
        self.optimizer = self._optimizer(self.hparams)
        self.hpo_record: dict[str, Any] | None = None

    def _optimizer(self, h: dict[str, float]) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.supernet.parameters(), lr=h["lr"], momentum=h["momentum"],
                               weight_decay=h["weight_decay"], nesterov=h["momentum"] > 0)

    def _val_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.data.task.kind == "segmentation":
            return self.val_sampler.batch(self.settings.val_batch)
        return whole_cases(self.data.split("val"), self.data.task)

    def train_paths(self, archs: Sequence[Architecture], optimizer: torch.optim.Optimizer,
                    teacher: Architecture | None = None) -> list[float]:
        """One update of the shared weights from the accumulated gradients of `archs`, each
        path's task loss at unit weight: ε_ce weighs the architecture objective, not the
        weights' step (scaled by it, every candidate learned 0.6× as fast, and a 100-step
        demo supernet never rose above chance). With `path_reduction="mean"` the gradients
        are averaged over the paths instead, so a step's size does not grow with how many
        paths it trains (`mias rank` compares samplers whose steps differ in that). A
        `teacher` (the sandwich rule's largest path) must come first: its detached output is
        the target every later path also learns, weighted `distill_weight` (in-place
        distillation); the reported losses are the task losses alone."""
        if teacher is not None and (not archs or archs[0] != teacher):
            raise ValueError("the teacher path must be the first one trained")
        x, y = self.train_sampler.batch(self.settings.batch)
        x, y = x.to(self.device), y.to(self.device)
        self.supernet.train()
        optimizer.zero_grad(set_to_none=True)
        losses = []
        target: torch.Tensor | None = None
        for i, arch in enumerate(archs):
            out = self.supernet(x, arch)
            loss = self.loss_fn(out, y)
            losses.append(float(loss.detach()))
            if teacher is not None and i == 0:
                target = main_output(out).detach()
            elif target is not None:
                loss = loss + self.settings.distill_weight * self.distill_fn(out, target)
            (loss / len(archs) if self.path_reduction == "mean" else loss).backward()
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), 12.0)
        optimizer.step()
        return losses

    @torch.no_grad()
    def evaluate_on(self, archs: Sequence[Architecture], x: torch.Tensor, y: torch.Tensor,
                    scorer: Scorer | None = None) -> list[PathScore]:
        self.supernet.eval()
        x, y = x.to(self.device), y.to(self.device)
        scorer = scorer or self.scorer
        out = []
        for arch in archs:
            logits = self.supernet(x, arch)
            out.append(PathScore(arch, scorer(logits, y), float(self.loss_fn(logits, y))))
        return out

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        self.train_paths(archs, self.optimizer, teacher)
        return self.evaluate_on(archs, *self._val_batch())

    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        cases = self.data.split("val")
        out: list[PathScore] = []
        for arch in archs:
            metrics, losses = [], []
            for i in range(0, len(cases), 4):
                x, y = whole_cases(cases[i:i + 4], self.data.task)
                s = self.evaluate_on([arch], x, y, self.final_scorer)[0]
                metrics.append((s.metric, len(x)))
                losses.append((s.loss, len(x)))
            n = sum(w for _, w in metrics)
            out.append(PathScore(arch, sum(m * w for m, w in metrics) / n,
                                 sum(v * w for v, w in losses) / n))
        return out

    def race(self, archs: Sequence[Architecture], steps: int) -> list[PathScore]:
        """Each of `archs` built from scratch (seeded) and trained alone for `steps` steps
        with the run's final training recipe, tuned hyper-parameters included, then scored
        with the final metric on the whole validation split: the winner is then trained by
        the same recipe, longer. Losses are not measured (NaN)."""
        if self.recipe is None:
            raise ValueError("race needs the run's preset (SupernetEvaluator(recipe=...))")
        tuned = (self.hpo_record or {}).get("chosen")
        settings = with_tuned(self.recipe, tuned)[0].model_copy(
            update={"steps": steps, "time_budget_min": None})
        out = []
        for arch in archs:
            result = train_architecture(self.data.space, arch, self.data, settings,
                                        device=self.device, seed=self.seed,
                                        scorer=self.final_scorer)
            out.append(PathScore(arch, result.val_score, float("nan")))
        return out

    def tune(self, step: int, mask: CandidateMask) -> dict[str, Any] | None:
        if not self.settings.hpo.enabled or self.hpo_storage is None:
            return None
        self.hpo_record = tune_supernet(self, self.hpo_storage, mask)
        self.hparams = dict(self.hpo_record["chosen"])
        for group in self.optimizer.param_groups:
            group.update(lr=self.hparams["lr"], momentum=self.hparams["momentum"],
                         weight_decay=self.hparams["weight_decay"],
                         nesterov=self.hparams["momentum"] > 0)
        return self.hpo_record

    def prune(self, layer: str, candidate: str) -> None:
        self.supernet.prune(layer, candidate)

    @property
    def is_split(self) -> bool:
        return isinstance(self.supernet, FewShotSupernet)

    def split_by_depth(self) -> None:
        """Continue on one sub-supernet per depth, each from the one-shot weights; the
        optimiser restarts on the new parameters (momentum from zero), its settings kept."""
        if self.is_split:
            return
        self.supernet = FewShotSupernet.from_one_shot(self.supernet)
        self.optimizer = self._optimizer(self.hparams)

    def snapshot(self) -> dict[str, Any]:
        return {"weights": copy.deepcopy(self.supernet.state_dict()),
                "train": copy.deepcopy(self.train_sampler.state),
                "val": copy.deepcopy(self.val_sampler.state)}

    def restore(self, snap: dict[str, Any]) -> None:
        self.supernet.load_state_dict(snap["weights"])
        self.train_sampler.state = copy.deepcopy(snap["train"])
        self.val_sampler.state = copy.deepcopy(snap["val"])

    def state_dict(self) -> dict[str, Any]:
        return {"split": self.is_split,
                "supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                "train_sampler": self.train_sampler.state, "val_sampler": self.val_sampler.state,
                "hparams": self.hparams, "hpo_record": self.hpo_record}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("split", False):
            self.split_by_depth()
        self.supernet.load_state_dict(state["supernet"])
        self.hparams = dict(state["hparams"])
        self.optimizer = self._optimizer(self.hparams)
        self.optimizer.load_state_dict(state["optimizer"])
        self.train_sampler.state = state["train_sampler"]
        self.val_sampler.state = state["val_sampler"]
        self.hpo_record = state["hpo_record"]
