"""Per-case rows → the figures of `RUN/eval/metrics.json`, each with its bootstrap CI.

A segmentation model with a structure at Dice 0 over the held-out cases (or one it never
predicts although the labels hold it) has failed to train: its mean Dice would hide a
collapsed class behind the others, so the summary says so (`failed`, `failed_structures`)
and every reader shows it as a failed training, never as a result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mias.records import TaskSpec
from mias.train.metrics import BINARY_METRICS, binary_metric, roc_auc, volume_errors
from mias.train.original import SUBGROUP_ATTRIBUTES
from mias.train.stats import Statistic, figure, mean_of, subgroup_figures

Rows = Sequence[dict[str, Any]]
FAILED_DICE_DECIMALS = 3   # the decimals every table prints a Dice with


def _col(rows: Rows, key: str) -> np.ndarray:
    return np.asarray([r[key] for r in rows], dtype=np.float64)


def case_dice(rows: Rows, structures: Sequence[str]) -> np.ndarray:
    """Per case, the mean Dice over the structures defined there (nnU-Net: a structure
    absent from both label and prediction is NaN and left out; a case with none is NaN)."""
    return _defined_mean(np.stack([_col(rows, f"dice_{s}") for s in structures]))


def case_rel_volume_error(rows: Rows, structures: Sequence[str]) -> np.ndarray:
    """Per case, the mean relative volume error over structures present in the label."""
    errs = []
    for s in structures:
        t, p = _col(rows, f"volume_true_mm3_{s}"), _col(rows, f"volume_pred_mm3_{s}")
        with np.errstate(divide="ignore", invalid="ignore"):
            errs.append(np.where(t > 0, np.abs(p - t) / t, np.nan))
    return _defined_mean(np.stack(errs)) if errs else np.empty(0)


def _defined_mean(values: np.ndarray) -> np.ndarray:
    """Column means over the finite entries; NaN for a column with none (no warning)."""
    defined = np.isfinite(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(defined.any(axis=0), np.nansum(values, axis=0) / defined.sum(axis=0),
                        np.nan)


def failed_structures(rows: Rows, structures: Sequence[str]) -> dict[str, str]:
    """Structure → why its training counts as failed: never predicted on any case whose
    label holds it (collapsed), or a mean Dice that the tables print as 0.000."""
    out: dict[str, str] = {}
    if not rows:
        return out
    for s in structures:
        truth = _col(rows, f"volume_true_mm3_{s}") > 0
        predicted = _col(rows, f"volume_pred_mm3_{s}") > 0
        values = _col(rows, f"dice_{s}")
        dice = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        if truth.any() and not predicted[truth].any():
            out[s] = "collapsed: never predicted where the label holds it"
        elif np.isfinite(dice) and round(dice, FAILED_DICE_DECIMALS) == 0:
            out[s] = f"mean Dice {dice:.{FAILED_DICE_DECIMALS}f} over {len(rows)} cases"
    return out


def _detection_stats(y_true: np.ndarray, y_pred: np.ndarray,
                     beta: float, average: str) -> dict[str, Callable[[np.ndarray], float]]:
    def make(name: str) -> Callable[[np.ndarray], float]:
        return lambda i: binary_metric(name, y_true[i], y_pred[i], beta, average)

    return {k: make(k) for k in BINARY_METRICS}


def summarise(rows: Rows, task: TaskSpec, *, beta: float, resamples: int, confidence: float,
              seed: int) -> dict[str, Any]:
    """Every figure over the cases of `rows`, then per subgroup."""
    n = len(rows)
    kw = {"resamples": resamples, "confidence": confidence, "seed": seed}

    def fig(stat: Statistic) -> dict[str, Any]:
        return figure(stat, n, **kw)

    out: dict[str, Any] = {"n": n}
    if task.kind == "segmentation":
        structures = list(task.label_names[1:])
        per = {}
        for s in structures:
            entry = {m: fig(mean_of(_col(rows, f"{m}_{s}")))
                     for m in ("dice", "jaccard", "hd95_mm", "nsd")}
            for m in ("hd95_mm", "nsd"):
                entry[m]["undefined_cases"] = int(np.isnan(_col(rows, f"{m}_{s}")).sum())
            for m in ("dice", "jaccard"):
                entry[m]["empty_cases"] = int(np.isnan(_col(rows, f"{m}_{s}")).sum())
            t, p = _col(rows, f"volume_true_mm3_{s}"), _col(rows, f"volume_pred_mm3_{s}")
            entry["volume"] = volume_errors(t, p) if n else {}
            entry["abs_volume_error_mm3"] = fig(mean_of(np.abs(p - t)))
            per[s] = entry
        out["structures"] = per
        failed = failed_structures(rows, structures)
        out["failed"] = bool(failed)
        out["failed_structures"] = failed
        out["dice"] = fig(mean_of(case_dice(rows, structures)))
        out["rel_volume_error"] = fig(mean_of(case_rel_volume_error(rows, structures)))
        y_true = np.asarray([any(r[f"present_true_{s}"] for s in structures) for r in rows],
                            dtype=int)
        y_pred = np.asarray([any(r[f"present_pred_{s}"] for s in structures) for r in rows],
                            dtype=int)
        out["detection"] = {k: fig(v) for k, v in
                            _detection_stats(y_true, y_pred, beta, "binary").items()}
        groups_stats = {
            "dice": lambda m: mean_of(case_dice([rows[i] for i in m], structures)),
            "rel_volume_error": lambda m: mean_of(
                case_rel_volume_error([rows[i] for i in m], structures)),
        }
    elif task.kind == "classification":
        y_true = np.asarray([r["y_true"] for r in rows], dtype=int)
        y_pred = np.asarray([r["y_pred"] for r in rows], dtype=int)
        scores = np.asarray([[r[f"p_{c}"] for c in range(task.num_classes)] for r in rows])
        average = "binary" if task.num_classes == 2 else "macro"
        stats = _detection_stats(y_true, y_pred, beta, average)
        out |= {k: fig(v) for k, v in stats.items()}
        out["roc_auc"] = fig(lambda i: roc_auc(y_true[i], scores[i]))

        def sub(name: str) -> Callable[[np.ndarray], Statistic]:
            return lambda m: (lambda i: binary_metric(name, y_true[m][i], y_pred[m][i], beta,
                                                      average))

        groups_stats = {"balanced_accuracy": sub("balanced_accuracy"), "f_beta": sub("f_beta")}
    else:
        t, p = _col(rows, "y_true"), _col(rows, "y_pred")
        out["mae"] = fig(mean_of(np.abs(p - t)))
        out["agreement"] = volume_errors(t, p) if n else {}
        groups_stats = {"mae": lambda m: mean_of(np.abs(p[m] - t[m]))}
    groups = {a: [r[a] for r in rows] for a in SUBGROUP_ATTRIBUTES}
    out["subgroups"] = subgroup_figures(groups, groups_stats, **kw)
    return out
