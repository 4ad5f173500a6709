"""What the shipped MED-NAS-Bench tables hold, per task, read from the tables themselves.

For the 11-task table and the fully tabulated one: the schedule and seeds, how far two
training seeds agree on each task's ranking (Kendall τ with its CI, after every epoch),
the surrogate's out-of-fold τ beside the log-FLOPs ranking's, the spread of the metric,
the best row's per-structure Dice (a best row that predicts nothing would show zeros), the
detection tasks' F1 spread, and how long the build trained. Takes seconds.

    .venv/bin/python benchmarks/bench_table_summary.py [--out benchmarks/results/NAME.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from mias.atomic import write_json
from mias.bench.api import MedNasBench

RESULTS = Path(__file__).parent / "results" / "mednasbench_tables.json"


def summary(bench: MedNasBench, device: str = "rpi3") -> dict[str, Any]:
    meta = bench.meta
    tasks = {}
    for task in bench.tasks():
        rows = [bench.query(a, task, device) for a in bench.archs(task)]
        metric = np.array([r["metric"] for r in rows])
        latency = [r["latency_ms"] for r in rows]
        best = bench.best(task, device)
        f1 = [r["detection_f1"] for r in rows if r.get("detection_f1") is not None]
        tasks[task] = {
            "archs": len(rows), "space_size": bench.space(task).size(),
            "val_cases": meta["tasks"][task]["cases"]["val"],
            "seed_tau": meta["seed_tau"][task], "surrogate": meta["surrogate"][task],
            "metric": {"min": float(metric.min()), "median": float(np.median(metric)),
                       "max": float(metric.max())},
            f"latency_ms_{device}": {"min": min(latency), "max": max(latency),
                                     "source": rows[0]["latency_source"]},
            "metric_sd_over_seeds_median": float(np.median([r["metric_sd"] for r in rows])),
            "rows_predicting_no_structure": sum(
                1 for r in rows if r["dice_by_structure"]
                and max((v or 0.0) for v in r["dice_by_structure"].values()) == 0.0),
            "best": {"arch_id": best["arch_id"], "metric": best["metric"],
                     "dice_by_structure": best["dice_by_structure"],
                     "detection_f1": best.get("detection_f1")},
            "detection_f1": {"min": min(f1), "max": max(f1), "distinct": len(set(f1))}
            if f1 else None,
            "train_seconds_total": float(sum(r["train_seconds"] * len(r["training_seeds"])
                                             for r in rows))}
    steps = meta["schedule"]["steps_per_epoch"]
    by_epoch = zip(*(t["seed_tau"]["by_epoch"] for t in tasks.values()), strict=True)
    return {"citation": bench.citation(), "schedule": meta["schedule"], "seeds": meta["seeds"],
            "seed_tau_median": meta["seed_tau_median"],
            "seed_tau_median_by_step": {
                str(steps * (e + 1)): float(np.median([x for x in taus if x is not None]))
                for e, taus in enumerate(by_epoch)},
            "surrogate_beats_log_flops": sum(bool(t["surrogate"]["beats_log_flops"])
                                             for t in tasks.values()),
            "train_seconds_total": sum(t["train_seconds_total"] for t in tasks.values()),
            "timing_host": meta["timing_host"], "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    write_json(args.out, {"schema_version": 1, "benchmark": "bench_table_summary",
                          "shipped": summary(MedNasBench.load()),
                          "tabulated": summary(MedNasBench.load(tabulated=True))})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
