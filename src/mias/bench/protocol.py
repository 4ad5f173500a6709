"""The multi-task protocol (`mias bench evaluate`): search on seen tasks, test on unseen ones.

The paper's "9 seen and 3 unseen" does not add up to 11 tasks. The default split uses each
of the 11 tasks exactly once: 8 seen, 3 unseen, the unseen ones chosen so each family is
represented — Heart (mono-modal MRI, near-isotropic), Pancreas (CT, anisotropic, organ +
lesion) and Prostate (two-channel MRI, strongly anisotropic) — and the seen ones covering
the rest (brain MRI, liver/lung/vessel/spleen/colon CT, hippocampus, tumour detection).

A strategy searches the first seen task's space; an architecture is scored by the mean
metric of its genotype projected onto every seen task (table, or surrogate off the table),
under the latency budget on the mean seen-task latency. The found design is then projected
onto each unseen task and reported with its table metric, latency and rank among that
task's table architectures, next to the best table architecture within the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mias.bench.api import MedNasBench
from mias.bench.evaluator import (
    MultiTaskEvaluator,
    MultiTaskLatency,
    TableEvaluator,
    TableLatency,
)
from mias.bench.genotype import lift, project
from mias.bench.strategies import Problem, run_strategy
from mias.errors import InputError

DEFAULT_UNSEEN: tuple[str, ...] = ("Heart", "Pancreas", "Prostate")
DEFAULT_SEEN: tuple[str, ...] = ("BrainTumour", "Liver", "Hippocampus", "Lung", "HepaticVessel",
                                 "Spleen", "Colon", "BrainTumourDetection")


@dataclass(frozen=True)
class Split:
    seen: tuple[str, ...] = DEFAULT_SEEN
    unseen: tuple[str, ...] = DEFAULT_UNSEEN
    notes: list[str] = field(default_factory=list, compare=False)

    def check(self, tasks: list[str]) -> Split:
        both = set(self.seen) & set(self.unseen)
        if both:
            raise InputError(None, f"tasks both seen and unseen: {', '.join(sorted(both))}",
                             "give each task to one side only")
        missing = [t for t in (*self.seen, *self.unseen) if t not in tasks]
        if missing:
            raise InputError(None, f"tasks not in the table: {', '.join(missing)}",
                             f"choose from: {', '.join(tasks)}")
        if not self.seen or not self.unseen:
            raise InputError(None, "the protocol needs at least one seen and one unseen task",
                             "pass --seen and --unseen")
        return self


def evaluate_protocol(bench: MedNasBench, *, strategy: str, device: str,
                      budget_ms: float | None, steps: int, seed: int,
                      split: Split | None = None) -> dict[str, Any]:
    split = (split or Split()).check(bench.tasks())
    problem = Problem(bench.space(split.seen[0]), MultiTaskEvaluator(bench, split.seen),
                      MultiTaskLatency(bench, split.seen, device), budget_ms,
                      provenance=bench.provenance(split.seen[0], device))
    result = run_strategy(strategy, problem, steps=steps, seed=seed)
    found = result.best or max(result.trials, key=problem.fitness)
    genotype = lift(problem.space, found.arch)
    unseen = {}
    for task in split.unseen:
        space = bench.space(task)
        arch = project(space, genotype)
        table_metric = bench.metric(arch, task)
        metric = table_metric if table_metric is not None else \
            TableEvaluator(bench, task).value(arch)
        latency = TableLatency(bench, task, device)(arch)
        metrics = [r["metric"] for r in (bench.query(a, task, device)
                                         for a in bench.archs(task))]
        oracle = bench.best(task, device, budget_ms)
        unseen[task] = {
            "arch_id": arch.id, "metric": metric, "in_table": table_metric is not None,
            "source": "trained" if table_metric is not None else "surrogate",
            "latency_ms": latency, "within_budget": budget_ms is None or latency <= budget_ms,
            "percentile": sum(m <= metric for m in metrics) / len(metrics),
            "best_in_table": None if oracle is None else
            {"arch_id": oracle["arch_id"], "metric": oracle["metric"],
             "latency_ms": oracle["latency_ms"], "source": oracle["source"]},
            "provenance": bench.provenance(task, device),
        }
    return {"strategy": strategy, "device": device, "budget_ms": budget_ms, "steps": steps,
            "seed": seed, "evaluations": result.evaluations, "proposals": result.proposals,
            "table": bench.citation(), "seen": list(split.seen),
            "unseen_tasks": list(split.unseen),
            "found": {"anchor_task": split.seen[0], "arch_id": found.arch.id,
                      "genotype": genotype.to_dict(), "seen_mean_metric": found.metric,
                      "seen_mean_latency_ms": found.latency_ms, "source": found.source,
                      "provenance": dict(found.provenance)},
            "unseen": unseen}
