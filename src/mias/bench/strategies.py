"""Search strategies run against the table: MIAS, FairNAS, random search, regularised
evolution and NSGA-II.

Each strategy spends `steps` evaluations (one architecture each) through an `Evaluator`
and a latency function, and returns every trial; the best architecture within the latency
budget and the Pareto front are read off the trials the same way for all of them, so they
compare on equal terms. Single-objective strategies rank by the metric when a trial meets
the budget and push over-budget trials below every feasible one (by how far over they
are); NSGA-II is Optuna's, with the budget as its constraint. MIAS and FairNAS are the
project's own search controller (`mias.search.controller.MiasSearch`: the paper's loss,
progressive pruning, learned or strictly fair path sampling) with table lookups standing
in for supernet evaluation; every path it scores counts as one evaluation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mias.errors import InputError
from mias.hardware.predictors import LatencyPredictor
from mias.registry import Registry
from mias.search.evaluator import Evaluator, PathScore
from mias.space import Architecture, SearchSpace

Latency = Callable[[Architecture], float]


@dataclass(frozen=True)
class Trial:
    arch: Architecture
    metric: float
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"arch_id": self.arch.id, "metric": self.metric, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class StrategyResult:
    strategy: str
    trials: list[Trial]
    budget_ms: float | None

    @property
    def best(self) -> Trial | None:
        """Highest metric within the budget (None if no trial met it)."""
        ok = [t for t in self.trials if self.budget_ms is None or t.latency_ms <= self.budget_ms]
        return max(ok, key=lambda t: (t.metric, -t.latency_ms)) if ok else None

    @property
    def front(self) -> list[Trial]:
        """Non-dominated trials (higher metric, lower latency), fastest first."""
        unique = {t.arch: t for t in self.trials}
        out, best = [], -np.inf
        for t in sorted(unique.values(), key=lambda t: (t.latency_ms, -t.metric)):
            if t.metric > best:
                out.append(t)
                best = t.metric
        return out


@dataclass
class Problem:
    """What a strategy searches: the space, the evaluator, latency and the budget."""

    space: SearchSpace
    evaluator: Evaluator
    latency: Latency
    budget_ms: float | None = None
    predictor: LatencyPredictor | None = None

    def trial(self, arch: Architecture) -> Trial:
        metric = self.evaluator.score([arch])[0].metric
        return Trial(arch, float(metric), float(self.latency(arch)))

    def fitness(self, t: Trial) -> float:
        if self.budget_ms is None or t.latency_ms <= self.budget_ms:
            return t.metric
        return -1.0 - (t.latency_ms / self.budget_ms - 1.0)


Strategy = Callable[[Problem, int, int], list[Trial]]
STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    return STRATEGIES.register(name)


def list_strategies() -> list[str]:
    return STRATEGIES.names()


def run_strategy(name: str, problem: Problem, *, steps: int, seed: int) -> StrategyResult:
    return StrategyResult(name, STRATEGIES.get(name)(problem, steps, seed), problem.budget_ms)


@register_strategy("random")
def random_search(problem: Problem, steps: int, seed: int) -> list[Trial]:
    """Uniform architectures (Li & Talwalkar's baseline a search must beat)."""
    rng = np.random.default_rng(seed)
    return [problem.trial(problem.space.sample(rng)) for _ in range(steps)]


@register_strategy("evolution")
def regularised_evolution(problem: Problem, steps: int, seed: int, *, population: int = 16,
                          sample: int = 4) -> list[Trial]:
    """Real et al. (2019): tournament of `sample`, mutate the winner, retire the oldest."""
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    alive: deque[Trial] = deque()
    while len(trials) < steps:
        if len(alive) < population:
            child = problem.space.sample(rng)
        else:
            picks = [alive[i] for i in rng.choice(len(alive), size=sample, replace=False)]
            parent = max(picks, key=problem.fitness)
            child = problem.space.mutate(parent.arch, rng)
        t = problem.trial(child)
        trials.append(t)
        alive.append(t)
        if len(alive) > population:
            alive.popleft()
    return trials


@register_strategy("nsga2")
def nsga2(problem: Problem, steps: int, seed: int, *, population: int = 16) -> list[Trial]:
    """Optuna's NSGA-II on (metric ↑, latency ↓), the budget as a constraint."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = problem.space
    budget = problem.budget_ms
    trials: list[Trial] = []
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        depth = trial.suggest_categorical("depth", list(space.depths))
        layers = {n: space.candidates(n)[trial.suggest_categorical(
            n, list(range(len(space.candidates(n)))))] for n in space.layer_names(depth)}
        arch = Architecture(depth=depth,
                            encoder=tuple(layers[f"enc{k}"] for k in range(depth + 1)),
                            decoder=tuple(layers[f"dec{k}"] for k in range(depth))
                            if space.has_decoder else ())
        t = problem.trial(arch)
        if budget is not None:
            trial.set_constraint("latency_over_budget_ms", t.latency_ms - budget)
        trials.append(t)
        return t.metric, t.latency_ms

    study.optimize(objective, n_trials=steps)
    return trials


class _Recording(Evaluator):
    """Passes scores through and keeps scored paths as trials, up to the strategy's budget
    of evaluations (a controller whose step samples more paths, or that re-scores its front
    at the end, gets no more evaluations than the other strategies)."""

    def __init__(self, problem: Problem, budget: int) -> None:
        self.problem = problem
        self.budget = budget
        self.metric_label = problem.evaluator.metric_label
        self.trains = problem.evaluator.trains
        self.trials: list[Trial] = []

    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        scores = self.problem.evaluator.score(archs)
        room = max(0, self.budget - len(self.trials))
        self.trials += [Trial(s.arch, float(s.metric), float(self.problem.latency(s.arch)))
                        for s in scores[:room]]
        return scores

    def step(self, archs: Sequence[Architecture], step: int) -> list[PathScore]:
        return self.score(archs)


def _controller(problem: Problem, steps: int, seed: int, sampler: str) -> list[Trial]:
    """`MiasSearch` with the paper-hippocampus loss weights and pruning schedule, HPO off
    (nothing to tune in a table), K = 10 paths per step, `steps // K` steps."""
    from mias.presets import load_preset
    from mias.presets.models import HpoSettings
    from mias.search.controller import MiasSearch

    if problem.predictor is None:
        raise InputError(None, "MIAS and FairNAS need a latency predictor for the space",
                         "use them on a single task, or choose random, evolution or nsga2")
    base = load_preset("paper-hippocampus").search
    k = base.paths_per_step
    settings = base.model_copy(update={"epochs": 1, "warmup_epochs": 0,
                                       "hpo": HpoSettings(enabled=False)})
    recorder = _Recording(problem, steps)
    MiasSearch(problem.space, recorder, problem.predictor, settings, seed=seed,
               steps_per_epoch=max(1, steps // k), sampler=sampler,
               latency_budget_ms=problem.budget_ms).run()
    return recorder.trials


@register_strategy("mias")
def mias(problem: Problem, steps: int, seed: int) -> list[Trial]:
    """The paper's search: learned path probabilities, latency loss, progressive pruning."""
    return _controller(problem, steps, seed, "learned")


@register_strategy("fairnas")
def fairnas(problem: Problem, steps: int, seed: int) -> list[Trial]:
    """FairNAS strict fairness: every candidate of every layer once per step."""
    return _controller(problem, steps, seed, "fair")


def hypervolume(front: list[Trial], reference_ms: float) -> float:
    """Area dominated by `front` in (1 − metric, latency / reference_ms), reference (1, 1),
    by Optuna's exact hypervolume (WFG); points beyond the reference add nothing."""
    from optuna._hypervolume import compute_hypervolume

    pts = np.array([[1.0 - t.metric, t.latency_ms / reference_ms] for t in front
                    if t.metric > 0 and t.latency_ms < reference_ms], dtype=np.float64)
    if len(pts) == 0:
        return 0.0
    return float(compute_hypervolume(pts, np.array([1.0, 1.0])))
