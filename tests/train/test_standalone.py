"""Standalone training: schedules, seeded determinism, checkpoint resume after a crash."""

from __future__ import annotations

import math

import pytest
import torch

from mias.errors import InputError
from mias.presets.models import TrainSettings
from mias.train.standalone import (
    CHECKPOINT_NAME,
    learning_rate,
    train_architecture,
)


def _weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("schedule", "expected"), [
    ("poly", [0.1, 0.1 * 0.75 ** 0.9, 0.1 * 0.5 ** 0.9, 0.1 * 0.25 ** 0.9]),
    ("cosine", [0.1, 0.05 * (1 + math.cos(math.pi / 4)), 0.05, 0.05 * (1 - math.cos(math.pi / 4))]),
    ("constant", [0.1] * 4),
])
def test_learning_rate_schedules(schedule, expected):
    s = TrainSettings(epochs=1, batch=1, lr=0.1, schedule=schedule)
    assert [learning_rate(s, i, 4) for i in range(4)] == pytest.approx(expected)


def test_same_seed_same_weights(hippo_data, small_arch, tiny_settings):
    space = hippo_data.space
    a = train_architecture(space, small_arch, hippo_data, tiny_settings, seed=3)
    b = train_architecture(space, small_arch, hippo_data, tiny_settings, seed=3)
    assert _weights_equal(a.network, b.network)
    assert a.history == b.history and a.val_score == b.val_score
    assert a.steps == tiny_settings.epochs * tiny_settings.steps_per_epoch
    assert a.history[0]["lr"] == tiny_settings.lr
    assert 0.0 <= a.val_score <= 1.0


class _Crash(RuntimeError):
    pass


def test_resume_after_crash_gives_identical_weights(hippo_data, small_arch, tiny_settings,
                                                     tmp_path):
    space = hippo_data.space
    ref = train_architecture(space, small_arch, hippo_data, tiny_settings, seed=5,
                             validate_every=1)

    def crash_in_epoch_two(stage: str, done: int, total: int) -> None:
        if done == tiny_settings.steps_per_epoch + 1:
            raise _Crash

    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Crash):
        train_architecture(space, small_arch, hippo_data, tiny_settings, seed=5,
                           checkpoint_dir=ckpt, progress=crash_in_epoch_two, validate_every=1)
    assert (ckpt / CHECKPOINT_NAME).is_file()
    resumed = train_architecture(space, small_arch, hippo_data, tiny_settings, seed=5,
                                 checkpoint_dir=ckpt, validate_every=1)
    assert resumed.resumed_at == tiny_settings.steps_per_epoch
    assert _weights_equal(ref.network, resumed.network)
    assert resumed.history == ref.history and resumed.epochs == ref.epochs


def test_checkpoint_of_another_training_is_refused(hippo_data, small_arch, tiny_settings,
                                                   tmp_path):
    one_epoch = tiny_settings.model_copy(update={"epochs": 1})
    train_architecture(hippo_data.space, small_arch, hippo_data, one_epoch, seed=1,
                       checkpoint_dir=tmp_path)
    with pytest.raises(InputError, match="different training"):
        train_architecture(hippo_data.space, small_arch, hippo_data, one_epoch, seed=2,
                           checkpoint_dir=tmp_path)
