"""Shared fixtures: one tiny prepared hippocampus set (built once), tiny training settings,
and single-threaded torch for stable test times on the shared machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.presets.models import TrainSettings
from mias.train.data import PreparedData

TINY_SHAPE = (16, 24, 16)


@pytest.fixture(autouse=True, scope="module")
def _one_thread_per_module():
    """Set once per module (not per test): training tests are many short loops."""
    before, _ = torch.get_num_threads(), torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def hippo_raw(tmp_path_factory) -> Path:
    return synthesize("hippocampus", tmp_path_factory.mktemp("h") / "D", cases=10, seed=11)


@pytest.fixture(scope="session")
def hippo_prep(tmp_path_factory, hippo_raw) -> Path:
    out = tmp_path_factory.mktemp("hp") / "prep"
    return prepare(hippo_raw, out, PrepareConfig(input_shape=TINY_SHAPE, workers=1))


@pytest.fixture(scope="session")
def hippo_data(hippo_prep) -> PreparedData:
    return PreparedData.load(hippo_prep)


@pytest.fixture
def tiny_settings() -> TrainSettings:
    return TrainSettings(epochs=3, steps_per_epoch=2, batch=2, lr=0.02, augment=True)


@pytest.fixture(scope="session")
def small_arch(hippo_data):
    """The cheapest of a few seeded draws: fast to train, still a real U-Net."""
    import numpy as np

    from mias.space import network_flops

    rng = np.random.default_rng(0)
    draws = [hippo_data.space.sample(rng) for _ in range(30)]
    return min(draws, key=lambda a: network_flops(hippo_data.space, a))


def write_search_result(run: Path, prep: Path, arch, *, train: dict | None = None,
                        evaluate: dict | None = None, supernet_seed: int | None = None,
                        few_shot: bool = False) -> Path:
    """A hand-made `RUN/search/result.json` (and optionally `supernet.pt`), shaped as the
    search writes them, so training and evaluation are tested without running a search."""
    from mias.atomic import write_json
    from mias.presets import load_preset
    from mias.train.data import PreparedData

    overrides = {"train": {"epochs": 2, "steps_per_epoch": 2, "batch": 2,
                           "time_budget_min": None} | (train or {}),
                 "evaluate": evaluate or {}}
    preset = load_preset("demo", overrides=overrides)
    (run / "search").mkdir(parents=True, exist_ok=True)
    write_json(run / "search" / "result.json", {
        "schema_version": 1, "arch": arch.to_dict(), "arch_id": arch.id,
        "prep": str(Path(prep).resolve()), "target": "rpi3", "seed": 0,
        "config": preset.model_dump(mode="json"),
        "latency": {"value": 12.0, "unit": "ms", "source": "estimated", "device": "rpi3",
                    "model": "roofline(rpi3)"},
        "pareto": [], "pruning_log": [], "history": []})
    if supernet_seed is not None:
        from mias.space import build_supernet

        space = PreparedData.load(prep).space
        net = build_supernet(space, seed=supernet_seed, few_shot=few_shot)
        torch.save({"state_dict": net.state_dict(), "space": space.to_dict(),
                    "seed": supernet_seed, "few_shot": few_shot}, run / "search" / "supernet.pt")
    return run
