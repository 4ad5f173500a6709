"""Host latency of exported models side by side: interleaved, so drift hits all alike.

A shared machine runs fast and slow phases; timing fp32 after int8 would credit one with
the other's phase. Each round therefore runs every model (in a seeded order) a few times
and keeps its fastest run; a model's latency is the median of its round minima, and the
ratio of two models is the median of their per-round ratios. The figures are labelled
measured on host — they say nothing about a Raspberry Pi.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mias.hardware.figures import Figure

Runner = Callable[[], Any]


def interleaved_ms(runners: Mapping[str, Runner], *, budget_s: float = 30.0,
                   min_rounds: int = 5, max_rounds: int = 15, warmup: int = 2,
                   seed: int = 0) -> dict[str, list[float]]:
    """Per model, the fastest of a few calls in each of several interleaved rounds (ms).

    The round count fits `budget_s` (at least `min_rounds`); models slower than 50 ms get
    one call per round, faster ones three.
    """
    names = list(runners)
    warm = {}
    for name in names:
        warm[name] = min(_call_ms(runners[name]) for _ in range(max(warmup, 1)))
    runs = 1 if max(warm.values()) > 50 else 3
    per_round_s = runs * sum(warm.values()) / 1e3
    rounds = int(np.clip(budget_s / max(per_round_s, 1e-6), min_rounds, max_rounds))
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):
        for i in rng.permutation(len(names)):
            out[names[i]].append(min(_call_ms(runners[names[i]]) for _ in range(runs)))
    return out


def _call_ms(runner: Runner) -> float:
    t0 = time.perf_counter_ns()
    runner()
    return (time.perf_counter_ns() - t0) / 1e6


def host_figure(samples: Sequence[float], runtime: str, threads: int) -> Figure:
    """The median of round minima as a `measured` figure on host."""
    s = np.asarray(samples)
    q1, q3 = np.percentile(s, [25, 75])
    return Figure(value=float(np.median(s)), unit="ms", source="measured", device="host",
                  runtime=runtime, threads=threads,
                  basis=f"median over {len(s)} interleaved rounds of the fastest of each "
                        f"round (IQR {q1:.2f}–{q3:.2f} ms)")


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median of per-round ratios (a slow phase slows both and cancels)."""
    return float(np.median(np.asarray(numerator) / np.asarray(denominator)))
