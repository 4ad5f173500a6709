"""Seed merging, seed-to-seed agreement and the reduced space, on hand-made rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mias.bench.seeds import merge_seeds, seed_agreement
from mias.bench.tabulated import enumerate_space, reduce_space
from mias.space import SearchSpace, network_flops


def _cell(seed: int, metric: float, dice: dict[str, float | None]) -> dict:
    return {"task": "T", "arch_id": "a", "genotype_id": "g", "arch": "{}", "depth": 1,
            "metric_name": "Dice", "train_steps": 4, "metric": metric, "dice": metric,
            "dice_by_structure": json.dumps(dice), "train_seconds": 1.0 + seed,
            "diverged": seed == 1, "seed": seed, "curve": [metric / 2, metric]}


def test_merge_seeds_means_figures_and_keeps_each_seed() -> None:
    row = merge_seeds([_cell(1, 0.6, {"a": 0.6, "b": None}), _cell(0, 0.2, {"a": 0.2, "b": 0.4})])
    assert row["metric"] == pytest.approx(0.4) and row["train_seconds"] == pytest.approx(1.5)
    assert json.loads(row["dice_by_structure"]) == pytest.approx({"a": 0.4, "b": 0.4})
    assert json.loads(row["training_seeds"]) == [0, 1] and row["diverged"] is True
    assert json.loads(row["metric_by_seed"]) == {"0": 0.2, "1": 0.6}
    assert json.loads(row["curve_by_seed"])["1"] == [0.3, 0.6]
    assert row["metric_sd"] == pytest.approx(np.std([0.2, 0.6], ddof=1))


def _rows(seed0: list[float], seed1: list[float]) -> pd.DataFrame:
    pairs = list(zip(seed0, seed1, strict=True))
    return pd.DataFrame({
        "metric_by_seed": [json.dumps({"0": a, "1": b}) for a, b in pairs],
        "curve_by_seed": [json.dumps({"0": [0.0, a], "1": [b, b]}) for a, b in pairs]})


def test_seed_agreement_is_kendall_tau_between_seeds_per_epoch() -> None:
    ranks = [0.1, 0.2, 0.3, 0.4, 0.5]
    same = seed_agreement(_rows(ranks, ranks))
    assert same["kendall_tau"] == pytest.approx(1.0) and same["ci95"][0] == pytest.approx(1.0)
    assert same["by_epoch"][0] is None  # seed 0 ties everything at epoch 1
    assert same["by_epoch"][1] == pytest.approx(1.0)
    assert seed_agreement(_rows(ranks, ranks[::-1]))["kendall_tau"] == pytest.approx(-1.0)
    single = seed_agreement(pd.DataFrame({"metric_by_seed": [json.dumps({"0": 0.1})],
                                          "curve_by_seed": [json.dumps({"0": [0.1]})]}))
    assert single["kendall_tau"] is None and single["seeds"] == 1


def test_reduced_space_spans_the_cost_range_and_enumerates(tiny_build: tuple[Path, Path]
                                                           ) -> None:
    work, _ = tiny_build
    space = SearchSpace.load(work / "prep" / "Hippocampus" / "search_space.json")
    small = reduce_space(space, 3)
    for name in space.layer_names():
        kept = small.candidates(name)
        assert len(kept) == min(3, len(space.candidates(name)))
        assert set(kept) <= set(space.candidates(name))
    archs = enumerate_space(small)
    assert len(archs) == len(set(archs)) == small.size()
    for a in archs:
        small.check(a)
    full = [network_flops(space, space.sample(np.random.default_rng(i))) for i in range(200)]
    tab = [network_flops(small, a) for a in archs]
    assert min(tab) <= min(full) and max(tab) >= max(full)
    assert SearchSpace.from_dict(small.to_dict()) == small
