"""Time ONNX models with ONNX Runtime on the CPU, every run bracketed by a reference.

This is the one measurement harness: blocks, block chains, the per-call probe and whole
networks are all timed by `time_models`, so their figures are comparable. It needs only
numpy and onnxruntime (the light install on a board). Inputs are bound once through an
`IOBinding` and outputs stay in ONNX Runtime's arena, so a block is not charged for copying
its output into numpy, which a network never does between its blocks.

A shared machine drifts between fast and slow phases (frequency, cache and memory-bandwidth
contention from other virtual machines) over seconds to minutes. The protocol removes what
it can of that drift, and keeps the rest from looking like a difference between models:

- **One thread pool.** Every session of a timing run uses one process-wide intra-op pool
  (`set_global_thread_pool_sizes`, `use_per_session_threads = False`). With a pool per
  session, each session's workers spin for tens of ms after every run and fight the next
  session for the cores. A global pool binds every later session of its process, so a
  multi-threaded timing runs in a child process of its own (spawned, numpy + onnxruntime
  only), and the caller's sessions are left as they were. Where the global pool cannot be
  had, each session stops spinning after its runs instead (recorded as `thread_pool`).
- **Sessions opened once per phase** and warmed with `warmup_runs` runs, so memory
  patterns and arenas are settled before anything is timed.
- **A reference network.** The reference is a fixed network of the same kind as the models
  (a search space's network near its 20th FLOPs percentile), so the memory-bandwidth and
  cache phases that slow a 3D network slow the reference too. A reference shorter than
  `burst_ms` runs in bursts of that length, so it is never the noisier half of a ratio.
- **Bracketing.** Every timed run (or burst, for an item shorter than `burst_ms`) sits
  between two reference runs, and its ratio is x / √(ref_before · ref_after): a slow phase
  that covers the item covers at least one side of it.
- **Medians of ratios**, for blocks and networks alike. Rounds visit every item once, in a
  seeded random order, so no item always falls in the same phase.
- **The cold run kept.** The first run of each visit follows the reference, which has
  evicted the item's caches, as the previous block does inside a network; its ratio is kept
  beside the warm burst's (`cold_ratio`), and the predictor chooses between them by
  measurement.

Milliseconds are a ratio times the reference level of the run that timed it
(`Timing.reference_ms`). Each timing also records how many cores other processes used
meanwhile (`other_load`, from /proc/stat), so a table says how contended the machine was.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import _pybind_state
from onnxruntime.capi.onnxruntime_pybind11_state import Fail
from pydantic import BaseModel, ConfigDict

from mias.errors import InputError

PROTOCOL = "bracketed-reference-network/1"
PoolMode = Literal["global", "per-session", "single"]

_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}
_GLOBAL_POOL: dict[str, int] = {}

Model = str | Path | bytes


@dataclass(frozen=True)
class TimingPolicy:
    """How long to time: `rounds` visits of every item.

    An item at least `burst_ms` long is run `pairs` times per visit, each run bracketed by
    the reference; a shorter one runs once per visit as a burst of about `burst_ms` (at
    least 3 and at most `max_burst` runs), whose median is bracketed.
    """

    rounds: int = 4
    pairs: int = 2
    warmup_runs: int = 3
    burst_ms: float = 15.0
    max_burst: int = 64

    def __post_init__(self) -> None:
        for name in ("rounds", "pairs", "max_burst"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.warmup_runs < 1:
            raise ValueError("warmup_runs must be at least 1")
        if not (self.burst_ms > 0 and math.isfinite(self.burst_ms)):
            raise ValueError("burst_ms must be a positive number")

    def burst(self, estimate_ms: float) -> int:
        """Runs per burst for an item of about `estimate_ms`: 1 for a long item."""
        if estimate_ms >= self.burst_ms:
            return 1
        return int(np.clip(math.ceil(self.burst_ms / max(estimate_ms, 1e-3)), 3,
                           self.max_burst))


class Timing(BaseModel):
    """One item's latency as a ratio to the reference, with the raw samples' statistics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: float
    cold_ratio: float | None = None
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
    thread_pool: str | None = None

    def ms(self, reference_ms: float | None = None, *, cold: bool = False) -> float:
        """Latency in ms at the reference level `reference_ms` (default: its own run's)."""
        ratio = self.cold_ratio if cold and self.cold_ratio is not None else self.ratio
        return ratio * (self.reference_ms if reference_ms is None else reference_ms)

    def split_ratios(self) -> tuple[float, float]:
        """Median ratio of the odd and of the even rounds (within one phase)."""
        r = np.asarray(self.round_ratios)
        return float(np.median(r[0::2])), float(np.median(r[1::2]))


def runtime_label() -> str:
    """E.g. `onnxruntime 1.32.0 CPU`: the runtime every measured figure names."""
    return f"onnxruntime {ort.__version__} CPU"


def thread_pool(threads: int) -> PoolMode:
    """Make every timing session of this process share one intra-op pool of `threads`.

    The process-wide pool can be sized once; a later request for another size falls back
    to per-session pools that stop spinning after each run.
    """
    if threads <= 1:
        return "single"
    if _GLOBAL_POOL.get("threads") == threads:
        return "global"
    if "threads" not in _GLOBAL_POOL:
        try:
            _pybind_state.set_global_thread_pool_sizes(threads, 1)
        except (AttributeError, RuntimeError, Fail):
            _GLOBAL_POOL["threads"] = 0
            return "per-session"
        _GLOBAL_POOL["threads"] = threads
        return "global"
    return "per-session"


def session_options(threads: int) -> ort.SessionOptions:
    """Sequential execution, full graph fusion, and the pool `thread_pool` arranged."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    mode = thread_pool(threads)
    if mode == "global":
        options.use_per_session_threads = False
        return options
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if mode == "per-session":
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


def open_session(model: Model, threads: int) -> ort.InferenceSession:
    """A CPU session for timing (see `session_options`)."""
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, session_options(threads),
                                    providers=["CPUExecutionProvider"])
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
        self._inputs = [np.ascontiguousarray(a) for a in random_feeds(self.session, seed).values()]
        for arg, array in zip(self.session.get_inputs(), self._inputs, strict=True):
            self.binding.bind_cpu_input(arg.name, array)
        for out in self.session.get_outputs():
            self.binding.bind_output(out.name, "cpu")

    def run(self) -> float:
        t0 = time.perf_counter_ns()
        self.session.run_with_iobinding(self.binding)
        return (time.perf_counter_ns() - t0) / 1e6

    def burst(self, n: int) -> tuple[float, list[float]]:
        """`n` runs back to back: their median, and the runs."""
        runs = [self.run() for _ in range(n)]
        return float(np.median(runs)), runs


def bracketed_ratio(run_ms: float, ref_before_ms: float, ref_after_ms: float) -> float:
    """x / √(ref_before · ref_after): a phase that slows both the item and the reference
    beside it cancels."""
    return run_ms / math.sqrt(ref_before_ms * ref_after_ms)


def time_model(model: Model, reference: Model, *, threads: int,
               policy: TimingPolicy | None = None, seed: int = 0) -> Timing:
    """Time one model against `reference` under `policy`."""
    return time_models([model], reference, threads=threads, policy=policy, seed=seed)[0]


@dataclass
class _Record:
    ratios: list[float]
    rounds: list[int]
    cold: list[float]
    runs: list[float]
    loads: list[float]


def time_models(models: Sequence[Model], reference: Model, *, threads: int,
                policy: TimingPolicy | None = None, seed: int = 0, cold: bool = True,
                progress: Callable[[int, int], None] | None = None) -> list[Timing]:
    """Time every model in seeded random rounds, each run bracketed by the reference.

    One phase: every session (the reference's included) is opened and warmed, used for all
    rounds, and closed at the end. `cold=False` skips the cold run of each visit (whole
    networks, whose first run is as warm as the others). With more than one thread the
    phase runs in a child process that owns the one thread pool (see the module notes).
    """
    policy = policy or TimingPolicy()
    if threads <= 1 or _GLOBAL_POOL.get("child"):
        return time_in_process(models, reference, threads=threads, policy=policy, seed=seed,
                               cold=cold, progress=progress)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, daemon=True, args=(
        child, [m if isinstance(m, bytes) else str(m) for m in models],
        reference if isinstance(reference, bytes) else str(reference), threads, policy, seed,
        cold))
    process.start()
    child.close()
    try:
        while True:
            try:
                kind, payload = parent.recv()
            except EOFError:
                raise RuntimeError(f"the timing process ended with exit code "
                                   f"{process.exitcode} before reporting") from None
            if kind == "progress" and progress:
                progress(*payload)
            elif kind == "error":
                raise payload
            elif kind == "done":
                return [Timing.model_validate(t) for t in payload]
    finally:
        parent.close()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _child(conn, models: list[Model], reference: Model, threads: int, policy: TimingPolicy,
           seed: int, cold: bool) -> None:
    """The timing process: one global pool, the phase, its timings sent back as dicts."""
    _GLOBAL_POOL["child"] = 1
    try:
        timings = time_in_process(models, reference, threads=threads, policy=policy, seed=seed,
                                  cold=cold,
                                  progress=lambda d, t: conn.send(("progress", (d, t))))
        conn.send(("done", [t.model_dump() for t in timings]))
    except InputError as exc:
        conn.send(("error", exc))
    finally:
        conn.close()


def time_in_process(models: Sequence[Model], reference: Model, *, threads: int,
                    policy: TimingPolicy, seed: int = 0, cold: bool = True,
                    progress: Callable[[int, int], None] | None = None) -> list[Timing]:
    """`time_models` in this process (where its pool mode binds every later session)."""
    pool = thread_pool(threads)
    rng = np.random.default_rng(seed)
    ref = _Runner(reference, threads, seed)
    ref_burst = policy.burst(min(ref.run() for _ in range(policy.warmup_runs)))
    runners, bursts = [], []
    for model in models:
        runner = _Runner(model, threads, seed)
        runners.append(runner)
        bursts.append(policy.burst(min(runner.run() for _ in range(policy.warmup_runs))))
    records = [_Record([], [], [], [], []) for _ in models]
    levels: list[float] = []
    done, total = 0, policy.rounds * len(models)
    before = ref.burst(ref_burst)[0]
    for r in range(policy.rounds):
        gc.collect()
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for i in rng.permutation(len(models)):
                rec, runner, n = records[i], runners[i], bursts[i]
                load = CpuLoad()
                first = runner.run() if cold else None
                for p in range(policy.pairs if n == 1 else 1):
                    value, runs = runner.burst(n)
                    after = ref.burst(ref_burst)[0]
                    rec.ratios.append(bracketed_ratio(value, before, after))
                    rec.rounds.append(r)
                    rec.runs.extend(runs)
                    if first is not None and p == 0:
                        rec.cold.append(bracketed_ratio(first, before, after))
                    levels.append(after)
                    before = after
                others = load.others()
                if others is not None:
                    rec.loads.append(others)
                done += 1
                if progress:
                    progress(done, total)
        finally:
            if gc_was_enabled:
                gc.enable()
    level = float(np.median(levels))
    del runners, ref
    gc.collect()
    return [summarise(rec, level, pool) for rec in records]


def summarise(rec: _Record, reference_ms: float, pool: str | None = None) -> Timing:
    """Median bracketed ratio with its relative IQR (the spread), per-round medians, the cold
    ratio, and the raw runs' quartiles."""
    r = np.asarray(rec.ratios, dtype=float)
    rq1, ratio, rq3 = np.percentile(r, [25, 50, 75])
    rounds = np.asarray(rec.rounds)
    per_round = [float(np.median(r[rounds == k])) for k in sorted(set(rec.rounds))]
    runs = np.asarray(rec.runs, dtype=float)
    q1, median, q3 = np.percentile(runs, [25, 50, 75])
    return Timing(ratio=float(ratio), spread=float((rq3 - rq1) / ratio) if ratio > 0 else 0.0,
                  cold_ratio=float(np.median(rec.cold)) if rec.cold else None,
                  round_ratios=tuple(per_round), reference_ms=reference_ms,
                  min_ms=float(runs.min()), median_ms=float(median), q1_ms=float(q1),
                  q3_ms=float(q3), iqr_ms=float(q3 - q1), repetitions=len(runs),
                  rounds=len(per_round),
                  other_load=float(np.mean(rec.loads)) if rec.loads else None,
                  thread_pool=pool)


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
