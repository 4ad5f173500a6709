"""A structure at Dice 0 marks a training as failed: in metrics.json's summary, the results
table, the benchmark's targets and the report's headline — never passed off as a result."""

from __future__ import annotations

import copy
import functools
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mias.records import TaskSpec
from mias.report.performance import failure_notes, headline
from mias.train.report_table import failed_models, fmt_figure, table
from mias.train.summary import failed_structures, summarise

TASK = TaskSpec(kind="segmentation", spatial_dims=3, in_channels=1, input_shape=(8, 8, 8),
                num_classes=3, label_names=("background", "Anterior", "Posterior"),
                modality="MR", spacing=(1.0, 1.0, 1.0))
BENCH = Path(__file__).parents[2] / "benchmarks" / "search_vs_baselines.py"


def _rows(dice: dict[str, list[float]], predicted: dict[str, list[float]],
          n: int = 4) -> list[dict]:
    rows = []
    for i in range(n):
        row = {"sex": "F" if i % 2 else "M", "age_bin": "40-60", "manufacturer": "x",
               "field_strength": "3T"}
        for s in ("Anterior", "Posterior"):
            d = dice[s][i]
            row |= {f"dice_{s}": d, f"jaccard_{s}": d / (2 - d), f"hd95_mm_{s}": 1.0,
                    f"nsd_{s}": d, f"volume_true_mm3_{s}": 100.0,
                    f"volume_pred_mm3_{s}": predicted[s][i],
                    f"present_true_{s}": 1.0, f"present_pred_{s}": float(predicted[s][i] > 0)}
        rows.append(row)
    return rows


GOOD = _rows({"Anterior": [0.8] * 4, "Posterior": [0.7] * 4},
             {"Anterior": [90.0] * 4, "Posterior": [110.0] * 4})
COLLAPSED = _rows({"Anterior": [0.8] * 4, "Posterior": [0.0] * 4},
                  {"Anterior": [90.0] * 4, "Posterior": [0.0] * 4})
MISPLACED = _rows({"Anterior": [0.8] * 4, "Posterior": [0.0, 0.0, 0.0, 0.0001]},
                  {"Anterior": [90.0] * 4, "Posterior": [50.0] * 4})


@functools.cache
def _summary_of(name: str) -> dict:
    rows = {"good": GOOD, "collapsed": COLLAPSED}[name]
    return summarise(rows, TASK, beta=1.0, resamples=100, confidence=0.95, seed=0)


def _summary(rows: list[dict]) -> dict:
    """Bootstrapped once per fixture (a copy each time: tests edit them)."""
    return copy.deepcopy(_summary_of("good" if rows is GOOD else "collapsed"))


def test_collapsed_and_zero_dice_structures_are_flagged():
    assert failed_structures(GOOD, ["Anterior", "Posterior"]) == {}
    assert "collapsed" in failed_structures(COLLAPSED, ["Anterior", "Posterior"])["Posterior"]
    assert "mean Dice 0.000" in failed_structures(MISPLACED,
                                                  ["Anterior", "Posterior"])["Posterior"]
    assert list(failed_structures(MISPLACED, ["Anterior", "Posterior"])) == ["Posterior"]


def test_summary_carries_the_flag_and_per_structure_dice():
    good, bad = _summary(GOOD), _summary(COLLAPSED)
    assert good["failed"] is False and good["failed_structures"] == {}
    assert bad["failed"] is True and set(bad["failed_structures"]) == {"Posterior"}
    assert bad["structures"]["Posterior"]["dice"]["value"] == 0.0
    assert bad["dice"]["value"] == pytest.approx(0.4)


def _metrics() -> dict:
    return {"task": "segmentation", "target": "rpi3", "nnunet": "not requested",
            "models": {"mias": {"kind": "found", "summary": _summary(GOOD), "latency": {
                "target": {"value": 10.0, "source": "estimated"}}},
                       "unet": {"kind": "fixed", "summary": _summary(COLLAPSED), "latency": {
                           "target": {"value": 40.0, "source": "estimated"}}},
                       "random-1": {"kind": "random", "summary": _summary(COLLAPSED),
                                    "latency": {}},
                       "random-2": {"kind": "random", "summary": _summary(GOOD),
                                    "latency": {}}}}


def test_table_shows_dice_per_structure_and_marks_the_failed_training():
    header, rows = table(_metrics())
    assert "Dice Anterior" in header and "Dice Posterior" in header
    assert header[-1] == "training"
    by_model = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_model["mias"]["training"] == "ok"
    assert by_model["unet"]["training"].startswith("failed: Posterior collapsed")
    assert by_model["unet"]["Dice Posterior"].startswith("0.000")
    assert set(failed_models(_metrics())) == {"unet", "random-1"}


def test_benchmark_never_counts_a_win_over_a_failed_training():
    spec = importlib.util.spec_from_file_location("search_vs_baselines", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    metrics = _metrics()
    t = bench.targets(metrics)
    assert t["vs_unet"]["met"] is None
    assert "unet training failed" in t["vs_unet"]["not_judged"]
    assert t["vs_random"]["failed"] == ["random-1"] and t["vs_random"]["n"] == 1
    record = bench.model_record(metrics["models"]["unet"])
    assert record["summary"]["failed"] is True
    assert record["summary"]["dice_per_structure"]["Posterior"]["value"] == 0.0
    metrics["models"]["unet"]["summary"] = _summary(GOOD)
    metrics["models"]["unet"]["latency"]["target"]["value"] = 40.0
    assert bench.targets(metrics)["vs_unet"]["met"] is True


def test_report_headline_of_a_failed_found_network_is_not_a_result():
    metrics = _metrics()
    metrics["models"]["mias"]["summary"] = _summary(COLLAPSED)
    rec = SimpleNamespace(evaluation=metrics, result={"metric": {"name": "dice",
                                                                 "label": "Dice"}})
    head = headline(rec)
    assert head["failed"] and "not a result" in head["text"]
    assert "not a result" in fmt_figure(head["figure"] | {"failed": head["failed"]})
    notes = failure_notes(failed_models(metrics))
    assert any(n.startswith("unet: training failed") for n in notes)
    metrics["models"]["mias"]["summary"] = _summary(GOOD)
    assert headline(rec)["failed"] is None
    assert "not a result" not in headline(rec)["text"]
    assert np.isfinite(headline(rec)["figure"]["value"])
