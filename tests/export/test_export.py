"""`mias export`: ONNX within 1e-4 of PyTorch, carrying its preprocessing; int8 measured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import onnx
from tests.pipeline.hostile import mias, snapshot

from mias.atomic import read_json, write_json
from mias.cli import main as cli
from mias.export.exporter import export_run
from mias.export.spec import read_spec
from mias.provenance import prep_fingerprint
from mias.train.model_file import ModelFile

from .conftest import write_model


def test_fp32_parity_and_metadata(exported, prep):
    parity = read_json(exported.parent / "parity.json")
    assert parity["fp32"]["passed"] and parity["fp32"]["max_abs_diff"] <= 1e-4
    assert parity["fp32"]["opset"] == 17 and parity["fp32"]["inputs"] == "validation cases"
    model = onnx.load(exported)
    assert model.opset_import[0].version == 17
    spec = read_spec(exported)
    manifest = read_json(prep / "manifest.json")
    assert spec.kind == "segmentation" and spec.input_shape == (16, 24, 16)
    assert spec.label_names == ("background", "Anterior", "Posterior")
    assert spec.plan["target_spacing"] == manifest["preprocessing"]["target_spacing"]
    assert spec.plan["normalization"] == "mri" and spec.plan["orientation"] == "RAS"
    assert spec.inference["overlap"] == 0.5
    assert spec.ranges["n_cases"] == len(read_json(prep / "splits.json")["train"])
    assert {"age", "sex", "spacing", "shape", "intensity_mean"} <= set(spec.ranges)
    meta = json.dumps({p.key: p.value for p in model.metadata_props})
    assert not [c["case_id"] for c in manifest["cases"] if c["case_id"] in meta]
    assert not [c["subject_id"] for c in manifest["cases"] if c["subject_id"] in meta]


def test_int8_records_metric_change_latency_and_verdict(prep, tmp_path):
    run = tmp_path / "RUN"
    write_model(prep, run, target="host")
    record = export_run(run, int8=True, latency_budget_s=1.0)
    assert (run / "export" / "model.int8.onnx").is_file()
    assert read_spec(run / "export" / "model.int8.onnx").kind == "segmentation"
    q = read_json(run / "export" / "parity.json")["int8"]
    assert q == json.loads(json.dumps(record["int8"]))
    assert q["metric"] == "dice" and abs(q["metric_change"]) <= 1
    assert q["metric_change"] == q["int8_metric"] - q["fp32_metric"]
    for figure in q["latency"].values():
        assert figure["source"] == "measured" and figure["device"] == "host"
        assert figure["label"].startswith("measured on host")
    faster = q["latency_ratio_int8_over_fp32"] < 1
    assert q["verdict"]["recommended"] == (faster and -q["metric_change"] <= 0.01)


def test_int8_for_a_board_is_never_recommended_from_host_timings(prep, tmp_path):
    run = tmp_path / "RUN"
    write_model(prep, run, target="rpi3")
    verdict = export_run(run, int8=True, latency_budget_s=0.5)["int8"]["verdict"]
    assert not verdict["recommended"] and "rpi3" in verdict["reason"]


def test_export_without_a_trained_model_is_bad_input(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model.pt" in err and "mias train" in err
    assert not (tmp_path / "export").exists()


def _with_meta(run: Path, model: ModelFile, **meta: Any) -> None:
    ModelFile(model.space, model.arch, model.state_dict, model.preprocessing,
              model.meta | meta).save(run / "final" / "model.pt")


def test_export_refuses_the_prep_of_another_task(prep, brain_prep, tmp_path):
    """`--prep` naming another task's PREP is exit 2 before a case is loaded, whether the
    model records the fingerprint of its PREP or (an older mias) not."""
    run = tmp_path / "RUN"
    model = write_model(prep, run)
    brain_before = snapshot(brain_prep)
    for meta in ({}, {"prep_fingerprint": prep_fingerprint(prep)}):
        _with_meta(run, model, **meta)
        before = snapshot(run)
        rc, text = mias("export", run, "--prep", brain_prep)
        assert rc == 2 and "holds another task" in text and str(brain_prep) in text
        assert "segmentation, 4 channel(s), input 16x16x16" in text and "--prep" in text
        assert snapshot(run) == before and not (run / "export").exists()
    assert snapshot(brain_prep) == brain_before


def test_export_refuses_a_prep_of_the_task_prepared_again(prep, tmp_path):
    run, again = tmp_path / "RUN", tmp_path / "AGAIN"
    _with_meta(run, write_model(prep, run), prep_fingerprint=prep_fingerprint(prep))
    shutil.copytree(prep, again)
    splits = read_json(again / "splits.json")
    splits["val"].append(splits["train"].pop())
    write_json(again / "splits.json", splits)
    before = snapshot(tmp_path)
    rc, text = mias("export", run, "--prep", again)
    assert rc == 2 and "other prepared data" in text and str(run / "final" / "model.pt") in text
    assert snapshot(tmp_path) == before
