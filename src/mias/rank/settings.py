"""What a rank measures and how: the protocol knobs that are not training budgets.

The budgets themselves come from the preset — `train` for each standalone training (the
ground truth), `search` for each supernet — so a rank spends them as `mias search` and
`mias train` would; pruning and tuning are off in a ranking supernet, since every one of the
N architectures must stay scorable and all samplers must see the same optimiser. Every
sampler trains the same number of paths (`trainer.PathBudget`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mias.presets import SearchSettings

SamplerName = Literal["mias", "mias-eps0", "mias-fewshot", "mias-sandwich",
                      "mias-fewshot-sandwich", "mias-explore", "mias-fair", "fairnas",
                      "spos"]

#: rank's sampler names → the search's sampler registry.
SAMPLER_REGISTRY: dict[str, str] = {"mias": "learned", "mias-eps0": "learned",
                                    "mias-fewshot": "learned", "mias-sandwich": "learned",
                                    "mias-fewshot-sandwich": "learned",
                                    "mias-explore": "learned", "mias-fair": "learned",
                                    "fairnas": "fair",
                                    "spos": "uniform"}

#: one-shot supernet training, as the published FairNAS and SPOS train theirs
_ONE_SHOT = {"few_shot": False, "few_shot_split": 0.0, "sandwich": False, "explore": 0.0,
             "fair_paths": 0}

#: the share of the steps a few-shot variant trains one-shot before splitting by depth
SPLIT = 0.5

#: the uniform share of the `mias-explore` variant
EXPLORE = 0.5

#: the strict-fair paths per step of the `mias-fair` variant (half of the demo's K = 4)
FAIR_PATHS = 2

#: supernet settings a variant changes from the preset's: ranking measures the accuracy
#: signal, so MIAS is also run with its distribution stepped on the task loss alone, and
#: with each supernet training the search offers; "mias" itself is the preset's. The
#: baselines train a one-shot supernet whatever the preset says.
SAMPLER_OVERRIDES: dict[str, dict[str, float | bool]] = {
    "mias-eps0": {"eps_lat": 0.0},
    "mias-fewshot": {"few_shot": True, "few_shot_split": SPLIT, "sandwich": False},
    "mias-sandwich": {"few_shot": False, "few_shot_split": 0.0, "sandwich": True},
    "mias-fewshot-sandwich": {"few_shot": True, "few_shot_split": SPLIT, "sandwich": True},
    "mias-explore": {"explore": EXPLORE},
    "mias-fair": {"fair_paths": FAIR_PATHS},
    "fairnas": _ONE_SHOT,
    "spos": _ONE_SHOT,
}

SAMPLER_DESCRIPTIONS: dict[str, str] = {
    "mias": "K paths per step from the learned architecture distribution, stepped on the "
            "paper's loss L = eps_ce*TSL + eps_lat*T (REINFORCE with a leave-one-out "
            "baseline, closed-form E[T]); uniform during the preset's warm-up epochs (the "
            "other samplers have none)",
    "mias-eps0": "MIAS with eps_lat = 0: the distribution stepped on the task loss alone, the "
                 "search's settings otherwise",
    "mias-fewshot": f"MIAS on a few-shot supernet: one-shot for {SPLIT:.0%} of the steps, "
                    "then split into one sub-supernet per depth, each from the one-shot "
                    "weights, the depths taken in turn, one per step; the distribution "
                    "learns the layers",
    "mias-sandwich": "MIAS with the sandwich rule: each step the largest and the smallest "
                     "path beside K - 2 from the distribution, the others distilled in place "
                     "from the largest's output",
    "mias-fewshot-sandwich": "MIAS on a few-shot supernet with the sandwich rule within "
                             "the step's depth",
    "mias-explore": f"MIAS with {EXPLORE:g} of every draw uniform (explore): no candidate "
                    "falls below that share of the updates, however the distribution "
                    "concentrates",
    "mias-fair": f"MIAS with {FAIR_PATHS} of the K paths of every step dealt by FairNAS's "
                 "strict-fair rotation (fair_paths), the rest drawn from the distribution, "
                 "which only those step",
    "fairnas": "FairNAS strict fairness: m = max(K, largest candidate count, depths) paths "
               "per step, so proportionally fewer steps for the same path updates; depths "
               "dealt in shuffled cycles, then each layer deals its candidates in shuffled "
               "cycles to the paths deep enough to run it, so counts differ by at most one "
               "within every layer",
    "spos": "uniform single-path sampling (SPOS): K paths per step, depth and every layer "
            "uniform",
}


class RankSettings(BaseModel):
    """The protocol of one rank (everything except the preset's budgets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    archs: int = Field(20, ge=4, description="architectures ranked (N)")
    samplers: tuple[SamplerName, ...] = ("mias", "fairnas", "spos")
    pool_per_arch: int = Field(20, ge=1, description="random architectures drawn per "
                               "stratum before one is picked from each")
    target: str = Field("rpi3", description="device whose predicted latency stratifies the "
                        "draw and enters the MIAS loss")
    seed: int = Field(0, ge=0)
    truth_seeds: int = Field(1, ge=1, le=8, description="standalone trainings per "
                             "architecture, seeds seed, seed+1, …: the ground truth is their "
                             "mean, and with 2 or more the truth's own test–retest τ (even "
                             "against odd seeds) is reported as the ceiling no supernet can "
                             "be checked beyond")
    bootstrap: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    top_k: int = Field(5, ge=1)
    bn_cases: int = Field(16, ge=1, description="training cases that recalibrate batch-norm "
                          "statistics before each inherited-weight score")
    min_val_cases: int = Field(1, ge=1, description="fewest validation cases the scores may "
                               "rest on: a prepared split with fewer is refused before any "
                               "training (a score on 2 cases ties and swings between epochs)")

    @field_validator("samplers")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or len(set(v)) != len(v):
            raise ValueError("samplers must be a non-empty list without repeats")
        return v


def ranking_settings(settings: SearchSettings, sampler: str = "mias") -> SearchSettings:
    """The preset's supernet settings with tuning off (pruning is never called) and the
    sampler variant's changes (`SAMPLER_OVERRIDES`), validated as a preset is (a variant's
    change may not fit the preset, e.g. the sandwich rule with too few paths per step)."""
    return SearchSettings.model_validate({
        **settings.model_dump(), "hpo": {**settings.hpo.model_dump(), "enabled": False},
        **SAMPLER_OVERRIDES.get(sampler, {})})
