"""`mias train RUN`: final training of the searched architecture → `RUN/final/`.

From scratch (seeded) or from the supernet weights it inherits (`--init inherited`); the
budget, optimiser, schedule and augmentation are the run's preset (`train` section). The
work happens in a resumable partial folder with a checkpoint every epoch; `--resume`
continues an interrupted training to exactly the weights an uninterrupted one reaches, and
the finished folder (model.pt, metrics.json, progress.png) is renamed into place at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from mias import __version__
from mias.atomic import read_json, resumable_dir, write_json
from mias.errors import InputError
from mias.space import SearchSpace, network_flops, network_params
from mias.train.data import PreparedData
from mias.train.model_file import ModelFile
from mias.train.plots import plot_progress
from mias.train.run_record import SearchRecord
from mias.train.scoring import Scorer
from mias.train.standalone import CHECKPOINT_NAME, Progress, train_architecture

METRICS_SCHEMA_VERSION = 1
INITS = ("scratch", "inherited")


def inherited_state(record: SearchRecord) -> tuple[SearchSpace, dict[str, torch.Tensor]]:
    """The searched architecture's weights sliced out of `RUN/search/supernet.pt`."""
    from mias.space import Supernet

    path = record.supernet_path
    if not path.is_file():
        raise InputError(path, "no supernet weights to inherit from",
                         "train with --init scratch, or re-run the search (it writes them)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        space = SearchSpace.from_dict(saved["space"])
        supernet = Supernet(space, seed=int(saved["seed"]))
        supernet.load_state_dict(saved["state_dict"])
        space.check(record.arch)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"cannot rebuild the supernet for this architecture ({exc})",
                         "train with --init scratch, or re-run the search") from exc
    return space, supernet.materialize(record.arch).state_dict()


def scorer_for(record: SearchRecord, data: PreparedData) -> Scorer:
    metric = record.preset.metric
    return Scorer.for_task(data.task, metric.name, metric.beta)


def _fingerprint(record: SearchRecord, init: str) -> str:
    blob = json.dumps({"result": record.raw, "init": init, "version": __version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def train_final(run: str | Path, *, init: str | None = None, resume: bool = False,
                device: str = "cpu", overwrite: bool = False,
                progress: Progress | None = None) -> Path:
    """Train the run's architecture and write `RUN/final/`; returns that folder."""
    record = SearchRecord.load(run)
    settings = record.preset.train
    init = init or settings.init
    if init not in INITS:
        raise InputError(None, f"unknown --init {init!r}", f"choose one of: {', '.join(INITS)}")
    data = PreparedData.load(record.prep)
    space, init_state = inherited_state(record) if init == "inherited" else (data.space, None)
    space.check(record.arch)
    final = record.run / "final"
    fingerprint = _fingerprint(record, init)
    scorer = scorer_for(record, data)
    with resumable_dir(final, fingerprint, overwrite=overwrite) as (tmp, _):
        if not resume:
            (tmp / CHECKPOINT_NAME).unlink(missing_ok=True)
        result = train_architecture(space, record.arch, data, settings, device=device,
                                    seed=record.seed, init_state=init_state,
                                    checkpoint_dir=tmp, progress=progress, scorer=scorer,
                                    validate_every=1)
        meta = {"arch_id": record.arch.id, "init": init, "seed": record.seed,
                "target": record.target, "search_latency": record.latency,
                "val_score": result.val_score, "metric": scorer.metric,
                "metric_label": scorer.label, "prep_fingerprint": data.fingerprint,
                "steps": result.steps, "mias_version": __version__}
        ModelFile(space=space, arch=record.arch, state_dict=result.network.state_dict(),
                  preprocessing=read_json(data.root / "manifest.json")["preprocessing"],
                  meta=meta).save(tmp / "model.pt")
        write_json(tmp / "metrics.json", _metrics(record, space, init, device, result.summary()))
        plot_progress(result, tmp / "progress.png",
                      f"final training of {record.arch.id} ({init})")
        (tmp / CHECKPOINT_NAME).unlink(missing_ok=True)
    return final


def _metrics(record: SearchRecord, space: SearchSpace, init: str, device: str,
             summary: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": METRICS_SCHEMA_VERSION, "arch": record.arch.to_dict(),
            "arch_id": record.arch.id, "init": init, "device": device,
            "target": record.target, "params": network_params(space, record.arch),
            "flops": network_flops(space, record.arch), "split": "val",
            "space": "prepared", **summary}
