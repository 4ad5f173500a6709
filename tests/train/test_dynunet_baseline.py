"""The fixed U-Net baseline: MONAI DynUNet with nnU-Net's topology from the plan, trained
with deep supervision by the common recipe, exported to ONNX."""

from __future__ import annotations

import numpy as np
import torch

from mias.hardware.devices import create_device
from mias.onnx_export import onnx_bytes, run_onnx
from mias.train.baselines.unet import (
    BASE_FEATURES,
    MAX_FEATURES,
    fixed_unet,
    memory_mib,
    nnunet_filters,
    plan_dynunet,
)
from mias.train.standalone import train_network


def test_topology_follows_the_plan_and_nnunet(hippo_data):
    space = hippo_data.space
    plan = plan_dynunet(space, create_device("rpi3"))
    assert plan.strides[0] == (1,) * space.spatial_dims          # full-resolution first stage
    assert list(plan.strides[1:]) == [tuple(s.stride) for s in space.stages[1:]]
    assert plan.filters == nnunet_filters(len(space.stages), BASE_FEATURES)
    assert plan.filters[0] == BASE_FEATURES
    assert all(b == min(2 * a, MAX_FEATURES) for a, b in zip(plan.filters, plan.filters[1:],
                                                              strict=False))
    assert plan.deep_supervision == (len(space.stages) >= 3)
    assert plan.ram_mib == 1024 and plan.memory_mib <= plan.ram_mib


def test_nnunet_caps_features_at_320():
    assert nnunet_filters(6, 32) == (32, 64, 128, 256, 320, 320)


def test_features_shrink_to_the_device_memory(hippo_data):
    """The cap comes from the device profile: a board with less RAM gets fewer features."""
    space = hippo_data.space
    full = plan_dynunet(space, create_device("rpi3"))
    ram = full.memory_mib / 3
    small = plan_dynunet(space, create_device("rpi3", ram_mib=ram))
    assert small.filters[0] < full.filters[0]
    assert small.memory_mib <= ram
    kernels = full.kernels
    assert memory_mib(space, small.filters, kernels) == small.memory_mib
    assert small.device == "rpi3" and small.ram_mib == ram


def test_dynunet_trains_with_deep_supervision_and_exports(hippo_data, tiny_settings):
    space = hippo_data.space
    net, plan = fixed_unet(space, create_device("rpi3"), seed=0)
    assert plan.deep_supervision
    x = torch.from_numpy(np.stack([c.image for c in hippo_data.split("val")][:1]))
    net.train()
    heads = net(x)
    assert heads.ndim == x.ndim + 1 and heads.shape[1] == 1 + plan.deep_supr_num
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = train_network(net, hippo_data, tiny_settings, seed=0)
    assert result.steps > 0 and np.isfinite(result.val_score)
    assert not result.diverged
    assert any(not torch.equal(before[k], v) for k, v in result.network.state_dict().items())
    out = result.network.eval()(x)
    assert out.shape == (1, space.out_channels, *x.shape[2:])
    model = onnx_bytes(result.network.eval(), [x])
    (onnx_out,) = run_onnx(model, [x])
    assert onnx_out.shape == tuple(out.shape)
    np.testing.assert_allclose(onnx_out, out.detach().numpy(), atol=1e-3)


def test_same_seed_same_network(hippo_data):
    a, _ = fixed_unet(hippo_data.space, create_device("rpi3"), seed=3)
    b, _ = fixed_unet(hippo_data.space, create_device("rpi3"), seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values(), strict=True))
