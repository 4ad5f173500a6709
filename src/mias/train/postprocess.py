"""Postprocessing decided on validation, as nnU-Net decides it, plus a volume floor.

A network often paints small false islands away from the structure; removing every
connected component but the largest lifts Dice there and lowers it where the structure is
truly split. On a subject without the structure (a healthy scan) the largest island is
still false, and only removing components below a volume clears it; that floor costs the
cases whose true structure is that small. So nothing is assumed: each rule is tried on the
validation predictions — for the foreground as one union, then per class on top of that,
keep-largest before the floor — and kept only where it raises the validation Dice. The
floor is chosen among the component volumes seen on validation, midway (geometrically)
between the largest removed and the smallest kept, and recorded in mm³, so it means the
same on the original grid as on the prepared one. The decision is a small JSON record
carried by `model.pt`, the ONNX metadata and every prediction. Numpy and SciPy only:
`mias predict` applies it on a board without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from mias.errors import InputError

POSTPROCESSING_SCHEMA_VERSION = 2
METHOD = ("keep the largest connected component, then remove components below a volume "
          "(full connectivity); each kept only where it raises validation Dice")
MIN_GAIN = 1e-6  # a change below float noise is no improvement
MAX_FLOORS = 64  # candidate volume floors tried per rule (quantiles of the volumes seen)

Target = Callable[[np.ndarray], np.ndarray]


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Component labels (full connectivity) and each component's voxel count (index 0 is
    the background, counted 0)."""
    labels, _ = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, dtype=bool))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes


def keep_largest(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of a boolean mask (full connectivity)."""
    labels, sizes = _components(mask)
    if len(sizes) <= 2:
        return mask.astype(bool)
    return labels == int(np.argmax(sizes))


def remove_small(mask: np.ndarray, min_mm3: float, spacing: Sequence[float]) -> np.ndarray:
    """A boolean mask without its components below `min_mm3` (full connectivity)."""
    labels, sizes = _components(mask)
    keep = sizes * float(np.prod(spacing)) >= min_mm3
    keep[0] = False
    return keep[labels]


def _foreground(labels: np.ndarray) -> np.ndarray:
    return labels > 0


def _class(c: int) -> Target:
    return lambda labels: labels == c


def _cleared(labels: np.ndarray, target: Target, kept: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[target(labels) & ~kept] = 0
    return out


def _apply_rules(labels: np.ndarray, target: Target, largest: bool, min_mm3: float | None,
                 spacing: Sequence[float] | None) -> np.ndarray:
    out = _cleared(labels, target, keep_largest(target(labels))) if largest else labels
    if min_mm3:
        if spacing is None:
            raise ValueError("a volume floor needs the voxel spacing")
        out = _cleared(out, target, remove_small(target(out), min_mm3, spacing))
    return out


def apply_postprocessing(labels: np.ndarray, decision: dict[str, Any] | None,
                         spacing: Sequence[float] | None = None) -> np.ndarray:
    """A label map with the recorded decision applied (unchanged without one); `spacing`
    (mm per voxel of `labels`) is needed where the decision has a volume floor."""
    if not decision:
        return labels
    out = _apply_rules(labels, _foreground, bool(decision.get("foreground")),
                       decision.get("foreground_min_mm3"), spacing)
    for c, largest, floor in _class_rules(decision):
        out = _apply_rules(out, _class(c), largest, floor, spacing)
    return out


def _class_rules(decision: dict[str, Any]) -> list[tuple[int, bool, float | None]]:
    """Per class, in the order decided: keep-largest or not, and the volume floor (mm³)."""
    kept = {int(c) for c in decision.get("classes", ())}
    floors = {int(c): float(v) for c, v in (decision.get("class_min_mm3") or {}).items()}
    return [(c, c in kept, floors.get(c)) for c in sorted(kept | set(floors))]


def describe(decision: dict[str, Any] | None, label_names: Sequence[str]) -> str:
    """The recorded rules in words, for a reader of the validation plan: a volume floor means
    that findings below it are not reported, which a clinician must know."""
    if not decision:
        return "none"
    rules = []
    if decision.get("foreground"):
        rules.append("keep the largest connected component of the foreground")
    if decision.get("foreground_min_mm3"):
        rules.append(f"remove foreground components below "
                     f"{decision['foreground_min_mm3'] / 1000:.3g} mL")
    class_rules = _class_rules(decision)
    for c, largest, floor_mm3 in class_rules:
        name = label_names[c] if c < len(label_names) else f"class {c}"
        if largest:
            rules.append(f"keep the largest component of {name}")
        if floor_mm3:
            rules.append(f"remove {name} components below {floor_mm3 / 1000:.3g} mL")
    if not rules:
        return "none: no rule raised the validation Dice"
    floor = " — findings below a floor are not reported" if (
        decision.get("foreground_min_mm3") or any(f for _, _, f in class_rules)) else ""
    return (f"{'; '.join(rules)}{floor} (validation Dice {decision['val_dice_before']:.3f} → "
            f"{decision['val_dice_after']:.3f} on {decision['cases']} cases)")


def class_dice(pred: np.ndarray, truth: np.ndarray, c: int) -> float:
    """Dice of class `c`; NaN where it is absent from both (nnU-Net's convention: undefined,
    left out of the mean)."""
    p, t = pred == c, truth == c
    total = int(p.sum()) + int(t.sum())
    return float("nan") if total == 0 else 2.0 * float(np.logical_and(p, t).sum()) / total


def mean_dice(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray],
               classes: Sequence[int]) -> np.ndarray:
    """Per class, the Dice averaged over the cases where it is defined (0 where it never
    is, so that no rule can gain there)."""
    out = []
    for c in classes:
        values = np.array([class_dice(p, t, c) for p, t in zip(preds, truths, strict=True)])
        out.append(float(np.nanmean(values)) if np.isfinite(values).any() else 0.0)
    return np.array(out)


def _floor_scores(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], target: Target,
                  touched: Sequence[int], spacings: Sequence[Sequence[float]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate volume floor for `target` — midway (geometrically) between consecutive
    component volumes seen, never above the largest — and the mean Dice of each `touched`
    class it leaves (floors × classes). Counted per component, not by clearing the maps
    once per floor, so memory stays that of one map per case whatever the candidates."""
    stats = []
    for p, t, spacing in zip(preds, truths, spacings, strict=True):
        labels, sizes = _components(target(p))
        per_class = [(np.bincount(labels.ravel(), weights=(p == c).ravel(),
                                  minlength=len(sizes)),
                      np.bincount(labels.ravel(), weights=((p == c) & (t == c)).ravel(),
                                  minlength=len(sizes)),
                      float((t == c).sum())) for c in touched]
        stats.append((sizes * float(np.prod(spacing)), per_class))
    volumes = np.unique(np.concatenate([v[1:] for v, _ in stats]))
    if len(volumes) < 2:
        return np.empty(0), np.empty((0, len(touched)))
    picks = np.unique(np.linspace(0, len(volumes) - 2, min(MAX_FLOORS, len(volumes) - 1))
                      .round().astype(int))
    floors = np.sqrt(volumes[picks] * volumes[picks + 1])
    dice = np.full((len(floors), len(preds), len(touched)), np.nan)
    for i, (v, per_class) in enumerate(stats):
        removed = (v[None, :] < floors[:, None]) & (np.arange(len(v)) > 0)[None, :]
        for k, (pred_n, inter_n, truth_n) in enumerate(per_class):
            pred_left = pred_n.sum() - removed @ pred_n
            total = pred_left + truth_n
            inter = inter_n.sum() - removed @ inter_n
            dice[:, i, k] = np.where(total > 0, 2 * inter / np.maximum(total, 1), np.nan)
    counted = np.isfinite(dice).sum(axis=1)
    return floors, np.where(counted > 0, np.nansum(dice, axis=1) / np.maximum(counted, 1), 0.0)


class _Greedy:
    """Rules tried in order on the validation predictions, each kept where it raises the
    mean Dice of the classes it touches."""

    def __init__(self, preds: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                 classes: Sequence[int]) -> None:
        self.truths, self.classes = truths, list(classes)
        self.current = list(preds)
        self.dice = mean_dice(self.current, truths, self.classes)
        self.before = self.dice.copy()

    def gain(self, trial: list[np.ndarray], touched: Sequence[int]) -> tuple[float, np.ndarray]:
        idx = [self.classes.index(c) for c in touched]
        dice = self.dice.copy()
        dice[idx] = mean_dice(trial, self.truths, touched)
        return float(dice[idx].mean() - self.dice[idx].mean()), dice

    def try_largest(self, target: Target, touched: Sequence[int]) -> tuple[bool, float]:
        trial = [_cleared(p, target, keep_largest(target(p))) for p in self.current]
        gain, dice = self.gain(trial, touched)
        return self._take(gain, trial, dice), gain

    def try_floor(self, target: Target, touched: Sequence[int],
                  spacings: Sequence[Sequence[float]]) -> tuple[float | None, float]:
        floors, means = _floor_scores(self.current, self.truths, target, touched, spacings)
        if not len(floors):
            return None, 0.0
        idx = [self.classes.index(c) for c in touched]
        gains = means.mean(axis=1) - self.dice[idx].mean()
        best = int(np.argmax(gains))  # the first of equals: the lowest floor
        floor = float(floors[best])
        if gains[best] <= MIN_GAIN:
            return None, float(gains[best])
        trial = [_cleared(p, target, remove_small(target(p), floor, s))
                 for p, s in zip(self.current, spacings, strict=True)]
        gain, dice = self.gain(trial, touched)
        return (floor if self._take(gain, trial, dice) else None), gain

    def _take(self, gain: float, trial: list[np.ndarray], dice: np.ndarray) -> bool:
        if gain <= MIN_GAIN:
            return False
        self.current, self.dice = trial, dice
        return True


def decide_postprocessing(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                          num_classes: int,
                          spacings: Sequence[Sequence[float]] | None = None) -> dict[str, Any]:
    """The rules that maximise validation Dice: foreground union first, then each class;
    keep-largest, then a volume floor (tried only where `spacings`, mm per voxel of each
    case, are given).

    `preds` and `truths` are integer label maps of the validation cases (same shapes).
    """
    if not preds or len(preds) != len(truths):
        raise InputError(None, "postprocessing needs the validation predictions and labels "
                               f"({len(preds)} predictions, {len(truths)} labels)",
                         "re-run `mias train RUN` with a non-empty validation split")
    classes = list(range(1, num_classes))
    greedy = _Greedy(preds, truths, classes)
    foreground, foreground_gain = greedy.try_largest(_foreground, classes)
    record: dict[str, Any] = {}
    if spacings is not None:
        floor, gain = greedy.try_floor(_foreground, classes, spacings)
        record["foreground_floor_gain"] = gain
        if floor is not None:
            record["foreground_min_mm3"] = floor
    kept: list[int] = []
    gains: dict[str, float] = {}
    floors: dict[str, float] = {}
    floor_gains: dict[str, float] = {}
    for c in classes:
        taken, gains[str(c)] = greedy.try_largest(_class(c), [c])
        if taken:
            kept.append(c)
        if spacings is not None:
            floor, floor_gains[str(c)] = greedy.try_floor(_class(c), [c], spacings)
            if floor is not None:
                floors[str(c)] = floor
    if spacings is not None:
        record |= {"class_min_mm3": floors, "class_floor_gains": floor_gains}
    return {"schema_version": POSTPROCESSING_SCHEMA_VERSION, "method": METHOD,
            "foreground": foreground, "classes": kept, "split": "val", "cases": len(preds),
            "metric": "Dice", "val_dice_before": float(greedy.before.mean()),
            "val_dice_after": float(greedy.dice.mean()),
            "foreground_gain": foreground_gain, "class_gains": gains} | record
