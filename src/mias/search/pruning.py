"""Progressive pruning (P-DARTS-style) by measured task-metric / latency trade-off.

Between two pruning points every candidate accumulates the validation metric of the
sampled sub-networks that used it (only since the last point, so all candidates of a
layer are judged on weights of the same age). At a pruning point each alive candidate is
scored

    score = ε_ce · m̂ − ε_lat · lat / reference

with m̂ its mean metric shrunk towards the layer's mean by `prior_samples` pseudo-samples
(a candidate seen twice is not trusted like one seen forty times) and lat its block latency
under the current distribution, in the same reference units as the loss. The worst go until
`keep` remain; depths are scored the same way, with the expected latency of the layers a
depth adds. Every decision is logged with its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mias.search.state import CandidateMask, arch_indices
from mias.space import Architecture, SearchSpace


@dataclass
class CandidateStats:
    """Per layer (and "depth"), per candidate index: metric sum and count in the window."""

    sums: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def empty(cls, space: SearchSpace, layers: list[str]) -> CandidateStats:
        sums = {n: [0.0] * len(space.candidates(n)) for n in layers}
        sums["depth"] = [0.0] * len(space.depths)
        return cls(sums, {n: [0] * len(v) for n, v in sums.items()})

    def add(self, space: SearchSpace, arch: Architecture, metric: float) -> None:
        d, choice = arch_indices(space, arch)
        for n, i in [("depth", d), *choice.items()]:
            self.sums[n][i] += metric
            self.counts[n][i] += 1

    def estimate(self, layer: str, alive: list[int], prior: float) -> dict[int, tuple[float, int]]:
        """Shrunk mean metric and sample count per alive candidate."""
        s = np.array([self.sums[layer][i] for i in alive])
        c = np.array([self.counts[layer][i] for i in alive], dtype=float)
        mean = float(s.sum() / c.sum()) if c.sum() else 0.0
        est = (s + prior * mean) / np.maximum(c + prior, 1e-12)
        return {i: (float(e), int(n)) for i, e, n in zip(alive, est, c, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {"sums": self.sums, "counts": self.counts}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidateStats:
        return cls({k: list(v) for k, v in d["sums"].items()},
                   {k: list(v) for k, v in d["counts"].items()})


@dataclass(frozen=True)
class Decision:
    step: int
    layer: str
    candidate: str
    action: str
    score: float
    metric: float
    latency_ms: float
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "layer": self.layer, "candidate": self.candidate,
                "action": self.action, "score": self.score, "metric": self.metric,
                "latency_ms": self.latency_ms, "samples": self.samples}


def trade_off(est: dict[int, tuple[float, int]], latency_ms: dict[int, float], *,
              eps_ce: float, eps_lat: float, reference_ms: float) -> dict[int, float]:
    """score = ε_ce · m̂ − ε_lat · lat / reference, per candidate."""
    return {i: eps_ce * est[i][0] - eps_lat * latency_ms[i] / reference_ms for i in est}


def ranked(scores: dict[int, float], latency_ms: dict[int, float]) -> list[int]:
    """Best first; ties go to the faster, then the earlier candidate."""
    return sorted(scores, key=lambda i: (-scores[i], latency_ms[i], i))


def decisions(layer: str, names: list[str], kept: list[int], est: dict[int, tuple[float, int]],
              latency_ms: dict[int, float], scores: dict[int, float], step: int,
              keep: int) -> list[dict[str, Any]]:
    """One log record per alive candidate, best first."""
    return [Decision(step, layer, names[i], "kept" if i in kept else "pruned", scores[i],
                     est[i][0], latency_ms[i], est[i][1]).to_dict() | {"keep": keep}
            for i in ranked(scores, latency_ms)]


def prune_layer(layer: str, names: list[str], est: dict[int, tuple[float, int]],
                latency_ms: dict[int, float], keep: int, *, eps_ce: float, eps_lat: float,
                reference_ms: float, step: int) -> tuple[list[int], list[dict[str, Any]]]:
    """Keep the `keep` best trade-offs: (indices dropped, decisions)."""
    scores = trade_off(est, latency_ms, eps_ce=eps_ce, eps_lat=eps_lat,
                       reference_ms=reference_ms)
    kept = ranked(scores, latency_ms)[:keep]
    return ([i for i in ranked(scores, latency_ms) if i not in kept],
            decisions(layer, names, kept, est, latency_ms, scores, step, keep))


def apply_drops(mask: CandidateMask, layer: str, drops: list[int]) -> CandidateMask:
    for i in drops:
        mask = mask.without(layer, i)
    return mask
