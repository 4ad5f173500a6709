"""The benchmark table behind the search's `Evaluator` interface.

`TableEvaluator` answers with the table's validation metric for architectures the table
holds and with the task's off-table predictor for the others: the surrogate where it has
earned it, else the log-FLOPs fallback (both counted, so a result says how much of it
rests on a prediction and how much of that on the fallback). `TableLatency` gives the same
latency model the table was built with. Any strategy — MIAS, FairNAS, random search,
evolution, NSGA-II — runs against these in seconds, exactly as it would against supernet
training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mias.bench.api import MedNasBench
from mias.bench.genotype import lift, project
from mias.bench.strategies import Problem, SourcedEvaluator
from mias.bench.surrogate import FALLBACK
from mias.space import Architecture


class TableEvaluator(SourcedEvaluator):
    """Validation metric of `task` from the table, a prediction off the table.

    `misses` counts off-table answers, `fallbacks` those of them the log-FLOPs fallback
    gave; their source is `surrogate` either way (a prediction, not a trained figure).
    """

    def __init__(self, bench: MedNasBench, task: str) -> None:
        self.bench = bench
        self.task = task
        self.space = bench.space(task)
        self.metric_label = str(bench.meta["tasks"][task]["task"].get("target_metric", "metric"))
        self.hits = 0
        self.misses = 0
        self.fallbacks = 0
        self._cache: dict[Architecture, float] = {}

    def value(self, arch: Architecture) -> float:
        cached = self._cache.get(arch)
        if cached is not None:
            return cached
        metric = self.bench.metric(arch, self.task)
        if metric is None:
            self.misses += 1
            answer = self.bench.off_table(self.task).predict(arch)
            if answer.predictor == FALLBACK:
                self.fallbacks += 1
            metric = answer.metric
        else:
            self.hits += 1
        self._cache[arch] = metric
        return metric

    def source(self, arch: Architecture) -> str:
        return "trained" if self.bench.metric(arch, self.task) is not None else "surrogate"

    def reset(self) -> None:
        self.hits = self.misses = self.fallbacks = 0
        self._cache.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "fallbacks": self.fallbacks}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; states saved before fallbacks were counted have none."""
        self.hits, self.misses = int(state["hits"]), int(state["misses"])
        self.fallbacks = int(state.get("fallbacks", 0))


class TableLatency:
    """Latency (ms) of any architecture of `task` on `device`, with the table's model."""

    def __init__(self, bench: MedNasBench, task: str, device: str) -> None:
        self.model = bench.device_model(device)
        self.predictor = self.model.predictor
        self.space = bench.space(task)
        self._cache: dict[Architecture, float] = {}

    def __call__(self, arch: Architecture) -> float:
        value = self._cache.get(arch)
        if value is None:
            value = self.predictor.predict(self.space, arch).value
            self._cache[arch] = value
        return value


class MultiTaskEvaluator(SourcedEvaluator):
    """Seen tasks at once: an architecture of the anchor task's space is lifted to its
    genotype, projected onto every seen task, and scored by the mean metric there."""

    def __init__(self, bench: MedNasBench, tasks: Sequence[str]) -> None:
        self.anchor = bench.space(tasks[0])
        self.parts = [TableEvaluator(bench, t) for t in tasks]
        self.metric_label = "mean metric over seen tasks"

    def value(self, arch: Architecture) -> float:
        genotype = lift(self.anchor, arch)
        return sum(p.value(project(p.space, genotype)) for p in self.parts) / len(self.parts)

    def reset(self) -> None:
        for part in self.parts:
            part.reset()

    def source(self, arch: Architecture) -> str:
        """`trained` only when every seen task's projection is a row of the table."""
        genotype = lift(self.anchor, arch)
        sources = {p.source(project(p.space, genotype)) for p in self.parts}
        return "trained" if sources == {"trained"} else "surrogate"


class MultiTaskLatency:
    """Mean latency over the seen tasks of the projected architectures."""

    def __init__(self, bench: MedNasBench, tasks: Sequence[str], device: str) -> None:
        self.anchor = bench.space(tasks[0])
        self.parts = [TableLatency(bench, t, device) for t in tasks]

    def __call__(self, arch: Architecture) -> float:
        genotype = lift(self.anchor, arch)
        return sum(p(project(p.space, genotype)) for p in self.parts) / len(self.parts)


def table_problem(bench: MedNasBench, task: str, device: str,
                  budget_ms: float | None = None) -> Problem:
    """A single-task search problem on the table: evaluator, latency and its predictor."""
    latency = TableLatency(bench, task, device)
    return Problem(bench.space(task), TableEvaluator(bench, task), latency, budget_ms,
                   latency.predictor, bench.provenance(task, device))
