"""ONNX export of materialised networks and blocks, and parity against ONNX Runtime.

The opset is pinned so a model exported today loads in the ONNX Runtime shipped to the
device (1.18+ on a Raspberry Pi reads opset 17; hard-swish needs ≥ 14). Export goes through
the TorchScript-based exporter (`dynamo=False`): it handles the plain conv/norm/activation
graphs of this search space and keeps a dynamic batch axis.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

OPSET = 17
PARITY_ATOL = 1e-4


def _names(prefix: str, n: int) -> list[str]:
    return [prefix] if n == 1 else [f"{prefix}{i}" for i in range(n)]


def onnx_bytes(model: nn.Module, example_inputs: Sequence[torch.Tensor], *,
               input_names: Sequence[str] | None = None,
               output_names: Sequence[str] = ("output",)) -> bytes:
    """The model as a checked ONNX protobuf (inference mode, dynamic batch axis)."""
    inputs = tuple(example_inputs)
    names = list(input_names or _names("input", len(inputs)))
    axes = {n: {0: "batch"} for n in [*names, *output_names]}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")
        torch.onnx.export(model, inputs, buffer, opset_version=OPSET, dynamo=False,
                          input_names=names, output_names=list(output_names),
                          dynamic_axes=axes, do_constant_folding=True)
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def with_metadata(model: bytes, metadata: Mapping[str, str]) -> bytes:
    """The model with `metadata` as its `metadata_props` (replacing keys it already has)."""
    proto = onnx.load_from_string(model)
    kept = {p.key: p.value for p in proto.metadata_props if p.key not in metadata}
    del proto.metadata_props[:]
    for key, value in {**kept, **metadata}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def export_onnx(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: str | Path,
                **names: Any) -> Path:
    """Write the model to `path` (temporary file + rename: never half-written)."""
    path = Path(path)
    data = onnx_bytes(model, example_inputs, **names)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def session(model: bytes | str | Path, threads: int = 1) -> ort.InferenceSession:
    """A CPU ONNX Runtime session with a fixed thread count (reproducible timings)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(model: bytes | str | Path | ort.InferenceSession,
             inputs: Sequence[torch.Tensor | np.ndarray]) -> list[np.ndarray]:
    """Run an ONNX model on `inputs` (in the order of its graph inputs)."""
    sess = model if isinstance(model, ort.InferenceSession) else session(model)
    feeds = {i.name: (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)
             for i, x in zip(sess.get_inputs(), inputs, strict=True)}
    return sess.run(None, feeds)


def check_parity(model: nn.Module, onnx_model: bytes | str | Path,
                 inputs: Sequence[torch.Tensor], atol: float = PARITY_ATOL,
                 probabilities: bool = False) -> dict[str, Any]:
    """Largest absolute difference between PyTorch (eval mode) and ONNX Runtime outputs,
    as a record for `parity.json`.

    With `probabilities`, the difference is taken where a deployment reads the output:
    after a softmax over the class axis (and the predicted labels must agree). Raw logits
    of a trained network reach tens, where float32 rounding alone differs by more than
    1e-4 between two runtimes; the raw figures are recorded beside it.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(*inputs)
    finally:
        model.train(was_training)
    outputs = [e.cpu().numpy() for e in
               (expected if isinstance(expected, tuple | list) else (expected,))]
    got = run_onnx(onnx_model, inputs)
    raw = max(float(np.max(np.abs(g - e))) for g, e in zip(got, outputs, strict=True))
    scale = max(float(np.max(np.abs(e))) for e in outputs)
    record: dict[str, Any] = {"max_abs_diff": raw, "atol": atol, "opset": OPSET,
                              "raw_max_abs_diff": raw, "raw_max_abs_value": scale,
                              "onnxruntime": ort.__version__, "torch": torch.__version__}
    if probabilities:
        soft = [torch.softmax(torch.from_numpy(a), 1).numpy() for a in got]
        ref = [torch.softmax(torch.from_numpy(a), 1).numpy() for a in outputs]
        diff = max(float(np.max(np.abs(g - e))) for g, e in zip(soft, ref, strict=True))
        agree = min(float(np.mean(g.argmax(1) == e.argmax(1)))
                    for g, e in zip(got, outputs, strict=True))
        record.update(max_abs_diff=diff, compared="softmax probabilities",
                      label_agreement=agree)
        record["passed"] = diff <= atol
    else:
        record.update(compared="raw outputs", passed=raw <= atol)
    return record
