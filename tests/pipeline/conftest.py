"""Small synthetic datasets shared by the end-to-end preparation tests (built once per session),
and one finished tiny run that the hostile-input tests copy and attack."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipeline.hostile import build_finished

from mias.data.synth import synthesize


@pytest.fixture(scope="session")
def hippo_nifti(tmp_path_factory) -> Path:
    return synthesize("hippocampus", tmp_path_factory.mktemp("hn") / "D", cases=14, seed=3)


@pytest.fixture(scope="session")
def hippo_dicom(tmp_path_factory) -> Path:
    return synthesize("hippocampus", tmp_path_factory.mktemp("hd") / "D", cases=10, seed=4,
                      fmt="dicom")


@pytest.fixture(scope="session")
def brain_nifti(tmp_path_factory) -> Path:
    return synthesize("braintumour", tmp_path_factory.mktemp("bt") / "D", cases=8, seed=5)


@pytest.fixture(scope="session")
def xray_dicom(tmp_path_factory) -> Path:
    return synthesize("xray", tmp_path_factory.mktemp("xr") / "D", cases=12, seed=6,
                      fmt="dicom")


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished tiny `mias run` (RUN) and its dataset (DATA): never changed, only copied."""
    return build_finished(tmp_path_factory.mktemp("finished"))
