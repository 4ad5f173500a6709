"""Final training fixes the inference on validation, and every later stage uses it: the
window is the training patch in `mias evaluate` and in the exported ONNX, and the
postprocessing decision travels with the model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mias.atomic import read_json
from mias.cli.main import main
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.export.spec import read_spec
from mias.space import SearchSpace, network_flops
from mias.train.final import train_final
from mias.train.model_file import ModelFile

from .conftest import TINY_SHAPE, write_search_result

EVAL = {"baselines": [], "random_control": 0, "bootstrap": 100, "measure_latency": False}


def test_the_window_is_the_training_patch_from_training_to_export(hippo_prep, hippo_raw,
                                                                  small_arch, tmp_path):
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch,
                              train={"patch_voxels": math.prod(TINY_SHAPE) // 4},
                              evaluate=EVAL)
    train_final(run)
    metrics = read_json(run / "final" / "metrics.json")
    patch = metrics["plan"]["patch"]
    assert patch != list(TINY_SHAPE)
    decided = ModelFile.load(run / "final" / "model.pt").meta["inference"]
    assert decided == metrics["inference"]
    assert decided["window"] == patch and decided["overlap"] == 0.5
    pp = decided["postprocessing"]
    assert pp["split"] == "val" and pp["val_dice_after"] >= pp["val_dice_before"]
    assert main(["evaluate", str(run), "--data", str(hippo_raw)]) == 0
    used = read_json(run / "eval" / "metrics.json")["models"]["mias"]["inference"]
    assert used["window"] == patch and used["postprocessing"] == pp
    assert main(["export", str(run)]) == 0
    spec = read_spec(run / "export" / "model.onnx")
    assert list(spec.window) == patch and spec.postprocessing == pp


def test_a_binary_classifier_is_scored_at_its_recorded_threshold(tmp_path):
    """Final training records the F-β threshold; `evaluate` calls each case with it."""
    data = synthesize("xray", tmp_path / "data", cases=10, seed=3)
    prep = prepare(data, tmp_path / "prep", PrepareConfig(
        input_shape=(32, 32), seed=3, workers=1, labels_csv=data / "labels_finding.csv"))
    space = SearchSpace.load(prep / "search_space.json")
    rng = np.random.default_rng(0)
    arch = min((space.sample(rng) for _ in range(12)), key=lambda a: network_flops(space, a))
    run = write_search_result(tmp_path / "run", prep, arch, evaluate=EVAL)
    train_final(run)
    threshold = ModelFile.load(run / "final" / "model.pt").meta["inference"]["threshold"]
    assert threshold["split"] == "val" and 0 <= threshold["threshold"] <= 1
    assert threshold["val_score"] >= threshold["val_score_argmax"]
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    m = read_json(run / "eval" / "metrics.json")["models"]["mias"]
    assert m["inference"]["threshold"] == threshold
    rows = pd.read_parquet(run / "eval" / "cases.parquet")
    expected = (rows["p_1"] >= threshold["threshold"]).astype(int)
    assert (rows["y_pred"] == expected).all()
