"""Deep supervision: nnU-Net's weights, the three output layouts the loss accepts, the
heads added to a search-space network, and a DynUNet-style network trained as is."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mias.presets.models import TrainSettings
from mias.space import build_network
from mias.train.deep_supervision import DeepSupervised, supports_deep_supervision
from mias.train.losses import deep_supervision_weights, task_loss
from mias.train.standalone import train_network


def test_weights_halve_per_head_and_drop_the_lowest():
    assert deep_supervision_weights(1) == [1.0]
    assert deep_supervision_weights(2) == [1.0, 0.0]
    assert deep_supervision_weights(3) == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert deep_supervision_weights(4) == pytest.approx([4 / 7, 2 / 7, 1 / 7, 0.0])


def _logits(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_loss_accepts_plain_stacked_and_list_outputs(hippo_data):
    loss = task_loss(hippo_data.task)
    target = torch.randint(0, 3, (2, 8, 8, 8), generator=torch.Generator().manual_seed(0))
    main = _logits((2, 3, 8, 8, 8), 1)
    plain = loss(main, target)
    stacked_same = loss(torch.stack([main, main, main], dim=1), target)
    assert float(stacked_same) == pytest.approx(float(plain), rel=1e-5)
    other = _logits((2, 3, 8, 8, 8), 2)
    stacked = loss(torch.stack([main, other], dim=1), target)
    assert float(stacked) == pytest.approx(float(plain), rel=1e-5)  # lowest head weighs 0
    aux = _logits((2, 3, 4, 4, 4), 3)
    lowest = _logits((2, 3, 2, 2, 2), 4)
    small = nn.functional.interpolate(target[:, None].float(), size=(4, 4, 4),
                                      mode="nearest")[:, 0].long()
    expected = 2 / 3 * float(plain) + 1 / 3 * float(loss(aux, small))
    assert float(loss([main, aux, lowest], target)) == pytest.approx(expected, rel=1e-5)


def _deep_arch(space):
    rng = np.random.default_rng(1)
    return next(a for a in (space.sample(rng) for _ in range(200)) if a.depth == space.max_depth)


def test_heads_in_training_main_output_in_eval(hippo_data):
    space = hippo_data.space
    arch = _deep_arch(space)
    assert arch.depth >= 2
    net = build_network(space, arch, seed=0)
    assert supports_deep_supervision(net)
    x = torch.randn(1, 1, *space.task.input_shape)
    model = DeepSupervised(net, x)
    outs = model.train()(x)
    assert isinstance(outs, list) and len(outs) == arch.depth
    sizes = [o.shape[2] for o in outs]
    assert sizes == sorted(sizes, reverse=True) and outs[0].shape[2:] == x.shape[2:]
    assert all(o.shape[1] == space.out_channels for o in outs)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), net.eval()(x))
    assert set(net.state_dict()) == {k[4:] for k in model.state_dict() if k.startswith("net.")}


class _StackedHeads(nn.Module):
    """A stand-in for MONAI DynUNet: (B, H, C, *S) in training, (B, C, *S) in eval."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.body = nn.Conv3d(1, 8, 3, padding=1)
        self.heads = nn.ModuleList(nn.Conv3d(8, classes, 1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.body(x))
        if not self.training:
            return self.heads[0](h)
        return torch.stack([head(h) for head in self.heads], dim=1)


def test_train_network_takes_stacked_heads(hippo_data):
    net = _StackedHeads(hippo_data.task.num_classes)
    settings = TrainSettings(epochs=1, steps_per_epoch=2, batch=2, lr=0.01, augment=False)
    result = train_network(net, hippo_data, settings, seed=0)
    assert result.steps == 2 and all(np.isfinite(h["loss"]) for h in result.history)
    assert 0.0 <= result.val_score <= 1.0
    assert result.settings["deep_supervision_heads"] is None  # its own heads, no wrapper


def test_monai_dynunet_trains_with_its_deep_supervision(hippo_data):
    from monai.networks.nets import DynUNet

    net = DynUNet(3, 1, hippo_data.task.num_classes, kernel_size=[3, 3, 3],
                  strides=[1, 2, 2], upsample_kernel_size=[2, 2], filters=[4, 8, 16],
                  deep_supervision=True, deep_supr_num=1)
    settings = TrainSettings(epochs=1, steps_per_epoch=1, batch=2, lr=0.01, augment=False)
    result = train_network(net, hippo_data, settings, seed=0)
    assert np.isfinite(result.history[0]["loss"]) and not result.diverged


def test_deep_network_trains_with_heads_and_returns_the_bare_network(hippo_data):
    from mias.space import Network

    arch = _deep_arch(hippo_data.space)
    net = build_network(hippo_data.space, arch, seed=0)
    keys = set(net.state_dict())
    settings = TrainSettings(epochs=1, steps_per_epoch=2, batch=2, lr=0.01)
    result = train_network(net, hippo_data, settings, seed=0)
    assert isinstance(result.network, Network) and set(result.network.state_dict()) == keys
    assert result.settings["deep_supervision_heads"] == arch.depth


class _Crash(RuntimeError):
    pass


def test_resume_with_heads_gives_identical_weights(hippo_data, tmp_path):
    """The checkpoint holds the heads too: a resumed run ends where an unbroken one does."""
    arch = _deep_arch(hippo_data.space)
    settings = TrainSettings(epochs=2, steps_per_epoch=2, batch=2, lr=0.01)

    def train(**kw):
        from mias.train.standalone import train_architecture

        return train_architecture(hippo_data.space, arch, hippo_data, settings, seed=3,
                                  validate_every=1, record_draws=True, **kw)

    ref = train()

    def crash(stage: str, done: int, total: int) -> None:
        if done == 3:
            raise _Crash

    with pytest.raises(_Crash):
        train(checkpoint_dir=tmp_path, progress=crash)
    resumed = train(checkpoint_dir=tmp_path)
    assert resumed.resumed_at == 2 and resumed.draws == ref.draws
    a, b = ref.network.state_dict(), resumed.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
