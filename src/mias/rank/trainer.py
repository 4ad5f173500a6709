"""Ranking supernets: MIAS's training step without pruning, and inherited-weight scores.

`RankingSupernet` is the search's own loop piece by piece — `MiasSearch._step` samples the
step's paths (learned / strict-fair / uniform), trains the shared weights on them and, for
MIAS, steps the architecture distribution on the paper's loss once the search's gate says
the supernet has learned — but it never prunes and never tunes, so all N ranked
architectures stay in the space and every sampler trains with the same optimiser settings.
Every sampler spends the same number of path updates (`PathBudget`): an epoch trains
K × the search's steps per epoch paths, a sampler whose step trains m > K paths (FairNAS)
takes proportionally fewer steps, and each step's gradient is the mean over its paths, so
neither the number of paths nor the step size favours a sampler. It checkpoints at each
epoch through the search's own checkpoint (weights, optimiser, logits, RNG and sampler
states), so a killed run resumes exactly.

`inherited_scores` materialises each architecture with the supernet's weights, re-estimates
batch-norm statistics on training cases where the space uses batch norm (a shared BN's
running statistics mix every path it served, which is known to scramble rankings; the
segmentation spaces use instance norm and need none), and scores it on the whole
validation split, as a standalone training is scored, by each of several scorers from one
forward pass.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mias.hardware.predictors import LatencyPredictor
from mias.presets import SearchSettings
from mias.rank.settings import SAMPLER_REGISTRY, ranking_settings
from mias.search.controller import MiasSearch, SearchState
from mias.search.evaluator import PathScore
from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask, Distribution, all_layers, arch_indices
from mias.search.supernet_evaluator import SupernetEvaluator
from mias.space import Architecture, SearchSpace, Supernet
from mias.train.data import PreparedData, whole_cases
from mias.train.scoring import Scorer
from mias.train.standalone import predict_logits

#: called after every epoch with its number, its history rows and its `diagnostics`
EpochHook = Callable[[int, list[dict], dict[str, Any]], None]


@dataclass(frozen=True)
class PathBudget:
    """An epoch's path updates, spent in steps of the sampler's `natural` paths, the last
    step training only the paths left: equal budgets whatever a sampler's step size."""

    per_epoch: int
    natural: int

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.per_epoch / self.natural)

    def paths_at(self, step: int) -> int:
        """Paths trained at the 0-based `step`."""
        done = (step % self.steps_per_epoch) * self.natural
        return min(self.natural, self.per_epoch - done)


def natural_paths(space: SearchSpace, sampler: str, k: int) -> int:
    """Paths one step of the registry's `sampler` draws from the whole space (K for the
    learned and uniform samplers, FairNAS's m ≥ K)."""
    archs = create_sampler(sampler).sample(space, CandidateMask.full(space), Distribution(space),
                                           k, np.random.default_rng(0))
    return len(archs)


class RankingEvaluator(SupernetEvaluator):
    """The search's supernet evaluator with gradients averaged over a step's paths, training
    at each step only the paths the budget leaves (the first ones the sampler drew; a
    prefix of a strict-fair step is still fair to within one; a sandwich step's teacher
    comes first, so a prefix keeps it)."""

    def __init__(self, data: PreparedData, settings: SearchSettings, scorer: Scorer,
                 budget: PathBudget, *, device: torch.device, seed: int) -> None:
        super().__init__(data, settings, scorer, device=device, seed=seed,
                         path_reduction="mean")
        self.budget = budget
        self.trained: list[Architecture] = []

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        self.trained = list(archs[:self.budget.paths_at(step)])
        return super().step(self.trained, step, teacher)


class RankingSupernet(MiasSearch):
    """One supernet trained with one sampler for the preset's epochs, scored every epoch."""

    def __init__(self, data: PreparedData, settings: SearchSettings, predictor: LatencyPredictor,
                 scorer: Scorer, sampler: str, *, seed: int, device: torch.device,
                 checkpoint: Path | None = None) -> None:
        s = ranking_settings(settings, sampler)
        registry = SAMPLER_REGISTRY[sampler]
        search_steps = s.steps_per_epoch or math.ceil(len(data.splits["train"]) / s.batch)
        # not `self.budget`: the search's latency budget, None here
        fixed = 2 * s.sandwich + s.fair_paths  # paths a step takes besides its sampler's
        self.path_budget = PathBudget(per_epoch=s.paths_per_step * search_steps,
                                      natural=fixed + natural_paths(data.space, registry,
                                                                    s.paths_per_step - fixed))
        evaluator = RankingEvaluator(data, s, scorer, self.path_budget, device=device,
                                     seed=seed)
        super().__init__(data.space, evaluator, predictor, s, seed=seed,
                         steps_per_epoch=self.path_budget.steps_per_epoch, sampler=registry,
                         checkpoint=checkpoint)
        self.prune_at, self.schedule = {}, []
        if registry != "learned":
            self.warmup_steps = 0  # the warm-up is the learned distribution's, not theirs
        self.supernet_evaluator = evaluator
        self.epoch_paths: list[Architecture] = []

    @property
    def supernet(self) -> Supernet:
        return self.supernet_evaluator.supernet

    @property
    def learns(self) -> bool:
        """Whether this sampler draws from, and steps, the architecture distribution."""
        return self.sampler_name == "learned"

    def train(self, on_epoch: EpochHook) -> SearchState:
        """Train to the end, calling `on_epoch(epoch, rows of that epoch, diagnostics)` after
        each epoch (before its checkpoint, so a resumed run has every scored epoch on disk).
        A learned distribution starts stepping when the search's would (`_has_learned`)."""
        st = self._load() or self._fresh()
        self.epoch_paths = []
        while st.step < self.total_steps:
            self._step(st)
            st.step += 1
            if self.learns and st.learned_at is None and self._has_learned(st):
                st.learned_at = st.step
            if st.step % self.steps_per_epoch == 0:
                epoch = st.step // self.steps_per_epoch
                on_epoch(epoch, [h for h in st.history if h["epoch"] == epoch],
                         self.diagnostics(st))
                self.epoch_paths = []
                self._save(st)
        return st

    def _step(self, st: SearchState) -> dict[str, Any]:
        """The search's step, its row describing only the paths the budget let it train."""
        row = super()._step(st)
        trained = self.supernet_evaluator.trained
        self.epoch_paths += trained
        row.update(paths=len(trained), t_ms=self.latency.exact_t(trained),
                   mean_path_ms=float(np.mean([self.figure(a).value for a in trained])))
        return row

    def diagnostics(self, st: SearchState) -> dict[str, Any]:
        """The epoch's trained paths counted per depth and per candidate of every layer and,
        for a learned sampler, the distribution at its end: whether the sampler spread its
        training or collapsed onto some paths."""
        depths, candidates = path_counts(self.space, self.epoch_paths)
        return {"paths": len(self.epoch_paths), "depth_counts": depths,
                "candidate_counts": candidates, "learning_since_step": st.learned_at,
                "probabilities": (distribution_probs(self.space, self.dist)
                                  if self.learns else None)}


def path_counts(space: SearchSpace, archs: Sequence[Architecture]
                ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """How often each depth, and each candidate of every layer, ran among `archs`."""
    depths: Counter[int] = Counter()
    layers: dict[str, Counter[int]] = {n: Counter() for n in all_layers(space)}
    for arch in archs:
        d, choice = arch_indices(space, arch)
        depths[d] += 1
        for n, i in choice.items():
            layers[n][i] += 1
    return ({str(depth): depths[d] for d, depth in enumerate(space.depths)},
            {n: {c.key: layers[n][i] for i, c in enumerate(space.candidates(n))}
             for n in all_layers(space)})


def distribution_probs(space: SearchSpace, dist: Distribution) -> dict[str, Any]:
    """The distribution's probabilities by depth and candidate, and its mean total-variation
    distance from uniform over the depth and every layer (0: nothing learned)."""
    depth_p, layer_p = dist.numpy_probs(CandidateMask.full(space))
    tv = [0.5 * float(np.abs(p - 1.0 / len(p)).sum()) for p in [depth_p, *layer_p.values()]]
    return {"depth": {str(depth): float(depth_p[d]) for d, depth in enumerate(space.depths)},
            "layers": {n: {c.key: float(layer_p[n][i])
                           for i, c in enumerate(space.candidates(n))} for n in layer_p},
            "tv_from_uniform": float(np.mean(tv))}


def recalibrate_batch_norm(net: nn.Module, images: torch.Tensor | None,
                           device: torch.device) -> bool:
    """Replace every batch norm's running statistics by their average over `images`."""
    norms = [m for m in net.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms or images is None:
        return False
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, len(images), 4):
            chunk = images[i:i + 4]
            if len(chunk) > 1 or len(images) == 1:
                net(chunk.to(device))
    net.eval()
    return True


def calibration_images(data: PreparedData, cases: int) -> torch.Tensor | None:
    """The first `cases` training cases, whole, when the space normalises by batch."""
    space = data.space
    if not any(c.norm == "batch" for n in all_layers(space) for c in space.candidates(n)):
        return None
    return whole_cases(data.split("train")[:cases], data.task)[0]


def inherited_scores(supernet: Supernet, archs: Sequence[Architecture], data: PreparedData,
                     scorers: Mapping[str, Scorer], device: torch.device,
                     calibration: torch.Tensor | None) -> dict[str, list[float]]:
    """Each architecture's validation score with the supernet's weights (BN recalibrated)
    by every scorer, from one forward pass over the whole validation split."""
    images, targets = whole_cases(data.split("val"), data.task)
    out: dict[str, list[float]] = {name: [] for name in scorers}
    with torch.random.fork_rng(devices=[]):
        for arch in archs:
            net = supernet.materialize(arch)
            recalibrate_batch_norm(net, calibration, device)
            logits = predict_logits(net.eval(), images, device)
            for name, scorer in scorers.items():
                out[name].append(float(scorer(logits, targets)))
    return out
