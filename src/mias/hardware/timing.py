"""Time ONNX models with ONNX Runtime on the CPU, until their median latency is stable.

This is the one measurement harness: blocks, the per-call probe and whole networks are all
timed by `time_models`, so their figures are comparable. It needs only numpy and
onnxruntime (the light install on a board). Inputs are bound once through an `IOBinding`
and outputs stay in ONNX Runtime's arena, so a block is not charged for copying its output
into numpy, which a network never does between its blocks.

Two guards against the machine rather than the model being measured:

- *Drift* (frequency, other virtual machines, temperature) moves latencies by 10–20% over
  seconds to minutes. Models are timed in `rounds` interleaved passes and their samples
  pooled, so drift is shared by all models instead of biasing whichever ran during it.
- *Contention*: each timing records how many cores other processes (and the hypervisor)
  used meanwhile (`other_load`, from /proc/stat); a contended pass is redone, up to
  `retries` times after waiting for a quiet moment, keeping the quietest.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict

from mias.errors import InputError

_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}
_Z95 = 1.96

Model = str | Path | bytes


@dataclass(frozen=True)
class TimingPolicy:
    """When to stop timing: the median's 95% CI half-width within `target_rel_ci` of it.

    Repetitions adapt to the model: a sub-millisecond block gets many (its relative noise
    is large), a slow one stops once `max_time_s` is spent. `min_reps` and `max_time_s` are
    totals, split evenly over the `rounds`. A pass during which other processes used more
    than `max_other_load` cores is redone, at most `retries` times, each after waiting up
    to `settle_s` for a quiet moment.
    """

    warmup_runs: int = 3
    warmup_s: float = 0.05
    min_reps: int = 15
    max_reps: int = 2000
    target_rel_ci: float = 0.02
    max_time_s: float = 1.0
    rounds: int = 5
    max_other_load: float = 0.2
    retries: int = 2
    settle_s: float = 1.0


class Timing(BaseModel):
    """Latency statistics of one model: median, quartiles, repetitions, and CI reached."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    median_ms: float
    q1_ms: float
    q3_ms: float
    iqr_ms: float
    repetitions: int
    rel_ci: float
    stable: bool
    rounds: int = 1
    round_medians_ms: tuple[float, ...] = ()
    other_load: float | None = None


def runtime_label() -> str:
    """E.g. `onnxruntime 1.32.0 CPU`: the runtime every measured figure names."""
    return f"onnxruntime {ort.__version__} CPU"


def open_session(model: Model, threads: int) -> ort.InferenceSession:
    """A CPU session: `threads` intra-op threads, sequential execution, full graph fusion."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        where = None if isinstance(model, bytes) else model
        raise InputError(where, f"ONNX Runtime cannot load the model ({exc})",
                         "re-export it with `mias profile --export-blocks`") from exc


def random_feeds(session: ort.InferenceSession, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs of the session's declared shapes (free dims → 1)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        dtype = _NUMPY_TYPES.get(arg.type)
        if dtype is None:
            raise InputError(None, f"input {arg.name!r} has unsupported type {arg.type}",
                             "export the model with float32 inputs")
        feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def time_model(model: Model, *, threads: int, policy: TimingPolicy | None = None,
               seed: int = 0) -> Timing:
    """Time one model under `policy` (its rounds back to back)."""
    return time_models([model], threads=threads, policy=policy, seed=seed)[0]


def time_models(models: Sequence[Model], *, threads: int,
                policy: TimingPolicy | Sequence[TimingPolicy] | None = None, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> list[Timing]:
    """Time every model in `rounds` interleaved passes and pool each one's samples.

    `policy` is one for all models or one per model (e.g. blocks and whole networks in the
    same rounds); all must have the same `rounds`. A session is opened per pass and closed
    after it, so memory stays that of one model (a board has 1 GB). A later pass stops
    early once the pooled CI meets the target.
    """
    policies = _per_model(policy, len(models))
    rounds = max(1, policies[0].rounds) if policies else 1
    if any(max(1, p.rounds) != rounds for p in policies):
        raise ValueError("all models timed together need the same number of rounds")
    per_round = [replace(p, min_reps=max(1, math.ceil(p.min_reps / rounds)),
                         max_time_s=p.max_time_s / rounds, max_reps=max(1, p.max_reps // rounds))
                 for p in policies]
    samples: list[list[float]] = [[] for _ in models]
    medians: list[list[float]] = [[] for _ in models]
    loads: list[list[float]] = [[] for _ in models]
    for r in range(rounds):
        for i, model in enumerate(models):
            session = open_session(model, threads)
            got, load = _quietest_pass(session, random_feeds(session, seed), per_round[i],
                                       samples[i])
            samples[i].extend(got)
            medians[i].append(float(np.median(got)))
            if load is not None:
                loads[i].append(load)
            del session
            if progress:
                progress(r * len(models) + i + 1, rounds * len(models))
    return [summarise(np.asarray(s), p.target_rel_ci, round_medians=m,
                      other_load=float(np.mean(ld)) if ld else None)
            for s, m, ld, p in zip(samples, medians, loads, policies, strict=True)]


def _per_model(policy: TimingPolicy | Sequence[TimingPolicy] | None,
               n: int) -> list[TimingPolicy]:
    if policy is None or isinstance(policy, TimingPolicy):
        return [policy or TimingPolicy()] * n
    if len(policy) != n:
        raise ValueError(f"got {len(policy)} timing policies for {n} models")
    return list(policy)


def _quietest_pass(session: ort.InferenceSession, feeds: dict[str, np.ndarray],
                   policy: TimingPolicy, prior: list[float]) -> tuple[list[float], float | None]:
    best: tuple[list[float], float | None] | None = None
    for attempt in range(policy.retries + 1):
        if attempt:
            wait_for_quiet(policy.max_other_load, policy.settle_s)
        load = CpuLoad()
        got = _timed_pass(session, feeds, policy, prior)
        others = load.others()
        if best is None or (others or 0.0) < (best[1] or 0.0):
            best = (got, others)
        if others is None or others <= policy.max_other_load:
            break
    return best


def _timed_pass(session: ort.InferenceSession, feeds: dict[str, np.ndarray],
                policy: TimingPolicy, prior: list[float]) -> list[float]:
    """Warm up, then time until the CI of `prior` + these samples meets the target."""
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, np.ascontiguousarray(array))
    for out in session.get_outputs():
        binding.bind_output(out.name, "cpu")
    start = time.perf_counter()
    for i in range(max(policy.warmup_runs, 1) * 1000):
        session.run_with_iobinding(binding)
        if i + 1 >= policy.warmup_runs and time.perf_counter() - start >= policy.warmup_s:
            break

    samples: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        while len(samples) < policy.max_reps:
            t0 = time.perf_counter_ns()
            session.run_with_iobinding(binding)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
            n = len(samples)
            if n < policy.min_reps:
                continue
            if time.perf_counter() - start >= policy.max_time_s:
                break
            if n % 5 == 0 and median_rel_ci(np.asarray(prior + samples)) <= policy.target_rel_ci:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def wait_for_quiet(max_other_load: float, timeout_s: float, window_s: float = 0.1) -> bool:
    """Wait (up to `timeout_s`) for a `window_s` in which other processes stay under
    `max_other_load` cores; True if one came."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        load = CpuLoad()
        time.sleep(window_s)
        others = load.others()
        if others is None or others <= max_other_load:
            return True
    return False


class CpuLoad:
    """Cores used by other processes since creation: /proc/stat busy time − our CPU time.

    None where /proc/stat is unavailable (not Linux). Tick granularity (10 ms per core) is
    allowed for, so a short window does not read as contended.
    """

    _STAT = "/proc/stat"
    _TICK_S = 0.01

    def __init__(self) -> None:
        self._start = self._sample()

    def others(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        wall = end[0] - self._start[0]
        others = (end[1] - self._start[1]) - (end[2] - self._start[2])
        slack = 2 * self._TICK_S * (os.cpu_count() or 1)
        return max(0.0, others - slack) / wall if wall > 0 else None

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            with open(self._STAT, encoding="ascii") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        return time.perf_counter(), busy, time.process_time()


def median_rel_ci(samples: np.ndarray) -> float:
    """Half-width of the distribution-free 95% CI of the median (order statistics), relative.

    The CI is [x_(j), x_(k)] with j, k = n/2 ∓ 1.96·√n/2 (binomial ranks), so it needs no
    assumption about the (skewed) latency distribution.
    """
    x = np.sort(samples)
    n = len(x)
    half = _Z95 * np.sqrt(n) / 2
    lo = x[max(0, int(np.floor(n / 2 - half)))]
    hi = x[min(n - 1, int(np.ceil(n / 2 + half)))]
    median = float(np.median(x))
    return float((hi - lo) / (2 * median)) if median > 0 else float("inf")


def summarise(samples: np.ndarray, target_rel_ci: float, *,
              round_medians: Sequence[float] = (), other_load: float | None = None) -> Timing:
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    rel_ci = median_rel_ci(samples)
    return Timing(median_ms=float(median), q1_ms=float(q1), q3_ms=float(q3),
                  iqr_ms=float(q3 - q1), repetitions=len(samples), rel_ci=rel_ci,
                  stable=bool(rel_ci <= target_rel_ci), rounds=max(1, len(round_medians)),
                  round_medians_ms=tuple(round_medians), other_load=other_load)
