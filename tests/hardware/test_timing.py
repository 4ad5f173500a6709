"""The ONNX Runtime harness: every run bracketed by a reference, one thread pool."""

from typing import ClassVar

import numpy as np
import pytest

from mias.errors import InputError
from mias.hardware import timing as timing_module
from mias.hardware.timing import (
    TimingPolicy,
    bracketed_ratio,
    open_session,
    random_feeds,
    time_in_process,
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


def test_bracketing_cancels_a_slowdown_of_both_the_reference_and_the_item():
    steady = bracketed_ratio(10.0, 4.0, 4.0)
    # a phase 1.5× slower covers the item and the reference on both sides of it
    assert bracketed_ratio(15.0, 6.0, 6.0) == pytest.approx(steady)
    # a phase that starts mid-run: the geometric mean of the two sides
    assert bracketed_ratio(10.0 * 1.5 ** 0.5, 4.0, 6.0) == pytest.approx(steady)


def test_an_injected_slowdown_cancels_in_the_measured_ratio(models, monkeypatch):
    """Every run of the reference and of the item is slowed ×3 in odd rounds: the ratios
    of odd and even rounds still agree."""
    clock = {"slow": False}
    real = timing_module._Runner.run

    def run(self):
        return real(self) * (3.0 if clock["slow"] else 1.0)

    monkeypatch.setattr(timing_module._Runner, "run", run)
    policy = TimingPolicy(rounds=1, pairs=2, warmup_runs=1, burst_ms=2.0, max_burst=8)
    fast = time_model(models["wide"], models["ref"], threads=1, policy=policy)
    clock["slow"] = True
    slow = time_model(models["wide"], models["ref"], threads=1, policy=policy)
    assert slow.reference_ms > 2 * fast.reference_ms  # the slowdown is real in raw ms
    assert slow.ratio == pytest.approx(fast.ratio, rel=0.35)


def test_every_model_is_timed_in_every_round_as_a_ratio_to_the_reference(models):
    calls = []
    policy = TimingPolicy(rounds=3, pairs=2, warmup_runs=1, burst_ms=1.0, max_burst=64)
    narrow, wide = time_models([models["narrow"], models["wide"]], models["ref"], threads=1,
                               policy=policy, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]
    for t in (narrow, wide):
        assert t.rounds == len(t.round_ratios) == 3
        assert t.min_ms <= t.q1_ms <= t.median_ms <= t.q3_ms
        assert t.cold_ratio is not None and t.cold_ratio > 0
        assert t.reference_ms == narrow.reference_ms  # one phase, one reference level
    assert 0.4 < wide.ratio < 2.5  # the same computation as the reference
    assert narrow.ratio < wide.ratio  # 16× fewer FLOPs
    assert narrow.repetitions > wide.repetitions  # a fast model runs in bursts
    assert narrow.ms() == pytest.approx(narrow.ratio * narrow.reference_ms)


def test_without_cold_runs_no_cold_ratio(models):
    (t,) = time_models([models["narrow"]], models["ref"], threads=1, policy=FAST, cold=False)
    assert t.cold_ratio is None
    assert t.ms(cold=True) == t.ms()


class _FakeSession:
    """Stands in for an ONNX Runtime session: records its options, runs in no time."""

    opened: ClassVar[list] = []

    def __init__(self, source, options, providers):
        self.opened.append(options)

    def get_inputs(self):
        return []

    def get_outputs(self):
        return []

    def io_binding(self):
        return self

    def run_with_iobinding(self, binding):
        return None


def test_one_pool_is_used_for_every_session_of_a_timing_run(models, monkeypatch):
    monkeypatch.setattr(timing_module, "_GLOBAL_POOL", {})
    sized = []
    monkeypatch.setattr(timing_module._pybind_state, "set_global_thread_pool_sizes",
                        lambda intra, inter: sized.append((intra, inter)))
    monkeypatch.setattr(_FakeSession, "opened", [])
    monkeypatch.setattr(timing_module.ort, "InferenceSession", _FakeSession)
    time_in_process([models["narrow"], models["wide"]], models["ref"], threads=2, policy=FAST)
    assert sized == [(2, 1)]
    assert len(_FakeSession.opened) == 3  # the reference and both models
    assert all(not o.use_per_session_threads for o in _FakeSession.opened)
    # a later run at the same size shares the pool; another size cannot resize it
    assert timing_module.thread_pool(2) == "global"
    assert timing_module.thread_pool(3) == "per-session"
    assert sized == [(2, 1)]
    assert timing_module.thread_pool(1) == "single"


def test_a_multi_threaded_phase_runs_in_its_own_process_and_leaves_this_one_free(models):
    """The child owns the global pool; this process can still open per-session sessions."""
    timings = time_models([models["narrow"]], models["ref"], threads=2, policy=FAST)
    assert timings[0].thread_pool == "global" and timings[0].ratio > 0
    assert "threads" not in timing_module._GLOBAL_POOL
    open_session(models["narrow"], threads=1)


def test_policy_refuses_empty_rounds_and_sizes_bursts():
    with pytest.raises(ValueError, match="rounds"):
        TimingPolicy(rounds=0)
    with pytest.raises(ValueError, match="pairs"):
        TimingPolicy(pairs=0)
    with pytest.raises(ValueError, match="warmup"):
        TimingPolicy(warmup_runs=0)
    policy = TimingPolicy(burst_ms=15.0, max_burst=64)
    assert policy.burst(100.0) == 1  # a whole network runs alone
    assert policy.burst(5.0) == 3
    assert policy.burst(0.01) == 64


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
