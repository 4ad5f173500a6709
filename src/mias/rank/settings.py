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

SamplerName = Literal["mias", "mias-eps0", "fairnas", "spos"]

#: rank's sampler names → the search's sampler registry.
SAMPLER_REGISTRY: dict[str, str] = {"mias": "learned", "mias-eps0": "learned", "fairnas": "fair",
                                    "spos": "uniform"}

#: supernet settings a variant changes from the preset's: ranking measures the accuracy
#: signal, so MIAS is also run with its distribution stepped on the task loss alone.
SAMPLER_OVERRIDES: dict[str, dict[str, float]] = {"mias-eps0": {"eps_lat": 0.0}}

SAMPLER_DESCRIPTIONS: dict[str, str] = {
    "mias": "K paths per step from the learned architecture distribution, stepped on the "
            "paper's loss L = eps_ce*TSL + eps_lat*T (REINFORCE with a leave-one-out "
            "baseline, closed-form E[T]); uniform during the preset's warm-up epochs (the "
            "other samplers have none)",
    "mias-eps0": "MIAS with eps_lat = 0: the distribution stepped on the task loss alone, the "
                 "search's settings otherwise",
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
