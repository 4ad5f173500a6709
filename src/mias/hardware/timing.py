"""Time ONNX models with ONNX Runtime on the CPU, each beside a fixed reference kernel.

This is the one measurement harness: blocks, the per-call probe and whole networks are all
timed by `time_models`, so their figures are comparable. It needs only numpy and
onnxruntime (the light install on a board). Inputs are bound once through an `IOBinding`
and outputs stay in ONNX Runtime's arena, so a block is not charged for copying its output
into numpy, which a network never does between its blocks.

A shared machine drifts between fast and slow phases (frequency, other virtual machines,
other users) by 10–20% over seconds to minutes, and one model timed during a slow phase is
simply slower. So nothing is timed alone:

- models are timed in short *rounds*, each visiting every model once in a seeded random
  order, so no model always falls in the same phase;
- within a round a model alternates with the *reference* (a fixed convolution) in `pairs`,
  and its round figure is the *ratio* of its fastest run to the reference's fastest run
  beside it: a phase slows both and cancels in the ratio. The reference runs in a short
  burst at every alternation (`reference_runs`): it is a 0.5 ms kernel timed right after a
  model that evicted its caches, so the fastest of only a few runs scatters by tens of per
  cent and would make the denominator, not the model, the noise in every ratio;
- a model's latency is the median of its round ratios (the minimum within a round is the
  standard estimator of "how fast can this run" under interference), and its spread is
  the interquartile range of those ratios;
- milliseconds are the ratio times the reference's level over the whole run.

Each timing also records how many cores other processes used meanwhile (`other_load`,
from /proc/stat), so a table says how contended the machine was.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict

from mias.errors import InputError

_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}

Model = str | Path | bytes


@dataclass(frozen=True)
class TimingPolicy:
    """How long to time: `rounds` × `pairs` alternations of reference and model.

    A model faster than the reference runs up to `max_inner` times per pair, so each pair
    spends about as long on it as on the reference and sub-millisecond blocks still get
    enough runs for a stable minimum.
    """

    rounds: int = 6
    pairs: int = 3
    warmup_runs: int = 1
    max_inner: int = 32
    reference_runs: int = 10

    def __post_init__(self) -> None:
        for name in ("rounds", "pairs", "max_inner", "reference_runs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.warmup_runs < 0:
            raise ValueError("warmup_runs must be >= 0")


class Timing(BaseModel):
    """One model's latency as a ratio to the reference, with the raw samples' statistics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: float
    spread: float
    round_ratios: tuple[float, ...]
    reference_ms: float
    min_ms: float
    median_ms: float
    q1_ms: float
    q3_ms: float
    iqr_ms: float
    repetitions: int
    rounds: int
    other_load: float | None = None

    def ms(self, reference_ms: float) -> float:
        """Latency in ms at the reference level `reference_ms` (the run's, or a table's)."""
        return self.ratio * reference_ms

    def split_ratios(self) -> tuple[float, float]:
        """Median ratio of the odd and of the even rounds: a test–retest pair."""
        r = np.asarray(self.round_ratios)
        return float(np.median(r[0::2])), float(np.median(r[1::2]))


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


class _Runner:
    """A session with its inputs bound once; `run()` returns one run's wall time in ms."""

    def __init__(self, model: Model, threads: int, seed: int) -> None:
        self.session = open_session(model, threads)
        self.binding = self.session.io_binding()
        for name, array in random_feeds(self.session, seed).items():
            self.binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for out in self.session.get_outputs():
            self.binding.bind_output(out.name, "cpu")

    def run(self) -> float:
        t0 = time.perf_counter_ns()
        self.session.run_with_iobinding(self.binding)
        return (time.perf_counter_ns() - t0) / 1e6


def time_model(model: Model, reference: Model, *, threads: int,
               policy: TimingPolicy | None = None, seed: int = 0) -> Timing:
    """Time one model beside `reference` under `policy`."""
    return time_models([model], reference, threads=threads, policy=policy, seed=seed)[0]


def time_models(models: Sequence[Model], reference: Model, *, threads: int,
                policy: TimingPolicy | None = None, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> list[Timing]:
    """Time every model in randomised rounds, each pass alternating it with `reference`.

    A model's session is opened for its pass and closed after it, so memory stays that of
    one model (a board has 1 GB); the reference's session stays open throughout.
    """
    policy = policy or TimingPolicy()
    rng = np.random.default_rng(seed)
    ref = _Runner(reference, threads, seed)
    for _ in range(max(policy.warmup_runs, 1)):
        ref.run()
    samples: list[list[float]] = [[] for _ in models]
    ratios: list[list[float]] = [[] for _ in models]
    ref_mins: list[list[float]] = [[] for _ in models]
    loads: list[list[float]] = [[] for _ in models]
    done, total = 0, policy.rounds * len(models)
    for _ in range(policy.rounds):
        for i in rng.permutation(len(models)):
            load = CpuLoad()
            got, ref_got = _pass(_Runner(models[i], threads, seed), ref, policy)
            others = load.others()
            samples[i].extend(got)
            ratios[i].append(min(got) / min(ref_got))
            ref_mins[i].append(min(ref_got))
            if others is not None:
                loads[i].append(others)
            done += 1
            if progress:
                progress(done, total)
    return [summarise(np.asarray(s), r, m, other_load=float(np.mean(ld)) if ld else None)
            for s, r, m, ld in zip(samples, ratios, ref_mins, loads, strict=True)]


def _pass(model: _Runner, ref: _Runner, policy: TimingPolicy) -> tuple[list[float], list[float]]:
    """Warm the model up, then `pairs` × (a burst of reference runs, `inner` model runs)."""
    warm = [model.run() for _ in range(max(policy.warmup_runs, 1))]
    ref_ms = ref.run()
    inner = int(min(policy.max_inner, max(1, math.ceil(ref_ms / max(min(warm), 1e-6)))))
    got: list[float] = []
    ref_got: list[float] = [ref_ms]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for p in range(policy.pairs):
            ref_got.extend(ref.run() for _ in range(policy.reference_runs - (p == 0)))
            got.extend(model.run() for _ in range(inner))
    finally:
        if gc_was_enabled:
            gc.enable()
    return got, ref_got


def reference_level(timings: Sequence[Timing]) -> float:
    """The reference's latency (ms) over a run: the median of its per-pass minima."""
    return float(np.median([t.reference_ms for t in timings]))


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


def summarise(samples: np.ndarray, round_ratios: Sequence[float],
              round_reference_ms: Sequence[float], *,
              other_load: float | None = None) -> Timing:
    """Raw-sample quartiles plus the median round ratio and its relative IQR (the spread)."""
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    r = np.asarray(round_ratios, dtype=float)
    rq1, ratio, rq3 = np.percentile(r, [25, 50, 75])
    return Timing(ratio=float(ratio), spread=float((rq3 - rq1) / ratio) if ratio > 0 else 0.0,
                  round_ratios=tuple(float(x) for x in r),
                  reference_ms=float(np.median(round_reference_ms)),
                  min_ms=float(samples.min()), median_ms=float(median), q1_ms=float(q1),
                  q3_ms=float(q3), iqr_ms=float(q3 - q1), repetitions=len(samples),
                  rounds=len(r), other_load=other_load)
