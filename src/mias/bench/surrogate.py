"""Surrogate task metric for architectures the table does not hold — when it earns it.

An ensemble of gradient-boosting models (scikit-learn), each fitted on a bootstrap resample
of the table's rows, on an architecture encoding that means the same in every task: the
genotype (depth rank, per layer the operator one-hot and the width, kernel, expansion and
repeat ranks, residual and SE flags) plus log FLOPs and log parameters. The members'
spread is its uncertainty. Its quality is measured on held-out architectures (k-fold:
Kendall τ and MAE of out-of-fold predictions) beside the trivial ranking by log FLOPs, and
recorded in the table's metadata.

A surrogate that does not rank held-out architectures better than their FLOPs do, or that
is asked about an architecture far from every one it was fitted on, has not earned its
answer: `OffTablePredictor` then answers with a monotone fit of the metric on log FLOPs
instead, says so in the answer and warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold

from mias.bench.genotype import MAX_LAYERS, Gene, lift
from mias.space import Architecture, SearchSpace, list_ops, network_flops, network_params

GENE_FIELDS = 7
MIN_HELD_OUT = 6
#: Ensemble members (bootstrap resamples) of a surrogate.
ENSEMBLE = 8
#: Percentile of the fitted set's leave-one-out nearest-neighbour distances that bounds
#: the trust region.
TRUST_PERCENTILE = 90.0
#: Index of log10 FLOPs in `encode`'s features.
LOG_FLOPS = -2
SURROGATE = "surrogate"
FALLBACK = "log-flops fallback"


class SurrogateFallbackWarning(UserWarning):
    """An off-table metric came from the log-FLOPs fallback, not the surrogate."""


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


def _encode_all(space: SearchSpace, archs: Sequence[Architecture]) -> np.ndarray:
    return np.stack([encode(space, a) for a in archs])


def first_seed(value: int | Sequence[int] | None) -> int:
    """One seed from a metadata seed entry, which is an int or (several training seeds) a
    list of ints: the first one, so every reader derives the same surrogate."""
    if value is None:
        return 0
    if isinstance(value, (int, np.integer)):
        return int(value)
    seeds = list(value)
    return int(seeds[0]) if seeds else 0


def _model(seed: int) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=150, max_depth=2, learning_rate=0.05,
                                     subsample=0.8, random_state=seed)


def _fit_members(x: np.ndarray, y: np.ndarray, seed: int,
                 members: int) -> list[GradientBoostingRegressor]:
    """`members` models, each on its own bootstrap resample with its own seed, all derived
    from `seed`: the same seed gives the same ensemble."""
    out = []
    for child in np.random.SeedSequence(seed).spawn(members):
        rng = np.random.default_rng(child)
        rows = rng.integers(0, len(y), len(y))
        out.append(_model(int(rng.integers(2**31 - 1))).fit(x[rows], y[rows]))
    return out


@dataclass(frozen=True)
class TrustRegion:
    """Where the surrogate has seen architectures: the fitted set's standardised features
    and a radius, the `TRUST_PERCENTILE`-th percentile of their leave-one-out
    nearest-neighbour distances (a fitted point's distance to its closest other point).
    Features are standardised by the fitted set's mean and standard deviation; one that
    is constant there is scaled by √(n−1)/n, the deviation of a flag set once in n."""

    center: np.ndarray
    scale: np.ndarray
    points: np.ndarray
    radius: float

    @classmethod
    def fit(cls, x: np.ndarray, percentile: float = TRUST_PERCENTILE) -> TrustRegion:
        n = len(x)
        center = x.mean(axis=0)
        std = x.std(axis=0)
        # a feature the fitted set never varies (the surrogate cannot have learned it) gets
        # the spread of a 0/1 flag set in one fitted architecture: leaving what it has
        # seen weighs as much as its rarest seen variation
        scale = np.where(std > 0, std, np.sqrt(n - 1) / n if n > 1 else 1.0)
        points = (x - center) / scale
        if len(points) < 2:
            return cls(center, scale, points, 0.0)
        dist = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        np.fill_diagonal(dist, np.inf)
        return cls(center, scale, points, float(np.percentile(dist.min(axis=1), percentile)))

    def distance(self, x: np.ndarray) -> np.ndarray:
        """Standardised distance of each row of `x` to its nearest fitted point."""
        z = (np.atleast_2d(x) - self.center) / self.scale
        return np.linalg.norm(z[:, None, :] - self.points[None, :, :], axis=-1).min(axis=1)

    def contains(self, x: np.ndarray) -> np.ndarray:
        return self.distance(x) <= self.radius * (1 + 1e-9)


class Surrogate:
    """A fitted metric ensemble for one task's space, with the region it may be trusted in.

    `predict` is the members' mean; `predict_with_uncertainty` adds their standard
    deviation. `in_trust_region(arch)` is True when the architecture's nearest fitted
    architecture, in features standardised by the fitted set's mean and standard deviation,
    is no farther than the radius: the `TRUST_PERCENTILE`-th (90th) percentile of the
    fitted architectures' own leave-one-out nearest-neighbour distances. Farther than most
    fitted architectures are from each other, the surrogate is extrapolating.
    """

    def __init__(self, space: SearchSpace, models: Sequence[GradientBoostingRegressor],
                 trust: TrustRegion) -> None:
        self.space = space
        self.models = list(models)
        self.trust = trust

    @property
    def radius(self) -> float:
        return self.trust.radius

    @classmethod
    def fit(cls, space: SearchSpace, archs: Sequence[Architecture], y: Sequence[float], *,
            seed: int = 0, members: int = ENSEMBLE) -> Surrogate:
        x = _encode_all(space, archs)
        target = np.asarray(y, dtype=np.float64)
        return cls(space, _fit_members(x, target, seed, members), TrustRegion.fit(x))

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Ensemble mean per architecture."""
        return self.predict_with_uncertainty(archs)[0]

    def predict_with_uncertainty(self, archs: Sequence[Architecture]
                                 ) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation) over the ensemble members per architecture."""
        return self.predict_features(_encode_all(self.space, archs))

    def predict_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation) over the members for rows of `encode` features."""
        preds = np.stack([m.predict(np.atleast_2d(x)) for m in self.models])
        return preds.mean(axis=0), preds.std(axis=0)

    def trust_distance(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Standardised distance of each architecture to its nearest fitted one."""
        return self.trust.distance(_encode_all(self.space, archs))

    def in_trust_region(self, arch: Architecture) -> bool:
        """Whether `arch`'s nearest fitted architecture lies within the radius."""
        return bool(self.trust.contains(encode(self.space, arch))[0])

    def save(self, path: str | Path) -> Path:
        """joblib file of the members, trust region and space (trusted, self-written files
        only)."""
        import joblib

        from mias.atomic import atomic_file

        with atomic_file(path) as tmp:
            joblib.dump({"space": self.space.to_dict(), "models": self.models,
                         "trust": asdict(self.trust)}, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        import joblib

        state = joblib.load(path)
        return cls(SearchSpace.from_dict(state["space"]), state["models"],
                   TrustRegion(**state["trust"]))


def _tau(a: np.ndarray, b: np.ndarray) -> float | None:
    tau = kendalltau(a, b).statistic
    return float(tau) if np.isfinite(tau) else None


def beats(tau: float | None, log_flops_tau: float | None) -> bool:
    """Surrogate τ above log-FLOPs τ; a log-FLOPs ranking that ranks nothing (τ undefined)
    counts as τ 0, an undefined surrogate τ never beats it."""
    if tau is None:
        return False
    return tau > (0.0 if log_flops_tau is None else log_flops_tau)


def held_out_quality(space: SearchSpace, archs: Sequence[Architecture], y: Sequence[float], *,
                     seed: int = 0, folds: int = 5, members: int = ENSEMBLE) -> dict[str, Any]:
    """Kendall τ and MAE of the ensemble's out-of-fold predictions (k-fold over the table's
    archs), beside the τ of ranking the same architectures by log FLOPs: a surrogate that
    does not beat that trivial ranking adds nothing a FLOPs count would not."""
    target = np.asarray(y, dtype=np.float64)
    if len(target) < MIN_HELD_OUT:
        return {"kendall_tau": None, "mae": None, "folds": 0, "n": len(target),
                "log_flops_tau": None, "beats_log_flops": False,
                "model": f"not assessed: fewer than {MIN_HELD_OUT} architectures"}
    x = _encode_all(space, archs)
    folds = min(folds, len(target) // 2)
    oof = np.empty_like(target)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        preds = [m.predict(x[test]) for m in _fit_members(x[train], target[train], seed,
                                                          members)]
        oof[test] = np.mean(preds, axis=0)
    tau = _tau(target, oof)
    flops_tau = _tau(target, x[:, LOG_FLOPS])
    return {"kendall_tau": tau, "mae": float(np.mean(np.abs(oof - target))), "folds": folds,
            "n": len(target), "log_flops_tau": flops_tau,
            "beats_log_flops": beats(tau, flops_tau),
            "model": f"ensemble of {members} sklearn GradientBoostingRegressor("
                     "n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8), "
                     "each on a bootstrap resample, on the genotype encoding; mean of members"}


@dataclass(frozen=True)
class OffTableAnswer:
    """One off-table metric and what it rests on."""

    metric: float
    std: float | None
    predictor: str
    reason: str


def _fmt(tau: float | None) -> str:
    return "undefined" if tau is None else f"{tau:.2f}"


class OffTablePredictor:
    """Answers for architectures the table does not hold: the surrogate's mean (and spread)
    when it beat log FLOPs out of fold and the architecture lies in its trust region,
    otherwise a monotone (isotonic) fit of the metric on log FLOPs over the table's rows,
    rising or falling as the rows do (under a short schedule larger networks may do worse).
    Every answer names its predictor and why; a fallback also warns, once per
    task and kind of reason, so a search that leans on it cannot miss it."""

    def __init__(self, task: str, surrogate: Surrogate, quality: Mapping[str, Any],
                 archs: Sequence[Architecture], y: Sequence[float]) -> None:
        self.task = task
        self.surrogate = surrogate
        self.quality = dict(quality)
        flops = np.array([encode(surrogate.space, a)[LOG_FLOPS] for a in archs])
        self.fallback = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(
            flops, np.asarray(y, dtype=np.float64))
        self._warned: set[str] = set()
        tau, flops_tau = self.quality.get("kendall_tau"), self.quality.get("log_flops_tau")
        self.earned = bool(self.quality.get("beats_log_flops", False))
        self._verdict = f"surrogate τ {_fmt(tau)} > log-FLOPs τ {_fmt(flops_tau)} out of fold"
        if self.earned:
            self._kind, self._not_earned = "", ""
        elif tau is None and self.quality.get("n", 0) < MIN_HELD_OUT:
            self._kind = "not assessed"
            self._not_earned = (f"surrogate not assessed out of fold (fewer than "
                                f"{MIN_HELD_OUT} architectures)")
        else:
            self._kind = "no better than log FLOPs"
            self._not_earned = (f"surrogate τ {_fmt(tau)} ≤ log-FLOPs τ {_fmt(flops_tau)} "
                                "out of fold")

    def predict(self, arch: Architecture) -> OffTableAnswer:
        x = encode(self.surrogate.space, arch)
        if not self.earned:
            return self._fall_back(x, self._kind, self._not_earned)
        distance = float(self.surrogate.trust.distance(x)[0])
        if not self.surrogate.trust.contains(x)[0]:
            return self._fall_back(
                x, "outside the trust region",
                f"outside the trust region (nearest fitted architecture at {distance:.2f} "
                f"> radius {self.surrogate.radius:.2f}, standardised features)")
        mean, std = self.surrogate.predict_features(x)
        return OffTableAnswer(float(mean[0]), float(std[0]), SURROGATE,
                              f"inside the trust region; {self._verdict}")

    def _fall_back(self, x: np.ndarray, kind: str, reason: str) -> OffTableAnswer:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(f"{self.task}: off-table metrics come from the log-FLOPs fallback, "
                          f"not the surrogate: {reason}", SurrogateFallbackWarning,
                          stacklevel=3)
        metric = float(self.fallback.predict([x[LOG_FLOPS]])[0])
        return OffTableAnswer(metric, None, FALLBACK, reason)
