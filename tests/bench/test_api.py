"""Query API, CLI query, surrogate round trip and the shipped table."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from mias.bench.api import MedNasBench
from mias.bench.surrogate import Surrogate
from mias.bench.tasks import task_names
from mias.cli.main import main
from mias.errors import InputError


def test_query_best_and_pareto(tiny_build: tuple[Path, Path]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    assert bench.tasks() == ["Hippocampus", "Spleen"] and bench.devices() == ["rpi3", "rpi4"]
    archs = bench.archs("Spleen")
    record = bench.query(archs[0], "Spleen", "rpi4")
    assert record["arch_id"] == archs[0].id and record["latency_source"] == "estimated"
    assert record["latency_ms"] > 0 and record["energy_mj"] > 0
    assert set(record["dice_by_structure"]) == {"spleen"}
    assert bench.query(archs[0].id, "Spleen", "rpi4") == record
    rows = [bench.query(a, "Spleen", "rpi3") for a in archs]
    front = bench.pareto("Spleen", "rpi3")
    lat = [r["latency_ms"] for r in front]
    assert lat == sorted(lat) and [r["metric"] for r in front] == sorted(r["metric"]
                                                                          for r in front)
    for r in rows:  # nothing off the front dominates a front member
        assert not any(f["latency_ms"] > r["latency_ms"] and f["metric"] < r["metric"]
                       for f in front)
    # a budget just below the best network's latency: `best` must filter, or it returns it
    top = max(rows, key=lambda r: r["metric"])
    budget = float(np.nextafter(top["latency_ms"], 0))
    best = bench.best("Spleen", "rpi3", budget)
    fits = [r for r in rows if r["latency_ms"] <= budget]
    assert fits and best["latency_ms"] <= budget < top["latency_ms"]
    assert best["metric"] == max(r["metric"] for r in fits)
    assert bench.best("Spleen", "rpi3", 1e-6) is None
    with pytest.raises(InputError, match="device 'pi5'"):
        bench.query(archs[0], "Spleen", "pi5")
    with pytest.raises(InputError, match="Lung"):
        bench.archs("Lung")
    t0 = time.perf_counter()
    for _ in range(200):
        bench.query(archs[1], "Spleen", "rpi3")
    assert (time.perf_counter() - t0) / 200 < 0.01


def test_surrogate_round_trip(tiny_build: tuple[Path, Path], tmp_path: Path) -> None:
    bench = MedNasBench.load(tiny_build[1])
    space = bench.space("Hippocampus")
    archs = bench.archs("Hippocampus")
    metrics = [bench.metric(a, "Hippocampus") for a in archs]
    model = Surrogate.fit(space, archs, metrics, seed=0)
    others = [space.sample(np.random.default_rng(i)) for i in range(5)]
    loaded = Surrogate.load(model.save(tmp_path / "s.joblib"))
    np.testing.assert_array_equal(model.predict(others), loaded.predict(others))
    np.testing.assert_array_equal(model.predict(others), bench.surrogate("Hippocampus")
                                  .predict(others))
    quality = bench.meta["surrogate"]["Hippocampus"]
    assert quality["n"] == 4 and quality["kendall_tau"] is None  # too few to hold out
    assert quality["log_flops_tau"] is None and quality["beats_log_flops"] is False


def test_cli_query_prints_a_table(tiny_build: tuple[Path, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    # rounded up, so the printed budget still admits the slowest front member
    budget = math.ceil(max(r["latency_ms"] for r in bench.pareto("Hippocampus", "rpi3"))
                       * 1000) / 1000
    assert main(["bench", "query", "--table", str(tiny_build[1]), "--task", "Hippocampus",
                 "--device", "rpi3", "--budget-ms", f"{budget:.3f}"]) == 0
    out = capsys.readouterr().out
    best = bench.best("Hippocampus", "rpi3", budget)
    assert "best within budget" in out and "Pareto front" in out and best["arch_id"] in out
    assert "estimated" in out
    assert main(["bench", "query", "--table", str(tiny_build[1]), "--task", "Nope",
                 "--device", "rpi3"]) == 2


def test_cli_search_writes_json(tiny_build: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["bench", "search", "--table", str(tiny_build[1]), "--task", "Spleen",
                 "--strategy", "random", "--steps", "20", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["table_hits"] + result["surrogate_calls"] == result["evaluations"] == 20
    assert result["front"] and result["best"]["source"] in ("trained", "surrogate")
    assert result["best"]["data"] == "synthetic stand-in" and "sha256" in result["table"]


def test_shipped_table_loads() -> None:
    bench = MedNasBench.load()
    assert bench.tasks() == task_names()
    assert len(bench.tasks()) == 11
    for task in bench.tasks():
        assert len(bench.archs(task)) >= 30
        assert bench.pareto(task, "rpi3")
    assert bench.meta["schema_version"] == 2
    assert {"rpi3", "rpi4"} <= set(bench.devices())
    assert bench.meta["tasks"]["BrainTumourDetection"]["kind"] == "classification"
    assert len(bench.meta["seeds"]["training"]) >= 2
    assert set(bench.meta["seed_tau"]) == set(task_names())


def test_no_best_row_of_the_shipped_table_predicts_nothing() -> None:
    """nnU-Net's convention: a network that predicts nothing scores 0 where a structure
    exists, so it cannot top a task (it did under Dice's empty-is-1 convention)."""
    bench = MedNasBench.load()
    for task in bench.tasks():
        best = bench.best(task, "rpi3")
        if best["dice_by_structure"]:
            assert max(v or 0.0 for v in best["dice_by_structure"].values()) > 0.05, task
        assert best["metric"] > 0.0


def test_shipped_tabulated_table_holds_its_whole_space() -> None:
    bench = MedNasBench.load(tabulated=True)
    (task,) = bench.tasks()
    space = bench.space(task)
    assert len(bench.archs(task)) == space.size() >= 100
    assert len(bench.meta["seeds"]["training"]) >= 2


def test_held_out_quality_on_enough_archs(tiny_build: tuple[Path, Path]) -> None:
    from mias.bench.surrogate import held_out_quality

    bench = MedNasBench.load(tiny_build[1])
    space = bench.space("Spleen")
    archs = [space.sample(np.random.default_rng(i)) for i in range(30)]
    # a target the genotype encoding determines: the surrogate must rank it out of fold,
    # and beat predicting the mean; the same values shuffled over the archs it cannot rank
    y = np.array([float(len(a.encoder) + np.log2(a.encoder[0].width)) for a in archs])
    quality = held_out_quality(space, archs, y, seed=0)
    assert quality["n"] == 30 and quality["folds"] == 5
    assert quality["kendall_tau"] >= 0.5
    assert quality["mae"] < float(np.mean(np.abs(y - y.mean())))
    assert isinstance(quality["log_flops_tau"], float)
    assert quality["beats_log_flops"] == (quality["kendall_tau"] > quality["log_flops_tau"])
    shuffled = held_out_quality(space, archs, np.random.default_rng(0).permutation(y), seed=0)
    assert shuffled["kendall_tau"] < quality["kendall_tau"] - 0.3
