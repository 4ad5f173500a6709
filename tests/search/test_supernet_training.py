"""The search's supernet-training options: the sandwich rule (largest and smallest path
every step, the largest teaching the others in place, only sampled paths stepping the
distribution) and the few-shot supernet (one depth per step, taken in turn)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from tests.search.test_tradeoff import WidthLatency

from mias.errors import InputError
from mias.presets import load_preset
from mias.presets.models import PruneStep
from mias.search.controller import MiasSearch
from mias.search.evaluator import Evaluator, PathScore
from mias.search.supernet_evaluator import SupernetEvaluator
from mias.space import Architecture, SearchSpace
from mias.train.data import PreparedData
from mias.train.scoring import Scorer


class Recorder(Evaluator):
    """Exact scores (wider is better) that remember what every step was given."""

    def __init__(self) -> None:
        self.steps: list[tuple[list[Architecture], Architecture | None]] = []

    def value(self, arch: Architecture) -> float:
        return sum(math.log2(c.width) for c in arch.layers.values()) / 20

    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        return [PathScore(a, self.value(a), 1.0 - self.value(a)) for a in archs]

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        self.steps.append((list(archs), teacher))
        return self.score(archs)


def _search(space: SearchSpace, evaluator: Evaluator, **update) -> MiasSearch:
    preset = load_preset("demo")
    settings = preset.search.model_copy(update={
        "epochs": 2, "steps_per_epoch": 6, "paths_per_step": 4, "warmup_epochs": 0,
        "eps_ce": 1.0, "eps_lat": 0.0, "race_steps": 0,
        "hpo": preset.search.hpo.model_copy(update={"enabled": False}), **update})
    return MiasSearch(space, evaluator, WidthLatency(), settings, seed=0, steps_per_epoch=6)


def distribution_steps(monkeypatch) -> list[list[Architecture]]:
    """The paths each step of the distribution was taken on, recorded as a search runs."""
    seen: list[list[Architecture]] = []
    step = MiasSearch._arch_step

    def spy(self, scores, *args, **kwargs):
        seen.append([s.arch for s in scores])
        return step(self, scores, *args, **kwargs)

    monkeypatch.setattr(MiasSearch, "_arch_step", spy)
    return seen


def test_sandwich_trains_largest_and_smallest_and_learns_only_from_the_drawn(two_depths,
                                                                           monkeypatch):
    rec = Recorder()
    run = _search(two_depths, rec, sandwich=True)
    seen = distribution_steps(monkeypatch)
    run.run()
    assert rec.steps
    lat = WidthLatency()
    for (archs, teacher), drawn in zip(rec.steps, seen, strict=True):
        assert len(archs) == 4 and teacher is archs[0]
        assert drawn == archs[2:]
        # first step: the whole space is alive, so the extremes are the space's own
    archs, _ = rec.steps[0]
    every = [two_depths.sample(np.random.default_rng(i)) for i in range(300)]
    costs = [lat.predict(two_depths, a).value for a in every]
    assert lat.predict(two_depths, archs[0]).value == pytest.approx(max(costs))
    assert lat.predict(two_depths, archs[1]).value == pytest.approx(min(costs))


def test_sandwich_needs_room_for_two_sampled_paths() -> None:
    with pytest.raises(InputError, match="sandwich"):
        load_preset("demo", overrides={"search": {"sandwich": True, "paths_per_step": 3}})


def test_few_shot_deals_one_depth_per_step_in_turn(two_depths) -> None:
    rec = Recorder()
    run = _search(two_depths, rec, few_shot=True, sandwich=True,
                  prune=[PruneStep(at=0.99, keep=1)])
    before = run.dist.depth_logits.detach().clone()
    run.run()
    depths = [{a.depth for a in archs} for archs, _ in rec.steps]
    assert all(len(d) == 1 for d in depths)
    assert [d.pop() for d in depths] == [1, 2] * (len(rec.steps) // 2)
    # the depth was dealt, not drawn: with no latency term its logits never move
    assert torch.equal(run.dist.depth_logits.detach(), before)
    assert any(not torch.equal(p.detach(), torch.zeros_like(p))
               for p in run.dist.logits.values())


def test_in_place_distillation_pulls_students_towards_the_teacher(tiny_prep, tiny_preset):
    data = PreparedData.load(tiny_prep)
    settings = tiny_preset.search.model_copy(update={"sandwich": True, "paths_per_step": 4})
    scorer = Scorer.for_task(data.task, None, None, soft=True)

    def grads(weight: float) -> dict[str, torch.Tensor]:
        s = settings.model_copy(update={"distill_weight": weight})
        ev = SupernetEvaluator(data, s, scorer, device=torch.device("cpu"), seed=0)
        rng = np.random.default_rng(0)
        teacher, student = data.space.sample(rng), data.space.sample(rng)
        ev.optimizer = torch.optim.SGD(ev.supernet.parameters(), lr=0.0)
        with pytest.raises(ValueError, match="teacher"):
            ev.train_paths([student, teacher], ev.optimizer, teacher)
        ev.train_paths([teacher, student], ev.optimizer, teacher)
        return {n: p.grad.clone() for n, p in ev.supernet.named_parameters()
                if p.grad is not None}

    plain, distilled = grads(0.0), grads(1.0)
    assert plain.keys() == distilled.keys()
    assert any(not torch.allclose(plain[n], distilled[n]) for n in plain)


def test_explore_keeps_a_uniform_floor_under_every_probability(two_depths) -> None:
    from mias.search.state import CandidateMask, Distribution

    dist = Distribution(two_depths, explore=0.5)
    with torch.no_grad():
        dist.logits["enc0"][0] = 50.0  # a distribution collapsed onto one candidate
    mask = CandidateMask.full(two_depths)
    p = dist.probs("enc0", mask)
    assert torch.allclose(p, torch.tensor([0.75, 0.25]))
    arch = next(a for a in (two_depths.sample(np.random.default_rng(i)) for i in range(99))
                if a.encoder[0] == two_depths.candidates("enc0")[1])
    depth_p, layer_p = dist.numpy_probs(mask)
    expected = math.log(depth_p[two_depths.depths.index(arch.depth)]) + sum(
        math.log(layer_p[n][two_depths.candidates(n).index(c)]) for n, c in arch.layers.items())
    assert float(dist.log_prob(two_depths, arch, mask).detach()) == pytest.approx(expected)
    dist.log_prob(two_depths, arch, mask).backward()
    assert dist.logits["enc0"].grad is not None  # still learnable through the softmax part
    with pytest.raises(ValueError, match="explore"):
        Distribution(two_depths, explore=1.5)


def test_few_shot_split_trains_one_shot_first_then_one_depth_per_step(two_depths) -> None:
    rec = Recorder()
    run = _search(two_depths, rec, few_shot=True, few_shot_split=0.5,
                  prune=[PruneStep(at=0.99, keep=1)])
    run.run()
    assert run.split_step == 6
    after = [{a.depth for a in archs} for archs, _ in rec.steps[6:]]
    assert all(len(d) == 1 for d in after)
    assert any(len({a.depth for a in archs}) > 1 for archs, _ in rec.steps[:6])
    with pytest.raises(InputError, match="few_shot_split"):
        load_preset("demo", overrides={"search": {"few_shot_split": 0.5}})


def test_fair_paths_cover_every_candidate_and_leave_the_distribution_alone(two_depths,
                                                                           monkeypatch):
    from collections import Counter

    rec = Recorder()
    run = _search(two_depths, rec, fair_paths=2, paths_per_step=4, epochs=4,
                  prune=[PruneStep(at=0.99, keep=1)])
    seen = distribution_steps(monkeypatch)
    run.run()
    fair = [a for archs, _ in rec.steps[:-1] for a in archs[:2]]
    assert all(teacher is None for _, teacher in rec.steps)
    assert all(drawn == archs[2:] for (archs, _), drawn in zip(rec.steps, seen, strict=True))
    # every full rotation deals each enc0 candidate equally (to within one)
    counts = Counter(a.encoder[0].key for a in fair)
    assert len(counts) == 2 and max(counts.values()) - min(counts.values()) <= 2
    with pytest.raises(InputError, match="paths_per_step must be >= 4"):
        load_preset("demo", overrides={"search": {"fair_paths": 2, "paths_per_step": 3}})
