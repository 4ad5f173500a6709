"""Presets: the whole configuration of a run as data (pydantic), not as subclasses.

nnU-Net grew a trainer subclass per setting (`nnUNetTrainer_5epochs`, …); here every
budget, loss weight, schedule and baseline is a field of one validated model, presets are
YAML files beside this module, and `--config FILE` overrides any field. An unknown or
ill-typed field is an `InputError` naming it.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    # every figure of a preset is finite: `lr: .inf` is a typo, not a setting
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PruneStep(_Strict):
    """At `at` (fraction of the search's steps) keep the `keep` best candidates per layer."""

    at: float = Field(gt=0.0, lt=1.0)
    keep: int = Field(ge=1)


class Range(_Strict):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise ValueError(f"need finite low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class HpoSettings(_Strict):
    """Optuna tuning during supernet training; its objective is the task loss only."""

    enabled: bool = True
    at_epoch: int = Field(1, ge=0, description="tune after this many supernet epochs")
    trials: int = Field(8, ge=1)
    trial_steps: int = Field(10, ge=1, description="supernet steps per trial, warm-started")
    report_every: int = Field(2, ge=1, description="steps between reports to the pruner")
    lr: Range = Range(low=1e-3, high=0.1, log=True)
    momentum: Range = Range(low=0.8, high=0.99)
    weight_decay: Range = Range(low=1e-6, high=1e-3, log=True)


class SearchSettings(_Strict):
    """Supernet training while searching (paper component 2)."""

    epochs: int = Field(ge=1)
    steps_per_epoch: int | None = Field(None, ge=1, description="default: train cases / batch")
    batch: int = Field(ge=1)
    patch: list[int] | None = Field(None, description="training patch; default: the input shape")
    patch_voxels: int | None = Field(None, ge=1, description="without `patch`: the input "
                                     "scaled down evenly to about this many voxels")
    foreground: float = Field(1 / 3, ge=0, le=1, description="share of training patches "
                              "centred on the structure (nnU-Net: a third)")
    paths_per_step: int = Field(10, ge=1, description="K sub-networks sampled per step")
    optimizer: Literal["sgd"] = "sgd"
    lr: float = Field(gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(3e-5, ge=0)
    eps_ce: float = Field(ge=0)
    eps_lat: float = Field(ge=0)
    augment: bool = Field(False, description="nnU-Net's augmentation of the supernet's "
                          "training patches (a hundred steps are too few for it to pay off)")
    latency_term: Literal["max", "path"] = Field(
        "max", description="latency in the loss: `max` = T, the paper's Σ over layers of the "
        "slowest block of the step's K paths; `path` = the expected latency of one path, the "
        "network that is deployed (its gradient survives a collapsed distribution)")
    budget_lr: float = Field(0.5, gt=0, description="step of the Lagrange multiplier of "
                             "--latency-budget per search step, per unit of relative excess "
                             "of the expected path over the budget")
    arch_lr: float = Field(0.05, gt=0, description="Adam step on the architecture logits")
    warmup_epochs: int = Field(0, ge=0, description="uniform sampling, no architecture step")
    val_batch: int = Field(2, ge=1, description="validation patches scored per step")
    soft_metric: bool = Field(True, description="score segmentation paths by soft Dice (on "
                              "probabilities) while searching; hard Dice at the end")
    prune: list[PruneStep] = Field(default_factory=lambda: [
        PruneStep(at=0.3, keep=6), PruneStep(at=0.55, keep=3), PruneStep(at=0.8, keep=1)])
    gate_window: int = Field(10, ge=1, description="steps over which the smoothed "
                             "validation metric must have stopped rising before a scheduled "
                             "pruning point is taken")
    gate_min_gain: float = Field(0.01, ge=0, description="gain of the smoothed validation "
                                 "metric over gate_window steps below which the supernet "
                                 "counts as having learned (a plateau)")
    gate_min_rise: float = Field(0.05, ge=0, description="rise of the smoothed validation "
                                 "metric above its mean over the first gate_window steps (and "
                                 "at least twice their spread) before the supernet counts as "
                                 "having learned at all; until then (a plateau at chance is no "
                                 "plateau) the search neither prunes nor moves its "
                                 "architecture distribution, and the points wait, at the "
                                 "latest, until the last step")
    prune_z: float = Field(1.0, ge=0, le=10, description="width of a candidate's confidence "
                           "interval in standard errors: a candidate is pruned only when its "
                           "upper bound falls below the keep-th best lower bound")
    prior_samples: float = Field(2.0, ge=0, description="shrinkage of a candidate's metric "
                                 "estimate towards its layer's mean")
    pareto_reeval: int = Field(8, ge=1, description="non-dominated paths re-scored on the "
                               "whole validation split at the end")
    race_steps: int = Field(0, ge=0, description="at the last pruning point, the best path "
                            "of each depth still in the space is trained on its own for this "
                            "many steps with the final training's recipe and the depth is "
                            "decided on whole-volume validation (0: the supernet's scores "
                            "decide, as in the paper). Weight sharing favours the depth whose "
                            "shared weights learn fastest, not the one that trains best")
    explore: float = Field(0.0, ge=0, le=1, description="share of uniform sampling mixed "
                           "into the learned distribution, (1 - explore) * p + explore * "
                           "uniform over the alive candidates, for sampling, REINFORCE and "
                           "the expected latencies alike: no alive candidate is drawn less "
                           "often than explore / alive, so the shared weights of the ones the "
                           "distribution has left behind do not go stale")
    fair_paths: int = Field(0, ge=0, description="paths of each step dealt by FairNAS's "
                            "strict-fair rotation instead of drawn from the distribution: "
                            "over each rotation every alive candidate of every layer is "
                            "trained equally often, however the distribution concentrates; "
                            "they train the shared weights and are scored, but do not step "
                            "the distribution (REINFORCE is on-policy)")
    few_shot: bool = Field(False, description="one sub-supernet per depth (few-shot NAS "
                           "split by depth): no weight is shared across depths, and each step "
                           "trains the paths of one depth, the alive depths taken in turn, so "
                           "every depth's weights get the same share of the steps whatever the "
                           "distribution prefers; the distribution learns the layers, the "
                           "pruning and the race decide the depth")
    few_shot_split: float = Field(0.0, ge=0, lt=1, description="under few_shot, the share of "
                                  "the steps trained one-shot before the supernet is split by "
                                  "depth, each sub-supernet starting from the one-shot weights "
                                  "(few-shot NAS); 0: split from the first step")
    sandwich: bool = Field(False, description="sandwich rule: each step trains the largest "
                           "and the smallest path the space (under few_shot: the step's "
                           "depth) still allows beside paths_per_step - 2 sampled ones, and "
                           "every other path also learns the largest's output (in-place "
                           "distillation); only the sampled paths step the distribution")
    distill_weight: float = Field(1.0, ge=0, description="weight of the in-place "
                                  "distillation term (KL divergence to the largest path's "
                                  "class probabilities; squared error for regression) added "
                                  "to a path's task loss under the sandwich rule")
    hpo: HpoSettings = HpoSettings()

    @model_validator(mode="after")
    def _split_needs_few_shot(self) -> SearchSettings:
        if self.few_shot_split > 0 and not self.few_shot:
            raise ValueError("few_shot_split splits a few-shot supernet: set few_shot: true, "
                             "or drop few_shot_split")
        return self

    @model_validator(mode="after")
    def _room_for_sampled_paths(self) -> SearchSettings:
        fixed = 2 * self.sandwich + self.fair_paths
        if fixed and self.paths_per_step < fixed + 2:
            raise ValueError(f"paths_per_step must be >= {fixed + 2}: the sandwich rule's "
                             "largest and smallest path and the fair_paths take "
                             f"{fixed}, and at least 2 sampled ones are needed for the "
                             "distribution's step to compare")
        return self

    @model_validator(mode="after")
    def _some_objective(self) -> SearchSettings:
        if self.eps_ce == 0 and self.eps_lat == 0:
            raise ValueError("eps_ce and eps_lat are both 0: the architecture objective is "
                             "empty and nothing would choose the network; give eps_ce > 0 "
                             "(accuracy) and eps_lat ≥ 0 (latency)")
        return self

    @field_validator("prune")
    @classmethod
    def _schedule(cls, v: list[PruneStep]) -> list[PruneStep]:
        ats = [p.at for p in v]
        keeps = [p.keep for p in v]
        if not v or ats != sorted(set(ats)) or keeps != sorted(keeps, reverse=True) \
                or keeps[-1] != 1:
            raise ValueError("pruning points must be increasing in `at`, non-increasing in "
                             "`keep`, and end with keep: 1")
        return v


class TrainSettings(_Strict):
    """Standalone training of the chosen architecture (and of baselines, same budget).

    One recipe for every network MIAS trains: SGD (Nesterov, poly, gradient norm clipped at
    12, He initialisation, as nnU-Net; momentum 0.9 by measurement, where nnU-Net's 0.99
    does not converge in the demo's budget) or AdamW (linear warm-up, cosine), deep
    supervision, the patch and batch planned from the data and the memory budget, and a
    budget in steps or minutes with early stopping on a smoothed validation metric.
    """

    epochs: int = Field(ge=1)
    steps_per_epoch: int | None = Field(None, ge=1, description="steps between validations "
                                        "and checkpoints; default: train cases / batch")
    steps: int | None = Field(None, ge=1, description="total steps; default: epochs × "
                              "steps_per_epoch")
    time_budget_min: float | None = Field(None, gt=0, description="stop after this many "
                                          "minutes; the schedule decays to it")
    batch: int = Field(ge=1, description="largest batch; the plan may lower it to fit memory")
    patch: list[int] | None = None
    patch_voxels: int | None = Field(None, ge=1)
    memory_mib: float | None = Field(None, gt=0, description="training memory budget; "
                                     "default: memory_share of the training device's memory")
    memory_share: float = Field(0.25, gt=0, le=1, description="share of the training "
                                "device's memory the plan may fill")
    foreground: float = Field(1 / 3, ge=0, le=1)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (nnU-Net: 0.99, which "
                            "converges too slowly for short budgets: "
                            "benchmarks/results/optimizer.json)")
    nesterov: bool = True
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(3e-5, ge=0)
    schedule: Literal["poly", "cosine", "constant"] = "poly"
    poly_exponent: float = Field(0.9, gt=0)
    warmup: float = Field(0.0, ge=0, lt=1, description="share of the budget with a linear "
                          "learning-rate warm-up")
    grad_clip: float | None = Field(12.0, gt=0, description="largest gradient norm")
    weight_init: Literal["he", "default"] = Field("he", description="he: Kaiming normal "
                                                  "(a=0.01), zero biases, as nnU-Net")
    deep_supervision: bool = True
    augment: bool = True
    early_stop_patience: int | None = Field(None, ge=1, description="validations without a "
                                            "better smoothed metric before stopping")
    early_stop_smoothing: float = Field(0.9, ge=0, lt=1, description="EMA factor of the "
                                        "validation metric (nnU-Net: 0.9)")
    use_tuned: bool = Field(True, description="final training takes the search's tuned "
                            "lr, momentum and weight decay when its optimiser is SGD")
    init: Literal["scratch", "inherited"] = "scratch"


class EvaluateSettings(_Strict):
    """What `mias evaluate` reports beside the found network."""

    baselines: list[Literal["mlp", "rf", "unet", "nnunet", "random"]] = Field(
        default_factory=lambda: ["mlp", "rf", "unet", "nnunet", "random"])
    random_control: int = Field(5, ge=0, description="random architectures of the same "
                                "predicted latency (±10%), trained with the same budget")
    bootstrap: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    detection_min_voxels: int = Field(10, ge=1, description="a predicted component smaller "
                                      "than this is not a detection")
    nnunet_epochs: int = Field(5, ge=1)
    sliding_window_overlap: float = Field(0.5, ge=0, lt=1)
    test_time_mirroring: bool = Field(False, description="average the logits over every "
                                      "flip of the spatial axes (nnU-Net's mirroring; "
                                      "2^dims forward passes per window)")
    surface_tolerance_mm: float = Field(1.0, gt=0, description="surface Dice tolerance")
    voxel_samples: int = Field(4000, ge=10, description="training voxels per case for "
                               "the MLP and random forest (half foreground)")
    mlp_hidden: list[int] = Field(default_factory=lambda: [64, 32])
    mlp_epochs: int = Field(200, ge=1)
    rf_trees: int = Field(100, ge=1)
    rf_depth: int | None = Field(16, ge=1)
    measure_latency: bool = Field(True, description="time every model's ONNX on this host")
    acceptance_margin: float = Field(0.02, ge=0, description="change control: how far a new "
                                     "model's metric CI bound may fall behind this one's, and "
                                     "its worst-group gap exceed this one's")
    acceptance_predictor_error: float = Field(0.10, gt=0, description="change control: largest "
                                              "relative error of the latency predictor against "
                                              "a measurement on the target (nn-Meter's ±10%)")


class MetricSettings(_Strict):
    """Overrides the prepared task's target metric (e.g. precision-weighted F-β)."""

    name: Literal["dice", "f_beta", "mae", "volume_error"] | None = None
    beta: float | None = Field(None, gt=0)

    @field_validator("beta")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("beta must be finite")
        return v


class Preset(_Strict):
    """A complete run configuration."""

    name: str
    description: str
    metric: MetricSettings = MetricSettings()
    search: SearchSettings
    train: TrainSettings
    evaluate: EvaluateSettings = EvaluateSettings()


TUNED = ("lr", "momentum", "weight_decay")


def with_tuned(preset: Preset, tuned: dict[str, float] | None
               ) -> tuple[TrainSettings, str, str]:
    """The preset's training settings with the search's tuned hyper-parameters where they
    apply: (settings, source, why). One rule for every standalone training of a found
    network — the search's depth race and the final training — so the race judges
    candidates by the recipe the winner is then trained with."""
    settings = preset.train
    if not settings.use_tuned:
        return settings, "preset", "train.use_tuned is off"
    if not tuned:
        return settings, "preset", "the search tuned nothing (hpo disabled or no trial finished)"
    if settings.optimizer != preset.search.optimizer:
        return settings, "preset", (f"tuned for {preset.search.optimizer}, training uses "
                                    f"{settings.optimizer}")
    return (settings.model_copy(update={k: float(tuned[k]) for k in TUNED if k in tuned}),
            "search", "tuned by the search (RUN/search/result.json hpo.chosen)")
