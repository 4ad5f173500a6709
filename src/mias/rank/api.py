"""`rank(PREP, DIR, …)`: the search evaluation from prepared data to `DIR/tau.json`.

Draws the architectures, fans the standalone trainings and the per-sampler supernets out
as jobs, and turns their records into τ per epoch per sampler. The work happens in a
partial folder named after a fingerprint of the inputs and settings and is renamed into
place when done; re-running the same command after a crash re-runs only the jobs that had
not finished (standalone trainings from their last epoch checkpoint, supernets from
their last epoch). With `--overwrite`, a finished standalone training of the earlier DIR
is taken over when its key matches, so a training is never redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from mias import __version__
from mias.atomic import resumable_dir, write_json
from mias.bench.fanout import resolve_backend, run_cells
from mias.errors import InputError
from mias.presets import Preset
from mias.rank.draw import Drawn, stratified_draw
from mias.rank.jobs import STANDALONE, SUPERNET, Job, run_job, standalone_name
from mias.rank.plots import tau_png
from mias.rank.settings import (
    SAMPLER_DESCRIPTIONS,
    SAMPLER_REGISTRY,
    RankSettings,
    ranking_settings,
)
from mias.rank.stats import agreement, ceiling, paired_difference, tied, within_groups
from mias.space.cost import network_flops, network_params

TAU_SCHEMA_VERSION = 2
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RankOutcome:
    out: Path
    tau: dict[str, Any]
    run: dict[str, Any]


def rank(prep: str | Path, out: str | Path, *, preset: Preset, settings: RankSettings,
         device: str = "cpu", backend: str = "auto", workers: int | None = None,
         ray_address: str | None = None, overwrite: bool = False,
         progress: Progress | None = None) -> RankOutcome:
    from mias.search.api import load_latency
    from mias.train.data import PreparedData
    from mias.train.device import torch_device

    prep, out = Path(prep).resolve(), Path(out)
    if workers is not None and workers < 1:
        raise InputError(None, f"--workers must be >= 1, got {workers}", "pass e.g. --workers 2")
    if ray_address and backend == "pool":
        raise InputError(None, "--ray joins a Ray cluster, --backend pool runs without Ray",
                         "drop one of the two")
    chosen = resolve_backend("ray" if ray_address else backend, ray_address)
    workers = machine_cores() if workers is None else workers
    data = PreparedData.load(prep)
    check_protocol(data, preset, settings)
    _, predictor, provenance = load_latency(prep, settings.target)
    drawn, draw_protocol = stratified_draw(data.space, predictor, settings.archs,
                                           seed=settings.seed,
                                           pool_per_arch=settings.pool_per_arch)
    dev = torch_device(device).type
    config = preset.model_dump(mode="json")
    rank_config = settings.model_dump(mode="json")
    fingerprint = hashlib.sha256(json.dumps(
        {"data": data.fingerprint, "config": config, "rank": rank_config,
         "target": provenance, "device": dev}, sort_keys=True).encode()).hexdigest()
    reuse = str(out.resolve()) if out.is_dir() else None
    started = time.perf_counter()
    with resumable_dir(out, fingerprint, overwrite=overwrite) as (tmp, resumed):
        archs = tuple(d.arch.to_dict() for d in drawn)
        common = {"prep": str(prep), "work": str(tmp.resolve()), "preset": config,
                  "settings": rank_config, "device": dev}
        # the supernets first: the longest jobs, so two workers stay busy to the end
        jobs = [Job(kind=SUPERNET, name=s, archs=archs, **common) for s in settings.samplers]
        jobs += [Job(kind=STANDALONE, name=standalone_name(d.arch.id, r),
                     archs=(d.arch.to_dict(),), reuse=reuse, replicate=r, **common)
                 for r in range(settings.truth_seeds) for d in drawn]
        records: dict[tuple[str, str], dict[str, Any]] = {}

        def done(job: Job, record: dict[str, Any]) -> None:
            records[(job.kind, job.name)] = record
            if progress is not None:
                progress("rank jobs", len(records), len(jobs))

        if progress is not None:
            progress("rank jobs", 0, len(jobs))
        try:
            used = run_cells(jobs, backend=chosen, workers=workers, ray_address=ray_address,
                             done=done, fn=run_job)
        except ConnectionError as exc:
            raise InputError(None, f"cannot join the Ray cluster at {ray_address} ({exc})",
                             "check --ray ADDRESS, or drop --ray to run locally") from exc
        tau = build_tau(data, preset, settings, provenance, draw_protocol, drawn, records)
        write_json(tmp / "tau.json", tau)
        tau_png(tmp / "tau.png", tau)
        standalone = [r for (k, _), r in records.items() if k == STANDALONE]
        run = {"schema_version": 1, "mias_version": __version__, "backend": used,
               "workers": workers,
               "ray_address": ray_address, "resumed": resumed,
               "wall_s_this_invocation": time.perf_counter() - started,
               "standalone_reused": sum(bool(r["cached"]) for r in standalone),
               "standalone_trained": sum(not r["cached"] for r in standalone),
               "supernets_reused": sum(bool(r["cached"]) for (k, _), r in records.items()
                                       if k == SUPERNET)}
        write_json(tmp / "run.json", run)
    return RankOutcome(out, tau, run)


def machine_cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def check_protocol(data, preset: Preset, settings: RankSettings) -> None:
    """Refuse, before any training, a rank whose scores would rest on fewer validation
    cases than asked, or whose ε_lat = 0 variant would be left without an objective."""
    val = len(data.splits["val"])
    if val < settings.min_val_cases:
        raise InputError(None, f"the prepared validation split has {val} case(s), fewer than "
                         f"the {settings.min_val_cases} this rank asks its scores to rest on",
                         "prepare more cases, or a larger share for validation (mias prepare "
                         "--val-fraction)")
    if "mias-eps0" in settings.samplers and preset.search.eps_ce == 0:
        raise InputError(None, "the sampler mias-eps0 sets eps_lat to 0 and the preset's "
                         "eps_ce is 0 too: its distribution would have no objective",
                         "give search.eps_ce > 0 in --config, or drop mias-eps0")
    for name in settings.samplers:
        try:
            ranking_settings(preset.search, name)
        except ValidationError as exc:
            raise InputError(None, f"the sampler {name} does not fit the preset's search "
                             f"settings: {exc.errors()[0]['msg']}",
                             f"change search settings in --config, or drop {name}") from exc


def _finite(values: list[float]) -> list[float]:
    """A diverged score (NaN, ±inf) ranks below every finite one."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr)
    floor = float(arr[ok].min()) - 1.0 if ok.any() else 0.0
    return [float(v) if f else floor for v, f in zip(arr, ok, strict=True)]


def build_tau(data, preset: Preset, settings: RankSettings, provenance: dict[str, Any],
              draw_protocol: dict[str, Any], drawn: list[Drawn],
              records: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The tau.json payload: protocol, architectures with ground truth, τ per epoch."""
    ids = [d.arch.id for d in drawn]
    replicates = [[records[(STANDALONE, standalone_name(i, r))] for i in ids]
                  for r in range(settings.truth_seeds)]
    truth_records = replicates[0]
    per_seed = np.array([_finite([r["val_score"] for r in rep]) for rep in replicates])
    truth = per_seed.mean(axis=0).tolist()
    stat = {"rounds": settings.bootstrap, "confidence": settings.confidence,
            "seed": settings.seed, "k": settings.top_k}
    depths = [d.arch.depth for d in drawn]
    samplers: dict[str, Any] = {}
    finals: dict[str, list[float]] = {}
    for name in settings.samplers:
        rec = records[(SUPERNET, name)]
        epochs = [_epoch(e, ids, truth, stat) for e in rec["epochs"]]
        finals[name] = epochs[-1]["scores"]
        epochs[-1]["within_depth"] = within_groups(finals[name], truth, depths)
        samplers[name] = {"description": SAMPLER_DESCRIPTIONS[name],
                          "search_sampler": SAMPLER_REGISTRY[name], "eps_lat": rec["eps_lat"],
                          "steps": rec["steps"], "steps_per_epoch": rec["steps_per_epoch"],
                          "path_updates": rec["path_updates"],
                          "paths_per_step": rec["path_updates"] / max(rec["steps"], 1),
                          "natural_paths_per_step": rec["budget"]["natural_paths_per_step"],
                          "learning_since_step": rec["learning_since_step"],
                          "batch_norm_recalibrated": rec["batch_norm_recalibrated"],
                          "final": {k: epochs[-1][k] for k in ("tau", "tau_ci", "rho",
                                                                "rho_ci", "top_k", "tied",
                                                                "hard", "within_depth")},
                          "epochs": epochs}
    retest = None
    if settings.truth_seeds >= 2:
        even, odd = per_seed[0::2].mean(axis=0), per_seed[1::2].mean(axis=0)
        retest = {"what": "Kendall tau of the mean score over even-numbered seeds against "
                          "the mean over odd-numbered seeds: how well the ground truth agrees "
                          "with itself when only the training seed changes",
                  **agreement(even.tolist(), odd.tolist(), rounds=stat["rounds"],
                              confidence=stat["confidence"], seed=stat["seed"], k=stat["k"]),
                  "ceiling": ceiling((even.tolist(), odd.tolist()), rounds=stat["rounds"],
                                     confidence=stat["confidence"], seed=stat["seed"])}
    s = preset.search
    first = records[(SUPERNET, settings.samplers[0])]
    per_epoch = first["budget"]["path_updates_per_epoch"]
    updates = {name: samplers[name]["path_updates"] for name in settings.samplers}
    return {
        "schema_version": TAU_SCHEMA_VERSION,
        "prep": str(data.root.resolve()), "data_fingerprint": data.fingerprint,
        "task": data.task.kind, "metric": truth_records[0]["metric"],
        "protocol": {
            "n": len(ids), "architectures": draw_protocol, "seed": settings.seed,
            "target": settings.target, "latency": provenance, "preset": preset.name,
            "standalone": {"budget": preset.train.model_dump(mode="json"),
                           "steps": truth_records[0]["steps"],
                           "seeds": [settings.seed + r for r in range(settings.truth_seeds)],
                           "truth": "mean task metric over the seeds",
                           "score": "task metric on every validation case, whole, in the "
                                    "prepared space"},
            "supernet": {"epochs": s.epochs, "path_updates_per_epoch": per_epoch,
                         "path_updates": updates,
                         "path_updates_equal": len(set(updates.values())) == 1,
                         "steps_per_epoch": {name: samplers[name]["steps_per_epoch"]
                                             for name in settings.samplers},
                         "batch": s.batch, "patch": s.patch, "paths_per_step": s.paths_per_step,
                         "lr": s.lr, "momentum": s.momentum, "weight_decay": s.weight_decay,
                         "eps_ce": s.eps_ce, "eps_lat": s.eps_lat, "arch_lr": s.arch_lr,
                         "warmup_epochs": s.warmup_epochs, "pruning": "off", "tuning": "off",
                         "seed": settings.seed,
                         "gradient": "mean over the step's paths (mias search sums them; "
                                     "averaged here so that a step's size does not grow with "
                                     "the number of paths it trains)",
                         "learning": "a learned distribution steps once the search's gate "
                                     "(gate_window, gate_min_rise) says the supernet has "
                                     "learned, as in mias search",
                         "same_for_all_samplers": "initial weights, optimiser settings, the "
                                                  "stream of training batches (one per step) "
                                                  "and the number of path updates: each epoch "
                                                  "trains paths_per_step × the search's steps "
                                                  "per epoch paths, a sampler whose step "
                                                  "trains m paths taking ⌈that / m⌉ steps, "
                                                  "the last on the paths left. Which paths "
                                                  "are trained, and how many steps they are "
                                                  "grouped into, differ"},
            "validation_cases": len(data.splits["val"]),
            "min_val_cases": settings.min_val_cases,
            "inherited_score": "each architecture materialised with the supernet's weights "
                               "after every epoch, batch-norm statistics re-estimated on "
                               f"{settings.bn_cases} training cases where the space uses "
                               "batch norm, and scored on every validation case, whole, by "
                               f"{first['score_metric']} (the search's step metric; "
                               "continuous, so scores seldom tie), which ranks; beside it by "
                               f"{first['hard_metric']}, as the standalone trainings are "
                               "scored, with the tied scores counted",
            "statistics": {"tau": "Kendall tau-b (scipy.stats.kendalltau)",
                           "rho": "Spearman rho (scipy.stats.spearmanr)",
                           "ci": "percentile bootstrap over architectures resampled with "
                                 "replacement", "bootstrap": settings.bootstrap,
                           "confidence": settings.confidence, "bootstrap_seed": settings.seed,
                           "top_k": settings.top_k,
                           "diverged": "a non-finite score ranks below every finite one"},
            "config": preset.model_dump(mode="json"),
        },
        "architectures": [
            {"arch_id": d.arch.id, "arch": d.arch.to_dict(), "latency_ms": d.latency_ms,
             "latency_source": d.latency_source, "stratum": d.stratum,
             "standalone_score": truth[j],
             "standalone_scores_per_seed": [rep[j]["val_score"] for rep in replicates],
             "standalone_diverged": any(rep[j]["diverged"] for rep in replicates)}
            for j, d in enumerate(drawn)],
        "standalone": {"metric": truth_records[0]["metric"], "mean": float(np.mean(truth)),
                       "min": float(np.min(truth)), "max": float(np.max(truth)),
                       "best": ids[int(np.argmax(truth))], "retest": retest},
        "samplers": samplers,
        "comparisons": compare_samplers(finals, truth, stat),
        "references": reference_rankings(data.space, drawn, truth, stat),
    }


def _epoch(e: dict[str, Any], ids: list[str], truth: list[float],
           stat: dict[str, Any]) -> dict[str, Any]:
    """One epoch's τ of the ranking score, the hard metric's beside it, ties counted."""
    scores = _finite([e["scores"][i] for i in ids])
    hard = _finite([e["hard_scores"][i] for i in ids])
    h = agreement(hard, truth, rounds=stat["rounds"], confidence=stat["confidence"],
                  seed=stat["seed"], k=stat["k"])
    return {"epoch": e["epoch"], "step": e["step"],
            **agreement(scores, truth, rounds=stat["rounds"], confidence=stat["confidence"],
                        seed=stat["seed"], k=stat["k"]),
            "tied": tied(scores),
            "hard": {"tau": h["tau"], "tau_ci": h["tau_ci"], "rho": h["rho"],
                     "tied": tied(hard)},
            "train_tsl": e["train_tsl"], "path_updates": e["path_updates"],
            "paths_per_step": e["paths_per_step"], "mean_path_ms": e["mean_path_ms"],
            "diagnostics": e["diagnostics"], "scores": scores, "hard_scores": hard}


def compare_samplers(finals: dict[str, list[float]], truth: list[float],
                     stat: dict[str, Any]) -> dict[str, Any]:
    """Paired Δτ of each MIAS variant against every other sampler (each pair once)."""
    out: dict[str, Any] = {}
    for first in (name for name in finals if name.startswith("mias")):
        for other in finals:
            if other != first and f"{other}-{first}" not in out:
                out[f"{first}-{other}"] = {"first": first, "second": other,
                                           **paired_difference(
                                               finals[first], finals[other], truth,
                                               rounds=stat["rounds"],
                                               confidence=stat["confidence"],
                                               seed=stat["seed"])}
    return out


def reference_rankings(space: Any, drawn: list[Drawn], truth: list[float],
                       stat: dict[str, Any]) -> dict[str, Any]:
    """Trivial rankings a sampler must beat to be credited: bigger is better by depth,
    parameters, FLOPs or latency on the target, each with its τ against the same truth."""
    features = {"depth": [float(d.arch.depth) for d in drawn],
                "params": [float(network_params(space, d.arch)) for d in drawn],
                "flops": [float(network_flops(space, d.arch)) for d in drawn],
                "latency": [float(d.latency_ms) for d in drawn]}
    return {name: {"what": f"architectures ranked by {name}, larger first",
                   **agreement(values, truth, rounds=stat["rounds"],
                               confidence=stat["confidence"], seed=stat["seed"], k=stat["k"])}
            for name, values in features.items()}


def summary_lines(tau: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """The plain-language reading of a tau.json."""
    p = tau["protocol"]
    lat = p["architectures"]["drawn_latency_ms"]
    conf = round(p["statistics"]["confidence"] * 100)
    st = tau["standalone"]
    lines = [f"Ranked {p['n']} architectures drawn across predicted latency "
             f"{lat[0]:.1f}–{lat[1]:.1f} ms on {p['target']} "
             f"({p['architectures']['latency_source']}).",
             f"Ground truth: each trained alone for {p['standalone']['steps']} steps "
             f"({len(p['standalone']['seeds'])} seed(s)); "
             f"{st['metric']} {st['min']:.3f}–{st['max']:.3f} (mean {st['mean']:.3f}).",
             f"Supernets: {p['supernet']['epochs']} epochs × "
             f"{p['supernet']['path_updates_per_epoch']} path updates each for every sampler "
             f"(gradients averaged over a step's paths), no pruning; scored on "
             f"{p['validation_cases']} validation case(s), whole."]
    if st.get("retest"):
        rt = st["retest"]
        lines.append(f"  half the truth's seeds against the other half: τ {rt['tau']:+.2f} "
                     f"[{rt['tau_ci'][0]:+.2f}, {rt['tau_ci'][1]:+.2f}].")
        if rt.get("ceiling"):
            c = rt["ceiling"]
            lines.append(f"  ceiling (a noise-free ranking against this truth, Spearman–Brown): "
                         f"τ {c['tau']:+.2f} [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}].")
    refs = tau.get("references") or {}
    if refs:
        lines.append("  trivial rankings (larger first): " + ", ".join(
            f"{name} τ {r['tau']:+.2f}" for name, r in refs.items()) + ".")
    for name, entry in tau["samplers"].items():
        lines += _sampler_lines(name, entry, p["n"])
    for pair, c in tau["comparisons"].items():
        lo, hi = c["ci"]
        verdict = (f"{c['first']} ranks better" if lo > 0 else f"{c['first']} ranks worse"
                   if hi < 0 else "no difference the CI can tell")
        lines.append(f"  {pair}: Δτ {c['delta_tau']:+.2f} [{lo:+.2f}, {hi:+.2f}] "
                     f"({conf}% paired bootstrap): {verdict}.")
    lines.append(f"Backend {run['backend']} ({run['workers']} workers); standalone trainings "
                 f"reused {run['standalone_reused']}, trained {run['standalone_trained']}.")
    return lines


def _sampler_lines(name: str, entry: dict[str, Any], n: int) -> list[str]:
    """One sampler's final τ, its hard-metric τ with ties, its budget and its distribution."""
    f, h = entry["final"], entry["final"]["hard"]
    tk = f["top_k"]
    probs = entry["epochs"][-1]["diagnostics"]["probabilities"]
    learned = ("" if probs is None else
               f"; distribution {probs['tv_from_uniform']:.2f} from uniform (total variation)")
    return [f"  {name:9s} final τ {f['tau']:+.2f} [{f['tau_ci'][0]:+.2f}, "
            f"{f['tau_ci'][1]:+.2f}], ρ {f['rho']:+.2f}; top-{tk['k']} overlap "
            f"{tk['overlap']:.0%}, true best in its top {tk['k']}: "
            f"{'yes' if tk['contains_best'] else 'no'}",
            f"            hard τ {h['tau']:+.2f} ({h['tied']} of {n} scores tied, "
            f"{f['tied']} by the ranking score); {entry['path_updates']} path updates in "
            f"{entry['steps']} steps{learned}"]
