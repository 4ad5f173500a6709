"""Ranking supernets: MIAS's training step without pruning, and inherited-weight scores.

`RankingSupernet` is the search's own loop piece by piece — `MiasSearch._step` samples the
step's paths (learned / strict-fair / uniform), trains the shared weights on them and, for
MIAS, steps the architecture distribution on the paper's loss — but it never prunes and
never tunes, so all N ranked architectures stay in the space and every sampler trains
with the same optimiser settings. It checkpoints at each epoch through the search's own
checkpoint (weights, optimiser, logits, RNG and sampler states), so a killed run resumes
exactly.

`inherited_scores` materialises each architecture with the supernet's weights, re-estimates
batch-norm statistics on training cases where the space uses batch norm (a shared BN's
running statistics mix every path it served, which is known to scramble rankings; the
segmentation spaces use instance norm and need none), and scores it on the whole
validation split, as a standalone training is scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mias.hardware.predictors import LatencyPredictor
from mias.presets import SearchSettings
from mias.rank.settings import SAMPLER_REGISTRY
from mias.search.controller import MiasSearch, SearchState
from mias.search.state import all_layers
from mias.search.supernet_evaluator import SupernetEvaluator
from mias.space import Architecture, Supernet
from mias.train.data import PreparedData, whole_cases
from mias.train.scoring import Scorer
from mias.train.standalone import validate

EpochHook = Callable[[int, list[dict]], None]


def ranking_settings(settings: SearchSettings) -> SearchSettings:
    """The preset's supernet settings with tuning off (pruning is never called)."""
    return settings.model_copy(update={"hpo": settings.hpo.model_copy(update={"enabled": False})})


class RankingSupernet(MiasSearch):
    """One supernet trained with one sampler for the preset's epochs, scored every epoch."""

    def __init__(self, data: PreparedData, settings: SearchSettings, predictor: LatencyPredictor,
                 scorer: Scorer, sampler: str, *, seed: int, device: torch.device,
                 checkpoint: Path | None = None) -> None:
        s = ranking_settings(settings)
        evaluator = SupernetEvaluator(data, s, scorer, device=device, seed=seed)
        per_epoch = s.steps_per_epoch or math.ceil(len(data.splits["train"]) / s.batch)
        super().__init__(data.space, evaluator, predictor, s, seed=seed,
                         steps_per_epoch=per_epoch, sampler=SAMPLER_REGISTRY[sampler],
                         checkpoint=checkpoint)
        self.prune_at, self.schedule = {}, []
        if sampler != "mias":
            self.warmup_steps = 0  # the warm-up is the learned distribution's, not theirs
        self.supernet_evaluator = evaluator

    @property
    def supernet(self) -> Supernet:
        return self.supernet_evaluator.supernet

    def train(self, on_epoch: EpochHook) -> SearchState:
        """Train to the end, calling `on_epoch(epoch, rows of that epoch)` after each epoch
        (before its checkpoint, so a resumed run has every scored epoch on disk)."""
        st = self._load() or self._fresh()
        while st.step < self.total_steps:
            self._step(st)
            st.step += 1
            if st.step % self.steps_per_epoch == 0:
                epoch = st.step // self.steps_per_epoch
                on_epoch(epoch, [h for h in st.history if h["epoch"] == epoch])
                self._save(st)
        return st


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
                     scorer: Scorer, device: torch.device,
                     calibration: torch.Tensor | None) -> list[float]:
    """Each architecture's validation score with the supernet's weights (BN recalibrated)."""
    out = []
    with torch.random.fork_rng(devices=[]):
        for arch in archs:
            net = supernet.materialize(arch)
            recalibrate_batch_norm(net, calibration, device)
            out.append(float(validate(net.eval(), data, scorer, device)))
    return out
