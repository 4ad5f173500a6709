"""What final training decides on the validation split besides the weights.

nnU-Net fixes its inference on held-out predictions after training, not by assumption: the
window (the training patch), the postprocessing kept only where it raises validation Dice,
and here also the classification threshold that maximises the preset's F-β. The record
goes into `model.pt` (`meta["inference"]`) and `RUN/final/metrics.json`, so `evaluate`,
`export` and `predict` all apply the same decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mias.atomic import read_json
from mias.train.data import Case, PreparedData
from mias.train.device import torch_device
from mias.train.postprocess import decide_postprocessing
from mias.train.predictors import SIGMA_SCALE, NetworkPredictor
from mias.train.threshold import choose_threshold

OVERLAP = 0.5
CHUNK = 8  # validation images per forward pass


def inference_record(net: nn.Module, data: PreparedData, patch: Sequence[int], *,
                     beta: float, device: torch.device | str = "cpu",
                     overlap: float = OVERLAP, mirror: bool = False) -> dict[str, Any]:
    """The window, overlap and mirroring, and the decision the task calls for (segmentation:
    postprocessing; binary classification: threshold), made on the validation split in the
    prepared space."""
    task = data.task
    window = [int(p) for p in patch] if task.kind == "segmentation" else \
        [int(s) for s in task.input_shape]
    record: dict[str, Any] = {"window": window, "overlap": overlap, "mirror": mirror,
                              "gaussian_sigma_scale": SIGMA_SCALE}
    predictor = NetworkPredictor(net, window, overlap=overlap, device=torch_device(device),
                                 regression=task.kind == "regression", mirror=mirror)
    val = data.split("val")
    if task.kind == "segmentation":
        preds = [np.argmax(predictor.segment(c.image), axis=0) for c in val]
        record["postprocessing"] = decide_postprocessing(
            preds, [c.mask for c in val], task.num_classes, prepared_spacings(data, val))
    elif task.kind == "classification" and task.num_classes == 2:
        probs = np.concatenate([predictor.predict_images(np.stack([c.image for c in
                                                                     val[i:i + CHUNK]]))
                                for i in range(0, len(val), CHUNK)])
        record["threshold"] = choose_threshold([int(c.target) for c in val], probs[:, 1], beta)
    return record


def prepared_spacings(data: PreparedData, cases: Sequence[Case]) -> list[list[float]]:
    """Each case's voxel spacing (mm) in the prepared space: the resampling target recorded
    by prepare."""
    manifest = read_json(data.root / "manifest.json")
    target = {c["case_id"]: c["preprocessing"]["resample"]["target_spacing"]
              for c in manifest["cases"]}
    return [[float(s) for s in target[c.case_id]] for c in cases]
