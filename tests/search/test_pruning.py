"""Pruning removes the worst trade-off, is a mask (weights of survivors unchanged), and the
Pareto set is non-dominated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mias.search.pareto import Archive, non_dominated
from mias.search.pruning import CandidateStats, prune_layer
from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask
from mias.space import SearchSpace, Supernet


def test_prune_layer_drops_the_worst_scores():
    names = ["a", "b", "c", "d"]
    est = {0: (0.8, 10), 1: (0.7, 10), 2: (0.9, 10), 3: (0.5, 10)}
    lat = {0: 10.0, 1: 1.0, 2: 50.0, 3: 1.0}
    # score = 0.6*m - 0.4*lat/100: a .44, b .416, c .34, d .296
    drops, decisions = prune_layer("enc0", names, est, lat, 2, eps_ce=0.6, eps_lat=0.4,
                                   reference_ms=100.0, step=7)
    assert drops == [2, 3]
    by = {d["candidate"]: d for d in decisions}
    assert by["d"]["action"] == by["c"]["action"] == "pruned"
    assert by["a"]["action"] == by["b"]["action"] == "kept"
    assert by["a"]["score"] == pytest.approx(0.6 * 0.8 - 0.4 * 0.1)
    assert by["a"]["samples"] == 10 and by["c"]["latency_ms"] == 50.0 and by["a"]["step"] == 7
    # without a latency term the slow, accurate candidate survives
    drops, _ = prune_layer("enc0", names, est, lat, 2, eps_ce=1.0, eps_lat=0.0,
                           reference_ms=100.0, step=7)
    assert sorted(drops) == [1, 3]


def test_estimates_shrink_towards_the_layer_mean(tiny_prep):
    space = SearchSpace.load(tiny_prep / "search_space.json")
    stats = CandidateStats.empty(space, ["enc0"])
    stats.sums["enc0"][:2] = [0.9, 0.2 * 20]
    stats.counts["enc0"][:2] = [1, 20]
    est = stats.estimate("enc0", [0, 1, 2], prior=2.0)
    mean = (0.9 + 4.0) / 21
    assert est[0][0] == pytest.approx((0.9 + 2 * mean) / 3)
    assert est[2] == (pytest.approx(mean), 0)


def test_pruned_candidate_is_never_sampled_and_survivors_keep_their_weights(tiny_prep):
    space = SearchSpace.load(tiny_prep / "search_space.json")
    net = Supernet(space, seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("alive_")}
    victim = space.candidates("enc1")[0]
    net.prune("enc1", victim.key)
    mask = CandidateMask.full(space).without("enc1", 0)
    after = {k: v for k, v in net.state_dict().items() if not k.startswith("alive_")}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert victim.key not in net.alive("enc1")
    rng = np.random.default_rng(0)
    for name in ("uniform", "fair"):
        for a in create_sampler(name).sample(space, mask, None, 20, rng):
            assert a.depth < 1 or a.encoder[1] != victim
    arch = next(a for a in (space.sample(rng) for _ in range(500))
                if a.depth >= 1 and a.encoder[1] == victim)
    x = torch.zeros(1, space.task.in_channels, *space.task.input_shape)
    with pytest.raises(ValueError, match="pruned"):
        net(x, arch)


def test_pareto_front_is_non_dominated():
    rng = np.random.default_rng(4)
    pts = [(float(m), float(lat)) for m, lat in zip(rng.random(60), rng.random(60) * 100,
                                                      strict=True)]
    front = non_dominated(pts, lambda p: p)
    for m, lat in front:
        assert not any(m2 >= m and l2 <= lat and (m2, l2) != (m, lat) for m2, l2 in pts)
    for p in pts:
        if p not in front:
            assert any(m2 >= p[0] and l2 <= p[1] for m2, l2 in front)
    assert [p[1] for p in front] == sorted(p[1] for p in front)


def test_archive_averages_repeated_evaluations(tiny_prep):
    space = SearchSpace.load(tiny_prep / "search_space.json")
    arch = space.sample(np.random.default_rng(0))
    archive = Archive()
    archive.add(arch, 0.2, 5.0, 1)
    archive.add(arch, 0.4, 5.0, 3)
    (entry,) = archive.entries.values()
    assert entry.metric == pytest.approx(0.3) and entry.evaluations == 2
    assert Archive.from_list(archive.to_list()).entries[arch.id].metric == pytest.approx(0.3)
