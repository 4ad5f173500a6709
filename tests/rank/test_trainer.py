"""Ranking supernets: strict fairness per step, equal path updates for every sampler,
mean gradients, a learned distribution that moves, per-epoch diagnostics, no pruning,
exact resume, BN recalibration."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from mias.rank.trainer import (
    PathBudget,
    RankingSupernet,
    inherited_scores,
    natural_paths,
    recalibrate_batch_norm,
)
from mias.search.api import load_latency
from mias.search.evaluator import PathScore
from mias.search.pruning import apply_drops
from mias.search.state import all_layers, arch_indices, layer_depth
from mias.search.supernet_evaluator import SupernetEvaluator
from mias.train.data import PreparedData
from mias.train.scoring import Scorer
from mias.train.standalone import validate

SAMPLERS = ("mias", "mias-eps0", "fairnas", "spos")


@pytest.fixture(scope="module")
def data(rank_prep):
    return PreparedData.load(rank_prep)


def _search(preset, **changes):
    return preset.search.model_copy(update=changes)


def _engine(data, search, sampler, checkpoint=None):
    _, predictor, _ = load_latency(data.root, "rpi3")
    return RankingSupernet(data, search, predictor, Scorer.for_task(data.task), sampler,
                           seed=0, device=torch.device("cpu"), checkpoint=checkpoint)


def _stub(engine, metric=lambda step, arch: 0.5, loss=lambda arch: 1.0) -> list[list]:
    """Skip the forward and backward passes (the budget, the sampling, the gate and the
    distribution's steps stay real); returns the paths each step trained."""
    trained: list[list] = []
    evaluator = engine.supernet_evaluator

    def train_paths(archs, optimizer, teacher=None):
        assert teacher is None or teacher == archs[0]
        trained.append(list(archs))
        return [1.0] * len(archs)

    def evaluate_on(archs, x, y, scorer=None):
        return [PathScore(a, metric(len(trained), a), loss(a)) for a in archs]

    evaluator.train_paths, evaluator.evaluate_on = train_paths, evaluate_on
    return trained


def _train(engine) -> tuple:
    """Train to the end: the final state, and each epoch's (rows, diagnostics)."""
    epochs: list[tuple[list[dict], dict]] = []
    st = engine.train(lambda epoch, rows, diagnostics: epochs.append((rows, diagnostics)))
    return st, epochs


def test_a_budget_spends_its_path_updates_in_natural_steps_the_last_one_partial():
    budget = PathBudget(per_epoch=9, natural=4)
    assert budget.steps_per_epoch == 3
    assert [budget.paths_at(s) for s in range(6)] == [4, 4, 1, 4, 4, 1]
    assert [PathBudget(per_epoch=6, natural=2).paths_at(s) for s in range(4)] == [2] * 4


def test_every_sampler_trains_the_same_number_of_paths(data, tiny_rank_preset):
    search = _search(tiny_rank_preset, paths_per_step=2, steps_per_epoch=3, epochs=2)
    m = natural_paths(data.space, "fair", 2)
    assert m > 2  # FairNAS's natural step trains more paths than K
    updates, steps = {}, {}
    for sampler in SAMPLERS:
        engine = _engine(data, search, sampler)
        trained = _stub(engine)
        st, epochs = _train(engine)
        updates[sampler] = sum(h["paths"] for h in st.history)
        assert updates[sampler] == sum(map(len, trained))  # the rows count what was trained
        assert [sum(r["paths"] for r in rows) for rows, _ in epochs] == [6, 6], sampler
        steps[sampler] = st.step
    assert set(updates.values()) == {2 * 3 * 2}
    assert steps["fairnas"] == 2 * math.ceil(6 / m) < steps["spos"] == steps["mias"] == 6
    assert _engine(data, search, "mias-eps0").settings.eps_lat == 0.0
    assert _engine(data, search, "mias").settings.eps_lat == search.eps_lat > 0


def test_supernet_training_variants_spend_the_same_budget(data, tiny_rank_preset):
    """The few-shot, sandwich and explore variants train as many paths as the others; a
    sandwich step starts with the largest path, a few-shot step (once split) keeps to one
    depth; the baselines stay one-shot whatever the preset asks."""
    search = _search(tiny_rank_preset, paths_per_step=4, steps_per_epoch=3, epochs=2,
                     few_shot=True, sandwich=True)
    variants = ("mias", "mias-fewshot", "mias-sandwich", "mias-fewshot-sandwich",
                "mias-explore", "spos", "fairnas")
    fair = _search(tiny_rank_preset, paths_per_step=4, steps_per_epoch=3, epochs=2)
    updates = {}
    for sampler in variants:
        engine = _engine(data, search, sampler)
        s = engine.settings
        expected = {"mias": (True, True, 0.0), "mias-fewshot": (True, False, 0.5),
                    "mias-sandwich": (False, True, 0.0), "mias-fewshot-sandwich": (True, True, 0.5),
                    "mias-explore": (True, True, 0.0), "mias-fair": (True, True, 0.0)}
        assert (s.few_shot, s.sandwich, s.few_shot_split) == expected.get(
            sampler, (False, False, 0.0)), sampler
        assert s.explore == (0.5 if sampler == "mias-explore" else 0.0), sampler
        assert s.fair_paths == (2 if sampler == "mias-fair" else 0), sampler
        trained = _stub(engine)
        st, _ = _train(engine)
        updates[sampler] = sum(map(len, trained))
        split = engine.split_step if s.few_shot else len(trained)
        if s.few_shot:  # 6 steps: split at the first, or half-way
            assert split == (3 if s.few_shot_split else 0), sampler
        assert all(len({a.depth for a in step}) == 1 for step in trained[split:]), sampler
        for i, step in enumerate(trained if s.sandwich else []):
            alive = st.mask.alive_depths()
            d = data.space.depths.index(step[0].depth)
            mask = (apply_drops(st.mask, "depth", [e for e in alive if e != d])
                    if i >= split else st.mask)
            assert step[:2] == [engine.extreme(mask, slowest=True),
                                engine.extreme(mask, slowest=False)], sampler
        if sampler in ("spos", "fairnas"):
            assert len({a.depth for step in trained for a in step}) > 1
    assert set(updates.values()) == {2 * 3 * 4}
    engine = _engine(data, fair, "mias-fair")  # with sandwich too, K = 4 has no room left
    trained = _stub(engine)
    _train(engine)
    assert sum(map(len, trained)) == 2 * 3 * 4 and engine.settings.fair_paths == 2
    with pytest.raises(ValueError, match="sandwich"):
        _engine(data, _search(tiny_rank_preset, paths_per_step=3), "mias-sandwich")


def test_rank_supernets_average_a_steps_gradients_where_the_search_sums_them(
        data, tiny_rank_preset, monkeypatch):
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *args, **kwargs: None)
    archs = [data.space.sample(np.random.default_rng(i)) for i in range(3)]
    grads = {}
    for reduction in ("sum", "mean"):
        evaluator = SupernetEvaluator(data, tiny_rank_preset.search, Scorer.for_task(data.task),
                                      device=torch.device("cpu"), seed=0,
                                      **({"path_reduction": "mean"} if reduction == "mean"
                                         else {}))
        evaluator.train_paths(archs, evaluator.optimizer)
        grads[reduction] = [p.grad.clone() for p in evaluator.supernet.parameters()
                            if p.grad is not None]
    assert grads["sum"] and len(grads["sum"]) == len(grads["mean"])
    assert any(float(g.abs().max()) > 0 for g in grads["sum"])
    for total, mean in zip(grads["sum"], grads["mean"], strict=True):
        torch.testing.assert_close(mean * len(archs), total, rtol=1e-4, atol=1e-7)
    assert _engine(data, tiny_rank_preset.search, "fairnas").supernet_evaluator.path_reduction \
        == "mean"


def test_the_learned_distribution_moves_away_from_uniform_and_diagnostics_are_kept(
        data, tiny_rank_preset):
    # the metric rises every step, so the search's gate opens at step 4 of 9; deeper paths
    # lose more, and are slower
    search = _search(tiny_rank_preset, paths_per_step=4, steps_per_epoch=3, epochs=3,
                     gate_window=2, gate_min_rise=0.0, warmup_epochs=0)
    space = data.space
    shallowest = str(min(space.depths))
    for sampler in SAMPLERS:
        engine = _engine(data, search, sampler)
        trained = _stub(engine, metric=lambda step, arch: 0.1 * step,
                        loss=lambda arch: float(arch.depth))
        seen = [diagnostics for _, diagnostics in _train(engine)[1]]
        assert len(seen) == search.epochs
        per_epoch = engine.steps_per_epoch
        for e, diagnostics in enumerate(seen):
            paths = [a for step in trained[e * per_epoch:(e + 1) * per_epoch] for a in step]
            assert diagnostics["paths"] == len(paths) == 12
            assert diagnostics["depth_counts"] == {
                str(d): sum(a.depth == d for a in paths) for d in space.depths}
            for n in all_layers(space):
                keys = [c.key for c in space.candidates(n)]
                assert diagnostics["candidate_counts"][n] == {
                    k: sum(n in a.layers and a.layers[n].key == k for a in paths) for k in keys}
        if sampler in ("fairnas", "spos"):
            assert all(d["probabilities"] is None and d["learning_since_step"] is None
                       for d in seen)
            continue
        assert seen[-1]["learning_since_step"] == 4
        tv = [d["probabilities"]["tv_from_uniform"] for d in seen]
        assert tv[0] < 1e-6 and tv[-1] > 0.01, (sampler, tv)  # float32 softmax
        depth = seen[-1]["probabilities"]["depth"]
        assert depth[shallowest] > 1 / len(space.depths), (sampler, depth)
        assert sum(depth.values()) == pytest.approx(1.0)


def test_fairnas_activates_every_candidate_of_every_layer_equally_per_step(data,
                                                                           tiny_rank_preset):
    space = data.space
    assert len({len(space.candidates(n)) for n in all_layers(space)}) > 1
    m = natural_paths(space, "fair", 2)
    # a budget of whole FairNAS steps: 2 paths × m search steps = 2 steps of m paths
    engine = _engine(data, _search(tiny_rank_preset, paths_per_step=2, steps_per_epoch=m),
                     "fairnas")
    steps = _stub(engine)
    _train(engine)
    assert len(steps) == engine.total_steps == 2 * tiny_rank_preset.search.epochs
    for archs in steps:
        assert len(archs) == m == max(len(space.candidates(n)) for n in all_layers(space))
        for n in all_layers(space):
            c = Counter(arch_indices(space, a)[1][n] for a in archs
                        if a.depth >= layer_depth(n))
            counts = [c.get(i, 0) for i in range(len(space.candidates(n)))]
            assert max(counts) - min(counts) <= 1, (n, counts)


def test_no_candidate_is_ever_pruned_and_resume_is_exact(data, tiny_rank_preset, tmp_path):
    search = tiny_rank_preset.search
    engine = _engine(data, search, "mias", tmp_path / "a.pt")
    archs = [data.space.sample(np.random.default_rng(i)) for i in range(3)]
    scorers = {"soft": Scorer.for_task(data.task, soft=True), "hard": Scorer.for_task(data.task)}
    seen: dict[int, dict[str, list[float]]] = {}

    def score(epoch, rows, diagnostics):
        seen[epoch] = inherited_scores(engine.supernet, archs, data, scorers,
                                       torch.device("cpu"), None)

    st = engine.train(score)
    assert sorted(seen) == [1, 2] and all(all(st.mask.layers[n]) for n in st.mask.layers)
    assert not st.pruning_log
    # the preset schedules pruning points within these steps; a ranking supernet has none
    # due, at its last step or any other (a search's gate would take them all there)
    assert search.prune and engine._gate(st) is None
    # one forward pass, two scorers: the hard one is what a standalone training reports
    assert seen[2]["hard"] == [validate(engine.supernet.materialize(a).eval(), data,
                                        scorers["hard"], torch.device("cpu")) for a in archs]
    assert seen[2]["soft"] != seen[2]["hard"]

    class Killed(Exception):
        pass

    first = _engine(data, search, "mias", tmp_path / "b.pt")

    def die_in_epoch_two(epoch, rows, diagnostics):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        first.train(die_in_epoch_two)
    resumed = _engine(data, search, "mias", tmp_path / "b.pt")
    again: dict[int, dict[str, list[float]]] = {}
    resumed.train(lambda epoch, rows, diagnostics: again.setdefault(epoch, inherited_scores(
        resumed.supernet, archs, data, scorers, torch.device("cpu"), None)))
    assert list(again) == [2] and again[2] == seen[2]


def test_batch_norm_statistics_are_re_estimated_on_the_given_images():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    net[1].running_mean.fill_(50.0)
    images = torch.randn(4, 1, 8, 8) * 2 + 1
    assert recalibrate_batch_norm(net, images, torch.device("cpu"))
    with torch.no_grad():
        expected = net[0](images).mean(dim=(0, 2, 3))
    assert torch.allclose(net[1].running_mean, expected, atol=1e-5)
    assert not net.training
    assert not recalibrate_batch_norm(nn.Sequential(nn.Conv2d(1, 1, 1)), images,
                                      torch.device("cpu"))
