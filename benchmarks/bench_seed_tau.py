"""How far two training seeds agree on MED-NAS-Bench's ranking, per task, by what the build
spends: training steps (the learning curve of one build, validated after every epoch) and
validation cases (the same tasks rebuilt with more cases per stand-in).

The shipped table's seed-to-seed Kendall τ, at every epoch, is read from its metadata; each
`--cases` variant builds the chosen tasks again (same designs, schedule and seeds) in its
own work folder and records the same figures, so the two levers are compared in one JSON.

    .venv/bin/python benchmarks/bench_seed_tau.py --work-root W --tasks Lung Pancreas
        --cases 48 [--table T] [--out benchmarks/results/bench_seed_tau.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mias.atomic import write_json
from mias.bench.api import MedNasBench
from mias.bench.builder import BuildConfig, build
from mias.presets.models import TrainSettings

RESULTS = Path(__file__).parent / "results" / "bench_seed_tau.json"


def figures(meta: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    steps = meta["schedule"]["steps_per_epoch"]
    out = {}
    for task in tasks:
        agreement = meta["seed_tau"][task]
        out[task] = {"kendall_tau": agreement["kendall_tau"], "ci95": agreement["ci95"],
                     "by_step": {str(steps * (e + 1)): tau
                                 for e, tau in enumerate(agreement["by_epoch"])},
                     "val_cases": meta["tasks"][task]["cases"]["val"], "n": agreement["n"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, help="default: the shipped table")
    parser.add_argument("--work-root", type=Path, required=True)
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--cases", type=int, nargs="+", default=[48])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    bench = MedNasBench.load(args.table)
    meta = bench.meta
    config = meta["config"]
    runs = {f"{config['cases']} cases (the table)": figures(meta, bench.tasks())}
    for cases in args.cases:
        variant = BuildConfig(**{**config, "tasks": args.tasks, "cases": cases,
                                 "train": TrainSettings(**meta["schedule"])})
        report = build(variant, args.work_root / f"cases{cases}",
                       args.work_root / f"cases{cases}.parquet", workers=args.workers,
                       backend="pool")
        runs[f"{cases} cases"] = figures(MedNasBench.load(report.path).meta, args.tasks)
        print(f"{cases} cases: " + ", ".join(f"{t} τ {v['kendall_tau']:.2f}"
                                            for t, v in runs[f"{cases} cases"].items()))
    write_json(args.out, {"schema_version": 1, "benchmark": "bench_seed_tau",
                          "table": bench.citation(), "schedule": meta["schedule"],
                          "training_seeds": meta["seeds"]["training"],
                          "method": "Kendall τ between two training seeds' validation "
                                    "metrics over a task's 30 architectures (CI: bootstrap "
                                    "over architectures); by_step: after each epoch of one "
                                    "poly-lr schedule, not separate shorter schedules",
                          "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
