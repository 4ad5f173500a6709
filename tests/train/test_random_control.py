"""The random control: distinct architectures within ±10% of the found one's latency, even
at the fast end of a space where uniform draws almost never land."""

from __future__ import annotations

import numpy as np

from mias.hardware import create_device
from mias.hardware.predictors import create_predictor
from mias.space import SearchSpace
from mias.train.baselines.random_control import TOLERANCE, draw_matched


def test_five_matched_controls_near_the_fastest_member(hippo_data):
    space: SearchSpace = hippo_data.space
    predictor = create_predictor("roofline", device=create_device("rpi3"))
    rng = np.random.default_rng(0)
    pool = sorted((space.sample(rng) for _ in range(500)),
                  key=lambda a: predictor.predict(space, a).value)
    found = pool[2]  # among the fastest 1 %
    picked, ref, _ = draw_matched(space, found, 5, predictor, seed=0)
    assert len(picked) == 5
    assert len({a.id for a, _ in picked} | {found.id}) == 6
    for arch, fig in picked:
        assert abs(fig.value - ref.value) <= TOLERANCE * ref.value
        assert fig.value == predictor.predict(space, arch).value
    again, _, _ = draw_matched(space, found, 5, predictor, seed=0)
    assert [a.id for a, _ in again] == [a.id for a, _ in picked]  # seeded


def test_the_walk_fills_what_uniform_draws_cannot(hippo_data, monkeypatch):
    from mias.train.baselines import random_control

    monkeypatch.setattr(random_control, "MAX_DRAWS", 1)  # uniform draws cannot help
    space: SearchSpace = hippo_data.space
    predictor = create_predictor("roofline", device=create_device("rpi3"))
    found = space.sample(np.random.default_rng(5))
    picked, ref, tried = draw_matched(space, found, 5, predictor, seed=1)
    assert len(picked) == 5 and tried > 1
    assert all(abs(f.value - ref.value) <= TOLERANCE * ref.value for _, f in picked)
