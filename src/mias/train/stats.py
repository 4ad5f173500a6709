"""Uncertainty and subgroups: seeded bootstrap CIs over cases (SciPy), per-group figures.

A figure is `{"value", "ci": [low, high] | None, "n", "note"?}`. The CI is SciPy's
percentile bootstrap over cases (resampling case indices, so a metric of several arrays —
precision, ROC AUC — stays paired); fewer than two cases give no CI and say so. Subgroups
(sex, age bin, manufacturer, field strength: whatever `prepare` recorded) each report n
and their CI; the worst-group gap is best minus worst over groups with a CI.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import bootstrap

MIN_CASES_FOR_CI = 2
TOO_FEW = f"n<{MIN_CASES_FOR_CI}: no confidence interval"

Statistic = Callable[[np.ndarray], float]


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def figure(statistic: Statistic, n: int, *, resamples: int, confidence: float,
           seed: int) -> dict[str, Any]:
    """`statistic(indices)` at all `n` cases, with its bootstrap CI over case indices."""
    idx = np.arange(n)
    value = statistic(idx) if n else float("nan")
    out: dict[str, Any] = {"value": _finite(value), "n": n, "ci": None}
    if n < MIN_CASES_FOR_CI:
        out["note"] = TOO_FEW
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((idx,), lambda i: statistic(i.astype(int)), vectorized=False,
                        n_resamples=resamples, confidence_level=confidence,
                        method="percentile", rng=np.random.default_rng(seed))
    low, high = _finite(res.confidence_interval.low), _finite(res.confidence_interval.high)
    if low is None or high is None:
        out["note"] = "undefined in some resamples (e.g. one class only)"
    else:
        out["ci"] = [low, high]
    return out


def mean_of(values: Sequence[float]) -> Statistic:
    """The NaN-ignoring mean of per-case values (NaN marks an undefined case value)."""
    arr = np.asarray(values, dtype=np.float64)

    def stat(i: np.ndarray) -> float:
        sel = arr[i]
        return float(np.nanmean(sel)) if np.isfinite(sel).any() else float("nan")

    return stat


def subgroup_figures(groups: dict[str, Sequence[str]], statistics: dict[str, Callable[
        [np.ndarray], Statistic]], *, resamples: int, confidence: float,
        seed: int) -> dict[str, Any]:
    """Per attribute and group: n and each statistic's figure; plus the worst-group gap.

    `groups[attribute]` is one group name per case; `statistics[name](case_indices)` gives
    that statistic restricted to those cases (as a function of indices into them).
    """
    out: dict[str, Any] = {}
    for attribute, names in groups.items():
        names = np.asarray(names)
        table: dict[str, Any] = {}
        for group in sorted(set(names.tolist())):
            members = np.flatnonzero(names == group)
            entry: dict[str, Any] = {"n": len(members)}
            if len(members) < MIN_CASES_FOR_CI:
                entry["flag"] = TOO_FEW
            for stat_name, make in statistics.items():
                entry[stat_name] = figure(make(members), len(members), resamples=resamples,
                                          confidence=confidence, seed=seed)
            table[group] = entry
        out[attribute] = {"groups": table, "worst_group_gap": _gaps(table, statistics)}
    return out


def lower_is_better(name: str) -> bool:
    """Errors and distances: smaller is better."""
    return any(k in name for k in ("error", "mae", "hd95"))


def _gaps(table: dict[str, Any], statistics: dict[str, Any]) -> dict[str, Any]:
    gaps: dict[str, Any] = {}
    for stat_name in statistics:
        scored = {g: e[stat_name]["value"] for g, e in table.items()
                  if e["n"] >= MIN_CASES_FOR_CI and e[stat_name]["value"] is not None}
        if len(scored) < 2:
            gaps[stat_name] = {"gap": None, "note": "fewer than two groups with n>=2"}
            continue
        best, worst = max(scored, key=scored.get), min(scored, key=scored.get)
        if lower_is_better(stat_name):
            best, worst = worst, best
        gaps[stat_name] = {"gap": abs(scored[best] - scored[worst]), "best": best,
                           "worst": worst}
    return gaps
