"""ONNX Runtime sessions for exported models (numpy + onnxruntime only: board-safe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from mias.errors import InputError


def open_model(model: str | Path | bytes, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session; `threads` None lets ONNX Runtime use every core (prediction)."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    where = None if isinstance(model, bytes) else Path(model)
    if where is not None and not where.is_file():
        raise InputError(where, "model file not found", "pass RUN/export/model.onnx "
                                                        "written by `mias export RUN`")
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model),
                                    options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InputError(where, f"ONNX Runtime cannot load the model ({exc})",
                         "re-export it with `mias export RUN`") from exc


def run(session: ort.InferenceSession, batch: np.ndarray) -> np.ndarray:
    """The model's first output for a float32 [N, C, *spatial] batch."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)
