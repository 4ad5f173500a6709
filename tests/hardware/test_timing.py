"""The ONNX Runtime harness: adaptive repetitions, robust statistics, seeded inputs."""

import numpy as np
import pytest

from mias.errors import InputError
from mias.hardware.timing import (
    TimingPolicy,
    median_rel_ci,
    open_session,
    random_feeds,
    summarise,
    time_model,
    time_models,
)

from .conftest import write_conv


def test_median_ci_uses_order_statistics():
    samples = np.arange(1.0, 101.0)
    # n = 100: ranks 50 ∓ 9.8 → x[40] = 41 and x[60] = 61; half-width 10 around 50.5.
    assert median_rel_ci(samples) == pytest.approx(10 / 50.5)
    assert median_rel_ci(np.full(20, 3.0)) == 0.0


def test_summary_has_median_quartiles_and_repetitions():
    t = summarise(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), target_rel_ci=1.0,
                  round_medians=(2.0, 4.0), other_load=0.1)
    assert (t.median_ms, t.q1_ms, t.q3_ms, t.iqr_ms, t.repetitions) == (3.0, 2.0, 4.0, 2.0, 5)
    assert (t.rounds, t.other_load) == (2, 0.1)
    assert t.rel_ci == pytest.approx((5 - 1) / (2 * 3)) and t.stable  # n = 5: x(0)…x(4)


def test_time_model_respects_the_repetition_bounds(conv_onnx):
    capped = time_model(conv_onnx, threads=1, policy=TimingPolicy(
        warmup_runs=1, warmup_s=0, min_reps=7, max_reps=7, target_rel_ci=0, max_time_s=10,
        rounds=1, retries=0))
    assert capped.repetitions == 7 and not capped.stable
    assert capped.q1_ms <= capped.median_ms <= capped.q3_ms
    easy = time_model(conv_onnx, threads=1, policy=TimingPolicy(
        warmup_runs=1, warmup_s=0, min_reps=5, max_reps=500, target_rel_ci=10.0, rounds=1))
    assert easy.repetitions == 5 and easy.stable


def test_rounds_interleave_models_and_pool_their_samples(conv_onnx, tmp_path):
    other = tmp_path / "wide.onnx"
    write_conv(other, channels=8)
    calls = []
    timings = time_models([conv_onnx, other], threads=1, progress=lambda d, t: calls.append(d),
                          policy=TimingPolicy(warmup_runs=1, warmup_s=0, min_reps=6, max_reps=6,
                                              target_rel_ci=0, rounds=3, retries=0))
    assert calls == [1, 2, 3, 4, 5, 6]
    assert [(t.repetitions, t.rounds, len(t.round_medians_ms)) for t in timings] == [
        (6, 3, 3), (6, 3, 3)]


def test_per_model_policies_must_agree_on_rounds(conv_onnx):
    with pytest.raises(ValueError, match="same number of rounds"):
        time_models([conv_onnx, conv_onnx], threads=1,
                    policy=[TimingPolicy(rounds=2), TimingPolicy(rounds=3)])
    with pytest.raises(ValueError, match="2 timing policies for 1 models"):
        time_models([conv_onnx], threads=1, policy=[TimingPolicy(), TimingPolicy()])


def test_feeds_are_seeded_and_shaped_from_the_model(conv_onnx):
    session = open_session(conv_onnx, threads=1)
    a, b = random_feeds(session, seed=3), random_feeds(session, seed=3)
    assert a["x"].shape == (1, 4, 8, 8) and a["x"].dtype == np.float32
    np.testing.assert_array_equal(a["x"], b["x"])


def test_a_broken_model_file_is_an_input_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(InputError, match=r"broken\.onnx"):
        time_model(bad, threads=1)
