"""An off-table best is trained exactly as the table's rows were, and reported beside the guess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mias.bench import fanout
from mias.bench.api import MedNasBench
from mias.bench.offtable import train_off_table
from mias.errors import InputError


def _off_table_arch(bench: MedNasBench, task: str):
    space = bench.space(task)
    rng = np.random.default_rng(7)
    while True:
        arch = space.sample(rng)
        if bench.metric(arch, task) is None:
            return arch


def test_off_table_arch_is_trained_with_every_seed_once(tiny_build: tuple[Path, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    work, table = tiny_build
    bench = MedNasBench.load(table)
    arch = _off_table_arch(bench, "Hippocampus")
    row = train_off_table(bench, "Hippocampus", arch, work)
    assert row["source"] == "trained" and row["trained_here"]
    assert row["training_seeds"] == [0, 1]
    by_seed = row["metric_by_seed"]
    assert row["metric"] == pytest.approx(np.mean(list(by_seed.values())))
    assert row["train_steps"] == 2

    def never(job):
        raise AssertionError("a cached cell was trained again")

    monkeypatch.setattr(fanout, "compute_cell", never)
    again = train_off_table(bench, "Hippocampus", arch, work)
    assert again["metric"] == row["metric"]
    known = bench.archs("Hippocampus")[0]
    assert train_off_table(bench, "Hippocampus", known, work)["trained_here"] is False


def test_other_data_is_refused(tiny_build: tuple[Path, Path]) -> None:
    work, table = tiny_build
    bench = MedNasBench.load(table)
    bench.meta["tasks"]["Hippocampus"]["prepared_sha256"] = "0" * 64
    with pytest.raises(InputError, match="not the data the table was trained on"):
        train_off_table(bench, "Hippocampus", _off_table_arch(bench, "Hippocampus"), work)


def test_cli_search_reports_the_trained_figure_beside_the_guess(
        tiny_build: tuple[Path, Path], tmp_path: Path) -> None:
    from mias.cli.main import main

    work, table = tiny_build
    out = tmp_path / "search.json"
    assert main(["bench", "search", "--table", str(table), "--task", "Hippocampus",
                 "--strategy", "random", "--steps", "12", "--work", str(work),
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["best"]["source"] == "surrogate"  # 4 rows of a space of thousands
    assert 0.0 <= result["best_trained"]["metric"] <= 1.0
    assert result["best_trained"]["training_seeds"] == [0, 1]
    assert main(["bench", "search", "--table", str(table), "--task", "Hippocampus",
                 "--msd-root", str(tmp_path)]) == 2
