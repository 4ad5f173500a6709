"""`mias export`: ONNX within 1e-4 of PyTorch, carrying its preprocessing; int8 measured."""

from __future__ import annotations

import json

import onnx

from mias.atomic import read_json
from mias.cli import main as cli
from mias.export.exporter import export_run
from mias.export.spec import read_spec

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
