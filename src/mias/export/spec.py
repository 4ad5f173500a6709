"""What a board needs besides the weights, stored inside `model.onnx` as metadata.

The task (kind, classes, label names, channels), the preprocessing plan (orientation,
target spacing, intensity rule, input shape), how to cover a scan (sliding windows of the
training patch, their overlap, Gaussian weights, mirroring), the decisions made on
validation (postprocessing, classification threshold) and the attribute ranges the
training data covered travel as ONNX `metadata_props`, one JSON value per key, so
`mias predict` reads the model file alone. Nothing here identifies a patient or a case:
the ranges are aggregates. Reading goes through ONNX Runtime, so it needs neither torch
nor the `onnx` package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mias.errors import InputError

SPEC_SCHEMA_VERSION = 1
PREFIX = "mias."
ORIENTATION = "RAS"


@dataclass(frozen=True)
class InferenceSpec:
    """The model's contract with the scans it is given."""

    task: dict[str, Any]
    plan: dict[str, Any]
    inference: dict[str, Any]
    ranges: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.task["kind"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.task["input_shape"])

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.task["label_names"])

    @property
    def window(self) -> tuple[int, ...]:
        """The sliding window: the training patch (the input shape for older exports)."""
        return tuple(int(s) for s in self.inference.get("window") or self.input_shape)

    @property
    def mirror(self) -> bool:
        return bool(self.inference.get("mirror", False))

    @property
    def postprocessing(self) -> dict[str, Any] | None:
        return self.inference.get("postprocessing")

    @property
    def threshold(self) -> dict[str, Any] | None:
        return self.inference.get("threshold")

    def to_metadata(self) -> dict[str, str]:
        """`metadata_props` entries: `mias.<section>` → JSON."""
        sections = {"schema_version": SPEC_SCHEMA_VERSION, "task": self.task,
                    "preprocessing": self.plan, "inference": self.inference,
                    "ranges": self.ranges, "model": self.model}
        return {PREFIX + k: json.dumps(v, sort_keys=True) for k, v in sections.items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str | Path | None = None) -> InferenceSpec:
        fix = "export the model with `mias export RUN` (it stores the preprocessing)"
        try:
            raw = {k[len(PREFIX):]: json.loads(v) for k, v in meta.items()
                   if k.startswith(PREFIX)}
        except json.JSONDecodeError as exc:
            raise InputError(where, f"unreadable MIAS metadata ({exc.msg})", fix) from exc
        if raw.get("schema_version") != SPEC_SCHEMA_VERSION:
            raise InputError(where, "the model carries no MIAS preprocessing metadata "
                                    f"(schema_version {raw.get('schema_version')!r})", fix)
        try:
            return cls(task=raw["task"], plan=raw["preprocessing"], inference=raw["inference"],
                       ranges=raw.get("ranges", {}), model=raw.get("model", {}))
        except KeyError as exc:
            raise InputError(where, f"the MIAS metadata lacks {exc}", fix) from None


def read_spec(model: str | Path) -> InferenceSpec:
    """The spec stored in an exported model (via ONNX Runtime's model metadata)."""
    from mias.export.runtime import open_model

    session = open_model(model)
    return InferenceSpec.from_metadata(dict(session.get_modelmeta().custom_metadata_map),
                                       model)
