"""Surrogate task metric for architectures the table does not hold.

Gradient boosting (scikit-learn) on an architecture encoding that means the same in every
task: the genotype (depth rank, per layer the operator one-hot and the width, kernel,
expansion and repeat ranks, residual and SE flags) plus log FLOPs and log parameters. Its
quality is measured on held-out architectures (k-fold: Kendall τ and MAE of out-of-fold
predictions) and recorded in the table's metadata; strategies that leave the table know
how far to trust it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import KFold

from mias.bench.genotype import MAX_LAYERS, Gene, lift
from mias.space import Architecture, SearchSpace, list_ops, network_flops, network_params

GENE_FIELDS = 7
MIN_HELD_OUT = 6


def _gene_vector(gene: Gene | None, ops: list[str]) -> list[float]:
    if gene is None:
        return [0.0] * (1 + len(ops) + GENE_FIELDS - 1)
    onehot = [float(gene.op == op) for op in ops]
    return [1.0, *onehot, gene.width, gene.kernel, gene.expansion, gene.layers,
            float(gene.residual), float(gene.se)]


def encode(space: SearchSpace, arch: Architecture) -> np.ndarray:
    """Fixed-length features of `arch`, comparable across tasks."""
    ops = list_ops()
    g = lift(space, arch)
    enc = [g.encoder[k] if k < len(g.encoder) else None for k in range(MAX_LAYERS)]
    dec = [g.decoder[k] if k < len(g.decoder) else None for k in range(MAX_LAYERS - 1)]
    feats = [g.depth, float(arch.depth)]
    for gene in (*enc, *dec):
        feats += _gene_vector(gene, ops)
    feats += [np.log10(network_flops(space, arch) + 1.0),
              np.log10(network_params(space, arch) + 1.0)]
    return np.asarray(feats, dtype=np.float64)


def _model(seed: int) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=150, max_depth=2, learning_rate=0.05,
                                     subsample=0.8, random_state=seed)


class Surrogate:
    """A fitted metric model for one task's space."""

    def __init__(self, space: SearchSpace, model: GradientBoostingRegressor) -> None:
        self.space = space
        self.model = model

    @classmethod
    def fit(cls, space: SearchSpace, archs: Sequence[Architecture], y: Sequence[float], *,
            seed: int = 0) -> Surrogate:
        x = np.stack([encode(space, a) for a in archs])
        return cls(space, _model(seed).fit(x, np.asarray(y, dtype=np.float64)))

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        return self.model.predict(np.stack([encode(self.space, a) for a in archs]))

    def save(self, path: str | Path) -> Path:
        """joblib file of the fitted model plus the space (trusted, self-written files only)."""
        import joblib

        from mias.atomic import atomic_file

        with atomic_file(path) as tmp:
            joblib.dump({"space": self.space.to_dict(), "model": self.model}, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        import joblib

        state = joblib.load(path)
        return cls(SearchSpace.from_dict(state["space"]), state["model"])


def held_out_quality(space: SearchSpace, archs: Sequence[Architecture], y: Sequence[float], *,
                     seed: int = 0, folds: int = 5) -> dict[str, Any]:
    """Kendall τ and MAE of out-of-fold predictions (k-fold over the table's archs)."""
    target = np.asarray(y, dtype=np.float64)
    if len(target) < MIN_HELD_OUT:
        return {"kendall_tau": None, "mae": None, "folds": 0, "n": len(target),
                "model": f"not assessed: fewer than {MIN_HELD_OUT} architectures"}
    x = np.stack([encode(space, a) for a in archs])
    folds = min(folds, len(target) // 2)
    oof = np.empty_like(target)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        oof[test] = _model(seed).fit(x[train], target[train]).predict(x[test])
    tau = kendalltau(target, oof).statistic
    return {"kendall_tau": None if not np.isfinite(tau) else float(tau),
            "mae": float(np.mean(np.abs(oof - target))), "folds": folds, "n": len(target),
            "model": "sklearn GradientBoostingRegressor(n_estimators=150, max_depth=2, "
                     "learning_rate=0.05, subsample=0.8) on the genotype encoding"}
