"""`search(PREP, RUN, …)`: the search stage from prepared data to `RUN/search/`.

Reads only files (PREP's manifest, splits, search space, latency table) and writes only
files: `result.json`, `history.parquet`, `archive.parquet`, `progress.png`, `hpo.db`,
`supernet.pt` and `checkpoint.pt`. The work happens in a partial folder named after a
fingerprint of the inputs and settings, renamed into place when done; re-running the same
command after a crash (`kill -9` included) resumes from the last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mias import __version__
from mias.atomic import atomic_file, resumable_dir, write_json
from mias.errors import InputError
from mias.hardware.devices import DeviceProfile, resolve_device
from mias.hardware.lut import LatencyTable, lut_path
from mias.hardware.predictors import LatencyPredictor, default_predictor
from mias.presets import Preset
from mias.records import RESULT_SCHEMA_VERSION
from mias.search.controller import MiasSearch, StepHook
from mias.search.plots import progress_png
from mias.search.supernet_evaluator import SupernetEvaluator
from mias.space.selection import nnunet_like
from mias.train.baselines.unet import fixed_unet
from mias.train.data import PreparedData
from mias.train.device import torch_device
from mias.train.latency import target_estimate
from mias.train.scoring import Scorer


def load_latency(prep: Path, target: str):
    """The target's device profile, its measured table if PREP has one, and the predictor."""
    device = resolve_device(target)
    path = lut_path(prep, device.name)
    table = LatencyTable.load(path) if path.is_file() else None
    predictor = default_predictor(device, table)
    provenance = {"device": device.name, "table": None if table is None else path.name,
                  "source": "predicted from a measured latency table" if table is not None
                  else f"estimated by a roofline model of {device.name} (no measured table)",
                  "predictor": type(predictor).__name__}
    if table is not None:
        provenance.update(runtime=table.runtime, threads=table.threads, created=table.created)
    return device, predictor, provenance


def search(prep: str | Path, run: str | Path, *, target: str, preset: Preset,
           latency_budget_ms: float | None = None, device: str = "auto", seed: int = 0,
           overwrite: bool = False, on_step: StepHook | None = None,
           on_start: Callable[[dict[str, Any]], None] | None = None) -> Path:
    if seed < 0:
        raise InputError(None, f"--seed must be >= 0, got {seed}", "pass e.g. --seed 0")
    prep, run = Path(prep), Path(run)
    data = PreparedData.load(prep)
    profile, predictor, provenance = load_latency(prep, target)
    scorer = Scorer.for_task(data.task, preset.metric.name, preset.metric.beta,
                             soft=preset.search.soft_metric)
    s = preset.search
    steps_per_epoch = s.steps_per_epoch or math.ceil(len(data.splits["train"]) / s.batch)
    dev = torch_device(device)
    config = preset.model_dump(mode="json")
    fingerprint = hashlib.sha256(json.dumps(
        {"data": data.fingerprint, "config": config, "target": provenance, "seed": seed,
         "budget": latency_budget_ms, "device": dev.type}, sort_keys=True).encode()).hexdigest()
    final = run / "search"
    with resumable_dir(final, fingerprint, overwrite=overwrite, inputs=(prep,),
                       stage="search") as (tmp, resumed):
        evaluator = SupernetEvaluator(data, s, scorer, device=dev, seed=seed,
                                      hpo_storage=tmp / "hpo.db", recipe=preset)
        engine = MiasSearch(data.space, evaluator, predictor, s, seed=seed,
                            steps_per_epoch=steps_per_epoch, latency_budget_ms=latency_budget_ms,
                            checkpoint=tmp / "checkpoint.pt", on_step=on_step,
                            references=reference_latencies(data, profile, target, predictor))
        if on_start is not None:
            on_start({"total_steps": engine.total_steps, "resumed": resumed,
                      "reference_ms": engine.latency.reference_ms, "device": dev.type,
                      "latency": provenance, "metric": scorer.label, "patch": evaluator.patch})
        started = time.perf_counter()
        outcome = engine.run()
        result = {
            "schema_version": RESULT_SCHEMA_VERSION, "mias_version": __version__,
            "arch": outcome.arch.to_dict(), "arch_id": outcome.arch.id,
            "metric": {"name": scorer.metric, "label": evaluator.final_scorer.label,
                       "search_label": scorer.label, "beta": scorer.beta,
                       "value": outcome.metric, "basis": "whole validation split, prepared "
                       "space, final supernet weights (inherited, not retrained)"},
            "latency": outcome.latency.to_dict() | {"label": outcome.latency.label},
            "latency_provenance": provenance, "pareto": outcome.pareto,
            "pareto_basis": "the chosen network and up to pareto_reeval members of the "
                            "search's front, re-scored on the whole validation split with the "
                            "final metric; non-dominated among those",
            "search_front": outcome.search_front,
            "pruning_log": outcome.pruning_log, "history": outcome.history,
            "hpo": outcome.hpo, "reference_ms": outcome.reference_ms,
            "schedule": outcome.schedule, "evaluated_paths": len(outcome.archive),
            "latency_rank": outcome.latency_rank, "race": outcome.race,
            "warnings": search_warnings(outcome.latency_rank, outcome.schedule),
            "loss": loss_record(s, latency_budget_ms),
            "prep": str(prep.resolve()), "target": provenance["device"], "seed": seed,
            "device": dev.type, "config": config, "data_fingerprint": data.fingerprint,
        }
        write_json(tmp / "result.json", result)
        _tables(tmp, outcome)
        progress_png(tmp / "progress.png", outcome.history,
                     outcome.schedule["pruned_at"], scorer.label,
                     f"MIAS search — {data.task.kind}, target {provenance['device']} "
                     f"({provenance['source']})")
        with atomic_file(tmp / "supernet.pt") as f:
            torch.save({"state_dict": evaluator.supernet.state_dict(),
                        "space": data.space.to_dict(), "seed": seed,
                        "few_shot": evaluator.is_split}, f)
        write_json(tmp / "timing.json", {"schema_version": 1,
                                         "wall_s_this_invocation": time.perf_counter() - started,
                                         "resumed": resumed})
    return final


def reference_latencies(data: PreparedData, profile: DeviceProfile, target: str,
                        predictor: LatencyPredictor) -> dict[str, float]:
    """Where the references fall in this space's latency range on the target: the space's
    nnU-Net-like member (by the search's own predictor) and the DynUNet baseline `mias
    evaluate` trains (its whole-graph roofline estimate; none when the plan has no
    down-sampling stage or the profile has no roofline figures)."""
    out: dict[str, float] = {}
    member = nnunet_like(data.space)
    if member is not None:
        out["nnunet_like"] = float(predictor.predict(data.space, member).value)
    if data.task.kind != "segmentation" or len(data.space.stages) < 2:
        return out
    net, _ = fixed_unet(data.space, profile)
    example = torch.zeros(1, data.task.in_channels, *data.task.input_shape)
    figure = target_estimate(net, example, target)["target"]
    return out if figure is None else out | {"unet": float(figure["value"])}


def loss_record(s: Any, latency_budget_ms: float | None) -> dict[str, Any]:
    """The architecture objective this search optimised, in words a reader can check."""
    terms = {"max": "T: sum over layers of the slowest block the step's K paths ran there "
                    "(the paper's term), E[T] over K draws in closed form",
             "path": "T: the expected latency of one path drawn from the distribution (the "
                     "network that is deployed), a wider block charged for what it costs "
                     "the layers after it"}
    record = {"formula": "L = eps_ce * TSL + eps_lat * T / reference_ms",
              "T": terms[s.latency_term], "latency_term": s.latency_term,
              "gradient": "TSL by REINFORCE with advantages standardised per step; T in "
                          "closed form", "eps_ce": s.eps_ce, "eps_lat": s.eps_lat}
    if latency_budget_ms is not None:
        record |= {"formula": "L = eps_ce * TSL + lambda * E[one path] / reference_ms",
                   "T": terms["path"], "latency_term": "path",
                   "budget_ms": latency_budget_ms,
                   "lambda": "a Lagrange multiplier that grows while the expected deployed "
                             "path is over the budget and shrinks to 0 below it (eps_lat is "
                             "not used)"}
    return record


def search_warnings(rank: dict[str, Any], schedule: dict[str, Any] | None = None) -> list[str]:
    """What a user must know about the choice before training it."""
    out = []
    if schedule is not None and schedule.get("learned_at", 0) is None:
        out.append("the supernet's validation metric never rose above its starting level "
                   "(search.gate_min_rise): no architecture decision rested on learned "
                   "weights, and the pruning points were all taken at the last step. Give "
                   "the search more steps (search.epochs) or a larger search.lr")
    if rank["is_fastest"]:
        out.append(f"the chosen network is the fastest member of the search space "
                   f"({rank['latency_ms']:.1f} ms): latency decided alone. Lower eps_lat in a "
                   "--config, or give --latency-budget, to let accuracy count")
    return out


def _tables(out: Path, outcome) -> None:
    import pandas as pd

    hist = pd.DataFrame([{k: v for k, v in h.items() if k != "depth_probs"}
                         for h in outcome.history])
    with atomic_file(out / "history.parquet") as tmp:
        hist.to_parquet(tmp, index=False)
    archive = pd.DataFrame([{"arch_id": e["arch_id"], "metric": e["metric_sum"] /
                             max(e["evaluations"], 1), "evaluations": e["evaluations"],
                             "latency_ms": e["latency_ms"], "first_step": e["first_step"],
                             "last_step": e["last_step"], "arch": json.dumps(e["arch"])}
                            for e in outcome.archive])
    with atomic_file(out / "archive.parquet") as tmp:
        archive.to_parquet(tmp, index=False)
