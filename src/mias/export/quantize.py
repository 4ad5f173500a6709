"""int8 by ONNX Runtime static quantisation (QDQ), calibrated on training cases.

Static quantisation fixes every activation's scale from calibration data, so it needs
inputs like the ones the model will see: the prepared training cases at the model's
input shape. Weights are quantised per channel (convolutions vary a lot between output
channels); activations and weights are signed int8 in QDQ form, ONNX Runtime's default
for CPUs. The graph is first optimised and shape-inferred (`quant_pre_process`: batch
norms folded into convolutions), as ONNX Runtime recommends. The int8 model keeps the
fp32 model's metadata, so `mias predict` reads either.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from mias.onnx_export import with_metadata

CALIBRATION_CASES = 16


class _Cases(CalibrationDataReader):
    def __init__(self, input_name: str, images: Sequence[np.ndarray]) -> None:
        self._items: Iterator[dict[str, np.ndarray]] = iter(
            {input_name: np.ascontiguousarray(im[None], dtype=np.float32)} for im in images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def quantize_int8(fp32: bytes, calibration: Sequence[np.ndarray]) -> bytes:
    """The QDQ int8 model of `fp32`, calibrated (min/max) on `calibration` images [C, *S]."""
    model = onnx.load_from_string(fp32)
    name = model.graph.input[0].name
    meta = {p.key: p.value for p in model.metadata_props}
    with tempfile.TemporaryDirectory(prefix="mias-int8-") as tmp, _quiet_root_logger():
        src, pre, dst = (Path(tmp) / f"{n}.onnx" for n in ("fp32", "pre", "int8"))
        src.write_bytes(fp32)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), _Cases(name, calibration[:CALIBRATION_CASES]),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        return with_metadata(dst.read_bytes(), meta)


@contextlib.contextmanager
def _quiet_root_logger():
    """The quantiser logs advice on the root logger; it is not the user's to act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
