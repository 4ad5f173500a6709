"""Export for the device: ONNX (opset pinned) and parity checks against ONNX Runtime."""

from mias.export.onnx_export import (
    OPSET,
    check_parity,
    export_onnx,
    onnx_bytes,
    run_onnx,
    session,
)

__all__ = ["OPSET", "check_parity", "export_onnx", "onnx_bytes", "run_onnx", "session"]
