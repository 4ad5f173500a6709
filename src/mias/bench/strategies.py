"""Search strategies run against the table: MIAS, FairNAS, random search, regularised
evolution and NSGA-II.

Each strategy spends a budget of `steps` distinct evaluations (architectures) through an
`Evaluator` and a latency function: an architecture it proposes again costs nothing and is
not counted, and the strategy goes on proposing until the budget is spent, so every strategy
learns from exactly as many architectures. The result records the count. The best
architecture within the latency budget and the Pareto front are read off the trials the same
way for all of them, and each trial says whether its metric is a trained figure of the table
or a surrogate guess. Single-objective strategies rank by the metric when a trial meets the
budget and push over-budget trials below every feasible one (by how far over they are);
NSGA-II is Optuna's, with the budget as its constraint. MIAS and FairNAS are the project's
own search controller (`mias.search.controller.MiasSearch`: the paper's loss, progressive
pruning, learned or strictly fair path sampling) with table lookups standing in for supernet
evaluation.
"""

from __future__ import annotations

import contextlib
import math
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mias.errors import InputError
from mias.hardware.predictors import LatencyPredictor
from mias.registry import Registry
from mias.search.evaluator import Evaluator, PathScore
from mias.space import Architecture, SearchSpace

Latency = Callable[[Architecture], float]
#: Proposals a strategy may make per evaluation it is owed before it is deemed stuck (a
#: space smaller than the budget, or a population that only proposes what it has seen).
MAX_PROPOSALS_PER_EVALUATION = 50
#: Reruns of the MIAS/FairNAS controller, each at least a quarter longer, to spend the budget.
MAX_RERUNS = 10
SOURCES = ("trained", "surrogate")


class SourcedEvaluator(Evaluator):
    """An evaluator that knows, per architecture, whether its metric is a trained figure or
    a surrogate guess; scores are `value`s, so scoring and stepping are one lookup."""

    @abstractmethod
    def value(self, arch: Architecture) -> float:
        """The task metric of `arch` (higher is better)."""

    @abstractmethod
    def source(self, arch: Architecture) -> str:
        """`trained` (rows of the table) or `surrogate` (predicted, at least in part)."""

    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        return [PathScore(a, m, 1.0 - m) for a, m in ((a, self.value(a)) for a in archs)]

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        """Nothing to train: a step is a lookup."""
        return self.score(archs)

    def reset(self) -> None:
        """Forget the lookups of a run that was discarded (a strategy restarted from
        scratch): what is counted afterwards is the kept run's alone."""


@dataclass(frozen=True)
class Trial:
    """One evaluated architecture: its metric, where the metric comes from (`source`) and
    the table's provenance for it (data, training budget, seeds, figure labels)."""

    arch: Architecture
    metric: float
    latency_ms: float
    source: str = "trained"
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"arch_id": self.arch.id, "metric": self.metric, "latency_ms": self.latency_ms,
                "source": self.source, **self.provenance}


@dataclass(frozen=True)
class StrategyResult:
    strategy: str
    trials: list[Trial]
    budget_ms: float | None
    evaluations: int = 0
    proposals: int = 0

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

    def to_dict(self) -> dict[str, Any]:
        """Counts, best and front, each trial with its source and provenance."""
        best = self.best
        return {"strategy": self.strategy, "evaluations": self.evaluations,
                "proposals": self.proposals, "budget_ms": self.budget_ms,
                "best": None if best is None else best.to_dict() | {"arch": best.arch.to_dict()},
                "front": [t.to_dict() for t in self.front]}


class BudgetSpent(Exception):
    """Raised when a strategy asks for a new evaluation beyond its budget."""


@dataclass
class Problem:
    """What a strategy searches: the space, the evaluator, latency and the budget.

    The problem keeps the ledger of distinct evaluations: `trial` evaluates an architecture
    once and answers repeats from the ledger for free.
    """

    space: SearchSpace
    evaluator: SourcedEvaluator
    latency: Latency
    budget_ms: float | None = None
    predictor: LatencyPredictor | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    ledger: dict[Architecture, Trial] = field(default_factory=dict, init=False, repr=False)
    proposals: int = field(default=0, init=False)
    limit: int | None = field(default=None, init=False)

    def trial(self, arch: Architecture) -> Trial:
        """`arch`'s trial; a new architecture beyond the budget raises `BudgetSpent`."""
        self.proposals += 1
        known = self.ledger.get(arch)
        if known is not None:
            return known
        if self.limit is not None and len(self.ledger) >= self.limit:
            raise BudgetSpent
        metric = self.evaluator.score([arch])[0].metric
        t = Trial(arch, float(metric), float(self.latency(arch)), self.evaluator.source(arch),
                  self.provenance)
        self.ledger[arch] = t
        return t

    def spent(self) -> bool:
        """The budget of distinct evaluations is spent, or the strategy is stuck on repeats."""
        if self.limit is None:
            return False
        return (len(self.ledger) >= self.limit
                or self.proposals >= MAX_PROPOSALS_PER_EVALUATION * self.limit)

    def fitness(self, t: Trial) -> float:
        if self.budget_ms is None or t.latency_ms <= self.budget_ms:
            return t.metric
        return -1.0 - (t.latency_ms / self.budget_ms - 1.0)


Strategy = Callable[[Problem, int, int], None]
STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    return STRATEGIES.register(name)


def list_strategies() -> list[str]:
    return STRATEGIES.names()


def run_strategy(name: str, problem: Problem, *, steps: int, seed: int) -> StrategyResult:
    """Run `name` on a fresh ledger until `steps` distinct architectures are evaluated."""
    strategy = STRATEGIES.get(name)
    run = replace(problem)
    run.limit = steps
    with contextlib.suppress(BudgetSpent):
        strategy(run, steps, seed)
    trials = list(run.ledger.values())
    return StrategyResult(name, trials, problem.budget_ms, len(trials), run.proposals)


@register_strategy("random")
def random_search(problem: Problem, steps: int, seed: int) -> None:
    """Uniform architectures (Li & Talwalkar's baseline a search must beat)."""
    rng = np.random.default_rng(seed)
    while not problem.spent():
        problem.trial(problem.space.sample(rng))


@register_strategy("evolution")
def regularised_evolution(problem: Problem, steps: int, seed: int, *, population: int = 16,
                          sample: int = 4) -> None:
    """Real et al. (2019): tournament of `sample`, mutate the winner, retire the oldest.
    A child seen before rejoins the population at no cost."""
    rng = np.random.default_rng(seed)
    alive: deque[Trial] = deque()
    while not problem.spent():
        if len(alive) < population:
            child = problem.space.sample(rng)
        else:
            picks = [alive[i] for i in rng.choice(len(alive), size=sample, replace=False)]
            parent = max(picks, key=problem.fitness)
            child = problem.space.mutate(parent.arch, rng)
        alive.append(problem.trial(child))
        if len(alive) > population:
            alive.popleft()


@register_strategy("nsga2")
def nsga2(problem: Problem, steps: int, seed: int, *, population: int = 16) -> None:
    """Optuna's NSGA-II on (metric ↑, latency ↓), the budget as a constraint; a repeated
    suggestion is answered from the ledger, and the study stops once the budget is spent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = problem.space
    budget = problem.budget_ms
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
        return t.metric, t.latency_ms

    def stop(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if problem.spent():
            study.stop()

    study.optimize(objective, n_trials=MAX_PROPOSALS_PER_EVALUATION * steps, callbacks=[stop])


class _Recording(Evaluator):
    """The controller's evaluator: every path it scores goes through the problem's ledger,
    so repeats are free and the search stops at its first evaluation beyond the budget."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.metric_label = problem.evaluator.metric_label
        self.trains = problem.evaluator.trains

    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        if self.problem.spent():
            raise BudgetSpent
        return [PathScore(t.arch, t.metric, 1.0 - t.metric)
                for t in map(self.problem.trial, archs)]

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        return self.score(archs)


def _controller(problem: Problem, steps: int, seed: int, sampler: str) -> None:
    """`MiasSearch` with the paper-hippocampus loss weights and pruning schedule, HPO off
    (nothing to tune in a table), K = 10 paths per step.

    The controller runs a fixed number of steps, and its pruning schedule is a share of
    them, so a run that repeats itself would fall short of the budget: it starts at
    `steps // K` steps and, while a whole run evaluates fewer distinct paths than the
    budget, reruns from scratch with more steps, until a run spends the budget (at most
    `MAX_RERUNS` times; the result's count says if it fell short)."""
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
    per_epoch = max(1, steps // k)
    for _ in range(MAX_RERUNS + 1):
        problem.ledger.clear()
        problem.proposals = 0
        problem.evaluator.reset()
        MiasSearch(problem.space, _Recording(problem), problem.predictor, settings, seed=seed,
                   steps_per_epoch=per_epoch, sampler=sampler,
                   latency_budget_ms=problem.budget_ms).run()
        short = steps - len(problem.ledger)
        if short <= 0 or problem.spent():
            return
        per_epoch = max(math.ceil(per_epoch * 1.25), per_epoch + math.ceil(short / k))


@register_strategy("mias")
def mias(problem: Problem, steps: int, seed: int) -> None:
    """The paper's search: learned path probabilities, latency loss, progressive pruning."""
    _controller(problem, steps, seed, "learned")


@register_strategy("fairnas")
def fairnas(problem: Problem, steps: int, seed: int) -> None:
    """FairNAS strict fairness: every candidate of every layer once per step."""
    _controller(problem, steps, seed, "fair")


def hypervolume(front: list[Trial], reference_ms: float) -> float:
    """Area dominated by `front` in (1 − metric, latency / reference_ms), reference (1, 1),
    by Optuna's exact hypervolume (WFG); points beyond the reference add nothing."""
    from optuna._hypervolume import compute_hypervolume

    pts = np.array([[1.0 - t.metric, t.latency_ms / reference_ms] for t in front
                    if t.metric > 0 and t.latency_ms < reference_ms], dtype=np.float64)
    if len(pts) == 0:
        return 0.0
    return float(compute_hypervolume(pts, np.array([1.0, 1.0])))
