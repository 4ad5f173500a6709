"""Samplers: strict fairness per layer, the learned distribution, masks honoured."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask, Distribution, all_layers, arch_indices, layer_depth
from mias.space import SearchSpace


@pytest.fixture
def space(tiny_prep) -> SearchSpace:
    return SearchSpace.load(tiny_prep / "search_space.json")


@pytest.mark.parametrize("k", [1, 4, 30])
def test_strict_fairness_activates_each_candidate_equally_per_step(space, k):
    mask = CandidateMask.full(space).without("enc0", 0).without("enc0", 3)
    counts_differ = {len(space.candidates(n)) for n in all_layers(space)}
    assert len(counts_differ | {len(mask.alive("enc0"))}) > 1  # layers of different sizes
    rng = np.random.default_rng(0)
    for _ in range(5):
        archs = create_sampler("fair").sample(space, mask, None, k, rng)
        depths = Counter(a.depth for a in archs)
        assert max(depths.values()) - min(depths.values()) <= 1
        for n in all_layers(space):
            used = [arch_indices(space, a)[1][n] for a in archs if a.depth >= layer_depth(n)]
            c = Counter(used)
            assert set(c) <= set(mask.alive(n))
            if len(used) >= len(mask.alive(n)):
                assert set(c) == set(mask.alive(n))
            assert max(c.values()) - min(c.get(i, 0) for i in mask.alive(n)) <= 1


def test_samplers_never_draw_pruned_candidates(space):
    mask = CandidateMask.full(space)
    for n in all_layers(space):
        for i in mask.alive(n)[1:]:
            mask = mask.without(n, i)
    dist = Distribution(space)
    rng = np.random.default_rng(1)
    for name in ("uniform", "learned", "fair"):
        for a in create_sampler(name).sample(space, mask, dist, 6, rng):
            assert mask.allows(space, a)


def test_learned_sampler_follows_the_distribution(space):
    dist = Distribution(space)
    mask = CandidateMask.full(space)
    with __import__("torch").no_grad():
        dist.logits["enc0"][2] = 8.0
    archs = create_sampler("learned").sample(space, mask, dist, 200, np.random.default_rng(2))
    share = np.mean([arch_indices(space, a)[1]["enc0"] == 2 for a in archs])
    assert share > 0.9


def test_same_seed_same_paths(space):
    a = create_sampler("uniform").sample(space, CandidateMask.full(space), None, 5,
                                         np.random.default_rng(3))
    b = create_sampler("uniform").sample(space, CandidateMask.full(space), None, 5,
                                         np.random.default_rng(3))
    assert [x.id for x in a] == [x.id for x in b]
