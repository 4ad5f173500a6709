"""What evaluation asks of a model: class probabilities for a whole scan, or per image.

Networks segment a scan larger than their input by MONAI's `sliding_window_inference`
(Gaussian-weighted overlapping windows of the network input shape); classical models score
every voxel from its features. Evaluation treats all of them alike, so the found network
and every baseline are scored by the same code on the same cases.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

SW_BATCH = 2


class Predictor(ABC):
    """Probabilities (K, *spatial) for one scan, or (N, K) / values (N,) for images."""

    @abstractmethod
    def segment(self, image: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def predict_images(self, images: np.ndarray) -> np.ndarray: ...


class NetworkPredictor(Predictor):
    def __init__(self, net: nn.Module, roi: Sequence[int], *, overlap: float,
                 device: torch.device, regression: bool = False) -> None:
        self.net = net.to(device).eval()
        self.roi = tuple(int(r) for r in roi)
        self.overlap = overlap
        self.device = device
        self.regression = regression

    @torch.no_grad()
    def segment(self, image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(image[None]).to(self.device)
        logits = sliding_window_inference(x, self.roi, SW_BATCH, self.net, overlap=self.overlap,
                                          mode="gaussian")
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
