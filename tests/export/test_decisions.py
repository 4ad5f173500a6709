"""What final training decided on validation reaches the board: the window (the training
patch), the postprocessing and the classification threshold survive `mias export` and
are applied by the torch-free `mias predict`."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from mias.atomic import read_json
from mias.cli import main as cli
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.export.exporter import export_run
from mias.export.runtime import open_model
from mias.export.spec import read_spec
from mias.space import SearchSpace, build_network
from mias.space.cost import network_flops
from mias.train.data import fit_patch, total_stride
from mias.train.model_file import ModelFile
from mias.train.postprocess import apply_postprocessing

DECISION = {"schema_version": 2, "foreground": True, "classes": [1, 2], "split": "val",
            "class_min_mm3": {"1": 30.0}}  # a floor: applied with the scan's own spacing


def _model(prep: Path, run: Path, inference: dict | None) -> ModelFile:
    """RUN/final/model.pt: the lightest of a few seeded architectures, untrained (its
    predictions are noisy, many components: what postprocessing acts on)."""
    space = SearchSpace.load(prep / "search_space.json")
    rng = np.random.default_rng(0)
    arch = min((space.sample(rng) for _ in range(12)), key=lambda a: network_flops(space, a))
    meta = {"prep": str(prep), "target": "rpi3"}
    if inference is not None:
        meta["inference"] = inference
    model = ModelFile(space, arch, build_network(space, arch, seed=0).state_dict(),
                      read_json(prep / "manifest.json")["preprocessing"], meta)
    model.save(run / "final" / "model.pt")
    return model


def _patch(prep: Path) -> list[int]:
    """A training patch smaller than the input on every axis it can be."""
    space = SearchSpace.load(prep / "search_space.json")
    shape = space.task.input_shape
    return list(fit_patch(None, shape, total_stride(space), math.prod(shape) // 4))


@pytest.fixture(scope="module")
def exported_pair(prep, tmp_path_factory) -> tuple[Path, Path, list[int]]:
    """The same weights exported twice: with the decisions recorded, and without any."""
    patch = _patch(prep)
    with_pp = tmp_path_factory.mktemp("pp") / "RUN"
    _model(prep, with_pp, {"window": patch, "overlap": 0.5, "mirror": False,
                           "postprocessing": DECISION})
    plain = tmp_path_factory.mktemp("plain") / "RUN"
    _model(prep, plain, {"window": patch, "overlap": 0.5, "mirror": False})
    for run in (with_pp, plain):
        assert cli.main(["export", str(run)]) == 0
    return with_pp / "export" / "model.onnx", plain / "export" / "model.onnx", patch


def test_the_window_is_the_training_patch(exported_pair):
    model, _, patch = exported_pair
    spec = read_spec(model)
    assert list(spec.window) == patch and list(spec.window) != list(spec.input_shape)
    assert spec.inference["window"] == patch and spec.inference["overlap"] == 0.5
    assert open_model(model).get_inputs()[0].shape[2:] == patch


def test_int8_is_calibrated_and_scored_at_the_window(prep, tmp_path):
    run = tmp_path / "RUN"
    patch = _patch(prep)
    _model(prep, run, {"window": patch, "overlap": 0.5, "mirror": False})
    record = export_run(run, int8=True, latency_budget_s=0.5)
    int8 = run / "export" / "model.int8.onnx"
    assert open_model(int8).get_inputs()[0].shape[2:] == patch
    assert 0 <= record["int8"]["int8_metric"] <= 1 and record["fp32"]["inputs"]


def test_postprocessing_survives_export_and_predict(exported_pair, hippo, tmp_path):
    with_pp, plain, _ = exported_pair
    assert read_spec(with_pp).postprocessing == DECISION
    assert read_spec(plain).postprocessing is None
    scans = tmp_path / "scans"
    scans.mkdir()
    for src in sorted((hippo / "imagesTr").glob("*.nii.gz"))[:2]:
        (scans / src.name).write_bytes(src.read_bytes())
    out_pp, out_plain = tmp_path / "PP", tmp_path / "PLAIN"
    assert cli.main(["predict", str(with_pp), str(scans), "--out", str(out_pp)]) == 0
    assert cli.main(["predict", str(plain), str(scans), "--out", str(out_plain)]) == 0
    record = read_json(out_pp / "predictions.json")
    assert record["inference"]["postprocessing"] == DECISION
    changed = False
    for case in record["cases"]:
        written = nib.load(out_pp / case["mask"])
        a = np.asarray(written.dataobj)
        b = np.asarray(nib.load(out_plain / case["mask"]).dataobj)
        spacing = written.header.get_zooms()[:3]
        np.testing.assert_array_equal(a, apply_postprocessing(b, DECISION, spacing))
        for c in (1, 2):
            labels, n = ndimage.label(a == c, structure=np.ones((3, 3, 3)))
            assert n <= 1
            if c == 1 and n:
                assert (labels > 0).sum() * float(np.prod(spacing)) >= 30.0
        changed |= not np.array_equal(a, b)
    assert changed, "the untrained network's masks should have stray components to remove"


@pytest.fixture(scope="module")
def xray(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("xray")
    data = synthesize("xray", root / "data", cases=8, seed=2)
    prep = prepare(data, root / "prep", PrepareConfig(input_shape=(32, 32), seed=2, workers=1,
                                                      labels_csv=data / "labels_finding.csv"))
    return data, prep


@pytest.mark.parametrize(("cut", "expected"), [(0.0, 1), (float(np.nextafter(1.0, 2.0)), 0)])
def test_the_threshold_survives_export_and_decides_predict(xray, tmp_path, cut, expected):
    data, prep = xray
    run = tmp_path / "RUN"
    threshold = {"schema_version": 1, "positive_class": 1, "threshold": cut, "beta": 1.0}
    _model(prep, run, {"window": [32, 32], "overlap": 0.5, "mirror": False,
                       "threshold": threshold})
    assert cli.main(["export", str(run)]) == 0
    model = run / "export" / "model.onnx"
    assert read_spec(model).threshold == threshold
    out = tmp_path / "OUT"
    assert cli.main(["predict", str(model), str(data / "imagesTr"), "--out", str(out)]) == 0
    cases = read_json(out / "predictions.json")["cases"]
    names = read_spec(model).label_names
    assert cases and all(c["class"] == names[expected] for c in cases)
    assert all(c["threshold"] == cut for c in cases)
