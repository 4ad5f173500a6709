"""Search evaluation on the synthetic hippocampus: Kendall τ of MIAS, FairNAS and SPOS.

Runs the same rank twice on the same prepared data and settings: on a local Ray with 2 CPUs,
then sequentially (one job at a time in-process, process pool with 1 worker), each as
`mias rank PREP --samplers mias,mias-eps0,fairnas,spos --min-val-cases 16 ...` (the command a
user runs). The first run gives the final τ per
sampler, with CIs and the protocol; both give wall times (target: Ray ≥ 1.7× faster) and
must write byte-identical tau.json files. Writes results/ranking.json (summary),
results/ranking-tau.json and results/ranking-tau.png.

The protocol (issue 18): every sampler gets the same number of path updates with gradients
averaged over a step's paths; supernets rank by soft Dice on ≥ 16 whole validation cases
(80 synthetic cases, a quarter for validation), hard Dice reported beside it with its ties;
the truth is the mean of ≥ 3 standalone trainings, whose split-half reliability gives the
ceiling a noise-free ranking would reach. MIAS runs with the search's settings and with
ε_lat = 0. The targets judged: MIAS τ ≥ FairNAS's (paired CI reported), MIAS τ ≥ 0.8 × the
ceiling, and MIAS τ above every trivial reference ranking (depth, parameters, FLOPs,
latency). Sized for a 2-core machine (16×16×16 inputs, short budgets), so τ here measures
ranking after a short training, not at convergence.

    .venv/bin/python benchmarks/ranking.py [--archs 30] [--truth-seeds 3] \
        [--work /tmp/mias-bench-ranking]
    .venv/bin/python benchmarks/ranking.py --judge DIR/tau.json [--name ranking-long] \
        [--summary-only]

The second form judges a rank already run (e.g. `mias rank ... --config
benchmarks/ranking-long.yaml`, the search's budget, with every MIAS variant): each MIAS
variant's targets, written to results/NAME.json beside a copy of its tau.json and tau.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mias.atomic import write_json

RESULTS = Path(__file__).parent / "results"
TARGET_SPEEDUP = 1.7
CEILING_SHARE = 0.8
MIN_ARCHS, MIN_TRUTH_SEEDS, MIN_VAL_CASES = 30, 3, 16
VAL_FRACTION = 0.25  # of 80 cases: about 20 for validation, so the floor of 16 holds
SAMPLERS = ("mias", "mias-eps0", "fairnas", "spos")
BUDGET = {
    "search": {"epochs": 8, "steps_per_epoch": 8, "batch": 2, "patch": None, "lr": 0.1,
               "paths_per_step": 4, "warmup_epochs": 1, "val_batch": 2},
    "train": {"epochs": 4, "steps_per_epoch": 16, "batch": 2, "patch": None},
}


def mias(*args: str) -> float:
    """Run `mias ARGS`, echoing its output; seconds of wall time."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mias.cli", *args], check=True)
    return time.perf_counter() - start


def standalone_job_s(run: Path) -> float:
    """Mean seconds of one standalone training job in a rank: how much CPU each worker got."""
    seconds = [json.loads(f.read_text())["seconds"] for f in (run / "standalone").glob("*.json")]
    return sum(seconds) / len(seconds)


def targets(tau: dict[str, Any], sampler: str = "mias") -> dict[str, Any]:
    """Issue 18's acceptance, judged on one tau.json: the protocol's floors, MIAS (the
    search's settings, or another MIAS variant) against FairNAS with the paired CI, against
    0.8 × the ceiling, and above every trivial reference ranking."""
    p = tau["protocol"]
    mias_tau = tau["samplers"][sampler]["final"]["tau"]
    pair = tau["comparisons"].get(f"{sampler}-fairnas")
    retest = tau["standalone"]["retest"]
    top = retest["ceiling"]["tau"] if retest else None
    refs = {name: {"tau": r["tau"], "met": mias_tau > r["tau"]}
            for name, r in tau["references"].items()}
    return {
        "protocol": {"archs": p["n"], "archs_met": p["n"] >= MIN_ARCHS,
                     "truth_seeds": len(p["standalone"]["seeds"]),
                     "truth_seeds_met": len(p["standalone"]["seeds"]) >= MIN_TRUTH_SEEDS,
                     "validation_cases": p["validation_cases"],
                     "validation_cases_met": p["validation_cases"] >= MIN_VAL_CASES,
                     "equal_path_updates": p["supernet"]["path_updates_equal"]},
        "sampler": sampler, "tau": mias_tau,
        "mias_vs_fairnas": None if pair is None else {
            "delta_tau": pair["delta_tau"], "ci": pair["ci"], "met": pair["delta_tau"] >= 0,
            "ci_above_0": pair["ci"][0] > 0},
        "mias_vs_ceiling": {"ceiling_tau": top, "share": CEILING_SHARE,
                            "needed": None if top is None else CEILING_SHARE * top,
                            "met": top is not None and mias_tau >= CEILING_SHARE * top},
        "mias_vs_references": {"references": refs,
                               "met": all(r["met"] for r in refs.values())},
    }


def copied(tau: dict[str, Any]) -> dict[str, Any]:
    """What the README reads from a rank, besides the targets: budgets, references, the
    ceiling, τ within each depth, hard Dice with its ties and the sampler diagnostics."""
    samplers = tau["samplers"]
    return {
        "path_updates": {n: e["path_updates"] for n, e in samplers.items()},
        "steps": {n: e["steps"] for n, e in samplers.items()},
        "references": tau["references"],
        "ceiling": (tau["standalone"]["retest"] or {}).get("ceiling"),
        "within_depth": {n: e["final"]["within_depth"] for n, e in samplers.items()},
        "hard": {n: e["final"]["hard"] for n, e in samplers.items()},
        "tied": {n: e["final"]["tied"] for n, e in samplers.items()},
        "learning_since_step": {n: e["learning_since_step"] for n, e in samplers.items()},
        "diagnostics": {n: [{"epoch": x["epoch"], "path_updates": x["path_updates"],
                             "mean_path_ms": x["mean_path_ms"], **x["diagnostics"]}
                            for x in e["epochs"]] for n, e in samplers.items()},
    }


def judge(tau_json: Path, name: str, copy: bool = True) -> int:
    """Judge a finished rank (e.g. one run with `ranking-long.yaml`): every MIAS variant's
    targets, the finals and what the README reads (diagnostics of the last epoch; every
    epoch's are in the tau.json), to results/NAME.json; with `copy`, its tau.json and
    tau.png copied beside it."""
    tau = json.loads(tau_json.read_text())
    variants = [n for n in tau["samplers"] if n.startswith("mias")]
    finals = {n: e["final"] for n, e in tau["samplers"].items()}
    judged = {n: targets(tau, n) for n in variants}
    summary = copied(tau)
    summary["diagnostics"] = {n: epochs[-1:] for n, epochs in summary["diagnostics"].items()}
    write_json(RESULTS / f"{name}.json", {
        "schema_version": 1, "judged": str(tau_json), "protocol": tau["protocol"],
        "descriptions": {n: e["description"] for n, e in tau["samplers"].items()},
        "final": finals, "ground_truth_retest": tau["standalone"]["retest"],
        "comparisons": tau["comparisons"],
        "per_epoch_tau": {n: [e["tau"] for e in entry["epochs"]]
                          for n, entry in tau["samplers"].items()},
        **summary, "targets": judged})
    if copy:
        shutil.copyfile(tau_json, RESULTS / f"{name}-tau.json")
        shutil.copyfile(tau_json.with_name("tau.png"), RESULTS / f"{name}-tau.png")
    print(json.dumps({n: {"tau": t["tau"], "vs_fairnas": t["mias_vs_fairnas"]["met"],
                          "vs_ceiling": t["mias_vs_ceiling"]["met"],
                          "vs_references": t["mias_vs_references"]["met"]}
                      for n, t in judged.items()}, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=MIN_ARCHS)
    parser.add_argument("--cases", type=int, default=80,
                        help="synthetic cases; a quarter are the validation split")
    parser.add_argument("--shape", default="16,16,16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth-seeds", type=int, default=MIN_TRUTH_SEEDS,
                        help="standalone trainings per architecture (their split-half "
                        "reliability gives the ceiling)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mias-bench-ranking"))
    parser.add_argument("--judge", type=Path, metavar="TAU_JSON",
                        help="judge a finished rank's tau.json instead of running one")
    parser.add_argument("--name", default="ranking-long",
                        help="with --judge: results/NAME.json, NAME-tau.json, NAME-tau.png")
    parser.add_argument("--summary-only", action="store_true",
                        help="with --judge: write NAME.json only, no copy of tau.json/png")
    args = parser.parse_args()
    if args.judge is not None:
        return judge(args.judge, args.name, copy=not args.summary_only)
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mias("synth", "hippocampus", "--out", str(work / "data"), "--cases", str(args.cases),
         "--seed", str(args.seed))
    mias("prepare", str(work / "data"), "--out", str(work / "prep"), "--input-shape",
         args.shape, "--val-fraction", str(VAL_FRACTION))
    config = work / "budget.yaml"
    config.write_text(yaml.safe_dump(BUDGET))
    rank = ["rank", str(work / "prep"), "--archs", str(args.archs), "--samplers",
            ",".join(SAMPLERS), "--preset", "demo", "--config", str(config), "--target", "rpi3",
            "--seed", str(args.seed), "--truth-seeds", str(args.truth_seeds),
            "--min-val-cases", str(MIN_VAL_CASES)]
    ray_s = mias(*rank, "--out", str(work / "ray"), "--backend", "ray", "--workers", "2")
    seq_s = mias(*rank, "--out", str(work / "sequential"), "--backend", "pool",
                 "--workers", "1")
    tau = json.loads((work / "ray" / "tau.json").read_text())
    identical = (work / "ray" / "tau.json").read_bytes() == \
        (work / "sequential" / "tau.json").read_bytes()
    finals = {n: e["final"] for n, e in tau["samplers"].items()}
    judged = targets(tau)
    result = {
        "schema_version": 2,
        "command": "mias " + " ".join(rank) + " --out DIR --backend ray --workers 2 | "
                   "--backend pool --workers 1",
        "data": {"task": "hippocampus (synthetic)", "cases": args.cases,
                 "val_fraction": VAL_FRACTION, "input_shape": args.shape, "seed": args.seed},
        "budget": BUDGET,
        "protocol": tau["protocol"],
        "final": finals,
        "ground_truth_retest": tau["standalone"]["retest"],
        "comparisons": tau["comparisons"],
        "per_epoch_tau": {n: [e["tau"] for e in entry["epochs"]]
                          for n, entry in tau["samplers"].items()},
        "per_epoch_hard_tau": {n: [e["hard"]["tau"] for e in entry["epochs"]]
                               for n, entry in tau["samplers"].items()},
        **copied(tau),
        "standalone": tau["standalone"],
        "targets": {**judged, "speedup": TARGET_SPEEDUP,
                    "speedup_met": seq_s / ray_s >= TARGET_SPEEDUP},
        "timing": {"ray_2_cpus_s": ray_s, "sequential_s": seq_s, "speedup": seq_s / ray_s,
                   "same_tau_json": identical,
                   "standalone_job_s_mean": {"ray": standalone_job_s(work / "ray"),
                                             "sequential": standalone_job_s(work / "sequential")},
                   "sequential": "one job at a time in one process, torch on one thread "
                                 "(the per-job setting of both runs)"},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": len(os.sched_getaffinity(0)),
                    "load_average_at_end": list(os.getloadavg())},
    }
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / "ranking.json", result)
    shutil.copyfile(work / "ray" / "tau.png", RESULTS / "ranking-tau.png")
    shutil.copyfile(work / "ray" / "tau.json", RESULTS / "ranking-tau.json")
    print(json.dumps({"final_tau": {n: f["tau"] for n, f in finals.items()},
                      "targets": judged, "speedup": seq_s / ray_s,
                      "same_tau_json": identical}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
