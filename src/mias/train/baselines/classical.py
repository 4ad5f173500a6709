"""scikit-learn baselines: an MLP and a random forest on voxel or image features."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mias.presets.models import EvaluateSettings
from mias.train.baselines.features import image_features, sample_voxels, voxel_features
from mias.train.data import PreparedData
from mias.train.predictors import FeaturePredictor


def make_model(name: str, settings: EvaluateSettings, *, regression: bool, seed: int):
    if name == "rf":
        cls = RandomForestRegressor if regression else RandomForestClassifier
        return cls(n_estimators=settings.rf_trees, max_depth=settings.rf_depth,
                   random_state=seed, n_jobs=1)
    cls = MLPRegressor if regression else MLPClassifier
    return cls(hidden_layer_sizes=tuple(settings.mlp_hidden), max_iter=settings.mlp_epochs,
               random_state=seed, early_stopping=False)


def training_set(data: PreparedData, settings: EvaluateSettings,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cases = data.split("train")
    if data.task.kind == "segmentation":
        parts = [sample_voxels(voxel_features(c.image), c.mask, settings.voxel_samples, rng)
                 for c in cases]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return (np.stack([image_features(c.image) for c in cases]),
            np.asarray([c.target for c in cases]))


def train_classical(name: str, data: PreparedData, settings: EvaluateSettings,
                    seed: int) -> tuple[FeaturePredictor, object, int]:
    """The fitted predictor, the bare estimator (for ONNX) and the feature count."""
    regression = data.task.kind == "regression"
    x, y = training_set(data, settings, seed)
    model = make_model(name, settings, regression=regression, seed=seed)
    if name == "mlp":
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    classes = 1 if regression else data.task.num_classes
    return (FeaturePredictor(model, voxel_features, image_features, classes,
                             regression=regression), model, x.shape[1])

