"""Search strategies against a MED-NAS-Bench table, several seeds, same run.

Two kinds of table, told apart by whether the table holds every architecture of its space:

* **fully tabulated** (`mias bench build --tabulate K`): no strategy ever leaves the table, so
  strategies are compared on trained figures alone; and a surrogate fitted, as the shipped
  table's is, on a sample of the rows is judged on the architectures strategies pick and
  evaluate (beside random draws and the log-FLOPs ranking), not only on random draws;
* **sampled** (the shipped table): most evaluations fall off the table; each strategy's best
  says whether it is a trained figure or a surrogate guess, and with `--work` the off-table
  bests of `--train-tasks` are trained with the table's schedule and seeds and reported
  beside the guess.

Per task, strategy and seed: the best metric within a latency budget (the median latency of
the task's table architectures, so half of them fit), its regret to the table's best within
the budget, and the hypervolume of the strategy's front in (1 − metric, latency /
reference), reference = 1.1 × the slowest table architecture (Optuna's exact hypervolume).
Every strategy spends the same number of distinct evaluations.

    .venv/bin/python benchmarks/bench_strategies.py --table T [--steps 200] [--seeds 5]
        [--work W --train-tasks Hippocampus] [--out benchmarks/results/NAME.json]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from mias.atomic import write_json
from mias.bench.api import MedNasBench
from mias.bench.evaluator import table_problem
from mias.bench.strategies import StrategyResult, Trial, hypervolume, list_strategies, run_strategy
from mias.bench.surrogate import Surrogate
from mias.space import Architecture, network_flops

RESULTS = Path(__file__).parent / "results"
GUIDED = ("evolution", "nsga2", "mias", "fairnas")


def spread(values: list[float]) -> dict[str, float | None]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(arr):
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "min": float(arr.min()), "max": float(arr.max()), "n": len(arr)}


def tau(truth: list[float], guess: list[float]) -> float | None:
    if len(truth) < 3 or np.ptp(truth) == 0 or np.ptp(guess) == 0:
        return None
    value = kendalltau(truth, guess).statistic
    return float(value) if np.isfinite(value) else None


def time_query(bench: MedNasBench, task: str, device: str, n: int = 2000) -> float:
    archs = bench.archs(task)
    t0 = time.perf_counter()
    for i in range(n):
        bench.query(archs[i % len(archs)], task, device)
    return (time.perf_counter() - t0) / n * 1000.0


def is_tabulated(bench: MedNasBench, task: str) -> bool:
    return len(bench.archs(task)) == bench.space(task).size()


def run_all(bench: MedNasBench, task: str, device: str, budget: float, steps: int,
            seeds: int) -> dict[str, list[tuple[StrategyResult, dict[str, Any]]]]:
    """Every strategy × seed on one task: its result and the evaluator's counts."""
    runs: dict[str, list[tuple[StrategyResult, dict[str, Any]]]] = {}
    for name in list_strategies():
        runs[name] = []
        for seed in range(seeds):
            problem = table_problem(bench, task, device, budget)
            t0 = time.perf_counter()
            result = run_strategy(name, problem, steps=steps, seed=seed)
            counts = problem.evaluator.state_dict() | {"seconds": time.perf_counter() - t0}
            runs[name].append((result, counts))
    return runs


def one_task(bench: MedNasBench, task: str, device: str, steps: int, seeds: int,
             train: dict[str, Any] | None) -> dict[str, Any]:
    rows = [bench.query(a, task, device) for a in bench.archs(task)]
    latencies = [r["latency_ms"] for r in rows]
    budget = float(np.median(latencies))
    reference = 1.1 * max(latencies)
    oracle = bench.best(task, device, budget)
    table_front = [Trial(Architecture.from_dict(r["arch"]), r["metric"], r["latency_ms"])
                   for r in bench.pareto(task, device)]
    metrics = sorted(r["metric"] for r in rows)
    runs = run_all(bench, task, device, budget, steps, seeds)
    out: dict[str, Any] = {"budget_ms": budget, "reference_ms": reference,
                           "table_rows": len(rows), "space_size": bench.space(task).size(),
                           "tabulated": is_tabulated(bench, task),
                           "table_best_within_budget": oracle["metric"],
                           "table_best_arch": oracle["arch_id"],
                           "table_front_hypervolume": hypervolume(table_front, reference),
                           "strategies": {}}
    for name, results in runs.items():
        per_seed = []
        for seed, (result, counts) in enumerate(results):
            best = result.best
            entry: dict[str, Any] = {"seed": seed, **counts,
                                     "hypervolume": hypervolume(result.front, reference)}
            if best is not None:
                entry |= {"arch_id": best.arch.id, "metric": best.metric,
                          "source": best.source, "latency_ms": best.latency_ms,
                          "regret": oracle["metric"] - best.metric
                          if best.source == "trained" else None,
                          "table_percentile": float(np.searchsorted(metrics, best.metric,
                                                                    side="right")
                                                    / len(metrics))
                          if best.source == "trained" else None}
                if best.source == "surrogate" and train is not None:
                    from mias.bench.offtable import train_off_table

                    trained = train_off_table(bench, task, best.arch, train["work"],
                                              msd_root=train.get("msd_root"))
                    entry |= {"trained_metric": trained["metric"],
                              "trained_metric_by_seed": trained["metric_by_seed"],
                              "regret_trained": oracle["metric"] - trained["metric"]}
            per_seed.append(entry)
        trained_best = [e.get("trained_metric", e["metric"] if e.get("source") == "trained"
                              else None) for e in per_seed]
        out["strategies"][name] = {
            "best_within_budget": spread([e.get("metric") for e in per_seed]),
            "best_is_trained_figure": sum(e.get("source") == "trained" for e in per_seed),
            "best_trained_figure": spread(trained_best),
            "surrogate_guess_minus_trained": spread(
                [e["metric"] - e["trained_metric"] for e in per_seed if "trained_metric" in e]),
            "regret": spread([e.get("regret_trained", e.get("regret")) for e in per_seed]),
            "hypervolume": spread([e["hypervolume"] for e in per_seed]),
            "table_hit_rate": spread([e["hits"] / max(1, e["hits"] + e["misses"])
                                      for e in per_seed]),
            "seconds": spread([e["seconds"] for e in per_seed]),
            "per_seed": per_seed}
    if out["tabulated"]:
        out["surrogate_on_picks"] = surrogate_study(bench, task, runs)
    return out


def surrogate_study(bench: MedNasBench, task: str,
                    runs: dict[str, list[tuple[StrategyResult, dict[str, Any]]]],
                    fitted: int = 30, repeats: int = 5) -> dict[str, Any]:
    """A surrogate fitted on `fitted` random rows (the shipped table's size), judged by
    Kendall τ on the other rows drawn at random, on strategies' best picks, and on every
    architecture the guided strategies evaluated; log FLOPs on the same sets beside it."""
    space = bench.space(task)
    archs = bench.archs(task)
    truth = {a: bench.metric(a, task) for a in archs}
    flops = {a: float(np.log10(network_flops(space, a))) for a in archs}
    picks = {r.best.arch for res in runs.values() for r, _ in res if r.best is not None}
    guided = {t.arch for name in GUIDED if name in runs for r, _ in runs[name]
              for t in r.trials}
    sets: dict[str, list[dict[str, Any]]] = {"random_rows": [], "strategy_picks": [],
                                             "guided_trials": []}
    for rep in range(repeats):
        rng = np.random.default_rng(rep)
        train = [archs[i] for i in rng.choice(len(archs), size=fitted, replace=False)]
        model = Surrogate.fit(space, train, [truth[a] for a in train], seed=rep)
        held = [a for a in archs if a not in set(train)]
        for label, members in (("random_rows", held),
                               ("strategy_picks", [a for a in held if a in picks]),
                               ("guided_trials", [a for a in held if a in guided])):
            y = [truth[a] for a in members]
            guess = list(model.predict(members)) if members else []
            sets[label].append({"n": len(members), "surrogate_tau": tau(y, guess),
                                "log_flops_tau": tau(y, [flops[a] for a in members]),
                                "in_trust_region": float(np.mean(
                                    [model.in_trust_region(a) for a in members]))
                                if members else None})
    return {"fitted_rows": fitted, "repeats": repeats,
            "method": "Surrogate (the table's ensemble) fitted on a random sample of rows; "
                      "Kendall τ of its predictions against the trained metric on held-out "
                      "rows of each set; repeats resample the fitted rows",
            **{label: {"surrogate_tau": spread([e["surrogate_tau"] for e in entries]),
                       "log_flops_tau": spread([e["log_flops_tau"] for e in entries]),
                       "in_trust_region": spread([e["in_trust_region"] for e in entries]),
                       "n": spread([e["n"] for e in entries]), "per_repeat": entries}
               for label, entries in sets.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, help="default: the shipped table")
    parser.add_argument("--device", default="rpi3")
    parser.add_argument("--steps", type=int, default=200,
                        help="distinct evaluations per strategy run")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", help="default: every task of the table")
    parser.add_argument("--work", type=Path,
                        help="the table's build folder: train off-table bests there")
    parser.add_argument("--msd-root", type=Path)
    parser.add_argument("--train-tasks", nargs="+", default=[],
                        help="tasks whose off-table bests are trained (with --work)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_strategies.json")
    args = parser.parse_args()
    bench = MedNasBench.load(args.table)
    tasks = args.tasks or bench.tasks()
    query_ms = time_query(bench, tasks[0], args.device)
    problem = table_problem(bench, tasks[0], args.device)
    t0 = time.perf_counter()
    run_strategy("evolution", problem, steps=min(1000, bench.space(tasks[0]).size()), seed=0)
    search_s = time.perf_counter() - t0
    results = {}
    for task in tasks:
        train = ({"work": args.work, "msd_root": args.msd_root}
                 if args.work is not None and task in args.train_tasks else None)
        results[task] = one_task(bench, task, args.device, args.steps, args.seeds, train)
        print(f"{task}: " + ", ".join(
            f"{n} {s['best_trained_figure']['mean'] or float('nan'):.3f}"
            for n, s in results[task]["strategies"].items()), flush=True)
    write_json(args.out, {
        "schema_version": 2, "benchmark": "bench_strategies", "device": args.device,
        "table": bench.citation(), "table_path": str(bench.path),
        "seed_tau": {t: bench.meta.get("seed_tau", {}).get(t) for t in tasks},
        "steps": args.steps, "seeds": list(range(args.seeds)),
        "strategies": list_strategies(), "trained_tasks": args.train_tasks,
        "budget_rule": "median latency of the task's table architectures on the device",
        "hypervolume": "optuna._hypervolume.compute_hypervolume on (1 − metric, latency / "
                       "(1.1 × slowest table arch)), reference (1, 1)",
        "query_ms": query_ms, "search_evolution_s": search_s,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "tasks": results,
    })
    print(f"query {query_ms:.4f} ms; evolution search {search_s:.2f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
