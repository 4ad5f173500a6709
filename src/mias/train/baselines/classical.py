"""scikit-learn baselines: an MLP and a random forest on voxel or image features.

Segmentation draws each training case's `voxel_samples` voxels from the whole scan as
evaluation sees a held-out one (resampled and padded, not cropped: background far from the
structures included), half of them from the foreground so the models see the structures;
positions are measured on the prepared grid (`features.voxel_features`). Trained at that
sampled prior, a model over-predicts the structures; at the scans' true prior its arg-max
drops a small structure altogether (measured on the synthetic hippocampus: the random
forest's Posterior fell to Dice 0.01). So the class weights that move its probabilities from
the sampled prior to the true one, p ∝ p · (prior / share)^t, are applied with the exponent
t ∈ [0, 1] that gives the best Dice on the validation split, as nnU-Net decides its
postprocessing: the decision is recorded (`PriorShift.exponent`).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mias.atomic import read_json
from mias.data.transforms import apply_view_ops, resample
from mias.presets.models import EvaluateSettings
from mias.train.baselines.features import image_features, sample_voxels, voxel_features
from mias.train.data import PreparedData
from mias.train.original import OriginalCase, network_input
from mias.train.predictors import FeaturePredictor
from mias.train.scoring import dice

SHIFT_EXPONENTS = (1.0, 0.75, 0.5, 0.25, 0.0)   # true prior first: it wins ties
Scans = Mapping[str, tuple[np.ndarray, np.ndarray]]


def make_model(name: str, settings: EvaluateSettings, *, regression: bool, seed: int):
    if name == "rf":
        cls = RandomForestRegressor if regression else RandomForestClassifier
        return cls(n_estimators=settings.rf_trees, max_depth=settings.rf_depth,
                   random_state=seed, n_jobs=1)
    cls = MLPRegressor if regression else MLPClassifier
    return cls(hidden_layer_sizes=tuple(settings.mlp_hidden), max_iter=settings.mlp_epochs,
               random_state=seed, early_stopping=False)


class PriorShift:
    """A classifier's probabilities moved from the prior it was trained at toward the true
    prior: p ∝ p · (prior / share)^exponent (Bayes' rule for a change of class prior)."""

    def __init__(self, model: Any, prior: np.ndarray, share: np.ndarray,
                 exponent: float) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.exponent = float(exponent)
        k = self.classes_.astype(int)
        self.gains = (prior[k] / share[k]) ** self.exponent

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.model.predict_proba(x) * self.gains
        return p / p.sum(axis=1, keepdims=True)


def scan_frame(crop_or_pad: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    """Where a prepared case starts inside its whole padded scan, and that scan's shape
    (on an axis either cropped or padded, never both)."""
    offset = [int(s) for s in crop_or_pad["crop_start"]]
    extent = [int(n) + int(b) + int(a) for n, (b, a) in
              zip(crop_or_pad["in_shape"], crop_or_pad["pad"], strict=True)]
    return offset, extent


def class_prior(masks: Sequence[np.ndarray], extents: Sequence[Sequence[int]],
                classes: int) -> np.ndarray:
    """The share of each class among the voxels of the whole scans (of shape `extents`),
    which evaluation scores; a mask may be a crop that keeps every foreground voxel, the
    rest of its scan being background."""
    counts = np.zeros(classes, dtype=np.float64)
    for m in masks:
        counts += np.bincount(m.reshape(-1).astype(np.int64), minlength=classes)[:classes]
    total = float(sum(math.prod(e) for e in extents))
    counts[0] = total - counts[1:].sum()
    return counts / total


def whole_scan(case: OriginalCase) -> tuple[np.ndarray, np.ndarray]:
    """A training scan as evaluation sees a held-out one (resampled, padded, normalised,
    not cropped: `network_input`) and its label on the same grid."""
    pre = case.preprocessing
    image, label = case.image.astype(np.float32), case.label
    ops = (pre.get("view") or {}).get("ops") or []
    if ops:
        image, label = apply_view_ops(image, label, ops)
    _, label = resample(image, label, case.spacing, pre["resample"]["target_spacing"])
    label = np.pad(label, pre["crop_or_pad"]["pad"], mode="constant", constant_values=0)
    return network_input(case), label


def _frames(data: PreparedData) -> dict[str, tuple[list[int], list[int]]]:
    return {r["case_id"]: scan_frame(r["preprocessing"]["crop_or_pad"])
            for r in read_json(data.root / "manifest.json")["cases"]}


def training_set(data: PreparedData, settings: EvaluateSettings, seed: int,
                 scans: Scans | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Features, targets and (segmentation) the true class prior of the whole scans.

    `scans` (case → whole scan and label, `whole_scan`) are what segmentation draws from;
    without them the draws come from the prepared crops, positions still on the scan's
    frame."""
    rng = np.random.default_rng(seed)
    cases = data.split("train")
    if data.task.kind != "segmentation":
        return (np.stack([image_features(c.image) for c in cases]),
                np.asarray([c.target for c in cases]), None)
    scale = data.task.input_shape
    if scans is not None:
        parts = [sample_voxels(voxel_features(scans[c.case_id][0], scale),
                               scans[c.case_id][1], settings.voxel_samples, rng)
                 for c in cases]
        masks = [scans[c.case_id][1] for c in cases]
        extents = [m.shape for m in masks]
    else:
        frames = _frames(data)
        parts = [sample_voxels(voxel_features(c.image, scale, *frames[c.case_id]), c.mask,
                               settings.voxel_samples, rng) for c in cases]
        masks = [c.mask for c in cases]
        extents = [frames[c.case_id][1] for c in cases]
    prior = class_prior(masks, extents, data.task.num_classes)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), prior


def choose_shift(model: Any, data: PreparedData, prior: np.ndarray,
                 share: np.ndarray) -> PriorShift:
    """The prior shift with the best mean Dice over the validation cases (prepared space)."""
    classes = data.task.num_classes
    frames = _frames(data)
    scale = data.task.input_shape
    val = data.split("val")
    probs = [model.predict_proba(voxel_features(c.image, scale, *frames[c.case_id]))
             for c in val]
    best: tuple[float, PriorShift] | None = None
    for t in SHIFT_EXPONENTS:
        shift = PriorShift(model, prior, share, t)
        preds = [shift.classes_[np.argmax(p * shift.gains, axis=1)].reshape(c.mask.shape)
                 for p, c in zip(probs, val, strict=True)]
        score = dice(torch.from_numpy(np.stack(preds).astype(np.int64)),
                     torch.from_numpy(np.stack([c.mask for c in val]).astype(np.int64)),
                     classes)
        if best is None or score > best[0]:
            best = (score, shift)
    assert best is not None
    return best[1]


def train_classical(name: str, data: PreparedData, settings: EvaluateSettings, seed: int,
                    scans: Scans | None = None) -> tuple[FeaturePredictor, object, int]:
    """The fitted predictor, the bare estimator (for ONNX) and the feature count; for
    segmentation the predictor's model is a `PriorShift` chosen on validation."""
    regression = data.task.kind == "regression"
    x, y, prior = training_set(data, settings, seed, scans)
    model = make_model(name, settings, regression=regression, seed=seed)
    if name == "mlp":
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    used: Any = model
    if prior is not None:
        share = np.bincount(y.astype(np.int64), minlength=len(prior))[:len(prior)] / len(y)
        used = choose_shift(model, data, prior, share)
    classes = 1 if regression else data.task.num_classes
    features = functools.partial(voxel_features, scale=data.task.input_shape)
    return (FeaturePredictor(used, features, image_features, classes,
                             regression=regression), model, x.shape[1])
