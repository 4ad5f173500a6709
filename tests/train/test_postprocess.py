"""Postprocessing is decided on validation: kept where it raises Dice, refused where it
lowers it, and applied exactly as recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mias.train.postprocess import (
    apply_postprocessing,
    decide_postprocessing,
    describe,
    keep_largest,
)

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


def _healthy_and_tumour_cases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Four subjects with a 5³ structure, predicted right, and two healthy ones on which the
    network paints one 2³ island: keep-largest cannot clear those, a volume floor can."""
    truths = [_truth(s) for s in range(4)]
    preds = [t.copy() for t in truths]
    for _ in range(2):
        truths.append(np.zeros(SHAPE, dtype=np.uint8))
        preds.append(_blob(np.zeros(SHAPE, dtype=np.uint8), 1, (12, 12, 12), 2))
    return preds, truths


def test_a_volume_floor_clears_healthy_subjects_and_keeps_every_structure():
    preds, truths = _healthy_and_tumour_cases()
    spacings = [(1.0, 1.0, 1.0)] * len(preds)
    decision = decide_postprocessing(preds, truths, 3, spacings)
    floor = decision.get("foreground_min_mm3") or decision["class_min_mm3"]["1"]
    assert 8.0 < floor < 125.0                   # between the island and the smallest structure
    assert decision["val_dice_after"] > decision["val_dice_before"]
    for p, t, s in zip(preds, truths, spacings, strict=True):
        np.testing.assert_array_equal(apply_postprocessing(p, decision, s), t)
    assert json.loads(json.dumps(decision)) == decision


def test_the_floor_is_a_volume_so_it_carries_to_another_grid():
    """Decided at 1 mm, applied at 0.5 mm: an island of the same volume has 8× the voxels
    and is still removed; without a spacing a floor cannot be applied."""
    preds, truths = _healthy_and_tumour_cases()
    decision = decide_postprocessing(preds, truths, 3, [(1.0, 1.0, 1.0)] * len(preds))
    fine = np.kron(preds[-1], np.ones((2, 2, 2), dtype=np.uint8))
    assert not apply_postprocessing(fine, decision, (0.5, 0.5, 0.5)).any()
    structure = np.kron(preds[0], np.ones((2, 2, 2), dtype=np.uint8))
    np.testing.assert_array_equal(apply_postprocessing(structure, decision, (0.5,) * 3),
                                  structure)
    with pytest.raises(ValueError, match="spacing"):
        apply_postprocessing(preds[-1], decision)


def test_no_floor_is_kept_where_it_would_remove_a_true_small_structure():
    """Every subject has the structure, some of them as small as the false islands: a
    floor would cost more than it gains, so none is recorded."""
    truths, preds = [], []
    for s in range(4):
        t = _truth(s)
        small = _blob(np.zeros(SHAPE, dtype=np.uint8), 1, (14, 14, 14), 2)
        truths.append(t if s % 2 else small)
        preds.append(t.copy() if s % 2 else small.copy())
    decision = decide_postprocessing(preds, truths, 3, [(1.0, 1.0, 1.0)] * 4)
    assert "foreground_min_mm3" not in decision and decision["class_min_mm3"] == {}
    for p in preds:
        np.testing.assert_array_equal(apply_postprocessing(p, decision, (1.0,) * 3), p)


def test_the_recorded_rules_read_as_a_clinician_needs_them():
    preds, truths = _healthy_and_tumour_cases()
    decision = decide_postprocessing(preds, truths, 3, [(1.0, 1.0, 1.0)] * len(preds))
    text = describe(decision, ["background", "left", "right"])
    assert "components below 0.0" in text and "mL" in text
    assert "findings below a floor are not reported" in text
    assert describe(None, ["background", "left"]) == "none"
    none = decide_postprocessing(truths, truths, 3)
    assert describe(none, ["background", "left", "right"]).startswith("none: no rule")
