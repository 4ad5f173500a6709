"""Progressive pruning (P-DARTS-style) by measured task-metric / latency trade-off.

Between two pruning points every candidate accumulates the validation metric of the
sampled sub-networks that used it, only since the last point, so all candidates of a
layer are judged on weights of the same age (for a trained supernet each path counts
relative to the mean of its step's paths: `MiasSearch._evidence`). At a pruning point each
alive candidate is scored

    score = ε_ce · m̂ − ε_lat · lat / reference

with m̂ its mean metric shrunk towards the layer's mean by `prior_samples` pseudo-samples
(a candidate seen twice is not trusted like one seen forty times) and lat its block latency
under the current distribution, in the same reference units as the loss. Each score has a
confidence interval, ε_ce · z · s / √n, with s the layer's pooled spread of the metric: a
candidate goes only when its upper bound falls below the `keep`-th best lower bound, so
no decision is taken on noise, and a candidate with no samples is never pruned (it stays,
undecided). Depths are scored the same way, with the expected latency of the layers a depth
adds. Every decision is logged with its evidence.
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
    squares: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def empty(cls, space: SearchSpace, layers: list[str]) -> CandidateStats:
        sums = {n: [0.0] * len(space.candidates(n)) for n in layers}
        sums["depth"] = [0.0] * len(space.depths)
        return cls(sums, {n: [0] * len(v) for n, v in sums.items()},
                   {n: [0.0] * len(v) for n, v in sums.items()})

    def add(self, space: SearchSpace, arch: Architecture, metric: float) -> None:
        d, choice = arch_indices(space, arch)
        for n, i in [("depth", d), *choice.items()]:
            self.sums[n][i] += metric
            self.squares[n][i] += metric * metric
            self.counts[n][i] += 1

    def pooled_spread(self, layer: str, alive: list[int]) -> float:
        """Standard deviation of the metric within candidates, pooled over the layer."""
        c = np.array([self.counts[layer][i] for i in alive], dtype=float)
        s = np.array([self.sums[layer][i] for i in alive])
        q = np.array([self.squares[layer][i] for i in alive])
        seen = c > 0
        dof = float((c[seen] - 1).sum())
        if dof < 1:
            return 0.0
        within = float((q[seen] - s[seen] ** 2 / c[seen]).sum())
        return float(np.sqrt(max(within, 0.0) / dof))

    def halfwidths(self, layer: str, alive: list[int], z: float) -> dict[int, float]:
        """z · s / √n per alive candidate (in metric units); infinite without samples, or
        while the layer has too few samples for a spread."""
        s = self.pooled_spread(layer, alive)
        out = {}
        for i in alive:
            n = self.counts[layer][i]
            out[i] = z * s / np.sqrt(n) if n > 0 and s > 0 else float("inf")
        return out

    def estimate(self, layer: str, alive: list[int], prior: float) -> dict[int, tuple[float, int]]:
        """Shrunk mean metric and sample count per alive candidate."""
        s = np.array([self.sums[layer][i] for i in alive])
        c = np.array([self.counts[layer][i] for i in alive], dtype=float)
        mean = float(s.sum() / c.sum()) if c.sum() else 0.0
        est = (s + prior * mean) / np.maximum(c + prior, 1e-12)
        return {i: (float(e), int(n)) for i, e, n in zip(alive, est, c, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {"sums": self.sums, "counts": self.counts, "squares": self.squares}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidateStats:
        squares = d.get("squares") or {k: [0.0] * len(v) for k, v in d["sums"].items()}
        return cls({k: list(v) for k, v in d["sums"].items()},
                   {k: list(v) for k, v in d["counts"].items()},
                   {k: list(v) for k, v in squares.items()})


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
    halfwidth: float

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "layer": self.layer, "candidate": self.candidate,
                "action": self.action, "score": self.score, "metric": self.metric,
                "latency_ms": self.latency_ms, "samples": self.samples,
                "score_halfwidth": None if not np.isfinite(self.halfwidth) else self.halfwidth}


def trade_off(est: dict[int, tuple[float, int]], latency_ms: dict[int, float], *,
              eps_ce: float, eps_lat: float, reference_ms: float) -> dict[int, float]:
    """score = ε_ce · m̂ − ε_lat · lat / reference, per candidate."""
    return {i: eps_ce * est[i][0] - eps_lat * latency_ms[i] / reference_ms for i in est}


def ranked(scores: dict[int, float], latency_ms: dict[int, float]) -> list[int]:
    """Best first; ties go to the faster, then the earlier candidate."""
    return sorted(scores, key=lambda i: (-scores[i], latency_ms[i], i))


def confident_drops(scores: dict[int, float], halfwidth: dict[int, float],
                    counts: dict[int, int], keep: int) -> list[int]:
    """Candidates whose upper bound lies below the `keep`-th best lower bound, best first.

    A candidate without samples is never dropped, and its own (infinite) interval keeps
    the threshold from being set by it.
    """
    if len(scores) <= keep:
        return []
    lower = sorted((scores[i] - halfwidth[i] for i in scores), reverse=True)
    threshold = lower[keep - 1]
    return [i for i in sorted(scores, key=lambda i: -scores[i])
            if counts[i] > 0 and scores[i] + halfwidth[i] < threshold]


def decisions(layer: str, names: list[str], kept: list[int], est: dict[int, tuple[float, int]],
              latency_ms: dict[int, float], scores: dict[int, float], step: int,
              keep: int, halfwidth: dict[int, float] | None = None) -> list[dict[str, Any]]:
    """One log record per alive candidate, best first."""
    hw = halfwidth or {}
    return [Decision(step, layer, names[i], "kept" if i in kept else "pruned", scores[i],
                     est[i][0], latency_ms[i], est[i][1], hw.get(i, 0.0)).to_dict()
            | {"keep": keep} for i in ranked(scores, latency_ms)]


def prune_layer(layer: str, names: list[str], est: dict[int, tuple[float, int]],
                latency_ms: dict[int, float], keep: int, *, eps_ce: float, eps_lat: float,
                reference_ms: float, step: int,
                halfwidth: dict[int, float] | None = None
                ) -> tuple[list[int], list[dict[str, Any]]]:
    """Drop the candidates confidently worse than the `keep` best trade-offs: (indices
    dropped, decisions). Without `halfwidth` (exact metrics, e.g. a benchmark table), the
    worst go until `keep` remain, except candidates with no samples."""
    scores = trade_off(est, latency_ms, eps_ce=eps_ce, eps_lat=eps_lat,
                       reference_ms=reference_ms)
    counts = {i: est[i][1] for i in est}
    given = halfwidth or dict.fromkeys(scores, 0.0)
    width = {i: eps_ce * given[i] if counts[i] > 0 else float("inf") for i in scores}
    drops = confident_drops(scores, width, counts, keep)
    kept = [i for i in ranked(scores, latency_ms) if i not in drops]
    return drops, decisions(layer, names, kept, est, latency_ms, scores, step, keep, width)


def apply_drops(mask: CandidateMask, layer: str, drops: list[int]) -> CandidateMask:
    for i in drops:
        mask = mask.without(layer, i)
    return mask
