"""The ONNX Runtime harness: timings as ratios to a reference timed beside them."""

import numpy as np
import pytest

from mias.errors import InputError
from mias.hardware.timing import (
    TimingPolicy,
    open_session,
    random_feeds,
    reference_level,
    summarise,
    time_model,
    time_models,
)

from .conftest import FAST, write_conv


@pytest.fixture
def models(tmp_path):
    """A narrow (4-channel) and a wide (16-channel) 3×3 convolution on 32×32, and a
    reference as large as the wide one."""
    paths = {}
    for name, channels in (("narrow", 4), ("wide", 16), ("ref", 16)):
        paths[name] = tmp_path / f"{name}.onnx"
        write_conv(paths[name], channels=channels, size=32)
    return paths


def test_summary_is_the_median_round_ratio_with_its_spread_and_raw_quartiles():
    t = summarise(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), round_ratios=(0.5, 1.0, 1.5, 2.0),
                  round_reference_ms=(2.0, 3.0, 4.0), other_load=0.1)
    assert t.ratio == pytest.approx(1.25)
    assert t.spread == pytest.approx((1.625 - 0.875) / 1.25)
    assert (t.median_ms, t.q1_ms, t.q3_ms, t.iqr_ms, t.min_ms) == (3.0, 2.0, 4.0, 2.0, 1.0)
    assert (t.repetitions, t.rounds, t.reference_ms, t.other_load) == (5, 4, 3.0, 0.1)
    assert t.ms(2.0) == pytest.approx(2.5)
    assert t.split_ratios() == (pytest.approx(1.0), pytest.approx(1.5))  # (0.5, 1.5), (1, 2)


def test_every_model_is_timed_in_every_round_as_a_ratio_to_the_reference(models):
    calls = []
    policy = TimingPolicy(rounds=3, pairs=2, warmup_runs=1, max_inner=8)
    narrow, wide = time_models([models["narrow"], models["wide"]], models["ref"], threads=1,
                               policy=policy, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]
    for t in (narrow, wide):
        assert t.rounds == len(t.round_ratios) == 3 and t.repetitions >= 2 * 3
        assert t.min_ms <= t.q1_ms <= t.median_ms <= t.q3_ms
        assert t.ratio == pytest.approx(float(np.median(t.round_ratios)))
    assert 0.5 < wide.ratio < 2.0  # the same computation as the reference
    assert narrow.ratio < wide.ratio  # 16× fewer FLOPs
    assert narrow.repetitions > wide.repetitions  # a fast model runs several times per pair
    assert reference_level([narrow, wide]) == pytest.approx(
        np.median([narrow.reference_ms, wide.reference_ms]))


def test_policy_refuses_empty_rounds():
    with pytest.raises(ValueError, match="rounds"):
        TimingPolicy(rounds=0)
    with pytest.raises(ValueError, match="pairs"):
        TimingPolicy(pairs=0)


def test_feeds_are_seeded_and_shaped_from_the_model(conv_onnx):
    session = open_session(conv_onnx, threads=1)
    a, b = random_feeds(session, seed=3), random_feeds(session, seed=3)
    assert a["x"].shape == (1, 4, 8, 8) and a["x"].dtype == np.float32
    np.testing.assert_array_equal(a["x"], b["x"])


def test_a_broken_model_file_is_an_input_error(tmp_path, conv_onnx):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(InputError, match=r"broken\.onnx"):
        time_model(bad, conv_onnx, threads=1, policy=FAST)
