"""The few-shot supernet (one sub-supernet per depth): a path runs in its depth's weights
and in no other's, materialises faithfully, and prunes every sub-supernet alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mias.space import FewShotSupernet, SearchSpace, Supernet, build_supernet


def _path_of_depth(space: SearchSpace, depth: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(500):
        arch = space.sample(rng)
        if arch.depth == depth:
            return arch
    raise AssertionError(f"no depth-{depth} path drawn")


def test_a_depth_holds_only_its_own_layers(small_space: SearchSpace) -> None:
    net = FewShotSupernet(small_space, seed=0)
    assert sorted(int(d) for d in net.parts) == list(small_space.depths)
    for d in small_space.depths:
        part = net.parts[str(d)]
        assert len(part.encoder) == d + 1
        assert all(part.holds(n) for n in small_space.layer_names(d))
    with pytest.raises(ValueError, match="depth"):
        shallow = net.parts[str(small_space.depths[0])]
        shallow(torch.zeros(1), _path_of_depth(small_space, small_space.depths[-1]))


def test_training_one_depth_leaves_the_others(small_space: SearchSpace) -> None:
    if len(small_space.depths) < 2:
        pytest.skip("one depth")
    net = FewShotSupernet(small_space, seed=1).train()
    d0, d1 = small_space.depths[0], small_space.depths[1]
    arch = _path_of_depth(small_space, d0)
    x = torch.randn(2, small_space.task.in_channels, *small_space.task.input_shape)
    net(x, arch).square().mean().backward()
    assert any(p.grad is not None for p in net.parts[str(d0)].parameters())
    assert all(p.grad is None for p in net.parts[str(d1)].parameters())


def test_materialised_path_equals_the_supernet_path(small_space: SearchSpace) -> None:
    net = FewShotSupernet(small_space, seed=2).eval()
    x = torch.randn(1, small_space.task.in_channels, *small_space.task.input_shape)
    for d in small_space.depths:
        arch = _path_of_depth(small_space, d, seed=d)
        with torch.no_grad():
            assert torch.allclose(net(x, arch), net.materialize(arch).eval()(x), atol=1e-5)


def test_pruning_reaches_every_depth(small_space: SearchSpace) -> None:
    net = FewShotSupernet(small_space, seed=0)
    key = small_space.candidates("enc0")[0].key
    net.prune("enc0", key)
    assert all(key not in part.alive("enc0") for part in net.parts.values())
    assert key not in net.alive("enc0")


def test_factory_and_seeded_construction(small_space: SearchSpace) -> None:
    assert isinstance(build_supernet(small_space, 0), Supernet)
    a, b = build_supernet(small_space, 3, few_shot=True), build_supernet(small_space, 3,
                                                                         few_shot=True)
    assert isinstance(a, FewShotSupernet)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_split_starts_every_depth_from_the_one_shot_weights(small_space: SearchSpace) -> None:
    one = Supernet(small_space, seed=4).eval()
    key = small_space.candidates("enc0")[-1].key
    one.prune("enc0", key)
    split = FewShotSupernet.from_one_shot(one)
    assert not split.training
    x = torch.randn(1, small_space.task.in_channels, *small_space.task.input_shape)
    for d in small_space.depths:
        assert key not in split.parts[str(d)].alive("enc0")
        arch = _path_of_depth(small_space, d, seed=10 + d)
        if arch.encoder[0].key == key:
            continue
        with torch.no_grad():
            assert torch.equal(split(x, arch), one(x, arch))
