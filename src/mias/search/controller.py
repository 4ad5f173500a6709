"""The MIAS search loop: sample K paths, train and score them, step the architecture
distribution on L = ε_ce · TSL + ε_lat · T, and prune progressively.

Gradients of the architecture logits:
- latency: exact, through the closed-form E[T] over K draws (`latency.expected_t`, the
  paper's term, `latency_term: max`), or through the expected latency of one path
  (`latency.expected_path`, `latency_term: path`), whose gradient does not vanish once
  the distribution has collapsed; both are logged every step. Under `--latency-budget` the
  latency term is a constraint instead, E[one path] ≤ budget, weighted by a Lagrange
  multiplier that rises while the expected deployed path is over the budget;
- task loss: REINFORCE with a leave-one-out baseline — each path's validation TSL minus
  the mean TSL of the step's other K − 1 paths, standardised by the step's spread of TSL,
  times ∇ log p(path). It needs no
  relaxation of the discrete path choice (a Gumbel-softmax mixture would have to run
  every candidate of a layer at once, K times the compute of a path on 2 CPU cores), it is
  unbiased, and the leave-one-out baseline cancels how hard the step's batch is.

The loop is generic over an `Evaluator` (supernet training, or MED-NAS-Bench's table) and
checkpoints everything it holds — logits, optimiser, RNG states, mask, archive, history —
at every epoch and pruning point, so `--resume` after `kill -9` finishes with the same
result as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mias.atomic import atomic_file
from mias.errors import InputError
from mias.hardware.predictors import LatencyPredictor
from mias.presets import SearchSettings
from mias.search.evaluator import Evaluator, PathScore
from mias.search.latency import LatencyModel, mias_loss
from mias.search.pareto import Archive, non_dominated
from mias.search.pruning import (
    CandidateStats,
    apply_drops,
    confident_drops,
    decisions,
    ranked,
    trade_off,
)
from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask, Distribution, all_layers, arch_indices, from_indices
from mias.space import Architecture, SearchSpace

#: called after every step with its history row, and once before a depth race (which
#: trains networks for minutes) with {"racing": arch ids, "race_steps": steps}
StepHook = Callable[[int, dict[str, Any]], None]
RANK_DRAWS = 2000


@dataclass
class SearchState:
    step: int
    mask: CandidateMask
    rng: np.random.Generator
    stats: CandidateStats
    archive: Archive = field(default_factory=Archive)
    history: list[dict[str, Any]] = field(default_factory=list)
    pruning_log: list[dict[str, Any]] = field(default_factory=list)
    hpo: dict[str, Any] | None = None
    hpo_done: bool = False
    prunes_done: int = 0
    learned_at: int | None = None
    race: dict[str, Any] | None = None
    fair_queue: list[Architecture] = field(default_factory=list)


@dataclass(frozen=True)
class SearchOutcome:
    arch: Architecture
    metric: float
    latency: Any
    pareto: list[dict[str, Any]]
    search_front: list[dict[str, Any]]
    pruning_log: list[dict[str, Any]]
    history: list[dict[str, Any]]
    archive: list[dict[str, Any]]
    hpo: dict[str, Any] | None
    reference_ms: float
    schedule: dict[str, Any]
    latency_rank: dict[str, Any]
    race: dict[str, Any] | None = None


def standardised_advantage(losses: torch.Tensor) -> torch.Tensor:
    """Each path's loss minus the mean of the step's other paths (leave-one-out baseline),
    divided by the step's spread of losses.

    Standardising per step makes the task term's gradient the same size whatever the
    scale of the loss (soft Dice moves by 0.01 within a step, cross-entropy by 1), so ε_ce
    against ε_lat weighs a decision rather than a loss's units.
    """
    k = len(losses)
    if k < 2:
        return torch.zeros_like(losses)
    advantage = losses - (losses.sum() - losses) / (k - 1)
    spread = losses.std()
    return advantage / spread if spread > 1e-12 else torch.zeros_like(losses)


def smoothed(values: list[float], window: int) -> list[float]:
    """Exponential moving average with the span of `window` steps."""
    alpha = 2.0 / (window + 1)
    out: list[float] = []
    for v in values:
        out.append(v if not out else alpha * v + (1 - alpha) * out[-1])
    return out


def spread(front: list, n: int) -> list[Architecture]:
    """Up to `n` architectures of a latency-sorted front, evenly spaced along it."""
    if len(front) <= n:
        return [e.arch for e in front]
    index = np.unique(np.round(np.linspace(0, len(front) - 1, n)).astype(int))
    return [front[i].arch for i in index]


class MiasSearch:
    """One-shot, latency-aware search with progressive pruning."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator, predictor: LatencyPredictor,
                 settings: SearchSettings, *, seed: int, steps_per_epoch: int,
                 sampler: str = "learned", latency_budget_ms: float | None = None,
                 checkpoint: Path | None = None, on_step: StepHook | None = None,
                 references: dict[str, float] | None = None) -> None:
        self.space = space
        self.references = dict(references or {})
        self.evaluator = evaluator
        self.predictor = predictor
        self.latency = LatencyModel(space, predictor)
        self.settings = settings
        self.seed = seed
        self.sampler_name = sampler
        self.budget = latency_budget_ms
        self.checkpoint = checkpoint
        self.on_step = on_step
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = settings.epochs * steps_per_epoch
        self.warmup_steps = settings.warmup_epochs * steps_per_epoch
        self.split_step = round(settings.few_shot_split * self.total_steps)
        hpo = settings.hpo
        self.hpo_step = hpo.at_epoch * steps_per_epoch if hpo.enabled else None
        self.prune_at = {max(1, round(p.at * self.total_steps)): p.keep for p in settings.prune}
        self.schedule = sorted(self.prune_at.items())
        self.layers = all_layers(space)
        torch.manual_seed(seed)
        self.dist = Distribution(space, explore=settings.explore)
        self.arch_opt = torch.optim.Adam(self.dist.parameters(), lr=settings.arch_lr)
        self._latency_cache: dict[str, Any] = {}
        self._extremes: dict[tuple, Architecture] = {}
        self.lagrange = 0.0
        if self.budget is not None:
            self._check_budget()

    # ---- latency figures ----------------------------------------------------------------

    def figure(self, arch: Architecture):
        if arch.id not in self._latency_cache:
            self._latency_cache[arch.id] = self.predictor.predict(self.space, arch)
        return self._latency_cache[arch.id]

    def fastest(self, mask: CandidateMask | None = None) -> Architecture:
        """The fastest architecture `mask` allows, greedily per layer in path order."""
        return self.extreme(mask or CandidateMask.full(self.space), slowest=False)

    def extreme(self, mask: CandidateMask, slowest: bool) -> Architecture:
        """The fastest (or the slowest: the sandwich rule's largest) architecture `mask`
        allows, greedily per layer in path order; cached per mask."""
        key = (tuple(sorted(mask.layers.items())), mask.depths, slowest)
        if key in self._extremes:
            return self._extremes[key]
        sign = -1.0 if slowest else 1.0
        best = None
        for d in mask.alive_depths():
            choice: dict[str, int] = {}
            for n in self.space.layer_names(self.space.depths[d]):
                choice[n] = mask.alive(n)[0]
            for n in self.space.layer_names(self.space.depths[d]):
                options = []
                for i in mask.alive(n):
                    trial = from_indices(self.space, d, {**choice, n: i})
                    options.append((sign * self.latency.path_ms(trial), i))
                choice[n] = min(options)[1]
            arch = from_indices(self.space, d, choice)
            if best is None or sign * self.figure(arch).value < sign * self.figure(best).value:
                best = arch
        assert best is not None
        self._extremes[key] = best
        return best

    def _check_budget(self) -> None:
        if not (self.budget > 0 and np.isfinite(self.budget)):
            raise InputError(None, f"--latency-budget must be a positive number of ms, got "
                             f"{self.budget}", "pass e.g. --latency-budget 50")
        fastest = self.figure(self.fastest())
        if fastest.value > self.budget:
            raise InputError(None, f"no architecture of this search space meets "
                             f"{self.budget:g} ms on {fastest.device}: the fastest is "
                             f"{fastest.value:.1f} ms ({fastest.label})",
                             "raise --latency-budget, or prepare a smaller --input-shape")

    # ---- state --------------------------------------------------------------------------

    def _fresh(self) -> SearchState:
        return SearchState(step=0, mask=CandidateMask.full(self.space),
                           rng=np.random.default_rng(self.seed),
                           stats=CandidateStats.empty(self.space, self.layers),
                           learned_at=None if self.evaluator.trains else 0)

    def _save(self, st: SearchState) -> None:
        if self.checkpoint is None:
            return
        payload = {"step": st.step, "mask": st.mask.to_dict(), "rng": st.rng.bit_generator.state,
                   "stats": st.stats.to_dict(), "archive": st.archive.to_list(),
                   "history": st.history, "pruning_log": st.pruning_log, "hpo": st.hpo,
                   "hpo_done": st.hpo_done, "prunes_done": st.prunes_done,
                   "learned_at": st.learned_at, "race": st.race,
                   "fair_queue": [a.to_dict() for a in st.fair_queue],
                   "dist": self.dist.state_dict(),
                   "arch_opt": self.arch_opt.state_dict(), "torch_rng": torch.get_rng_state(),
                   "lagrange": self.lagrange,
                   "evaluator": self.evaluator.state_dict()}
        with atomic_file(self.checkpoint) as tmp:
            torch.save(payload, tmp)

    def _load(self) -> SearchState | None:
        if self.checkpoint is None or not self.checkpoint.is_file():
            return None
        d = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        rng = np.random.default_rng()
        rng.bit_generator.state = d["rng"]
        self.dist.load_state_dict(d["dist"])
        self.arch_opt.load_state_dict(d["arch_opt"])
        self.lagrange = float(d.get("lagrange", 0.0))
        torch.set_rng_state(d["torch_rng"])
        self.evaluator.load_state_dict(d["evaluator"])
        return SearchState(step=d["step"], mask=CandidateMask.from_dict(d["mask"]), rng=rng,
                           stats=CandidateStats.from_dict(d["stats"]),
                           archive=Archive.from_list(d["archive"]), history=d["history"],
                           pruning_log=d["pruning_log"], hpo=d["hpo"], hpo_done=d["hpo_done"],
                           prunes_done=int(d.get("prunes_done", 0)),
                           learned_at=d.get("learned_at"), race=d.get("race"),
                           fair_queue=[Architecture.from_dict(a)
                                       for a in d.get("fair_queue", [])])

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> SearchOutcome:
        st = self._load() or self._fresh()
        for m in self._masked_keys(st.mask):
            self.evaluator.prune(*m)
        while st.step < self.total_steps:
            if (self.hpo_step is not None and st.step == self.hpo_step and not st.hpo_done):
                self._save(st)
                st.hpo = self.evaluator.tune(st.step, st.mask)
                st.hpo_done = True
                self._save(st)
            row = self._step(st)
            st.step += 1
            if st.learned_at is None and self._has_learned(st):
                st.learned_at = st.step
            pruned = False
            while (gate := self._gate(st)) is not None:
                self._prune(st, self.schedule[st.prunes_done][1], gate)
                st.prunes_done += 1
                row["candidates_left"] = self._left(st.mask)
                pruned = True
            if pruned:
                st.stats = CandidateStats.empty(self.space, self.layers)
            if pruned or st.step % self.steps_per_epoch == 0 or st.step == self.total_steps:
                self._save(st)
            if self.on_step is not None:
                self.on_step(st.step, row)
        return self._finish(st)

    def _has_learned(self, st: SearchState) -> bool:
        """Whether the smoothed validation metric has risen above its level over the first
        `gate_window` steps by `gate_min_rise`, and by twice those steps' spread: scores of
        weights still at chance say nothing about a candidate, a flat metric at chance
        would pass for a plateau, and paths that merely differ must not pass for learning.
        Exact scores (a table) have nothing to learn."""
        if not self.evaluator.trains:
            return True
        w = self.settings.gate_window
        values = [row["metric_mean"] for row in st.history]
        if len(values) <= w:
            return False
        first = np.asarray(values[:w])
        needed = max(self.settings.gate_min_rise, 2.0 * float(first.std(ddof=1)))
        return smoothed(values, w)[-1] - float(first.mean()) >= needed

    def _gate(self, st: SearchState) -> dict[str, Any] | None:
        """Whether the next scheduled pruning happens now, and why.

        A pruning point is due at its scheduled step, but waits until the supernet has
        learned (`_has_learned`) and then stopped learning fast: the smoothed validation
        metric gained less than `gate_min_gain` over the last `gate_window` steps.
        Decisions taken while every path still improves would judge candidates on how
        early they learn. Once learned, a point waits at most until the step before the
        next point, and at least `gate_window` steps after the supernet learned or the
        previous decision, so that each decision rests on fresh samples. A supernet that
        never learns keeps every point to the last step, where the remaining ones are
        taken on what the scores say then, with reason "not learned".
        """
        if st.prunes_done >= len(self.schedule):
            return None
        due, _ = self.schedule[st.prunes_done]
        if st.step < due:
            return None
        s = self.settings
        ema = smoothed([row["metric_mean"] for row in st.history], s.gate_window)
        gain = (ema[-1] - ema[-1 - s.gate_window]) if len(ema) > s.gate_window else None
        record = {"scheduled_step": due, "step": st.step, "metric_ema": ema[-1] if ema else None,
                  "gain_over_window": gain, "window": s.gate_window,
                  "min_gain": s.gate_min_gain, "learned_at": st.learned_at}
        if st.learned_at is None:
            return record | {"reason": "not learned"} if st.step >= self.total_steps else None
        later = [step for step, _ in self.schedule[st.prunes_done + 1:]]
        deadline = (later[0] - 1) if later else self.total_steps
        if self.evaluator.trains:
            last = max([st.learned_at, *(d["step"] for d in st.pruning_log)])
            if st.step < self.total_steps and st.step - last < s.gate_window:
                return None
            deadline = min(self.total_steps, max(deadline, last + s.gate_window))
        if gain is not None and gain < s.gate_min_gain:
            return record | {"reason": "plateau"}
        if st.step >= deadline:
            return record | {"reason": "deadline"}
        return None

    def _masked_keys(self, mask: CandidateMask) -> list[tuple[str, str]]:
        return [(n, self.space.candidates(n)[i].key) for n in self.layers
                for i, a in enumerate(mask.layers[n]) if not a]

    def _left(self, mask: CandidateMask) -> int:
        return sum(len(mask.alive(n)) for n in self.layers)

    def _single(self, mask: CandidateMask) -> bool:
        return len(mask.alive_depths()) == 1 and all(len(mask.alive(n)) == 1 for n in self.layers)

    def _step(self, st: SearchState) -> dict[str, Any]:
        s = self.settings
        learning = (st.step >= self.warmup_steps and self.sampler_name == "learned"
                    and st.learned_at is not None)
        name = self.sampler_name if st.step >= self.warmup_steps else "uniform"
        single = self._single(st.mask)
        k = 1 if single else s.paths_per_step
        if s.few_shot and st.step == self.split_step:
            self.evaluator.split_by_depth()
        mask = self._step_mask(st)
        fixed = [] if single else ((self._sandwich(mask) if s.sandwich else [])
                                   + self._fair(st, mask, s.fair_paths))
        archs = fixed + create_sampler(name).sample(self.space, mask, self.dist,
                                                    k - len(fixed), st.rng)
        scores = self.evaluator.step(archs, st.step, fixed[0] if s.sandwich and fixed else None)
        t_ms = self.latency.exact_t(archs)
        # only the paths drawn from the distribution step it (REINFORCE is on-policy), and
        # under few_shot their depth was dealt, not drawn: its log-probability is the step
        # mask's, 0
        e_t, e_path = self._arch_step(scores[len(fixed):], st.mask, len(archs), learning,
                                      policy_mask=mask)
        for sc, evidence in zip(scores, self._evidence([sc.metric for sc in scores]),
                                strict=True):
            if evidence is not None:
                st.stats.add(self.space, sc.arch, evidence)
            st.archive.add(sc.arch, sc.metric, self.figure(sc.arch).value, st.step)
        tsl = float(np.mean([sc.loss for sc in scores]))
        depth_p, _ = self.dist.numpy_probs(st.mask)
        row = {"step": st.step + 1, "epoch": st.step // self.steps_per_epoch + 1,
               "loss": float(mias_loss(tsl, t_ms, eps_ce=s.eps_ce, eps_lat=s.eps_lat,
                                       reference_ms=self.latency.reference_ms)),
               "tsl": tsl, "t_ms": t_ms, "expected_t_ms": e_t, "expected_path_ms": e_path,
               "lagrange": self.lagrange if self.budget is not None else None,
               "metric_mean": float(np.mean([sc.metric for sc in scores])),
               "metric_best": float(np.max([sc.metric for sc in scores])),
               "paths": len(archs), "sampler": name,
               "candidates_left": self._left(st.mask),
               "mean_path_ms": float(np.mean([self.figure(a).value for a in archs])),
               "depth_probs": [float(p) for p in depth_p]}
        st.history.append(row)
        return row

    def _step_mask(self, st: SearchState) -> CandidateMask:
        """The mask a step samples under: the space's, or under `few_shot` (once split) the
        space restricted to one depth, the alive depths taken in turn (one sub-supernet per
        step, each trained as often as the others)."""
        alive = st.mask.alive_depths()
        if not self.settings.few_shot or st.step < self.split_step or len(alive) == 1:
            return st.mask
        d = alive[st.step % len(alive)]
        return apply_drops(st.mask, "depth", [e for e in alive if e != d])

    def _sandwich(self, mask: CandidateMask) -> list[Architecture]:
        """The sandwich rule's fixed paths under `mask`: the largest (the teacher, first)
        and the smallest, by predicted latency; one path when they coincide."""
        big, small = self.extreme(mask, slowest=True), self.extreme(mask, slowest=False)
        return [big] if big == small else [big, small]

    def _fair(self, st: SearchState, mask: CandidateMask, n: int) -> list[Architecture]:
        """The next `n` paths of a strict-fair rotation over `mask`: FairNAS's deal of m
        paths (every alive candidate of every layer equally often), handed out a few per
        step and dealt again when spent or when the mask no longer allows a path left."""
        out: list[Architecture] = []
        while len(out) < n:
            if not st.fair_queue or not all(mask.allows(self.space, a)
                                            for a in st.fair_queue):
                st.fair_queue = create_sampler("fair").sample(self.space, mask, None,
                                                              n, st.rng)
            out.append(st.fair_queue.pop(0))
        return out

    def _evidence(self, metrics: list[float]) -> list[float | None]:
        """What a step tells the pruning statistics about its paths.

        A trained supernet's scores carry two noises that say nothing about a candidate: the
        step's validation batch (a patch with a large structure scores every path higher)
        and the weights' age (every path scores higher late than early, so the candidates
        the distribution favours late look better merely for being sampled then). Both are
        shared by the step's paths, so each path counts as its metric minus the mean of the
        step's paths: a paired comparison, in metric units, that only differences between
        candidates survive; a lone path has nothing to be compared with (None). Exact
        scores (a table) have neither noise and count as they are.
        """
        if not self.evaluator.trains:
            return list(metrics)
        if len(metrics) < 2:
            return [None] * len(metrics)
        mean = float(np.mean(metrics))
        return [m - mean for m in metrics]

    def _arch_step(self, scores: list[PathScore], mask: CandidateMask, k: int,
                   learning: bool, policy_mask: CandidateMask | None = None
                   ) -> tuple[float, float]:
        """One Adam step of the logits; returns E[T] and E[one path] (ms) before it. The
        latency terms are over `mask` (the space); the paths were drawn under
        `policy_mask` (default: the same)."""
        s = self.settings
        e_t = self.latency.expected_t(self.dist, mask, k)
        e_path = self.latency.expected_path(self.dist, mask)
        term = e_t if s.latency_term == "max" else e_path
        weight = s.eps_lat
        if self.budget is not None:
            # A budget is a constraint, not a price: E[one path] ≤ budget through a Lagrange
            # multiplier that grows while the expected deployed path is over it.
            term, weight = e_path, self.lagrange
        if not learning or self._single(mask) or not scores:
            return float(e_t.detach()), float(e_path.detach())
        self.arch_opt.zero_grad(set_to_none=True)
        losses = torch.tensor([sc.loss for sc in scores], dtype=torch.float64)
        advantage = standardised_advantage(losses)
        logp = torch.stack([self.dist.log_prob(self.space, sc.arch, policy_mask or mask)
                            for sc in scores])
        surrogate = s.eps_ce * torch.mean(advantage * logp.to(torch.float64)) \
            + weight * term / self.latency.reference_ms
        surrogate.backward()
        self.arch_opt.step()
        if self.budget is not None:
            self.lagrange = max(0.0, self.lagrange + s.budget_lr
                                * (float(e_path.detach()) / self.budget - 1.0))
        return float(e_t.detach()), float(e_path.detach())

    # ---- pruning ------------------------------------------------------------------------

    def _prune(self, st: SearchState, keep: int, gate: dict[str, Any] | None = None) -> None:
        s = self.settings
        depth_p, layer_p = self.dist.numpy_probs(st.mask)
        ref = self.latency.reference_ms
        chosen: dict[str, list[int]] = {}
        evidence: dict[str, tuple[dict[int, tuple[float, int]], dict[int, float],
                                  dict[int, float]]] = {}
        for n in ["depth", *self.layers]:
            alive = st.mask.alive_depths() if n == "depth" else st.mask.alive(n)
            est = st.stats.estimate(n, alive, s.prior_samples)
            lat_all = (self._depth_ms(st.mask, depth_p, layer_p) if n == "depth"
                       else self.latency.candidate_ms(n, depth_p, layer_p))
            lat = {i: float(lat_all[i]) for i in alive}
            # under a budget, latency is the constraint's business (the multiplier, then
            # `_fit_budget`), not a price: the preset's ε_lat would prune towards the fastest
            scores = trade_off(est, lat, eps_ce=s.eps_ce,
                               eps_lat=0.0 if self.budget is not None else s.eps_lat,
                               reference_ms=ref)
            width = {i: s.eps_ce * h for i, h in
                     st.stats.halfwidths(n, alive, s.prune_z).items()}
            evidence[n] = (est, lat, scores, width)
            drops = confident_drops(scores, width, {i: est[i][1] for i in alive}, keep)
            fastest = min(alive, key=lambda i: (lat[i], i))
            if self.budget is not None and keep > 1:
                drops = [i for i in drops if i != fastest]
            chosen[n] = [i for i in ranked(scores, lat) if i not in drops]
        raced = (keep == 1 and s.race_steps > 0 and len(st.mask.alive_depths()) > 1)
        if raced:
            chosen = self._race(st, chosen, evidence)
        elif keep == 1 and self.budget is not None:
            chosen = self._fit_budget(chosen, evidence, st.mask)
        basis = {"gate": gate} | ({"decided_by": "race"} if raced else {})
        for n, kept in chosen.items():
            names = ([f"depth {d}" for d in self.space.depths] if n == "depth"
                     else [c.key for c in self.space.candidates(n)])
            est, lat, scores, width = evidence[n]
            st.pruning_log += [d | basis for d in
                               decisions(n, names, kept, est, lat, scores, st.step, keep, width)]
            drops = [i for i in lat if i not in kept]
            st.mask = apply_drops(st.mask, n, drops)
            if n != "depth":
                for i in drops:
                    self.evaluator.prune(n, names[i])

    def _race(self, st: SearchState, chosen: dict[str, list[int]], evidence
              ) -> dict[str, list[int]]:
        """The last pruning's depth decision, taken on networks trained alone.

        Weight sharing judges a depth by how fast its shared weights learn, and the
        shallowest learns fastest, so supernet scores rank depth 1 first whatever depth
        trains best. Here each depth still in the space contributes its best path (per
        layer the best-scored candidate left; under a budget, fitted to it as
        `_fit_budget` fits, and beside it the same path grown into the unused budget,
        `_fill_budget`), the evaluator trains each for `race_steps` steps (`race`),
        and the winner is the best `ε_ce · metric − ε_lat · latency / reference` (under a
        budget, the best metric among those that fit). Recorded in `st.race`."""
        s = self.settings
        entries: list[tuple[Architecture, dict[str, list[int]], str]] = []
        for d in st.mask.alive_depths():
            mask = apply_drops(st.mask, "depth", [e for e in st.mask.alive_depths() if e != d])
            # per layer the best-scored candidate that has samples (a shrunk estimate of
            # one never sampled is the layer's mean, not evidence)
            pick = {n: [next((i for i in v if evidence[n][0][i][1] > 0), v[0])]
                    for n, v in chosen.items()} | {"depth": [d]}
            picks = [(pick, "best-scored")]
            if self.budget is not None:
                fitted = self._fit_budget(pick, evidence, mask)
                picks = [(fitted, "best-scored"),
                         (self._fill_budget(fitted, evidence, mask), "budget-filled")]
            for p, kind in picks:
                arch = self._arch_of({n: v[0] for n, v in p.items()})
                if ((self.budget is None or self.figure(arch).value <= self.budget)
                        and all(a != arch for a, _, _ in entries)):
                    entries.append((arch, p, kind))
        if self.on_step is not None:
            self.on_step(st.step, {"racing": [a.id for a, _, _ in entries],
                                   "race_steps": s.race_steps})
        scores = self.evaluator.race([a for a, _, _ in entries], s.race_steps)
        lat = {i: self.figure(a).value for i, (a, _, _) in enumerate(entries)}
        value = ({i: sc.metric for i, sc in enumerate(scores)} if self.budget is not None
                 else trade_off({i: (sc.metric, 1) for i, sc in enumerate(scores)}, lat,
                                eps_ce=s.eps_ce, eps_lat=s.eps_lat,
                                reference_ms=self.latency.reference_ms))
        win = ranked(value, lat)[0]
        st.race = {"steps": s.race_steps, "step": st.step,
                   "basis": "each network trained alone from scratch with the final "
                            "training's recipe for `steps` steps, scored on the whole "
                            "validation split",
                   "objective": ("metric, among networks within the budget"
                                 if self.budget is not None else
                                 "eps_ce * metric - eps_lat * latency_ms / reference_ms"),
                   "entries": [{"arch_id": a.id, "depth": a.depth, "path": kind,
                                "latency_ms": lat[i], "metric": sc.metric,
                                "objective": value[i], "chosen": i == win}
                               for i, ((a, _, kind), sc) in enumerate(zip(entries, scores,
                                                                          strict=True))]}
        return entries[win][1]

    def _arch_of(self, pick: dict[str, int]) -> Architecture:
        d = pick["depth"]
        return from_indices(self.space, d, {n: pick[n] for n in
                                            self.space.layer_names(self.space.depths[d])})

    def _depth_ms(self, mask: CandidateMask, depth_p: np.ndarray,
                  layer_p: dict[str, np.ndarray]) -> np.ndarray:
        """Expected path latency at each depth under the current distribution."""
        out = np.zeros(len(self.space.depths))
        fixed = self.latency.fixed_ms(depth_p, layer_p)
        for d in mask.alive_depths():
            total = fixed
            for n in self.space.layer_names(self.space.depths[d]):
                p = layer_p[n]
                total += float(np.dot(p, self.latency.candidate_ms(n, depth_p, layer_p)))
            out[d] = total
        return out

    def _fit_budget(self, chosen: dict[str, list[int]], evidence, mask: CandidateMask
                    ) -> dict[str, list[int]]:
        """The last pruning under a budget: start from the distribution's most likely path
        (the multiplier has already pulled it towards the budget) and, while it is over
        budget, make the swap that loses the least score among those that bring it under,
        else the one that saves the most latency per score point lost (greedy swaps alone
        overshoot: one that saves much for little can leave far more latency unused than
        the budget asked)."""
        def score(n: str, i: int) -> float:
            return evidence[n][2][i]

        likely = self.dist.most_likely(self.space, mask)
        d, choice = arch_indices(self.space, likely)
        pick = {n: choice.get(n, v[0]) for n, v in chosen.items()} | {"depth": d}

        while self.figure(self._arch_of(pick)).value > self.budget:
            current = self.figure(self._arch_of(pick)).value
            best, fits = None, None
            for n in ["depth", *self.layers]:
                alive = mask.alive_depths() if n == "depth" else mask.alive(n)
                for i in alive:
                    if i == pick[n]:
                        continue
                    saved = current - self.figure(self._arch_of({**pick, n: i})).value
                    if saved <= 0:
                        continue
                    lost = max(score(n, pick[n]) - score(n, i), 0.0)
                    if current - saved <= self.budget and (fits is None
                                                           or (lost, saved) < fits[:2]):
                        fits = (lost, saved, n, i)
                    ratio = saved / (lost + 1e-6)
                    if best is None or ratio > best[0]:
                        best = (ratio, n, i)
            if fits is not None:
                pick[fits[2]] = fits[3]
                break
            if best is None:
                pick = {n: v for n, v in zip(["depth", *self.layers], self._fastest_pick(mask),
                                              strict=True)}
                break
            pick[best[1]] = best[2]
        return {n: [i] for n, i in pick.items()}

    def _fill_budget(self, pick: dict[str, list[int]], evidence, mask: CandidateMask
                     ) -> dict[str, list[int]]:
        """The same depth grown into the budget's unused latency: while a swap to a costlier
        candidate still fits, take the best-scored such swap (ties: the costlier). Under a
        budget the supernet's scores within a layer differ by noise, so the path it scores
        best can leave most of the budget unspent; raced beside it, the grown path lets
        standalone training say whether the capacity pays."""
        grown = {n: v[0] for n, v in pick.items()}
        while True:
            current = self.figure(self._arch_of(grown)).value
            best = None
            for n in self.space.layer_names(self.space.depths[grown["depth"]]):
                for i in mask.alive(n):
                    ms = self.figure(self._arch_of({**grown, n: i})).value
                    if current < ms <= self.budget:
                        key = (evidence[n][2][i], ms)
                        if best is None or key > best[0]:
                            best = (key, n, i)
            if best is None:
                return {n: [i] for n, i in grown.items()}
            grown[best[1]] = best[2]

    def _fastest_pick(self, mask: CandidateMask) -> list[int]:
        arch = self.fastest(mask)
        d, choice = arch_indices(self.space, arch)
        return [d, *[choice.get(n, mask.alive(n)[0]) for n in self.layers]]

    # ---- the result ---------------------------------------------------------------------

    def _finish(self, st: SearchState) -> SearchOutcome:
        arch = self.dist.most_likely(self.space, st.mask)
        front = st.archive.front()
        search_front = [self._entry(e.arch, e.metric, e.evaluations, "validation batches "
                                    "during the search (inherited weights at the time)")
                        for e in front]
        alive = [e for e in front if st.mask.allows(self.space, e.arch)]
        picks = [a for a in spread(alive, self.settings.pareto_reeval) if a != arch]
        rescored = self.evaluator.score([arch, *picks])
        final = rescored[0]
        basis = ("whole validation split, final supernet weights (front members still in "
                 "the space)")
        pareto = non_dominated([self._entry(sc.arch, sc.metric, 1, basis) for sc in rescored],
                               lambda e: (e["metric"], e["latency_ms"]))
        return SearchOutcome(
            search_front=search_front,
            latency_rank=self.latency_rank(arch),
            arch=arch, metric=final.metric, latency=self.figure(arch), pareto=pareto,
            pruning_log=st.pruning_log, history=st.history, archive=st.archive.to_list(),
            hpo=st.hpo, reference_ms=self.latency.reference_ms, race=st.race,
            schedule={"total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
                      "warmup_steps": self.warmup_steps, "hpo_step": self.hpo_step,
                      "prune_at": {str(k): v for k, v in sorted(self.prune_at.items())},
                      "pruned_at": sorted({d["step"] for d in st.pruning_log}),
                      "learned_at": st.learned_at,
                      "sampler": self.sampler_name, "latency_budget_ms": self.budget})

    def latency_rank(self, arch: Architecture, draws: int = RANK_DRAWS) -> dict[str, Any]:
        """Where `arch` sits in the space's latency range: the share of uniformly drawn
        architectures that are faster, and whether it is the space's fastest member (a
        search that returns it has let latency decide alone)."""
        fastest = self.fastest()
        rng = np.random.default_rng(self.seed + RANK_DRAWS)
        mine = self.figure(arch).value
        values = np.array([self.predictor.predict(self.space, self.space.sample(rng)).value
                           for _ in range(draws)])
        is_fastest = arch == fastest or mine <= self.figure(fastest).value
        return {"latency_ms": mine, "faster_share": float(np.mean(values < mine)),
                "draws": draws, "space_fastest_ms": self.figure(fastest).value,
                "space_fastest_id": fastest.id, "space_median_ms": float(np.median(values)),
                "space_p95_ms": float(np.quantile(values, 0.95)),
                "space_max_drawn_ms": float(values.max()), "is_fastest": bool(is_fastest),
                "references": {name: {"latency_ms": ms,
                                      "space_faster_share": float(np.mean(values < ms))}
                               for name, ms in self.references.items()}}

    def _entry(self, arch: Architecture, metric: float, evaluations: int,
               basis: str) -> dict[str, Any]:
        fig = self.figure(arch)
        return {"arch": arch.to_dict(), "arch_id": arch.id, "metric": float(metric),
                "latency_ms": float(fig.value), "latency_source": fig.label,
                "evaluations": evaluations, "metric_basis": basis}
