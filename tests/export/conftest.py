"""A small prepared hippocampus task, a light model trained on nothing (weights as
initialised: export and predict do not care how good it is), and its exported ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mias.atomic import read_json
from mias.cli import main as cli
from mias.data.synth import synthesize
from mias.space import SearchSpace, build_network
from mias.space.cost import network_flops
from mias.train.model_file import ModelFile

INPUT_SHAPE = "16x24x16"   # smaller than the scans: prediction needs sliding windows


@pytest.fixture(scope="session")
def hippo(tmp_path_factory) -> Path:
    return synthesize("hippocampus", tmp_path_factory.mktemp("data") / "D", cases=8, seed=2)


@pytest.fixture(scope="session")
def dicom(tmp_path_factory) -> Path:
    return synthesize("hippocampus", tmp_path_factory.mktemp("dcm") / "D", cases=2, seed=7,
                      fmt="dicom")


@pytest.fixture(scope="session")
def prep(hippo, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "P"
    assert cli.main(["prepare", str(hippo), "--out", str(out), "--input-shape", INPUT_SHAPE,
                     "--workers", "1"]) == 0
    return out


def write_model(prep: Path, run: Path, target: str = "rpi3") -> ModelFile:
    """RUN/final/model.pt for the lightest of a few sampled architectures."""
    space = SearchSpace.load(prep / "search_space.json")
    rng = np.random.default_rng(0)
    arch = min((space.sample(rng) for _ in range(12)), key=lambda a: network_flops(space, a))
    net = build_network(space, arch, seed=0)
    model = ModelFile(space, arch, net.state_dict(),
                      read_json(prep / "manifest.json")["preprocessing"],
                      {"prep": str(prep), "target": target})
    model.save(run / "final" / "model.pt")
    return model


@pytest.fixture(scope="session")
def exported(prep, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "RUN"
    write_model(prep, run)
    assert cli.main(["export", str(run)]) == 0
    return run / "export" / "model.onnx"


@pytest.fixture(scope="session")
def brain_prep(tmp_path_factory) -> Path:
    """Another task's PREP: four MRI channels, tumour classes, another input shape."""
    data = synthesize("braintumour", tmp_path_factory.mktemp("brain") / "D", cases=6, seed=3)
    out = tmp_path_factory.mktemp("brainprep") / "P"
    assert cli.main(["prepare", str(data), "--out", str(out), "--input-shape", "16x16x16",
                     "--workers", "1"]) == 0
    return out
