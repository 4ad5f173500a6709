"""The rank's units of work, as plain data a Ray task or a worker process can run.

A job is one standalone training (ground truth for one architecture) or one supernet
(one sampler, scored on all N architectures after every epoch). Each job writes its own
record under the rank's working folder and returns it; a record carries a key hashing
everything its result depends on (data, budget, seed, architecture or sampler), and a job
whose record is already there with that key returns it without training. That is the
whole resume mechanism: a killed rank re-runs only the jobs without a record, and the
supernets continue from their last per-epoch checkpoint. Every job runs torch on one
thread and is seeded, so the same job gives the same record in any process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mias.atomic import read_json, write_json
from mias.errors import InputError
from mias.presets import Preset
from mias.rank.settings import RankSettings

STANDALONE = "standalone"
SUPERNET = "supernet"
#: raised when a supernet's training or scoring changes, so no earlier record is reused
#: (2: equal path updates, mean gradients, soft and hard scores, diagnostics)
SUPERNET_PROTOCOL = 2


def standalone_name(arch_id: str, replicate: int) -> str:
    """Replicate 0 keeps the plain id, so a one-seed rank's records are reused by a two-seed one."""
    return arch_id if replicate == 0 else f"{arch_id}.r{replicate}"


@dataclass(frozen=True)
class Job:
    kind: Literal["standalone", "supernet"]
    name: str
    prep: str
    work: str
    preset: dict[str, Any]
    settings: dict[str, Any]
    device: str = "cpu"
    archs: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    reuse: str | None = None
    replicate: int = 0

    def seed(self, rank: RankSettings) -> int:
        """The training seed: a standalone replicate k trains with the rank's seed + k."""
        return rank.seed + self.replicate

    @property
    def record(self) -> Path:
        if self.kind == STANDALONE:
            return Path(self.work) / STANDALONE / f"{self.name}.json"
        return Path(self.work) / SUPERNET / self.name / "result.json"


def _key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def job_key(job: Job, data_fingerprint: str) -> str:
    preset = Preset.model_validate(job.preset)
    rank = RankSettings.model_validate(job.settings)
    common = {"data": data_fingerprint, "seed": rank.seed, "metric": job.preset["metric"],
              "device": job.device, "name": job.name}
    if job.kind == STANDALONE:
        return _key({**common, "seed": job.seed(rank),
                     "train": preset.train.model_dump(mode="json"), "arch": job.archs[0]})
    return _key({**common, "search": preset.search.model_dump(mode="json"),
                 "archs": list(job.archs), "target": rank.target, "bn_cases": rank.bn_cases,
                 "protocol": SUPERNET_PROTOCOL})


@functools.lru_cache(maxsize=2)
def _data(prep: str):
    from mias.train.data import PreparedData

    return PreparedData.load(prep)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cached(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError, InputError):  # an unreadable record is redone
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def run_job(job: Job) -> dict[str, Any]:
    """Run `job` (or return its finished record) and return the record."""
    data = _data(job.prep)
    key = job_key(job, data.fingerprint)
    found = _cached(job.record, key)
    if found is None and job.reuse is not None and job.kind == STANDALONE:
        found = _cached(Path(job.reuse) / STANDALONE / job.record.name, key)
        if found is not None:
            write_json(job.record, found)
    if found is not None:
        return {**found, "cached": True}
    with _one_thread():
        record = (_standalone(job, data, key) if job.kind == STANDALONE
                  else _supernet(job, data, key))
    write_json(job.record, record)
    return {**record, "cached": False}


def _scorer(job: Job, data, soft: bool = False):
    """The task metric as `mias train` scores it, or (`soft`) as the search does."""
    from mias.train.scoring import Scorer

    metric = job.preset["metric"]
    return Scorer.for_task(data.task, metric["name"], metric["beta"], soft=soft)


def _standalone(job: Job, data, key: str) -> dict[str, Any]:
    from mias.space import Architecture
    from mias.train.standalone import train_architecture

    preset = Preset.model_validate(job.preset)
    rank = RankSettings.model_validate(job.settings)
    arch = Architecture.from_dict(job.archs[0])
    checkpoints = job.record.parent / f"{job.name}.ckpt"
    result = train_architecture(data.space, arch, data, preset.train, device=job.device,
                                seed=job.seed(rank), scorer=_scorer(job, data),
                                checkpoint_dir=checkpoints)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return {"schema_version": 1, "key": key, "arch_id": arch.id,
            "seed": job.seed(rank), "val_score": result.val_score,
            "metric": result.metric, "steps": result.steps, "diverged": result.diverged,
            "seconds": result.seconds}


def _supernet(job: Job, data, key: str) -> dict[str, Any]:
    from mias.rank.trainer import RankingSupernet, calibration_images, inherited_scores
    from mias.search.api import load_latency
    from mias.space import Architecture
    from mias.train.device import torch_device

    preset = Preset.model_validate(job.preset)
    rank = RankSettings.model_validate(job.settings)
    archs = [Architecture.from_dict(a) for a in job.archs]
    folder = job.record.parent
    _, predictor, _ = load_latency(Path(job.prep), rank.target)
    scorers = {"score": _scorer(job, data, soft=preset.search.soft_metric),
               "hard": _scorer(job, data)}
    device = torch_device(job.device)
    engine = RankingSupernet(data, preset.search, predictor, scorers["score"], job.name,
                             seed=rank.seed, device=device, checkpoint=folder / "checkpoint.pt")
    calibration = calibration_images(data, rank.bn_cases)
    epochs_path = folder / "epochs.json"
    epochs: list[dict[str, Any]] = read_json(epochs_path) if epochs_path.is_file() else []
    ids = [a.id for a in archs]

    def on_epoch(epoch: int, rows: list[dict[str, Any]], diagnostics: dict[str, Any]) -> None:
        del epochs[epoch - 1:]
        scores = inherited_scores(engine.supernet, archs, data, scorers, device, calibration)
        epochs.append({"epoch": epoch, "step": rows[-1]["step"],
                       "scores": dict(zip(ids, scores["score"], strict=True)),
                       "hard_scores": dict(zip(ids, scores["hard"], strict=True)),
                       "train_tsl": float(np.mean([r["tsl"] for r in rows])),
                       "path_updates": int(sum(r["paths"] for r in rows)),
                       "paths_per_step": float(np.mean([r["paths"] for r in rows])),
                       "mean_path_ms": float(np.mean([r["mean_path_ms"] for r in rows])),
                       "diagnostics": diagnostics})
        write_json(epochs_path, epochs)

    st = engine.train(on_epoch)
    budget = engine.path_budget
    record = {"schema_version": 2, "key": key, "sampler": job.name,
              "registry_sampler": engine.sampler_name, "steps": st.step,
              "steps_per_epoch": engine.steps_per_epoch,
              "path_updates": int(sum(h["paths"] for h in st.history)),
              "budget": {"path_updates_per_epoch": budget.per_epoch,
                         "natural_paths_per_step": budget.natural},
              "eps_lat": engine.settings.eps_lat, "learning_since_step": st.learned_at,
              "score_metric": scorers["score"].label, "hard_metric": scorers["hard"].label,
              "batch_norm_recalibrated": calibration is not None,
              "epochs": epochs[:math.ceil(st.step / engine.steps_per_epoch)]}
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    epochs_path.unlink(missing_ok=True)
    return record
