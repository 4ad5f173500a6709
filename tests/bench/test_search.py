"""Strategies against the table, the genotype transfer and the multi-task protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mias.bench.api import MedNasBench
from mias.bench.evaluator import TableLatency, table_problem
from mias.bench.genotype import lift, project
from mias.bench.protocol import DEFAULT_SEEN, DEFAULT_UNSEEN, Split, evaluate_protocol
from mias.bench.strategies import hypervolume, list_strategies, run_strategy
from mias.bench.tasks import task_names
from mias.errors import InputError


def test_genotype_round_trip_and_transfer(tiny_build: tuple[Path, Path]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    hippo, spleen = bench.space("Hippocampus"), bench.space("Spleen")
    for i in range(10):
        arch = hippo.sample(np.random.default_rng(i))
        assert project(hippo, lift(hippo, arch)) == arch
        spleen.check(project(spleen, lift(hippo, arch)))


@pytest.mark.parametrize("strategy", list_strategies())
def test_strategy_against_the_table(tiny_build: tuple[Path, Path], strategy: str) -> None:
    bench = MedNasBench.load(tiny_build[1])
    table = [bench.query(a, "Spleen", "rpi3") for a in bench.archs("Spleen")]
    budget = float(np.median([r["latency_ms"] for r in table]))
    result = run_strategy(strategy, table_problem(bench, "Spleen", "rpi3", budget), steps=40,
                          seed=0)
    assert len(result.trials) == result.evaluations == 40
    assert result.best is not None and result.best.latency_ms <= budget
    again = run_strategy(strategy, table_problem(bench, "Spleen", "rpi3", budget), steps=40,
                         seed=0)
    assert [t.arch for t in again.trials] == [t.arch for t in result.trials]
    ref = max(r["latency_ms"] for r in table) * 1.1
    assert 0.0 < hypervolume(result.front, ref) <= 1.0


def test_table_latency_matches_the_table(tiny_build: tuple[Path, Path]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    latency = TableLatency(bench, "Hippocampus", "rpi4")
    for arch in bench.archs("Hippocampus"):
        assert latency(arch) == pytest.approx(bench.latency(arch, "Hippocampus", "rpi4"))


def test_default_split_uses_each_task_once() -> None:
    assert sorted((*DEFAULT_SEEN, *DEFAULT_UNSEEN)) == sorted(task_names())
    assert len(set(DEFAULT_SEEN) | set(DEFAULT_UNSEEN)) == 11
    Split().check(task_names())
    with pytest.raises(InputError, match="both seen and unseen"):
        Split(("Heart",), ("Heart",)).check(task_names())
    with pytest.raises(InputError, match="not in the table"):
        Split(("Heart",), ("Mars",)).check(task_names())


def test_protocol_transfers_the_found_design(tiny_build: tuple[Path, Path]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    result = evaluate_protocol(bench, strategy="evolution", device="rpi3", budget_ms=None,
                               steps=30, seed=0, split=Split(("Hippocampus",), ("Spleen",)))
    unseen = result["unseen"]["Spleen"]
    assert 0.0 <= unseen["percentile"] <= 1.0 and unseen["latency_ms"] > 0
    found = result["found"]
    arch = project(bench.space("Spleen"), type(lift(bench.space("Hippocampus"),
                                                    bench.archs("Hippocampus")[0]))
                   .from_dict(found["genotype"]))
    assert arch.id == unseen["arch_id"]
