"""T exactly as defined, its closed-form relaxation, and the loss, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mias.hardware.devices import resolve_device
from mias.hardware.predictors import LatencyPredictor, default_predictor
from mias.search.latency import LatencyModel, expected_max, mias_loss, path_layers
from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask, Distribution, layer_depth
from mias.space import SearchSpace


class FixedPredictor(LatencyPredictor):
    """Latency = a hand-set number per block key (width-independent: easy to compute)."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.device = resolve_device("rpi3")

    def block_ms(self, config) -> float:
        return self.table.get(config.choice.key if config.choice else config.role, 0.0)

    def predict(self, space, arch):
        raise NotImplementedError


def test_expected_max_closed_form_by_enumeration():
    values = np.array([3.0, 1.0, 2.0])
    p = torch.tensor([0.2, 0.3, 0.4])  # 0.1 left for "layer not reached" (latency 0)
    # Enumerate all K=2 draws.
    full_v = [3.0, 1.0, 2.0, 0.0]
    full_p = [0.2, 0.3, 0.4, 0.1]
    brute = sum(pa * pb * max(va, vb) for va, pa in zip(full_v, full_p, strict=True)
                for vb, pb in zip(full_v, full_p, strict=True))
    assert float(expected_max(values, p, 2)) == pytest.approx(brute)
    assert float(expected_max(values, p, 1)) == pytest.approx(float(np.dot(values, p)))


def test_exact_t_sums_the_slowest_block_per_layer(tiny_prep):
    space = SearchSpace.load(tiny_prep / "search_space.json")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3)]
    keys = {c.key for n in space.layer_names() for c in space.candidates(n)}
    table = {k: float(i + 1) for i, k in enumerate(sorted(keys))} | {"stem": 0.5, "head": 0.25}
    model = LatencyModel(space, FixedPredictor(table))
    by_layer: dict[str, float] = {}
    for a in archs:
        for n, c in zip(path_layers(space, a), space.block_configs(a), strict=True):
            ms = table[c.choice.key] if c.choice else table[c.role]
            by_layer[n] = max(by_layer.get(n, 0.0), ms)
    assert model.exact_t(archs) == pytest.approx(sum(by_layer.values()))
    assert model.exact_t(archs[:1]) == pytest.approx(model.path_ms(archs[0]))
    t = model.exact_t(archs)
    assert mias_loss(0.5, t, eps_ce=0.6, eps_lat=0.4, reference_ms=10.0) == \
        pytest.approx(0.6 * 0.5 + 0.4 * t / 10.0)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_relaxation_matches_monte_carlo(tiny_prep, k):
    space = SearchSpace.load(tiny_prep / "search_space.json")
    model = LatencyModel(space, default_predictor(resolve_device("rpi3")))
    mask = CandidateMask.full(space)
    torch.manual_seed(1)
    dist = Distribution(space)
    with torch.no_grad():
        for p in dist.logits.values():
            p.normal_(0, 1)
        dist.depth_logits.normal_(0, 1)
    expected = float(model.expected_t(dist, mask, k).detach())
    depth_p, layer_p = dist.numpy_probs(mask)
    lat = {n: model.candidate_ms(n, depth_p, layer_p) for n in model.layers}
    fixed = model.fixed_ms(depth_p, layer_p)
    rng = np.random.default_rng(2)
    sampler = create_sampler("learned")
    draws = []
    for _ in range(1500):
        archs = sampler.sample(space, mask, dist, k, rng)
        total = fixed
        for n in model.layers:
            used = [lat[n][space.candidates(n).index(a.layers[n])] for a in archs
                    if a.depth >= layer_depth(n)]
            total += max(used, default=0.0)
        draws.append(total)
    se = np.std(draws) / np.sqrt(len(draws))
    assert abs(expected - np.mean(draws)) < 4 * se + 1e-9
    exact = np.mean([model.exact_t(sampler.sample(space, mask, dist, k, rng))
                     for _ in range(100)])
    assert abs(expected - exact) / exact < 0.15  # width averaging is the only gap


def test_expected_t_has_a_gradient_towards_faster_blocks(tiny_prep):
    space = SearchSpace.load(tiny_prep / "search_space.json")
    model = LatencyModel(space, default_predictor(resolve_device("rpi3")))
    dist = Distribution(space)
    mask = CandidateMask.full(space)
    model.expected_t(dist, mask, 4).backward()
    depth_p, layer_p = dist.numpy_probs(mask)
    lat = model.candidate_ms("enc0", depth_p, layer_p)
    grad = dist.logits["enc0"].grad.numpy()
    assert np.argmax(grad) == np.argmax(lat) and np.argmin(grad) == np.argmin(lat)
