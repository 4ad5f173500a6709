"""Run an exported model on one scan: stored preprocessing, prediction, inversion.

The scan arrives as `load_case` gives it (float32 [C, *spatial] in canonical RAS, its
spacing). It is resampled to the model's spacing; a segmentation model then covers it with
sliding windows of its training patch (padding an axis that is smaller), Gaussian-weighted,
optionally mirrored, and the probabilities are resampled back onto the scan's own grid
before the arg-max, so the mask has the scan's shape; the postprocessing decided on
validation is applied last. A classification or regression model sees the scan cropped or
padded about its centre, as `prepare` showed it the training cases; a binary classifier
calls a case positive at the threshold chosen on validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mias.errors import InputError
from mias.export import arrays
from mias.export.ranges import channel_means
from mias.export.runtime import open_model, run, softmax
from mias.export.spec import InferenceSpec
from mias.train.postprocess import apply_postprocessing
from mias.train.threshold import apply_threshold


@dataclass(frozen=True)
class Prediction:
    """A scan's prediction: a label map on its grid, or class probabilities and the class
    decided from them, or a value."""

    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    label: int | None = None
    value: float | None = None
    intensity_mean: tuple[float, ...] = ()


class ExportedModel:
    """`model.onnx` and the spec it carries."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = open_model(self.path, threads)
        self.spec = InferenceSpec.from_metadata(
            dict(self.session.get_modelmeta().custom_metadata_map), self.path)
        self._check_input()

    def _check_input(self) -> None:
        """The graph's fixed input axes must be those its metadata describes (channels, then
        the window, or the whole input for a global label): a model whose metadata was
        edited or copied from another export would fail inside ONNX Runtime otherwise."""
        spec = self.spec
        spatial = spec.window if spec.kind == "segmentation" else spec.input_shape
        expected = (int(spec.task["in_channels"]), *spatial)
        graph = tuple(self.session.get_inputs()[0].shape[1:])
        if len(graph) != len(expected) or any(
                isinstance(g, int) and g != e for g, e in zip(graph, expected, strict=True)):
            raise InputError(self.path, f"the model's input is {list(graph)} (channels, "
                             f"spatial axes) but its metadata describes {list(expected)}",
                             "re-export it with `mias export RUN`")

    def predict(self, image: np.ndarray, spacing: Sequence[float],
                where: str | Path | None = None) -> Prediction:
        spec, plan = self.spec, self.spec.plan
        dims = int(spec.task["spatial_dims"])
        if image.ndim != dims + 1 or image.shape[0] != int(spec.task["in_channels"]):
            raise InputError(where, f"a scan of {image.shape[0]} channel(s) × "
                                    f"{tuple(image.shape[1:])} does not fit the model "
                                    f"({spec.task['in_channels']} channel(s), {dims}D)",
                             "give scans of the kind the model was trained on")
        resampled = arrays.resample_image(image, spacing, plan["target_spacing"])
        means = tuple(channel_means(resampled, nonzero=plan["normalization"] == "mri"))
        if spec.kind == "segmentation":
            labels = self._segment(resampled, image.shape[1:], spacing)
            return Prediction(labels=labels, intensity_mean=means)
        window, _ = arrays.centre_crop_or_pad(resampled, spec.input_shape)
        out = run(self.session, arrays.normalize(window, plan)[None])[0]
        if spec.kind == "classification":
            probs = softmax(out[None])[0]
            return Prediction(probabilities=probs, intensity_mean=means,
                              label=int(apply_threshold(probs[None], spec.threshold)[0]))
        return Prediction(value=float(np.ravel(out)[0]), intensity_mean=means)

    def _segment(self, resampled: np.ndarray, shape: Sequence[int],
                 spacing: Sequence[float]) -> np.ndarray:
        spec = self.spec
        window = spec.window
        padded, placement = arrays.pad_to_at_least(resampled, window)
        normalised = arrays.normalize(padded, spec.plan)

        def logits(batch: np.ndarray) -> np.ndarray:
            return run(self.session, batch)

        if spec.mirror:
            logits = arrays.mirrored(logits, len(window))
        weights = arrays.gaussian_importance(
            window, float(spec.inference.get("gaussian_sigma_scale", arrays.SIGMA_SCALE)))
        out = arrays.sliding_window(logits, normalised, window,
                                    float(spec.inference["overlap"]), weights=weights)
        probs = softmax(out, axis=0)
        probs = arrays.linear_resize(arrays.unpad(probs, placement), shape)
        dtype = np.uint8 if probs.shape[0] <= 256 else np.int32
        labels = np.argmax(probs, axis=0).astype(dtype)
        return apply_postprocessing(labels, spec.postprocessing, spacing)
