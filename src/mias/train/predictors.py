"""What evaluation asks of a model: class probabilities for a whole scan, or per image.

Networks segment a scan by MONAI's `sliding_window_inference` with nnU-Net's settings:
windows of the training patch (the network has only ever seen patches of that size),
Gaussian importance weighting (σ = patch / 8, so window borders count little), step half
a window, and optionally mirroring test-time augmentation (the logits averaged over every
flip of the spatial axes). Classical models score every voxel from its features.
Evaluation treats all of them alike, so the found network and every baseline are scored
by the same code on the same cases.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

SW_BATCH = 2
SIGMA_SCALE = 0.125  # nnU-Net's Gaussian: σ = 1/8 of the window


def mirror_axes(spatial_dims: int) -> list[tuple[int, ...]]:
    """Every subset of the spatial axes of an (N, C, *spatial) batch: the flips averaged by
    mirroring test-time augmentation (the empty one is the plain prediction)."""
    axes = range(2, 2 + spatial_dims)
    return [c for r in range(spatial_dims + 1) for c in itertools.combinations(axes, r)]


def mirrored(net: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor],
                                                                       torch.Tensor]:
    """`net` with its logits averaged over every flip of the input's spatial axes."""
    def run(x: torch.Tensor) -> torch.Tensor:
        flips = mirror_axes(x.ndim - 2)
        total = sum(torch.flip(net(torch.flip(x, f)), f) if f else net(x) for f in flips)
        return total / len(flips)

    return run


class Predictor(ABC):
    """Probabilities (K, *spatial) for one scan, or (N, K) / values (N,) for images."""

    @abstractmethod
    def segment(self, image: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def predict_images(self, images: np.ndarray) -> np.ndarray: ...


class NetworkPredictor(Predictor):
    """A network over windows of `roi` (the training patch); see the module docstring."""

    def __init__(self, net: nn.Module, roi: Sequence[int], *, overlap: float,
                 device: torch.device, regression: bool = False, mirror: bool = False) -> None:
        self.net = net.to(device).eval()
        self.roi = tuple(int(r) for r in roi)
        self.overlap = overlap
        self.device = device
        self.regression = regression
        self.mirror = mirror

    @torch.no_grad()
    def segment(self, image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(image[None]).to(self.device)
        run = mirrored(self.net) if self.mirror else self.net
        logits = sliding_window_inference(x, self.roi, SW_BATCH, run, overlap=self.overlap,
                                          mode="gaussian", sigma_scale=SIGMA_SCALE)
        return torch.softmax(logits.float(), 1)[0].cpu().numpy()

    @torch.no_grad()
    def predict_images(self, images: np.ndarray) -> np.ndarray:
        out = self.net(torch.from_numpy(images).to(self.device)).float().cpu()
        return out.reshape(-1).numpy() if self.regression else torch.softmax(out, 1).numpy()


class FeaturePredictor(Predictor):
    """A scikit-learn model over voxel features (segmentation) or image features."""

    def __init__(self, model, voxel_features: Callable[[np.ndarray], np.ndarray],
                 image_features: Callable[[np.ndarray], np.ndarray], classes: int,
                 regression: bool = False) -> None:
        self.model = model
        self.voxel_features = voxel_features
        self.image_features = image_features
        self.classes = classes
        self.regression = regression

    def _proba(self, features: np.ndarray) -> np.ndarray:
        probs = np.zeros((len(features), self.classes), dtype=np.float32)
        probs[:, self.model.classes_.astype(int)] = self.model.predict_proba(features)
        return probs

    def segment(self, image: np.ndarray) -> np.ndarray:
        feats = self.voxel_features(image)
        return self._proba(feats).T.reshape(self.classes, *image.shape[1:])

    def predict_images(self, images: np.ndarray) -> np.ndarray:
        feats = np.stack([self.image_features(im) for im in images])
        if self.regression:
            return self.model.predict(feats).astype(np.float32)
        return self._proba(feats)
