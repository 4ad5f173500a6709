"""Search strategies on the shipped MED-NAS-Bench table, several seeds, same run.

For every task, every strategy and every seed: the best table metric found within a
latency budget on the device (budget = the median latency of the task's table archs, so
half of them fit), and the hypervolume of the strategy's Pareto front in
(1 − metric, latency / reference), reference = 1.1 × the slowest table arch, computed by
Optuna's exact hypervolume (WFG). Off-table architectures are scored by the task's
surrogate; the JSON counts how many lookups hit the table. Also timed: one query, and a
1,000-step search (regularised evolution) against the table.

    .venv/bin/python benchmarks/bench_strategies.py [--steps 300] [--seeds 5] [--device rpi3]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from mias.atomic import write_json
from mias.bench.api import MedNasBench
from mias.bench.evaluator import table_problem
from mias.bench.strategies import Trial, hypervolume, list_strategies, run_strategy
from mias.space import Architecture

RESULTS = Path(__file__).parent / "results" / "bench_strategies.json"


def spread(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "min": float(arr.min()), "max": float(arr.max())}


def time_query(bench: MedNasBench, task: str, device: str, n: int = 2000) -> float:
    archs = bench.archs(task)
    t0 = time.perf_counter()
    for i in range(n):
        bench.query(archs[i % len(archs)], task, device)
    return (time.perf_counter() - t0) / n * 1000.0


def one_task(bench: MedNasBench, task: str, device: str, steps: int,
             seeds: int) -> dict[str, Any]:
    rows = [bench.query(a, task, device) for a in bench.archs(task)]
    latencies = [r["latency_ms"] for r in rows]
    budget = float(np.median(latencies))
    reference = 1.1 * max(latencies)
    oracle = bench.best(task, device, budget)
    table_front = [Trial(Architecture.from_dict(r["arch"]), r["metric"], r["latency_ms"])
                   for r in bench.pareto(task, device)]
    out: dict[str, Any] = {"budget_ms": budget, "reference_ms": reference,
                           "table_best_within_budget": oracle["metric"],
                           "table_front_hypervolume": hypervolume(table_front, reference),
                           "strategies": {}}
    for name in list_strategies():
        best, hv, hits, seconds = [], [], [], []
        for seed in range(seeds):
            problem = table_problem(bench, task, device, budget)
            evaluator = problem.evaluator
            t0 = time.perf_counter()
            result = run_strategy(name, problem, steps=steps, seed=seed)
            seconds.append(time.perf_counter() - t0)
            best.append(result.best.metric if result.best else float("nan"))
            hv.append(hypervolume(result.front, reference))
            hits.append(evaluator.hits / max(1, evaluator.hits + evaluator.misses))
        out["strategies"][name] = {"best_within_budget": spread(best),
                                   "hypervolume": spread(hv), "table_hit_rate": spread(hits),
                                   "seconds": spread(seconds), "per_seed_best": best}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", type=Path, help="default: the shipped table")
    parser.add_argument("--device", default="rpi3")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    bench = MedNasBench.load(args.table)
    task0 = bench.tasks()[0]
    query_ms = time_query(bench, task0, args.device)
    problem = table_problem(bench, task0, args.device)
    t0 = time.perf_counter()
    run_strategy("evolution", problem, steps=1000, seed=0)
    search_s = time.perf_counter() - t0
    tasks = {t: one_task(bench, t, args.device, args.steps, args.seeds) for t in bench.tasks()}
    write_json(args.out, {
        "schema_version": 1, "benchmark": "bench_strategies", "device": args.device,
        "table": str(bench.path), "steps": args.steps, "seeds": list(range(args.seeds)),
        "strategies": list_strategies(),
        "budget_rule": "median latency of the task's table architectures on the device",
        "hypervolume": "optuna._hypervolume.compute_hypervolume on (1 − metric, latency / "
                       "(1.1 × slowest table arch)), reference (1, 1)",
        "query_ms": query_ms, "search_1000_steps_s": search_s,
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "tasks": tasks,
    })
    print(f"query {query_ms:.4f} ms; 1000-step evolution {search_s:.2f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
