"""The operator dictionary, 2D and 3D from one code path, and every block of a space."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mias.errors import InputError
from mias.space import (
    SearchSpace,
    block_example_inputs,
    block_flops,
    block_params,
    build_block,
    create_op,
    list_ops,
    register_op,
)
from mias.space.plans import ACTS, NORMS


def test_dictionary_has_the_paper_operators() -> None:
    assert set(list_ops()) >= {"conv", "dilated", "dwsep", "mbconv", "resblock"}


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("name", list_ops())
def test_every_operator_runs_forward_and_backward(name: str, dims: int) -> None:
    cases = [  # (kernel, stride, expansion, norm, act)
        (3, 1, 1, "instance", "relu"),
        (5, 2, 3, "batch", "leakyrelu"),
        ((1, 3) if dims == 2 else (3, 3, 1), 1, 6, "instance", "hardswish"),
    ]
    for kernel, stride, expansion, norm, act in cases:
        torch.manual_seed(0)
        op = create_op(name, spatial_dims=dims, in_channels=4, out_channels=6, kernel=kernel,
                       stride=stride, expansion=expansion, norm=norm, act=act)
        x = torch.randn(2, 4, *(8,) * dims, requires_grad=True)
        y = op(x)
        assert y.shape == (2, 6, *(8 // stride,) * dims)
        y.square().mean().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        for pname, p in op.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def test_norms_and_activations_are_all_reachable() -> None:
    for norm in NORMS:
        for act in ACTS:
            op = create_op("conv", spatial_dims=2, in_channels=2, out_channels=2, norm=norm,
                           act=act)
            assert op(torch.randn(2, 2, 6, 6)).shape == (2, 2, 6, 6)


def test_unknown_operator_and_duplicate_registration() -> None:
    with pytest.raises(InputError, match="unknown operator"):
        create_op("nope", spatial_dims=2, in_channels=1, out_channels=1)
    with pytest.raises(ValueError, match="already registered"):
        register_op("conv")(lambda args: None)
    with pytest.raises(ValueError, match="lower-case"):
        register_op("Bad_Name")


def test_every_block_of_a_space_matches_its_config(small_space: SearchSpace) -> None:
    """Output shape, parameters and FLOPs of each block agree with the analytic counts
    (the counter ignores norms, activations, pooling and up-sampling; so do we)."""
    for config in small_space.all_block_configs():
        block = build_block(config).eval()
        inputs = block_example_inputs(config)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            y = block(*inputs)
        expected = (1, config.out_channels, *config.out_shape)
        assert tuple(y.shape) == expected, config.key
        assert sum(p.numel() for p in block.parameters()) == block_params(config), config.key
        assert counter.get_total_flops() == block_flops(config), config.key


def test_example_inputs_are_deterministic(small_space: SearchSpace) -> None:
    config = small_space.all_block_configs()[-1]
    a, b = block_example_inputs(config, batch=2), block_example_inputs(config, batch=2)
    assert all(torch.equal(x, y) and x.shape[0] == 2 for x, y in zip(a, b, strict=True))
