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


def tau_to_r(tau: float) -> float:
    """Kendall τ → the Pearson r of a bivariate normal with that τ (Greiner: τ = 2/π·asin r)."""
    return float(np.sin(np.pi * tau / 2.0))


def r_to_tau(r: float) -> float:
    return float(2.0 / np.pi * np.arcsin(np.clip(r, -1.0, 1.0)))


def noise_free_tau(half_tau: float) -> dict[str, float]:
    """The τ a noise-free ranking would reach against a truth averaged over two halves
    whose rankings agree at `half_tau`.

    The halves' agreement, as a correlation, is the reliability of half the truth; the
    Spearman–Brown correction gives the whole truth's, r_full = 2 r / (1 + r); a perfect
    ranking correlates with that truth at √r_full (the reliability index), turned back into
    a τ. A truth whose halves disagree (τ ≤ 0) leaves no ceiling above 0.
    """
    r_half = tau_to_r(half_tau)
    if r_half <= 0:
        return {"half_r": r_half, "full_reliability": 0.0, "tau": 0.0}
    full = 2.0 * r_half / (1.0 + r_half)
    return {"half_r": r_half, "full_reliability": full, "tau": r_to_tau(float(np.sqrt(full)))}


def ceiling(halves: tuple[Sequence[float], Sequence[float]], *, rounds: int,
            confidence: float, seed: int) -> dict[str, Any]:
    """`noise_free_tau` of two half-truths (e.g. the mean over even- and odd-numbered
    training seeds), with a percentile bootstrap CI over architectures."""
    a, b = (np.asarray(h, dtype=np.float64) for h in halves)
    rng = np.random.default_rng(seed)
    n = len(a)
    values = []
    for _ in range(rounds):
        idx = rng.integers(n, size=n)
        values.append(noise_free_tau(_corr("tau", a[idx], b[idx]))["tau"])
    alpha = (1.0 - confidence) / 2.0
    half = _corr("tau", a, b)
    return {"half_tau": half, **noise_free_tau(half),
            "ci": [float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))],
            "method": "split-half Kendall tau → Pearson r (Greiner's relation), Spearman–Brown "
                      "to the whole truth, reliability index √r, back to tau"}


def within_groups(scores: Sequence[float], truth: Sequence[float],
                  groups: Sequence[Any]) -> dict[str, Any]:
    """τ inside each group (e.g. each depth) with ≥ 3 members: credit for ordering what a
    trivial grouping cannot."""
    s, t, g = np.asarray(scores, float), np.asarray(truth, float), np.asarray(groups)
    out: dict[str, Any] = {}
    for key in sorted(set(g.tolist())):
        mask = g == key
        if mask.sum() >= 3:
            out[str(key)] = {"n": int(mask.sum()), "tau": _corr("tau", s[mask], t[mask])}
    return out


def tied(scores: Sequence[float]) -> int:
    """Architectures whose score equals another's: pairs a ranking cannot order, which
    τ-b counts as neither agreeing nor disagreeing (hard Dice of 0 ties whole groups)."""
    _, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True,
                                   return_counts=True)
    return int((counts[inverse] > 1).sum())
