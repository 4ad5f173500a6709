"""The training recipe: optimisers, warm-up, He initialisation, clipping, the budget in
steps or minutes, early stopping on the smoothed validation metric, the learning curve."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mias.presets.models import TrainSettings
from mias.space import build_network
from mias.train.standalone import (
    he_init,
    learning_rate,
    make_optimizer,
    train_architecture,
    train_network,
)


def _settings(**kw) -> TrainSettings:
    base = {"epochs": 2, "steps_per_epoch": 2, "batch": 2, "lr": 0.01, "augment": False}
    return TrainSettings(**(base | kw))


def test_optimizers_are_selectable(hippo_data, small_arch):
    net = build_network(hippo_data.space, small_arch)
    sgd = make_optimizer(net, _settings(momentum=0.99))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["momentum"] == 0.99 and sgd.defaults["nesterov"]
    adamw = make_optimizer(net, _settings(optimizer="adamw", lr=1e-3, weight_decay=0.01))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["weight_decay"] == 0.01


def test_warmup_then_cosine():
    s = _settings(lr=0.1, schedule="cosine", warmup=0.2)
    lrs = [learning_rate(s, i, 10) for i in range(10)]
    assert lrs[0] == pytest.approx(0.01) and lrs[1] == pytest.approx(0.05)
    assert lrs[2] == pytest.approx(0.1)
    assert lrs[6] == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in itertools.pairwise(lrs[2:]))


def test_time_progress_advances_the_schedule():
    s = _settings(lr=0.1, schedule="poly")
    assert learning_rate(s, 1, 100, progress=0.5) == pytest.approx(0.1 * 0.5 ** 0.9)
    assert learning_rate(s, 1, 100, progress=1.0) == 0.0


def test_a_time_budget_that_does_not_bind_leaves_the_schedule_to_the_steps(hippo_data,
                                                                            small_arch):
    """A generous wall-clock cap must not make a seeded training depend on the machine's
    load: the learning rate of every step is the step schedule's, exactly."""
    settings = _settings(schedule="poly", time_budget_min=60.0)
    result = train_architecture(hippo_data.space, small_arch, hippo_data, settings, seed=0)
    total = len(result.history)
    assert [h["lr"] for h in result.history] == [learning_rate(settings, i, total)
                                                for i in range(total)]


def test_he_init_is_kaiming_with_zero_bias():
    conv = torch.nn.Conv3d(16, 32, 3, bias=True)
    torch.manual_seed(0)
    he_init(torch.nn.Sequential(conv))
    fan_in = 16 * 27
    expected = math.sqrt(2.0 / (1 + 0.01 ** 2) / fan_in)
    assert float(conv.weight.detach().std()) == pytest.approx(expected, rel=0.05)
    assert torch.count_nonzero(conv.bias) == 0


def test_gradient_norm_is_clipped_and_recorded(hippo_data, small_arch):
    result = train_architecture(hippo_data.space, small_arch, hippo_data,
                                _settings(grad_clip=1e-3, epochs=1), seed=0)
    assert all(h["grad_norm"] > 0 for h in result.history)
    settings = _settings(grad_clip=None, epochs=1)
    free = train_architecture(hippo_data.space, small_arch, hippo_data, settings, seed=0)
    assert all(math.isnan(h["grad_norm"]) for h in free.history)


def test_steps_override_epochs(hippo_data, small_arch):
    result = train_architecture(hippo_data.space, small_arch, hippo_data,
                                _settings(steps=3, early_stop_smoothing=0.5), seed=0,
                                validate_every=1)
    assert result.steps == 3 and result.stopped == "budget"
    first, second = result.epochs
    assert (first["step"], second["step"]) == (2, 3)
    assert first["val_smoothed"] == first["val_score"]
    assert second["val_smoothed"] == pytest.approx(0.5 * first["val_score"]
                                                   + 0.5 * second["val_score"])


def test_time_budget_stops_training(hippo_data, small_arch):
    settings = _settings(epochs=50, time_budget_min=1e-6)
    result = train_architecture(hippo_data.space, small_arch, hippo_data, settings, seed=0,
                                validate_every=1)
    assert result.stopped == "time_budget" and result.steps == 1


def test_early_stop_triggers_when_the_metric_stalls(hippo_data):
    """A network whose output ignores its weights cannot improve: patience runs out."""

    class Constant(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(x.shape[0], 3, *x.shape[2:], device=x.device)
            logits[:, 0] = 1.0
            return logits + 0 * self.w

    settings = _settings(epochs=10, steps_per_epoch=1, early_stop_patience=2)
    result = train_network(Constant(), hippo_data, settings, seed=0, validate_every=1)
    assert result.stopped == "early_stop" and result.steps == 3
    assert result.best_step == 1


def test_learning_curve_is_drawn(hippo_data, small_arch, tmp_path):
    from mias.train.plots import plot_progress

    result = train_architecture(hippo_data.space, small_arch, hippo_data, _settings(), seed=0,
                                validate_every=1)
    out = plot_progress(result, tmp_path / "progress.png", "t")
    assert out.stat().st_size > 1000
