"""One table cell: train one architecture on one task with one seed and the fixed schedule,
score it after every epoch (the learning curve a multi-fidelity method reads) and at the end.

A cell is a pure function of (prepared data, architecture, schedule, seed), so its result
is cached on disk as `WORK/cells/TASK/ARCH_ID/seedS.json` with the hash of those inputs; a build
that is interrupted, or re-run with more devices, never trains a finished cell again.
Efficiency columns do not depend on training and are added by the builder, not cached.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mias.atomic import read_json, write_json
from mias.space import Architecture

CELL_SCHEMA_VERSION = 3  # 2: nnU-Net's convention for empty structures; 3: per-epoch curve


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs to compute one cell (plain data: it crosses processes)."""

    task: str
    prep: str
    arch: dict[str, Any]
    arch_id: str
    genotype_id: str
    settings: dict[str, Any]
    seed: int
    lesion: str | None
    min_voxels: int
    path: str

    @property
    def key(self) -> str:
        manifest = Path(self.prep) / "manifest.json"
        payload = json.dumps({"manifest": hashlib.sha256(manifest.read_bytes()).hexdigest(),
                              "splits": (Path(self.prep) / "splits.json").read_text(),
                              "arch": self.arch, "settings": self.settings, "seed": self.seed,
                              "lesion": self.lesion, "min_voxels": self.min_voxels,
                              "schema": CELL_SCHEMA_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cell_jobs(*, task: str, prep: Path, arch: Architecture, genotype_id: str,
              settings: dict[str, Any], seeds: list[int], lesion: str | None,
              min_voxels: int, work: Path) -> list[CellJob]:
    """One job per training seed of `arch` on `task`, cached at
    `work/cells/TASK/ARCH_ID/seedS.json` (the layout the build and later trainings share)."""
    return [CellJob(task=task, prep=str(prep), arch=arch.to_dict(), arch_id=arch.id,
                    genotype_id=genotype_id, settings=settings, seed=s, lesion=lesion,
                    min_voxels=min_voxels,
                    path=str(work / "cells" / task / arch.id / f"seed{s}.json"))
            for s in seeds]


def cached_row(job: CellJob) -> dict[str, Any] | None:
    """The finished cell of `job`, or None when absent or computed from other inputs."""
    path = Path(job.path)
    if not path.is_file():
        return None
    cell = read_json(path)
    return cell["row"] if cell.get("key") == job.key else None


@lru_cache(maxsize=2)
def _data(prep: str) -> Any:
    from mias.train.data import PreparedData

    return PreparedData.load(prep)


def compute_cell(job: CellJob) -> dict[str, Any]:
    """Train, evaluate on the validation split, write the cell atomically, return its row."""
    import torch

    from mias.bench.metrics import task_metrics
    from mias.presets.models import TrainSettings
    from mias.space import Architecture
    from mias.train.data import whole_cases
    from mias.train.standalone import predict_logits, train_architecture

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", module="monai")
    data = _data(job.prep)
    arch = Architecture.from_dict(job.arch)
    result = train_architecture(data.space, arch, data, TrainSettings(**job.settings),
                                seed=job.seed, validate_every=1)
    images, targets = whole_cases(data.split("val"), data.task)
    logits = predict_logits(result.network, images, torch.device("cpu"))
    metrics = task_metrics(logits, targets, data.task, lesion=job.lesion,
                           min_voxels=job.min_voxels)
    detection = metrics.pop("detection", {})
    row: dict[str, Any] = {
        "task": job.task, "arch_id": job.arch_id, "genotype_id": job.genotype_id,
        "arch": json.dumps(job.arch, sort_keys=True), "depth": arch.depth,
        "metric": result.val_score, "metric_name": result.metric,
        "train_seconds": result.seconds, "train_steps": result.steps,
        "diverged": result.diverged, "seed": job.seed,
        "curve": [float(e["val_score"]) for e in result.epochs],
    }
    for name, value in metrics.items():
        row[name] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
    row.update({f"detection_{k}": v for k, v in detection.items()})
    write_json(job.path, {"schema_version": CELL_SCHEMA_VERSION, "key": job.key, "row": row})
    return row
