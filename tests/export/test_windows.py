"""The torch-free windows of `mias predict` equal the torch windows of `mias evaluate`:
Gaussian importance weighting, step half a window, mirroring test-time augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data.utils import compute_importance_map
from scipy.special import softmax
from torch import nn

from mias.export import arrays
from mias.train.predictors import SIGMA_SCALE, NetworkPredictor


@pytest.mark.parametrize("roi", [(8, 16, 8), (24, 32, 24), (7, 9)])
def test_gaussian_weights_are_monais(roi):
    expected = compute_importance_map(roi, mode="gaussian", sigma_scale=SIGMA_SCALE,
                                      device="cpu").numpy()
    got = arrays.gaussian_importance(roi)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got.max() > 50 * got[(0,) * len(roi)]


def _net(dims: int) -> nn.Module:
    torch.manual_seed(0)
    conv = nn.Conv3d if dims == 3 else nn.Conv2d
    return nn.Sequential(conv(1, 4, 3, padding=1), nn.ReLU(), conv(4, 3, 3, padding=1)).eval()


@pytest.mark.parametrize(("shape", "roi", "mirror"), [((20, 27, 13), (8, 16, 8), False),
                                                      ((20, 27, 13), (8, 16, 8), True),
                                                      ((30, 17), (16, 8), True)])
def test_numpy_windows_equal_the_torch_windows(shape, roi, mirror):
    net = _net(len(shape))
    image = np.random.default_rng(0).normal(size=(1, *shape)).astype(np.float32)
    torch_probs = NetworkPredictor(net, roi, overlap=0.5, device=torch.device("cpu"),
                                   mirror=mirror).segment(image)

    @torch.no_grad()
    def run(batch: np.ndarray) -> np.ndarray:
        return net(torch.from_numpy(batch)).numpy()

    logits = arrays.sliding_window(arrays.mirrored(run, len(shape)) if mirror else run, image,
                                   roi, 0.5, weights=arrays.gaussian_importance(roi))
    np.testing.assert_allclose(softmax(logits, axis=0), torch_probs, atol=2e-5)


def test_mirroring_averages_every_flip():
    """A network that only sees one corner: mirrored, every corner counts equally."""
    def corner(batch: np.ndarray) -> np.ndarray:
        out = np.zeros_like(batch)
        out[:, :, 0, 0] = 8.0
        return out

    out = arrays.mirrored(corner, 2)(np.zeros((1, 1, 3, 3), np.float32))
    np.testing.assert_allclose(out[0, 0], [[2, 0, 2], [0, 0, 0], [2, 0, 2]])
