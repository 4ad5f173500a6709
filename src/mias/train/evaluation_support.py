"""What `mias evaluate` and its baselines share below both: latency of a scored model and
the original dataset folder. It lives here, not in `evaluate.py`, so that the baselines
runner never imports `evaluate` (which imports the runner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mias.errors import InputError
from mias.presets.models import EvaluateSettings
from mias.records import TaskSpec
from mias.train.latency import network_latency, sklearn_latency
from mias.train.run_record import SearchRecord


class Scored(Protocol):
    """The part of an `Evaluation` that latency needs."""

    settings: EvaluateSettings
    task: TaskSpec
    record: SearchRecord

    def example(self) -> torch.Tensor: ...


def net_latency(ev: Scored, net: torch.nn.Module, path: Path) -> dict[str, Any]:
    """A network's latency on the run's target and this host, through its ONNX at `path`."""
    if not ev.settings.measure_latency:
        return {"note": "latency not measured (evaluate.measure_latency: false)"}
    return network_latency(net, ev.example(), path, ev.record.target)


def sk_latency(ev: Scored, estimator: Any, n_features: int, path: Path) -> dict[str, Any]:
    """A scikit-learn estimator's latency for one input (every voxel when it segments)."""
    rows = int(np.prod(ev.task.input_shape)) if ev.task.kind == "segmentation" else 1
    if not ev.settings.measure_latency:
        return {"note": "latency not measured (evaluate.measure_latency: false)"}
    return sklearn_latency(estimator, n_features, rows, path, ev.record.target)


def data_root(manifest: dict[str, Any], given: Path | None, prep: Path) -> Path:
    """The original dataset folder: `given`, else the one the manifest recorded."""
    root = given or (Path(manifest["data_root"]) if manifest.get("data_root") else None)
    if root is None or not root.is_dir():
        raise InputError(prep / "manifest.json", "the original dataset folder is not known "
                         "or is gone (evaluation scores against the original label files)",
                         "pass it with `mias evaluate RUN --data DATA`")
    return root
