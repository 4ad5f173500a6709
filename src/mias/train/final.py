"""`mias train RUN`: final training of the searched architecture → `RUN/final/`.

From scratch (seeded) or from the supernet weights it inherits (`--init inherited`); the
budget, optimiser, schedule and augmentation are the run's preset (`train` section), the
budget replaceable by `--steps N` or `--time-budget MIN`. The learning rate, momentum and
weight decay the search tuned (`RUN/search/result.json`, `hpo.chosen`) replace the preset's
when both train with SGD (a rate tuned for SGD means nothing to AdamW); metrics.json says
which values were used and where they came from. The work happens in a resumable partial
folder with a checkpoint every epoch: the same command continues an interrupted training
(Ctrl-C or `kill -9`) to exactly the weights an uninterrupted one reaches (`--restart`
starts over), and the finished folder (model.pt,
metrics.json, progress.png, augmentations.jsonl: every sample's case, patch and drawn
augmentation) is renamed into place at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from mias import __version__
from mias.atomic import atomic_file, read_json, resumable_dir, write_json
from mias.errors import InputError
from mias.presets.models import TUNED, TrainSettings, with_tuned
from mias.records import METRICS_SCHEMA_VERSION
from mias.space import SearchSpace, network_flops, network_params
from mias.train.calibrate import inference_record
from mias.train.data import PreparedData
from mias.train.model_file import ModelFile
from mias.train.plots import plot_progress
from mias.train.run_record import SearchRecord
from mias.train.scoring import Scorer
from mias.train.standalone import CHECKPOINT_NAME, Progress, train_architecture

INITS = ("scratch", "inherited")


def inherited_state(record: SearchRecord) -> tuple[SearchSpace, dict[str, torch.Tensor]]:
    """The searched architecture's weights sliced out of `RUN/search/supernet.pt`."""
    from mias.space import build_supernet

    path = record.supernet_path
    if not path.is_file():
        raise InputError(path, "no supernet weights to inherit from",
                         "train with --init scratch, or re-run the search (it writes them)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        space = SearchSpace.from_dict(saved["space"])
        supernet = build_supernet(space, seed=int(saved["seed"]),
                                  few_shot=bool(saved.get("few_shot", False)))
        supernet.load_state_dict(saved["state_dict"])
        space.check(record.arch)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"cannot rebuild the supernet for this architecture ({exc})",
                         "train with --init scratch, or re-run the search") from exc
    return space, supernet.materialize(record.arch).state_dict()


def scorer_for(record: SearchRecord, data: PreparedData) -> Scorer:
    metric = record.preset.metric
    return Scorer.for_task(data.task, metric.name, metric.beta)


def _fingerprint(record: SearchRecord, init: str, settings: TrainSettings) -> str:
    blob = json.dumps({"result": record.raw, "init": init, "version": __version__,
                       "train": settings.model_dump(mode="json")}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def final_settings(record: SearchRecord, *, steps: int | None = None,
                   time_budget_min: float | None = None
                   ) -> tuple[TrainSettings, dict[str, Any]]:
    """The preset's training settings with the search's tuned values and the command
    line's budget on top, and a record of which hyper-parameters were used and why."""
    tuned = (record.raw.get("hpo") or {}).get("chosen")
    settings, source, why = with_tuned(record.preset, tuned)
    budget: dict[str, Any] = {}
    if steps is not None:
        budget["steps"] = steps
    if time_budget_min is not None:
        budget["time_budget_min"] = time_budget_min
    if budget:
        settings = TrainSettings.model_validate(settings.model_dump() | budget)
    used = {k: getattr(settings, k) for k in TUNED}
    return settings, {"source": source, "reason": why, "used": used, "tuned": tuned,
                      "optimizer": settings.optimizer}


def train_final(run: str | Path, *, init: str | None = None, restart: bool = False,
                device: str = "cpu", overwrite: bool = False,
                progress: Progress | None = None, steps: int | None = None,
                time_budget_min: float | None = None) -> Path:
    """Train the run's architecture and write `RUN/final/`; returns that folder."""
    record = SearchRecord.load(run)
    settings, hparams = final_settings(record, steps=steps, time_budget_min=time_budget_min)
    init = init or settings.init
    if init not in INITS:
        raise InputError(None, f"unknown --init {init!r}", f"choose one of: {', '.join(INITS)}")
    data = PreparedData.load(record.prep)
    record.check_prep(data.fingerprint)
    space, init_state = inherited_state(record) if init == "inherited" else (data.space, None)
    space.check(record.arch)
    final = record.run / "final"
    fingerprint = _fingerprint(record, init, settings)
    scorer = scorer_for(record, data)
    with resumable_dir(final, fingerprint, overwrite=overwrite) as (tmp, _):
        if restart:
            (tmp / CHECKPOINT_NAME).unlink(missing_ok=True)
        result = train_architecture(space, record.arch, data, settings, device=device,
                                    seed=record.seed, init_state=init_state,
                                    checkpoint_dir=tmp, progress=progress, scorer=scorer,
                                    validate_every=1, record_draws=True)
        evaluate = record.preset.evaluate
        decided = inference_record(result.network, data, result.plan["patch"],
                                   beta=scorer.beta, device=device,
                                   overlap=evaluate.sliding_window_overlap,
                                   mirror=evaluate.test_time_mirroring)
        meta = {"arch_id": record.arch.id, "init": init, "seed": record.seed, "inference": decided,
                "target": record.target, "search_latency": record.latency,
                "val_score": result.val_score, "metric": scorer.metric,
                "metric_label": scorer.label, "prep_fingerprint": data.fingerprint,
                "steps": result.steps, "mias_version": __version__}
        ModelFile(space=space, arch=record.arch, state_dict=result.network.state_dict(),
                  preprocessing=read_json(data.root / "manifest.json")["preprocessing"],
                  meta=meta).save(tmp / "model.pt")
        write_json(tmp / "metrics.json", _metrics(record, space, init, device,
                                                  result.summary() | {"hparams": hparams,
                                                                      "inference": decided}))
        with atomic_file(tmp / "augmentations.jsonl") as path, \
                open(path, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(d) + "\n" for d in result.draws)
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
