"""Is the found network better than random networks of its latency by more than the
training seed moves a network? → results/seed_noise.json

`tradeoff.py` trains each network once. One training is one draw: the same architecture
trained with another seed can land far apart (a structure that collapses, a slower start),
so "found ≥ the median of its controls" on single trainings may be decided by seeds, not
architectures. This script trains the found network of a finished `mias search` and
`--controls` random architectures within ±10 % of its predicted latency (drawn as `mias
evaluate` draws them) with every seed of `--seeds`, one recipe for all (the run's final
training settings when `mias train` has run, else the preset's; no wall-clock cap, so every
training gets the same steps), and splits the spread of validation Dice into

- within: the variance between seeds of one architecture (pooled over architectures);
- between: the variance of the architectures' mean Dice beyond what the seeds explain,
  var(means) − within / seeds (one-way random-effects ANOVA; scipy's F test gives p).

If `between` is small against `within / seeds`, no search can be told apart from random
choice at this latency with this many seeds. Dice is the whole-volume Dice of `--split`
in the prepared space: validation (the split the search never trained on, but on which its
depth race chose) or test (when prepare made one: no decision saw it). With
`--postprocess` each training is scored as `mias evaluate` scores it (sliding windows, the
postprocessing it decided on validation). A training with a structure at Dice 0 is failed.

    .venv/bin/python benchmarks/seed_noise.py RUN [RUN ...] [--controls 5] [--seeds 0 1 2]
        [--jobs 2] [--split val|test] [--postprocess] [--points FILE ...] [--out FILE]

One point per RUN. `--points` merges points measured by earlier invocations (their
trainings) instead of training again, describing each from its RUN.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from mias.atomic import read_json, write_json
from mias.presets import TrainSettings
from mias.space import Architecture
from mias.train.baselines.random_control import draw_matched, target_predictor
from mias.train.baselines.runner import recipe
from mias.train.calibrate import inference_record, prepared_spacings
from mias.train.data import PreparedData
from mias.train.postprocess import apply_postprocessing, mean_dice
from mias.train.predictors import NetworkPredictor
from mias.train.run_record import SearchRecord
from mias.train.standalone import TrainResult, train_architecture
from optimizer import per_structure_dice  # the same whole-volume Dice, beside this script

RESULTS = Path(__file__).parent / "results" / "seed_noise.json"


def train_one(prep: str, arch: dict[str, Any], settings: dict[str, Any], seed: int,
              name: str, split: str, postprocess: bool) -> dict[str, Any]:
    """One training in a worker process (one torch thread, so two run side by side alike)."""
    torch.set_num_threads(1)
    data = PreparedData.load(Path(prep))
    a = Architecture.from_dict(arch)
    t0 = time.perf_counter()
    result = train_architecture(data.space, a, data, TrainSettings.model_validate(settings),
                                seed=seed)
    dice = (decided_dice(result, data, split) if postprocess
            else per_structure_dice(result.network, data, split))
    row = {"network": name, "arch_id": a.id, "seed": seed, "dice": float(np.mean(list(
        dice.values()))), "dice_per_structure": dice, "failed": min(dice.values()) == 0.0,
        "steps": result.steps, "stopped": result.stopped,
        "wall_s": round(time.perf_counter() - t0, 1)}
    print(f"{name} ({a.id}) seed {seed}: Dice {row['dice']:.3f} {dice} "
          f"in {row['wall_s']:.0f} s", flush=True)
    return row


def decided_dice(result: TrainResult, data: PreparedData, split: str) -> dict[str, float]:
    """Per structure, the mean Dice of `split` as `mias evaluate` scores it but in the prepared
    space: sliding windows of the training patch, then the postprocessing decided on the
    validation split (`calibrate`); a structure absent from label and prediction is left out
    of its mean, so a healthy subject left clean costs nothing and one painted scores 0."""
    patch = result.plan.get("patch") or data.task.input_shape
    decided = inference_record(result.network, data, patch, beta=1.0)
    predictor = NetworkPredictor(result.network, decided["window"],
                                 overlap=decided["overlap"], device=torch.device("cpu"))
    cases = data.split(split)
    spacings = prepared_spacings(data, cases)
    preds = [apply_postprocessing(np.argmax(predictor.segment(c.image), axis=0),
                                  decided["postprocessing"], s)
             for c, s in zip(cases, spacings, strict=True)]
    names = data.task.label_names[1:]
    dice = mean_dice(preds, [c.mask for c in cases], range(1, len(names) + 1))
    return {name: float(d) for name, d in zip(names, dice, strict=True)}


def variance_split(groups: dict[str, list[float]]) -> dict[str, Any]:
    """One-way random-effects split of the spread of Dice: seeds within, networks between."""
    sizes = {len(v) for v in groups.values()}
    seeds = min(sizes)
    means = [float(np.mean(v)) for v in groups.values()]
    within = float(np.mean([np.var(v, ddof=1) for v in groups.values()])) if seeds > 1 else None
    between = (max(0.0, float(np.var(means, ddof=1)) - within / seeds)
               if within is not None else None)
    anova = stats.f_oneway(*groups.values()) if seeds > 1 else None
    return {"networks": len(groups), "seeds_per_network": seeds,
            "within_sd": within ** 0.5 if within is not None else None,
            "between_sd": between ** 0.5 if between is not None else None,
            "sd_of_a_mean_over_seeds": (within / seeds) ** 0.5 if within is not None else None,
            "anova_f": float(anova.statistic) if anova is not None else None,
            "anova_p": float(anova.pvalue) if anova is not None else None,
            "icc": (between / (between + within)) if within and between is not None else None}


def describe(record: SearchRecord) -> dict[str, Any]:
    """What search produced the run's choice: budget, patch, trade-off and when it learned."""
    search, schedule = record.preset.search, record.raw["schedule"]
    return {"arch_id": record.arch.id, "preset": record.preset.name, "seed": record.seed,
            "target": record.target, "steps": schedule["total_steps"],
            "patch_voxels": search.patch_voxels, "paths_per_step": search.paths_per_step,
            "eps_lat": search.eps_lat, "latency_term": search.latency_term,
            "latency_budget_ms": schedule.get("latency_budget_ms"),
            "learned_at": schedule.get("learned_at"), "pruned_at": schedule.get("pruned_at"),
            "space_faster_share": record.raw["latency_rank"]["faster_share"]}


def measure(record: SearchRecord, controls: int, seeds: list[int], jobs: int,
            split: str, postprocess: bool) -> dict[str, Any]:
    """Train the run's found network and its random controls with every seed; one point."""
    data = PreparedData.load(record.prep)
    settings = recipe(record.run, record.preset.train).model_copy(update={"time_budget_min": None})
    predictor = target_predictor(record.prep, record.target)
    picked, ref, draws = draw_matched(data.space, record.arch, controls, predictor,
                                      seed=record.seed)
    networks = {"found": record.arch} | {f"random-{k}": a
                                          for k, (a, _) in enumerate(picked, start=1)}
    latency = {"found": ref.value} | {f"random-{k}": f.value
                                      for k, (_, f) in enumerate(picked, start=1)}
    start = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(train_one, str(record.prep), networks[n].to_dict(),
                               settings.model_dump(mode="json"), seed, n, split,
                               postprocess)
                   for seed in seeds for n in networks]
        runs = [f.result() for f in futures]
    return {"search": {"arch_id": record.arch.id, "latency": ref.to_dict(),
                       "cases": {k: len(v) for k, v in data.splits.items()}},
            "split": split,
            "scoring": ("sliding windows, the postprocessing decided on validation, a "
                        "structure absent from label and prediction left out" if postprocess
                        else "whole prepared input, no postprocessing, a structure absent "
                        "from label and prediction scored 1 (MONAI)"),
            "recipe": settings.model_dump(mode="json"),
            "controls_drawn": {"n": len(picked), "draws_and_walks": draws,
                               "window": "±10 % of the found network's predicted latency"},
            "networks": {name: {"arch_id": a.id, "depth": a.depth, "latency_ms": latency[name]}
                         for name, a in networks.items()},
            "runs": runs, "wall_s": round(time.perf_counter() - start, 1)}


def summarise(point: dict[str, Any]) -> dict[str, Any]:
    """Per network mean and spread over seeds, the variance split, and found vs controls."""
    by = {n: [r["dice"] for r in point["runs"] if r["network"] == n] for n in point["networks"]}
    per = {n: point["networks"][n] | {
        "dice_by_seed": v, "mean": float(np.mean(v)),
        "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None,
        "failed_seeds": sum(r["failed"] for r in point["runs"] if r["network"] == n)}
        for n, v in by.items()}
    controls = [per[n]["mean"] for n in per if n != "found"]
    found = per["found"]["mean"]
    pooled = [d for n, v in by.items() if n != "found" for d in v]
    return {"networks": per, "variance": variance_split(by), "found_vs_controls": {
        "found_mean": found, "controls_median": statistics.median(controls),
        "controls_best": max(controls), "found_rank": 1 + sum(c > found for c in controls),
        "of": len(controls) + 1,
        "above_median": found >= statistics.median(controls),
        "above_best": found >= max(controls),
        "welch_p_found_vs_pooled_controls": float(stats.ttest_ind(
            by["found"], pooled, equal_var=False).pvalue) if len(by["found"]) > 1 else None}}


def earlier(path: Path, arch_id: str) -> dict[str, Any]:
    """A point an earlier invocation measured: the file of one point, or this script's
    results file, from which the point of the same found network is taken."""
    found = read_json(path)
    for point in found.get("points", [found]):
        if point["search"]["arch_id"] == arch_id:
            return point
    raise SystemExit(f"{path} holds no point measured on the search that found {arch_id}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, nargs="+",
                        help="run folders with a finished `mias search`, one point each")
    parser.add_argument("--controls", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--points", type=Path, nargs="+", metavar="FILE",
                        help="points measured earlier (one per RUN, in order): merge them "
                             "instead of training")
    parser.add_argument("--labels", nargs="+", metavar="TEXT",
                        help="what each RUN's search was, in order (e.g. the code it ran)")
    parser.add_argument("--context", type=int, nargs="+", default=[], metavar="K",
                        help="RUNs (1-based) kept for comparison but left out of the verdict, "
                             "e.g. a search made by earlier code")
    parser.add_argument("--split", choices=["val", "test"], default="val",
                        help="the split scored: test (when prepare made one) is the one no "
                             "decision saw; the depth race chose the found network on val")
    parser.add_argument("--postprocess", action="store_true",
                        help="score as `mias evaluate` does: sliding windows of the training "
                        "patch and the postprocessing each training decided on validation "
                        "(default: the whole prepared input, no postprocessing)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    for option in ("points", "labels"):
        given = getattr(args, option)
        if given is not None and len(given) != len(args.run):
            parser.error(f"--{option} needs one value per RUN")
    points = []
    for k, run in enumerate(args.run):
        record = SearchRecord.load(run)
        point = (earlier(args.points[k], record.arch.id) if args.points is not None
                 else measure(record, args.controls, args.seeds, args.jobs, args.split,
                              args.postprocess))
        point["search"] = describe(record) | point["search"]
        if args.labels is not None:
            point["label"] = args.labels[k]
        points.append(point | summarise(point) | {"judged": k + 1 not in args.context})
    verdicts = [p["found_vs_controls"] for p in points if p["judged"]]
    write_json(args.out, {
        "benchmark": "seed_noise", "schema_version": 1,
        "command": "benchmarks/seed_noise.py RUN... --controls "
                   f"{args.controls} --seeds {' '.join(map(str, args.seeds))} --split "
                   f"{args.split}" + (" --postprocess" if args.postprocess else "")
                   + (" --points FILE..." if args.points is not None else ""),
        "machine": {"cpu": platform.machine(), "threads_per_training": 1},
        "metric": "mean over structures of whole-volume Dice, "
                  f"{'test' if args.split == 'test' else 'validation'} split, prepared "
                  "space; per network the mean over seeds",
        "points": points,
        "judged": {"points": len(verdicts),
                   "above_median_at_every_point": bool(verdicts) and all(
                       v["above_median"] for v in verdicts),
                   "above_best_share": (float(np.mean([v["above_best"] for v in verdicts]))
                                        if verdicts else None)}})
    for p in points:
        v = p["found_vs_controls"]
        print(f"{p['search']['arch_id']}: found {v['found_mean']:.3f}, controls median "
              f"{v['controls_median']:.3f}, best {v['controls_best']:.3f}")
    print(f"→ {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
