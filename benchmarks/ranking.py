"""Search evaluation on the synthetic hippocampus: Kendall τ of MIAS, FairNAS and SPOS.

Runs the real command twice on the same prepared data and settings: `mias rank` on a local
Ray with 2 CPUs, then the sequential run (one job at a time in-process, `--backend pool
--workers 1`). The first gives the final τ per sampler, with CIs and the protocol; both
give wall times (target: Ray ≥ 1.7× faster) and must write byte-identical tau.json files.
Writes results/ranking.json (summary), results/ranking-tau.json and results/ranking-tau.png.
Sized for a 2-core machine (16×16×16 inputs, short budgets), so τ here measures ranking
after a short training, not at convergence; each architecture is trained standalone with
two seeds, and the τ of one seed's ranking against the other's is the ceiling that no
supernet can be checked beyond at this budget.

    .venv/bin/python benchmarks/ranking.py [--archs 30] [--work /tmp/mias-bench-ranking]
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

import yaml

from mias.atomic import write_json

RESULTS = Path(__file__).parent / "results"
TARGET_TAU = 0.7
TARGET_SPEEDUP = 1.7
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--shape", default="16,16,16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth-seeds", type=int, default=2,
                        help="standalone trainings per architecture (their τ against each "
                        "other is the ceiling)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mias-bench-ranking"))
    args = parser.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mias("synth", "hippocampus", "--out", str(work / "data"), "--cases", str(args.cases),
         "--seed", str(args.seed))
    mias("prepare", str(work / "data"), "--out", str(work / "prep"), "--input-shape",
         args.shape)
    config = work / "budget.yaml"
    config.write_text(yaml.safe_dump(BUDGET))
    common = [str(work / "prep"), "--archs", str(args.archs), "--config", str(config),
              "--seed", str(args.seed), "--target", "rpi3", "--truth-seeds",
              str(args.truth_seeds)]
    ray_s = mias("rank", *common, "--out", str(work / "ray"), "--backend", "ray",
                 "--workers", "2")
    seq_s = mias("rank", *common, "--out", str(work / "sequential"), "--backend", "pool",
                 "--workers", "1")
    tau = json.loads((work / "ray" / "tau.json").read_text())
    identical = (work / "ray" / "tau.json").read_bytes() == \
        (work / "sequential" / "tau.json").read_bytes()
    finals = {n: e["final"] for n, e in tau["samplers"].items()}
    mias_tau = finals["mias"]["tau"]
    result = {
        "schema_version": 1,
        "command": f"mias rank PREP --archs {args.archs} --config budget.yaml --seed "
                   f"{args.seed} --target rpi3 --truth-seeds {args.truth_seeds} "
                   "(--backend ray --workers 2 | --backend pool --workers 1)",
        "data": {"task": "hippocampus (synthetic)", "cases": args.cases,
                 "input_shape": args.shape, "seed": args.seed},
        "budget": BUDGET,
        "protocol": tau["protocol"],
        "final": finals,
        "ground_truth_retest": tau["standalone"]["retest"],
        "comparisons": tau["comparisons"],
        "per_epoch_tau": {n: [e["tau"] for e in entry["epochs"]]
                          for n, entry in tau["samplers"].items()},
        "standalone": tau["standalone"],
        "targets": {"mias_tau": TARGET_TAU, "mias_tau_met": mias_tau >= TARGET_TAU,
                    "mias_above_fairnas": mias_tau > finals["fairnas"]["tau"],
                    "speedup": TARGET_SPEEDUP, "speedup_met": seq_s / ray_s >= TARGET_SPEEDUP},
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
    retest = tau["standalone"]["retest"]
    print(json.dumps({"final_tau": {n: f["tau"] for n, f in finals.items()},
                      "truth_retest_tau": retest["tau"] if retest else None,
                      "speedup": seq_s / ray_s, "same_tau_json": identical}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
