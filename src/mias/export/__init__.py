"""Export for the device (ONNX fp32/int8, parity) and prediction on new scans.

The ONNX export needs torch; prediction must not (it runs on a board). So the export
helpers are loaded on first use, and `import mias.export.predict` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_ONNX_EXPORT = ("OPSET", "check_parity", "export_onnx", "onnx_bytes", "run_onnx", "session",
                "with_metadata")
__all__ = list(_ONNX_EXPORT)


def __getattr__(name: str) -> Any:
    if name in _ONNX_EXPORT:
        return getattr(importlib.import_module("mias.onnx_export"), name)
    raise AttributeError(f"module 'mias.export' has no attribute {name!r}")
