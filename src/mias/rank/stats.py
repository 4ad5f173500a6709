"""Rank agreement between supernet and standalone scores, with bootstrap CIs.

Kendall τ-b and Spearman ρ come from SciPy. The CI resamples the N architectures with
replacement (seeded percentile bootstrap), which is the uncertainty that matters when τ
is quoted for "these N architectures drawn this way": few-shot-NAS and FairNAS figures
moved by tenths with the set ranked. Top-k overlap asks the practical question — would a
search that keeps the supernet's top k still hold the truly best architecture? A constant
ranking (every architecture scored the same) carries no order, so its τ and ρ are 0
rather than SciPy's NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def _corr(kind: str, a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    fn = stats.kendalltau if kind == "tau" else stats.spearmanr
    value = float(fn(a, b)[0])
    return value if np.isfinite(value) else 0.0


def bootstrap_ci(kind: str, a: np.ndarray, b: np.ndarray, *, rounds: int, confidence: float,
                 seed: int) -> tuple[float, float]:
    """Percentile CI of τ or ρ over architectures resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = len(a)
    values = np.array([_corr(kind, a[idx], b[idx])
                       for idx in (rng.integers(n, size=n) for _ in range(rounds))])
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def top_k(supernet: np.ndarray, standalone: np.ndarray, k: int) -> dict[str, Any]:
    """Overlap of the two top-k sets, and whether the supernet's top k holds the true best."""
    k = min(k, len(supernet))
    mine = set(np.argsort(-supernet, kind="stable")[:k].tolist())
    truth = np.argsort(-standalone, kind="stable")
    return {"k": k, "overlap": len(mine & set(truth[:k].tolist())) / k,
            "contains_best": bool(int(truth[0]) in mine)}


def agreement(supernet: Sequence[float], standalone: Sequence[float], *, rounds: int,
              confidence: float, seed: int, k: int) -> dict[str, Any]:
    """τ, ρ (each with its CI) and top-k of supernet scores against standalone scores."""
    a = np.asarray(supernet, dtype=np.float64)
    b = np.asarray(standalone, dtype=np.float64)
    out: dict[str, Any] = {}
    for kind in ("tau", "rho"):
        out[kind] = _corr(kind, a, b)
        out[f"{kind}_ci"] = list(bootstrap_ci(kind, a, b, rounds=rounds, confidence=confidence,
                                              seed=seed))
    out["top_k"] = top_k(a, b, k)
    return out


def paired_difference(first: Sequence[float], second: Sequence[float],
                      truth: Sequence[float], *, rounds: int, confidence: float,
                      seed: int) -> dict[str, Any]:
    """τ(first) − τ(second) against the same truth, with a paired bootstrap CI (the same
    resampled architectures for both, so the set's luck cancels)."""
    a, b, t = (np.asarray(v, dtype=np.float64) for v in (first, second, truth))
    rng = np.random.default_rng(seed)
    n = len(t)
    deltas = []
    for _ in range(rounds):
        idx = rng.integers(n, size=n)
        deltas.append(_corr("tau", a[idx], t[idx]) - _corr("tau", b[idx], t[idx]))
    alpha = (1.0 - confidence) / 2.0
    return {"delta_tau": _corr("tau", a, t) - _corr("tau", b, t),
            "ci": [float(np.quantile(deltas, alpha)), float(np.quantile(deltas, 1.0 - alpha))]}
