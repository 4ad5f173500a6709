"""Postprocessing is decided on validation: kept where it raises Dice, refused where it
lowers it, and applied exactly as recorded."""

from __future__ import annotations

import json

import numpy as np

from mias.train.postprocess import apply_postprocessing, decide_postprocessing, keep_largest

SHAPE = (20, 20, 20)


def _blob(labels: np.ndarray, c: int, lo: tuple[int, ...], size: int) -> np.ndarray:
    labels[tuple(slice(a, a + size) for a in lo)] = c
    return labels


def _truth(seed: int) -> np.ndarray:
    """Two structures side by side, jittered per case."""
    rng = np.random.default_rng(seed)
    dx = int(rng.integers(0, 3))
    labels = np.zeros(SHAPE, dtype=np.uint8)
    _blob(labels, 1, (4 + dx, 4, 4), 5)
    return _blob(labels, 2, (9 + dx, 4, 4), 5)


def test_largest_component_is_chosen_where_false_islands_cost_dice():
    """Predictions with a stray island of each class far from the structure."""
    truths = [_truth(s) for s in range(4)]
    preds = []
    for t in truths:
        p = t.copy()
        _blob(p, 1, (16, 16, 16), 2)
        _blob(p, 2, (1, 16, 1), 2)
        preds.append(p)
    decision = decide_postprocessing(preds, truths, 3)
    assert decision["foreground"] or decision["classes"] == [1, 2]
    assert decision["val_dice_after"] > decision["val_dice_before"]
    for p, t in zip(preds, truths, strict=True):
        np.testing.assert_array_equal(apply_postprocessing(p, decision), t)
    assert json.loads(json.dumps(decision)) == decision


def test_largest_component_is_refused_where_the_structure_is_split():
    """Class 1 truly has two parts: keeping one would halve it."""
    truths = []
    for s in range(4):
        t = _truth(s)
        _blob(t, 1, (14, 14, 14), 4)
        truths.append(t)
    preds = [t.copy() for t in truths]
    for p in preds:
        p[p == 2] = 0
        _blob(p, 2, (9, 4, 4), 4)   # class 2 slightly under-segmented, one component
    decision = decide_postprocessing(preds, truths, 3)
    assert decision["foreground"] is False
    assert 1 not in decision["classes"]
    assert decision["class_gains"]["1"] < 0 and decision["foreground_gain"] < 0
    assert decision["val_dice_after"] == decision["val_dice_before"]
    for p in preds:
        np.testing.assert_array_equal(apply_postprocessing(p, decision), p)


def test_keep_largest_uses_full_connectivity_and_no_decision_changes_nothing():
    mask = np.zeros((6, 6), dtype=bool)
    mask[0, 0] = mask[1, 1] = True     # diagonal neighbours: one component
    mask[4:6, 4:6] = True              # four voxels: the largest
    kept = keep_largest(mask)
    assert kept.sum() == 4 and kept[5, 5]
    labels = mask.astype(np.uint8)
    assert apply_postprocessing(labels, None) is labels
