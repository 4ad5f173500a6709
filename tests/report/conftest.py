"""One tiny complete run (synthetic hippocampus → report), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.report.tiny import require_weasyprint, run_args

from mias.cli import main as cli
from mias.data.synth import synthesize


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    require_weasyprint()
    root = tmp_path_factory.mktemp("report")
    data = synthesize("hippocampus", root / "data", cases=8, seed=2)
    run = root / "run"
    assert cli.main(run_args(data, run, root / "tiny.yaml")) == 0
    return run
