"""Builder: the Ray and process-pool backends give the same table; builds resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mias.bench import fanout
from mias.bench.builder import build
from mias.bench.cells import CellJob
from mias.bench.table import read_table

from .conftest import TINY_TASKS, shared_prep, tiny_config

TIMING = ["train_seconds"]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=TIMING).sort_values(["task", "arch_id"]).reset_index(drop=True)


def test_tiny_table_has_every_cell_and_its_provenance(tiny_build: tuple[Path, Path]) -> None:
    _, table = tiny_build
    frame, meta = read_table(table)
    assert sorted(frame["task"].unique()) == sorted(TINY_TASKS)
    assert frame.groupby("task").size().tolist() == [4, 4]
    assert frame["metric"].between(0, 1).all() and (frame["flops"] > 0).all()
    assert set(frame["latency_source__rpi3"]) == {"estimated"}
    assert meta["devices"]["rpi3"]["latency_model"] == "roofline"
    assert meta["schedule"]["epochs"] == 2 and meta["schedule"]["steps_per_epoch"] == 1
    assert set(meta["tasks"]) == set(TINY_TASKS)
    assert meta["tasks"]["Spleen"]["task"]["modality"] == "CT"
    # one design list for all tasks: every genotype id appears in both tasks' rows
    by_task = frame.groupby("task")["genotype_id"].apply(set)
    assert by_task["Spleen"] & by_task["Hippocampus"]


@pytest.mark.slow
def test_local_ray_gives_the_same_table(tiny_build: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("ray")
    work, table = tiny_build
    ray_work = shared_prep(work, tmp_path / "ray")
    report = build(tiny_config(), ray_work, tmp_path / "ray.parquet", backend="ray", workers=2)
    assert report.backend == "ray" and report.computed == 16
    pd.testing.assert_frame_equal(_comparable(read_table(table)[0]),
                                  _comparable(read_table(report.path)[0]))


def test_interrupted_build_resumes_without_recomputing(tiny_build: tuple[Path, Path],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    work, table = tiny_build
    resume = shared_prep(work, tmp_path / "resume")
    calls: list[tuple[str, str]] = []
    real = fanout.compute_cell

    def crashing(job: CellJob) -> dict[str, Any]:
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append((job.task, job.arch_id, job.seed))
        return real(job)

    monkeypatch.setattr(fanout, "compute_cell", crashing)
    with pytest.raises(KeyboardInterrupt):
        build(tiny_config(archs=2), resume, tmp_path / "t.parquet", backend="pool", workers=1)
    assert not (tmp_path / "t.parquet").exists()
    first = list(calls)
    monkeypatch.setattr(fanout, "compute_cell",
                        lambda job: (calls.append((job.task, job.arch_id, job.seed)),
                                     real(job))[1])
    report = build(tiny_config(archs=2), resume, tmp_path / "t.parquet", backend="pool",
                   workers=1)
    assert report.reused == 2 and report.computed == 6
    assert not set(calls[len(first):]) & set(first)
    resumed = _comparable(read_table(report.path)[0]).drop(columns="genotype_id")
    full = _comparable(read_table(table)[0])
    full = full[full["arch_id"].isin(resumed["arch_id"])].reset_index(drop=True)
    cols = ["task", "arch_id", "metric", "dice", "params", "latency_ms__rpi3"]
    pd.testing.assert_frame_equal(resumed[cols], full[cols])


def test_rows_are_seed_means_with_curves_and_seed_agreement(tiny_build: tuple[Path, Path]
                                                            ) -> None:
    from mias.bench.api import MedNasBench

    _, table = tiny_build
    bench = MedNasBench.load(table)
    for task in TINY_TASKS:
        for arch in bench.archs(task):
            row = bench.query(arch, task, "rpi3")
            assert row["training_seeds"] == [0, 1]
            by_seed = row["metric_by_seed"]
            assert row["metric"] == pytest.approx(sum(by_seed.values()) / 2)
            assert row["metric_sd"] is not None
            for seed, curve in row["curve_by_seed"].items():
                assert len(curve) == 2 and curve[-1] == pytest.approx(by_seed[seed])
        agreement = bench.meta["seed_tau"][task]
        assert agreement["seeds"] == 2 and agreement["n"] == 4
        assert len(agreement["by_epoch"]) == 2
    assert "seed_tau_median" in bench.meta


def test_tabulated_build_trains_every_architecture_of_the_reduced_space(
        tiny_build: tuple[Path, Path], tmp_path: Path) -> None:
    from mias.bench.api import MedNasBench
    from mias.bench.builder import BuildConfig
    from mias.bench.evaluator import table_problem
    from mias.bench.strategies import run_strategy
    from mias.bench.tabulated import enumerate_space

    work, _ = tiny_build
    config = BuildConfig(tasks=["Hippocampus"], tabulate=1, train_seeds=[0], cases=6,
                         train=tiny_config().train)
    report = build(config, shared_prep(work, tmp_path / "tab"), tmp_path / "tab.parquet",
                   backend="pool", workers=1)
    bench = MedNasBench.load(report.path)
    space = bench.space("Hippocampus")
    assert all(len(space.candidates(n)) == 1 for n in space.layer_names())
    assert report.rows == space.size() == len(space.depths)
    assert set(bench.archs("Hippocampus")) == set(enumerate_space(space))
    problem = table_problem(bench, "Hippocampus", "rpi3")
    result = run_strategy("random", problem, steps=space.size(), seed=0)
    assert problem.evaluator.misses == 0
    assert {t.source for t in result.trials} == {"trained"}


def test_a_work_folder_with_another_case_count_is_refused(tiny_build: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    from mias.errors import InputError

    work, _ = tiny_build
    config = tiny_config().model_copy(update={"cases": 7})
    with pytest.raises(InputError, match="made with 6 cases"):
        build(config, shared_prep(work, tmp_path / "w"), tmp_path / "t.parquet",
              backend="pool", workers=1)
    assert not (tmp_path / "t.parquet").exists()
