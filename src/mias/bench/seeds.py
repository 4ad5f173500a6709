"""Several training seeds per table cell: one row from them, and how far seeds agree.

A row's figures are means over its seeds (per structure too, ignoring a structure a seed
left out), with each seed's metric and learning curve kept beside them, as NAS-Bench-201
keeps its per-seed runs. How much the ranking of a task's architectures depends on the seed
is the ceiling any ranking from the table can reach, so the build records it per task: the
Kendall τ between seeds over the task's architectures, at every epoch of the schedule
(which fidelity separates architectures) and at the end, with a bootstrap CI.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

BOOTSTRAP = 1000
#: Columns that are the same for every seed of a cell.
SHARED = ("task", "arch_id", "genotype_id", "arch", "depth", "metric_name", "train_steps")


def _mean(values: Sequence[Any]) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(finite)) if finite else None


def _mean_dicts(dicts: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    keys = dict.fromkeys(k for d in dicts for k in d)
    return {k: _mean([d.get(k) for d in dicts]) for k in keys}


def merge_seeds(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One table row from the cells of one architecture trained with several seeds."""
    rows = sorted(rows, key=lambda r: r["seed"])
    out: dict[str, Any] = {k: rows[0][k] for k in SHARED if k in rows[0]}
    skip = {*SHARED, "seed", "curve", "diverged"}
    for key in dict.fromkeys(k for r in rows for k in r):
        if key in skip:
            continue
        values = [r.get(key) for r in rows]
        if all(isinstance(v, str) for v in values if v is not None):
            out[key] = json.dumps(_mean_dicts([json.loads(v) for v in values if v]),
                                  sort_keys=True)
        else:
            out[key] = _mean(values)
    metrics = [float(r["metric"]) for r in rows]
    out["metric_sd"] = float(np.std(metrics, ddof=1)) if len(metrics) > 1 else None
    out["diverged"] = any(bool(r["diverged"]) for r in rows)
    out["training_seeds"] = json.dumps([int(r["seed"]) for r in rows])
    out["metric_by_seed"] = json.dumps({str(r["seed"]): float(r["metric"]) for r in rows})
    out["curve_by_seed"] = json.dumps({str(r["seed"]): r["curve"] for r in rows})
    return out


def _tau(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    value = kendalltau(a, b).statistic
    return float(value) if np.isfinite(value) else None


def _pairwise_tau(scores: np.ndarray) -> float | None:
    """Mean τ over pairs of seeds; `scores` is architectures × seeds."""
    taus = [_tau(scores[:, i], scores[:, j])
            for i, j in itertools.combinations(range(scores.shape[1]), 2)]
    taus = [t for t in taus if t is not None]
    return float(np.mean(taus)) if taus else None


def seed_agreement(rows: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """Seed-to-seed Kendall τ of one task's rows (final metric and per epoch), with a
    bootstrap 95 % CI over architectures; None where a seed ranks nothing (all ties)."""
    by_seed = [json.loads(v) for v in rows["metric_by_seed"]]
    curves = [json.loads(v) for v in rows["curve_by_seed"]]
    seeds = sorted(by_seed[0], key=int) if by_seed else []
    if len(seeds) < 2:
        return {"kendall_tau": None, "ci95": None, "by_epoch": [], "seeds": len(seeds),
                "n": len(rows), "method": "needs at least 2 seeds"}
    final = np.array([[r[s] for s in seeds] for r in by_seed], dtype=np.float64)
    epochs = min(len(c[s]) for c in curves for s in seeds)
    by_epoch = [_pairwise_tau(np.array([[c[s][e] for s in seeds] for c in curves]))
                for e in range(epochs)]
    rng = np.random.default_rng(seed)
    boot = [_pairwise_tau(final[rng.integers(len(final), size=len(final))])
            for _ in range(BOOTSTRAP)]
    boot = [b for b in boot if b is not None]
    return {"kendall_tau": _pairwise_tau(final),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]
            if boot else None,
            "by_epoch": by_epoch, "seeds": len(seeds), "n": len(rows),
            "method": "Kendall τ between the metrics of two training seeds over the task's "
                      "architectures (mean over seed pairs); CI: 1,000 bootstrap resamples "
                      "of architectures"}
