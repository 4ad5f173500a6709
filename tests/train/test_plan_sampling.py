"""Patch and batch plan, nnU-Net sampling (class-balanced foreground, pad-aware uniform),
and nnU-Net's augmentation set: reproducible from the seed, every parameter recorded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mias.data.augment import NnUNetAugment, NnUNetParams
from mias.presets.models import TrainSettings
from mias.space import build_network
from mias.train.data import PatchSampler, total_stride
from mias.train.plan import plan_training

CPU = torch.device("cpu")


def _settings(**kw) -> TrainSettings:
    return TrainSettings(**({"epochs": 1, "batch": 2, "lr": 0.01} | kw))


def test_whole_input_when_it_fits_the_budget(hippo_data, small_arch):
    net = build_network(hippo_data.space, small_arch)
    plan = plan_training(net, hippo_data, _settings(memory_mib=10_000), CPU)
    assert plan.patch == tuple(hippo_data.task.input_shape) and plan.whole_input
    assert plan.batch == 2 and "fits the memory budget" in plan.reason


def test_patch_shrinks_to_a_small_budget(hippo_data, small_arch):
    net = build_network(hippo_data.space, small_arch)
    whole = plan_training(net, hippo_data, _settings(memory_mib=10_000), CPU)
    per_sample = whole.memory_per_sample_mib
    weights = 4 * sum(p.numel() * 4 for p in net.parameters()) / 2**20
    plan = plan_training(net, hippo_data, _settings(memory_mib=weights + per_sample), CPU)
    assert not plan.whole_input and "exceeds the memory budget" in plan.reason
    assert np.prod(plan.patch) < np.prod(hippo_data.task.input_shape)
    assert all(p % d == 0 for p, d in zip(plan.patch, total_stride(hippo_data.space),
                                          strict=True))


def test_budget_defaults_to_a_share_of_the_device(hippo_data, small_arch):
    from mias.hardware.devices import create_device

    net = build_network(hippo_data.space, small_arch)
    plan = plan_training(net, hippo_data, _settings(memory_share=0.5), CPU)
    ram = create_device("host").ram_mib.value
    assert plan.memory_budget_mib == pytest.approx(0.5 * ram, rel=1e-3)


def test_preset_patch_wins_and_is_recorded(hippo_data, small_arch):
    net = build_network(hippo_data.space, small_arch)
    plan = plan_training(net, hippo_data, _settings(patch_voxels=1000), CPU)
    assert "patch_voxels" in plan.reason and not plan.whole_input


def test_uniform_patches_keep_the_volume_prior(hippo_data):
    """Pad-aware uniform sampling (no oversampling): the foreground share of the patches
    stays near the volumes', where clamped sampling would favour the centre."""
    cases = hippo_data.split("train")
    volume = np.mean([np.mean(c.mask > 0) for c in cases])
    patch = tuple(s // 2 for s in hippo_data.task.input_shape)
    sampler = PatchSampler(cases, hippo_data.task, patch, augment=False, seed=0, foreground=0)
    shares = [float((sampler.batch(4)[1] > 0).float().mean()) for _ in range(100)]
    assert np.mean(shares) == pytest.approx(volume, rel=0.35)
    starts = []
    for _ in range(20):
        sampler.batch(4)
        starts += [d["start"] for d in sampler.last_draws]
    assert min(min(s) for s in starts) < 0  # patches may leave the volume (padded)


def test_foreground_oversampling_visits_every_class(hippo_data):
    cases = hippo_data.split("train")
    patch = tuple(s // 2 for s in hippo_data.task.input_shape)
    sampler = PatchSampler(cases, hippo_data.task, patch, augment=False, seed=0, foreground=1)
    for _ in range(10):
        _, target = sampler.batch(2)
        assert all(bool((t > 0).any()) for t in target)


def test_whole_input_patch_is_the_case(hippo_data):
    cases = hippo_data.split("train")
    shape = tuple(hippo_data.task.input_shape)
    sampler = PatchSampler(cases, hippo_data.task, shape, augment=False, seed=0)
    images, _ = sampler.batch(1)
    case = next(c for c in cases if c.case_id == sampler.last_draws[0]["case"])
    assert np.array_equal(images[0].numpy(), case.image)


def test_augmentation_is_reproducible_and_recorded(hippo_data):
    cases = hippo_data.split("train")
    patch = tuple(s // 2 for s in hippo_data.task.input_shape)
    a = PatchSampler(cases, hippo_data.task, patch, augment=True, seed=4)
    b = PatchSampler(cases, hippo_data.task, patch, augment=True, seed=4)
    for _ in range(3):
        (xa, ya), (xb, yb) = a.batch(2), b.batch(2)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert a.last_draws == b.last_draws
    draw = a.last_draws[0]
    case = next(c for c in cases if c.case_id == draw["case"])
    from mias.train.data import _padded_crop

    image = _padded_crop(case.image, draw["start"], patch, channel_axis=True)
    mask = _padded_crop(case.mask, draw["start"], patch, channel_axis=False)
    replay, lab = NnUNetAugment.apply(NnUNetParams.from_dict(draw["augment"]), image, mask)
    assert np.array_equal(replay, xa[0].numpy()) and np.array_equal(lab, ya[0].numpy())


@pytest.mark.parametrize("params", [
    NnUNetParams(rotation=(0.3, 0.0, 0.0), scale=1.2), NnUNetParams(noise_variance=0.05),
    NnUNetParams(blur_sigma=1.0), NnUNetParams(brightness=1.2), NnUNetParams(contrast=0.8),
    NnUNetParams(low_res=0.5), NnUNetParams(gamma=1.4), NnUNetParams(gamma_inverted=0.8),
    NnUNetParams(mirror_axes=(0, 2)),
])
def test_each_transform_acts(params):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 12, 16, 12)).astype(np.float32)
    label = (rng.random((12, 16, 12)) > 0.7).astype(np.int64) * 2
    out, lab = NnUNetAugment.apply(params, image, label)
    assert out.shape == image.shape and out.dtype == np.float32
    assert not np.allclose(out, image)
    assert lab.shape == label.shape and set(np.unique(lab)) <= {0, 2}
    spatial = params.rotation is not None or params.mirror_axes
    assert np.array_equal(lab, label) != bool(spatial)


def test_draws_follow_nnunet_probabilities():
    aug = NnUNetAugment(3)
    rng = np.random.default_rng(0)
    draws = [aug.sample(rng) for _ in range(4000)]
    assert np.mean([d.rotation is not None for d in draws]) == pytest.approx(0.2, abs=0.03)
    assert np.mean([d.low_res is not None for d in draws]) == pytest.approx(0.25, abs=0.03)
    assert np.mean([d.gamma is not None for d in draws]) == pytest.approx(0.3, abs=0.03)
    assert np.mean([0 in d.mirror_axes for d in draws]) == pytest.approx(0.5, abs=0.03)
    scales = [d.scale for d in draws if d.scale is not None]
    assert min(scales) >= 0.7 and max(scales) <= 1.4


def test_planning_leaves_batch_norm_statistics_alone(hippo_data):
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.BatchNorm3d(4),
                              torch.nn.Conv3d(4, hippo_data.task.num_classes, 1))
    before = {k: b.clone() for k, b in net.named_buffers()}
    plan_training(net, hippo_data, _settings(memory_mib=10_000), CPU)
    assert all(torch.equal(before[k], b) for k, b in net.named_buffers())


@pytest.mark.parametrize(("shape", "divisor", "voxels"), [
    ((64, 64, 40), (16, 16, 8), 16**3),   # the brain-tumour input: the planning probe
    ((32, 32), (16, 16), 16),
])
def test_a_small_patch_keeps_more_than_one_voxel_at_the_deepest_stage(shape, divisor, voxels):
    """Instance norm refuses a one-voxel map in training, so a patch whose deepest stage
    would be 1×1×1 (a depth-4 brain-tumour network probed at 16×16×8) is widened."""
    from mias.train.data import fit_patch

    patch = fit_patch(None, shape, divisor, voxels)
    cells = [p // d for p, d in zip(patch, divisor, strict=True)]
    assert all(p % d == 0 and p <= s for p, d, s in zip(patch, divisor, shape, strict=True))
    assert np.prod(cells) == 2
    norm = torch.nn.InstanceNorm3d(2).train() if len(shape) == 3 else \
        torch.nn.InstanceNorm2d(2).train()
    norm(torch.zeros(1, 2, *cells))
    assert fit_patch(None, divisor, divisor, voxels) == divisor   # no room: left as it is
