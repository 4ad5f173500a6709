"""Provenance on every answer, a checksummed table, and equal budgets of distinct evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mias.bench.api import MedNasBench
from mias.bench.evaluator import table_problem
from mias.bench.strategies import list_strategies, run_strategy
from mias.bench.surrogate import FALLBACK, SurrogateFallbackWarning
from mias.bench.table import META_KEY, TABLE_VERSION
from mias.cli.main import main
from mias.errors import InputError

PROVENANCE = ("data", "train_steps", "seeds", "latency_source", "memory_source",
              "table_version", "table_sha256")


def _assert_provenance(record: dict, source: str) -> None:
    assert record["source"] == source and record["data"] == "synthetic stand-in"
    assert record["train_steps"] == 2 and record["seeds"]["training"] == [0, 1]
    assert record["latency_source"] == "estimated" and record["memory_source"] == "estimated"
    assert record["table_version"] == TABLE_VERSION and len(record["table_sha256"]) == 64


def test_source_survives_query_best_pareto_and_trial(tiny_build: tuple[Path, Path]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    arch = bench.archs("Spleen")[0]
    records = [bench.query(arch, "Spleen", "rpi3"), bench.best("Spleen", "rpi3"),
               *bench.pareto("Spleen", "rpi3")]
    for record in records:
        _assert_provenance(record, "trained")
        assert record["energy_source"] == "estimated"
    space = bench.space("Spleen")
    off = next(a for a in (space.sample(np.random.default_rng(i)) for i in range(50))
               if bench.metric(a, "Spleen") is None)
    with pytest.raises(InputError, match="surrogate=True"):
        bench.query(off, "Spleen", "rpi3")
    # four rows per task: too few to assess the surrogate out of fold, so it steps aside
    with pytest.warns(SurrogateFallbackWarning, match="Spleen.*not assessed"):
        guess = bench.query(off, "Spleen", "rpi3", surrogate=True)
    _assert_provenance(guess, "surrogate")
    assert guess["energy_source"] == "estimated" and guess["latency_ms"] > 0
    answer = bench.off_table("Spleen").predict(off)
    assert guess["metric"] == pytest.approx(answer.metric)
    assert guess["predictor"] == answer.predictor == FALLBACK and guess["metric_std"] is None
    assert "not assessed" in guess["predictor_reason"]

    problem = table_problem(bench, "Spleen", "rpi3")
    result = run_strategy("random", problem, steps=20, seed=0)
    sources = {t.source for t in result.trials}
    assert sources == {"trained", "surrogate"} or sources == {"surrogate"}
    for t in result.trials:
        assert t.source == ("trained" if bench.metric(t.arch, "Spleen") is not None
                            else "surrogate")
        _assert_provenance(t.to_dict(), t.source)
    best = result.to_dict()["best"]
    assert best["source"] == result.best.source and best["data"] == "synthetic stand-in"


def test_builder_records_version_checksum_data_and_timing_host(
        tiny_build: tuple[Path, Path]) -> None:
    bench = MedNasBench.load(tiny_build[1])
    meta = bench.meta
    assert meta["table_version"] == TABLE_VERSION and len(meta["content_sha256"]) == 64
    assert {t["data"] for t in meta["tasks"].values()} == {"synthetic stand-in"}
    assert meta["timing_host"]["host"]["platform"]
    record = bench.best("Hippocampus", "rpi4")
    assert record["train_seconds_source"].startswith("measured on ")
    assert meta["content_sha256"] in bench.citation()


def _copy(src: Path, dst: Path, change: bool = True, meta: dict | None = None) -> Path:
    """`src` rewritten to `dst` with its metadata as it was, one metric changed if `change`."""
    table = pq.read_table(src)
    if change:
        metric = table.column("metric").to_pylist()
        metric[1] += 1e-9
        table = table.set_column(table.schema.get_field_index("metric"), "metric",
                                 pa.array(metric, pa.float64()))
    old = dict(pq.read_table(src).schema.metadata)
    if meta is not None:
        old[META_KEY] = json.dumps(meta)
    pq.write_table(table.replace_schema_metadata(old), dst)
    return dst


def test_checksum_refuses_a_modified_table(tiny_build: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    table = tiny_build[1]
    assert MedNasBench.load(_copy(table, tmp_path / "same.parquet", change=False)).tasks()
    modified = _copy(table, tmp_path / "modified.parquet")
    with pytest.raises(InputError, match="modified after it was built") as err:
        MedNasBench.load(modified)
    assert err.value.path == str(modified) and "mias bench build" in err.value.fix
    assert "restore" in err.value.fix
    assert main(["bench", "query", "--table", str(modified), "--task", "Spleen"]) == 2
    assert "modified.parquet" in capsys.readouterr().err
    meta = MedNasBench.load(table).meta
    unsigned = {k: v for k, v in meta.items() if k != "content_sha256"}
    with pytest.raises(InputError, match="no content checksum"):
        MedNasBench.load(_copy(table, tmp_path / "unsigned.parquet", False, unsigned))


def test_shipped_table_is_checksummed() -> None:
    bench = MedNasBench.load()
    assert bench.meta["table_version"] == "2.3"
    record = bench.best("Hippocampus", "rpi3")
    assert record["data"] == "synthetic stand-in" and record["train_steps"] == 48
    assert record["train_seconds_source"].startswith("measured on Linux")


@pytest.mark.parametrize("table", ["tiny", "shipped"])
def test_strategies_spend_equal_distinct_evaluations(tiny_build: tuple[Path, Path],
                                                     table: str) -> None:
    bench = MedNasBench.load(tiny_build[1] if table == "tiny" else None)
    task = bench.tasks()[0] if table == "tiny" else "Hippocampus"
    steps = 40 if table == "tiny" else 200
    budget = float(np.median([bench.latency(a, task, "rpi3") for a in bench.archs(task)]))
    spent = {}
    for name in list_strategies():
        problem = table_problem(bench, task, "rpi3", budget)
        result = run_strategy(name, problem, steps=steps, seed=0)
        assert len({t.arch for t in result.trials}) == len(result.trials)
        assert problem.evaluator.hits + problem.evaluator.misses == result.evaluations
        assert result.proposals >= result.evaluations
        spent[name] = result.evaluations
    assert spent == dict.fromkeys(list_strategies(), steps)
