"""The balanced split: patient-level, stratified jointly on label × sex × age group.

All cases of one patient (`subject_id`) go to the same split, or the validation score
would be inflated by near-duplicate scans. Subjects are placed greedily, in a seeded
random order (largest first), into the split where they most reduce the squared
deviation of every split's label, sex, age-group and joint-stratum proportions from the
whole dataset's, then pairs of subjects are swapped between splits while that lowers the
worst deviation. Joint strata with too few patients to be shared are merged into coarser
ones (age group dropped first, then sex), so small datasets still split.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mias.data.demographics import age_bin
from mias.errors import InputError
from mias.records import CaseRecord

FACTORS: tuple[str, ...] = ("label", "sex", "age_bin")


@dataclass(frozen=True)
class SplitResult:
    """Case ids per split, their label/sex/age proportions and the worst deviation."""

    splits: dict[str, list[str]]
    distributions: dict[str, dict[str, dict[str, float]]]
    max_deviation: float
    within_tolerance: bool
    tolerance: float
    seed: int
    strata: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """`train`, `val` (and `test`) at the top level, as `PREP/splits.json` has them."""
        return {
            **{name: list(ids) for name, ids in self.splits.items()},
            "distributions": self.distributions,
            "max_deviation": self.max_deviation,
            "within_tolerance": self.within_tolerance,
            "tolerance": self.tolerance,
            "seed": self.seed,
            "strata": dict(self.strata),
        }


def quantile_edges(values: Sequence[float | None], n_bins: int = 3) -> list[float]:
    """Interior quantile edges of the known values (fewer if values repeat)."""
    known = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if known.size == 0 or n_bins < 2:
        return []
    edges = np.quantile(known, np.linspace(0, 1, n_bins + 1)[1:-1])
    return sorted({float(e) for e in edges})


def label_stratum(
    kind: str,
    record_label: int | float | None,
    label_stats: Mapping[str, Any] | None = None,
    bins: Sequence[float] | None = None,
) -> str:
    """The label part of a case's stratum: its class, or the quantile bin of its value.

    Regression bins the target value, segmentation the foreground size; `bins` are the
    dataset's interior quantile edges (`quantile_edges`, or `label_strata` for all cases).
    Without `bins` a continuous label cannot be binned and every case shares one stratum.
    """
    if kind == "classification":
        return "unknown" if record_label is None else f"class {int(record_label)}"
    value = _label_value(kind, record_label, label_stats)
    if value is None:
        return "unknown"
    if not bins:
        return "all"
    return f"q{int(np.searchsorted(np.asarray(bins), value, side='right')) + 1}"


def label_strata(
    records: Sequence[CaseRecord],
    *,
    kind: str,
    label_stats: Mapping[str, Mapping[str, Any]],
    n_bins: int = 3,
) -> dict[str, str]:
    """`label_stratum` of every case, with quantile edges fitted on the whole dataset."""
    values = {r.case_id: _label_value(kind, r.label, label_stats.get(r.case_id)) for r in records}
    bins = quantile_edges(list(values.values()), n_bins) if kind != "classification" else []
    return {
        r.case_id: label_stratum(kind, r.label, label_stats.get(r.case_id), bins) for r in records
    }


def _label_value(
    kind: str, record_label: int | float | None, label_stats: Mapping[str, Any] | None
) -> float | None:
    if kind == "segmentation":
        if not label_stats:
            return None
        value = label_stats.get(f"foreground_{label_stats.get('size_key', 'volume_ml')}")
        return None if value is None else float(value)
    return None if record_label is None else float(record_label)


def _fractions(val_fraction: float, test_fraction: float) -> dict[str, float]:
    fix = "use fractions in [0, 1) with val > 0 and val + test < 1, e.g. 0.2 and 0.1"
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise InputError(
            None,
            f"cannot split with val fraction {val_fraction} and test fraction {test_fraction}",
            fix,
        )
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction}
    if test_fraction > 0:
        fractions["test"] = test_fraction
    return fractions


def _merge_rare(keys: dict[str, tuple[str, ...]], min_subjects: int) -> dict[str, str]:
    """Coarsen joint strata (label, sex, age) that have too few subjects to be shared."""
    current = dict(keys)
    for level in (2, 1, 0):
        counts = Counter(current.values())
        current = {
            s: k[:level] if len(k) > level and counts[k] < min_subjects else k
            for s, k in current.items()
        }
    return {s: "|".join(k) if k else "all" for s, k in current.items()}


def _distribution(
    records: Sequence[CaseRecord], factors: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, float]]:
    out = {}
    for factor in FACTORS:
        counts = Counter(factors[r.case_id][factor] for r in records)
        total = sum(counts.values())
        out[factor] = {k: v / total for k, v in sorted(counts.items())} if total else {}
    return out


def split_cases(
    records: Sequence[CaseRecord],
    *,
    label_strata: Mapping[str, str],
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    tolerance: float = 0.1,
) -> SplitResult:
    """Split cases into train/val(/test) by patient, balanced on label × sex × age group.

    `label_strata` maps case id → label stratum (see `label_strata`); the same seed gives
    the same split. Every split with a positive fraction gets at least one patient.
    """
    fractions = _fractions(val_fraction, test_fraction)
    subjects: dict[str, list[CaseRecord]] = {}
    for r in sorted(records, key=lambda r: r.case_id):
        subjects.setdefault(r.subject_id, []).append(r)
    if len(subjects) < len(fractions):
        raise InputError(
            None,
            f"only {len(subjects)} patient(s): a patient-level split into "
            f"{', '.join(fractions)} needs at least {len(fractions)}",
            "add cases from more patients, or set a participants.tsv "
            "`subject` column if cases were wrongly grouped",
        )
    factors = {
        r.case_id: {
            "label": str(label_strata.get(r.case_id, "all")),
            "sex": r.sex,
            "age_bin": age_bin(r.age),
        }
        for r in records
    }
    subject_key = {
        s: tuple(Counter(factors[r.case_id][f] for r in recs).most_common(1)[0][0] for f in FACTORS)
        for s, recs in subjects.items()
    }
    min_subjects = math.ceil(1 / min(fractions.values()) - 1e-9)
    joint = _merge_rare(subject_key, min_subjects)
    assignment = _assign(subjects, factors, joint, fractions, np.random.default_rng(seed))
    splits = {
        name: sorted(r.case_id for s in subs for r in subjects[s])
        for name, subs in assignment.items()
    }
    by_id = {r.case_id: r for r in records}
    distributions = {"all": _distribution(records, factors)}
    distributions |= {
        name: _distribution([by_id[c] for c in ids], factors) for name, ids in splits.items()
    }
    deviation = max(
        (
            abs(dist[f].get(k, 0.0) - p)
            for name, dist in distributions.items()
            if name != "all" and splits[name]
            for f in FACTORS
            for k, p in distributions["all"][f].items()
        ),
        default=0.0,
    )
    return SplitResult(
        splits=splits,
        distributions=distributions,
        max_deviation=deviation,
        within_tolerance=deviation <= tolerance,
        tolerance=tolerance,
        seed=seed,
        strata=dict(sorted(Counter(joint.values()).items())),
    )


class _Balance:
    """Subjects as count vectors over (factor, category) keys, and the imbalance of a split.

    The imbalance of a split is the largest gap between its label/sex/age proportions (or
    its share of the cases) and the whole dataset's, then the sum of squared gaps including
    the joint strata; smaller tuples are better.
    """

    def __init__(
        self,
        subjects: Mapping[str, list[CaseRecord]],
        factors: Mapping[str, Mapping[str, str]],
        joint: Mapping[str, str],
        fractions: Mapping[str, float],
    ) -> None:
        self.ids = sorted(subjects)
        rows = []
        for s in self.ids:
            c = Counter({("joint", joint[s]): len(subjects[s])})
            for r in subjects[s]:
                c.update((f, factors[r.case_id][f]) for f in FACTORS)
            rows.append(c)
        keys = sorted(set().union(*rows))
        self.vectors = np.array([[row[k] for k in keys] for row in rows], dtype=float)
        self.sizes = np.array([len(subjects[s]) for s in self.ids], dtype=float)
        self.marginal = np.array([k[0] != "joint" for k in keys])
        self.total = self.vectors.sum(axis=0)
        self.share = self.total / self.sizes.sum()
        self.fractions = dict(fractions)

    def imbalance(
        self, counts: np.ndarray, size: np.ndarray, name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """(max gap, sum of squared gaps) of a split's counts; rows are alternatives."""
        n = np.maximum(size, 1.0)[..., None]
        gaps = counts / n - self.share
        size_gap = np.abs(size / self.sizes.sum() - self.fractions[name])
        worst = np.maximum(np.abs(gaps[..., self.marginal]).max(axis=-1), size_gap)
        return worst, (gaps**2).sum(axis=-1) + size_gap**2


def _assign(
    subjects: Mapping[str, list[CaseRecord]],
    factors: Mapping[str, Mapping[str, str]],
    joint: Mapping[str, str],
    fractions: Mapping[str, float],
    rng: np.random.Generator,
) -> dict[str, list[str]]:
    """Greedy least-squares placement of subject groups, then improving swaps."""
    bal = _Balance(subjects, factors, joint, fractions)
    names = list(fractions)
    frac = np.array([fractions[n] for n in names])
    order = rng.permutation(len(bal.ids))
    order = order[np.argsort(-bal.sizes[order], kind="stable")]
    counts = np.zeros((len(names), bal.vectors.shape[1]))
    sizes = np.zeros(len(names))
    where = np.zeros(len(bal.ids), dtype=int)
    for i in order:
        v, m = bal.vectors[i], bal.sizes[i]
        target = frac[:, None] * bal.total
        size_target = frac * bal.sizes.sum()
        cost = (
            (v * (2 * (counts - target) + v)).sum(axis=1) + m * (2 * (sizes - size_target) + m)
        ) / frac**2
        best = int(np.argmin(cost))
        where[i] = best
        counts[best] += v
        sizes[best] += m
    for k in range(len(names)):
        if not np.any(where == k):
            donor = int(np.argmax(np.bincount(where, minlength=len(names))))
            members = np.flatnonzero(where == donor)
            moved = members[np.argmin(bal.sizes[members])]
            where[moved] = k
            counts[donor] -= bal.vectors[moved]
            counts[k] += bal.vectors[moved]
            sizes[donor] -= bal.sizes[moved]
            sizes[k] += bal.sizes[moved]
    _swap_until_balanced(bal, names, where, counts, sizes)
    return {name: [bal.ids[i] for i in np.flatnonzero(where == k)] for k, name in enumerate(names)}


def _swap_until_balanced(
    bal: _Balance,
    names: list[str],
    where: np.ndarray,
    counts: np.ndarray,
    sizes: np.ndarray,
    passes: int = 5,
) -> None:
    """Swap subjects between splits while a swap lowers the overall imbalance (in place)."""

    def score() -> tuple[float, float]:
        parts = [bal.imbalance(counts[k], sizes[k], n) for k, n in enumerate(names)]
        return max(float(w) for w, _ in parts), sum(float(q) for _, q in parts)

    current = score()
    for _ in range(passes):
        improved = False
        for k1 in range(len(names)):
            for k2 in range(k1 + 1, len(names)):
                for a in np.flatnonzero(where == k1):
                    others = np.flatnonzero(where == k2)
                    if others.size == 0:
                        continue
                    va, vb = bal.vectors[a], bal.vectors[others]
                    c1, c2 = counts[k1] - va + vb, counts[k2] + va - vb
                    s1 = sizes[k1] - bal.sizes[a] + bal.sizes[others]
                    s2 = sizes[k2] + bal.sizes[a] - bal.sizes[others]
                    w1, q1 = bal.imbalance(c1, s1, names[k1])
                    w2, q2 = bal.imbalance(c2, s2, names[k2])
                    rest = [
                        bal.imbalance(counts[k], sizes[k], n)
                        for k, n in enumerate(names)
                        if k not in (k1, k2)
                    ]
                    worst = np.maximum.reduce([w1, w2, *[np.full_like(w1, w) for w, _ in rest]])
                    sq = q1 + q2 + sum(q for _, q in rest)
                    j = int(np.lexsort((sq, np.round(worst, 9)))[0])
                    if (round(float(worst[j]), 9), float(sq[j])) < (
                        round(current[0], 9),
                        current[1] - 1e-12,
                    ):
                        b = others[j]
                        where[a], where[b] = k2, k1
                        counts[k1], counts[k2] = c1[j], c2[j]
                        sizes[k1], sizes[k2] = s1[j], s2[j]
                        current = score()
                        improved = True
        if not improved:
            return
