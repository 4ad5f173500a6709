"""Supernet paths equal their materialised networks, which export to ONNX faithfully and
cost what the analytic counts say: 50 random architectures per space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mias.onnx_export import check_parity, onnx_bytes
from mias.space import (
    SearchSpace,
    Supernet,
    build_network,
    materialize,
    network_flops,
    network_params,
)
from mias.space.elastic import batch_norm

N_ARCHS = 50


@pytest.fixture(scope="module")
def supernet(small_space: SearchSpace) -> Supernet:
    return Supernet(small_space, seed=0).eval()


def test_fifty_paths_materialise_export_and_count(small_space: SearchSpace,
                                                  supernet: Supernet) -> None:
    rng = np.random.default_rng(2024)
    gen = torch.Generator().manual_seed(0)
    task = small_space.task
    x = torch.randn(1, task.in_channels, *task.input_shape, generator=gen)
    depths = set()
    for _ in range(N_ARCHS):
        arch = small_space.sample(rng)
        depths.add(arch.depth)
        net = materialize(supernet, arch).eval()
        with torch.no_grad():
            path = supernet(x, arch)
            with FlopCounterMode(display=False) as counter:
                out = net(x)
        assert torch.allclose(path, out, rtol=0, atol=1e-6), arch.id
        assert abs(counter.get_total_flops() - network_flops(small_space, arch)) \
            <= 0.01 * counter.get_total_flops()
        assert sum(p.numel() for p in net.parameters()) == network_params(small_space, arch)
        parity = check_parity(net, onnx_bytes(net, (x,)), (x,))
        assert parity["passed"] and parity["max_abs_diff"] <= 1e-4, arch.id
    assert depths == set(small_space.depths)


def test_output_shapes(small_space: SearchSpace, supernet: Supernet) -> None:
    task = small_space.task
    arch = small_space.sample(np.random.default_rng(0))
    y = supernet(torch.zeros(2, task.in_channels, *task.input_shape), arch)
    if small_space.has_decoder:
        assert y.shape == (2, task.num_classes, *task.input_shape)
    else:
        assert y.shape == (2, small_space.out_channels)


def test_paths_share_weights_and_hold_no_state(small_space: SearchSpace,
                                               supernet: Supernet) -> None:
    rng = np.random.default_rng(5)
    a, b = small_space.sample(rng), small_space.sample(rng)
    x = torch.randn(1, small_space.task.in_channels, *small_space.task.input_shape)
    with torch.no_grad():
        first = supernet(x, a)
        supernet(x, b)
        assert torch.equal(first, supernet(x, a))
    shallow = small_space.mutate(a, rng)
    net_a, net_s = supernet.materialize(a), supernet.materialize(shallow)
    if a.encoder[0] == shallow.encoder[0]:
        for p, q in zip(net_a.encoder[0].parameters(), net_s.encoder[0].parameters(),
                        strict=True):
            assert torch.equal(p, q)


def test_training_step_touches_only_the_path(small_space: SearchSpace) -> None:
    net = Supernet(small_space, seed=1).train()
    arch = small_space.sample(np.random.default_rng(9))
    task = small_space.task
    x = torch.randn(2, task.in_channels, *task.input_shape)
    net(x, arch).square().mean().backward()
    used = {arch.encoder[k].key for k in range(len(arch.encoder))}
    for k, layer in enumerate(net.encoder):
        for key, module in layer.items():
            grads = [p.grad for p in module.parameters()]
            on_path = k <= arch.depth and key == arch.encoder[k].key
            assert any(g is not None for g in grads) == on_path, (k, key)
    assert used


def test_batch_norm_statistics_follow_the_path(tasks) -> None:
    """Train-mode batch norm on a path updates exactly what the materialised net updates."""
    from mias.space import select_search_space

    space = select_search_space(tasks["xray"]((32, 32)))
    supernet = Supernet(space, seed=0).train()
    arch = space.sample(np.random.default_rng(4))
    net = supernet.materialize(arch)
    x = torch.randn(4, 1, 32, 32)
    assert torch.allclose(supernet(x, arch), net(x), atol=1e-5)
    again = supernet.materialize(arch)
    for (name, a), b in zip(again.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_elastic_batch_norm_on_split_channels() -> None:
    """A decoder-style selection of two reserved ranges equals a plain layer on those
    channels, running statistics included."""
    full = torch.nn.BatchNorm2d(10).train()
    with torch.no_grad():
        full.weight.copy_(torch.linspace(0.5, 2.0, 10))
        full.bias.copy_(torch.linspace(-1, 1, 10))
    sel = ((0, 3), (6, 8))
    idx = [0, 1, 2, 6, 7]
    plain = torch.nn.BatchNorm2d(5).train()
    plain.load_state_dict({k: (v[idx] if v.ndim else v) for k, v in full.state_dict().items()})
    x = torch.randn(4, 5, 6, 6)
    assert torch.allclose(batch_norm(full, x, sel), plain(x), atol=1e-6)
    assert torch.allclose(full.running_mean[idx], plain.running_mean)
    assert torch.allclose(full.running_var[idx], plain.running_var)
    assert torch.equal(full.running_mean[[3, 4, 5, 8, 9]], torch.zeros(5))


def test_seeded_construction(small_space: SearchSpace) -> None:
    arch = small_space.sample(np.random.default_rng(0))
    a, b = build_network(small_space, arch, seed=3), build_network(small_space, arch, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = build_network(small_space, arch, seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(),
                                                     strict=True))
