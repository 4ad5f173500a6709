"""N architectures that span the space: a seeded draw stratified over predicted latency.

Uniform sampling clusters where the space is dense (most random U-Nets are mid-latency), so
τ over such a set says little about telling a fast network from a slow one. Instead
`pool_per_arch × N` distinct architectures are drawn uniformly, sorted by predicted latency
and cut into N strata of equal count; one architecture is picked at random from each. The
set then runs from the pool's fastest stratum to its slowest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mias.errors import InputError
from mias.hardware.predictors import LatencyPredictor
from mias.space import Architecture, SearchSpace


@dataclass(frozen=True)
class Drawn:
    """One ranked architecture and its predicted latency on the rank's target."""

    arch: Architecture
    latency_ms: float
    latency_source: str
    stratum: int


def stratified_draw(space: SearchSpace, predictor: LatencyPredictor, n: int, *, seed: int,
                    pool_per_arch: int = 20) -> tuple[list[Drawn], dict[str, Any]]:
    """`n` architectures, one per latency stratum, and the description of how they were drawn."""
    if n > space.size():
        raise InputError(None, f"--archs {n} exceeds the {space.size()} architectures of the "
                         "search space", f"pass --archs {space.size()} or fewer")
    rng = np.random.default_rng(seed)
    wanted = n * pool_per_arch
    pool: dict[str, Architecture] = {}
    for _ in range(wanted * 20):
        if len(pool) >= min(wanted, space.size()):
            break
        arch = space.sample(rng)
        pool.setdefault(arch.id, arch)
    figures = {i: predictor.predict(space, a) for i, a in pool.items()}
    order = sorted(pool, key=lambda i: (figures[i].value, i))
    strata = np.array_split(np.arange(len(order)), n)
    drawn = []
    for s, members in enumerate(strata):
        pick = order[int(members[rng.integers(len(members))])]
        drawn.append(Drawn(pool[pick], float(figures[pick].value), figures[pick].label, s))
    values = [figures[i].value for i in order]
    protocol = {
        "method": "latency-stratified: distinct uniform samples of the space sorted by "
                  "predicted latency, cut into N equal-count strata, one picked at random "
                  "from each",
        "seed": seed, "pool": len(order), "pool_per_arch": pool_per_arch,
        "pool_latency_ms": [float(values[0]), float(values[-1])],
        "drawn_latency_ms": [min(d.latency_ms for d in drawn),
                             max(d.latency_ms for d in drawn)],
        "latency_source": drawn[0].latency_source,
    }
    return drawn, protocol
