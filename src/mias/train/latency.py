"""Latency of every evaluated model, ours and baselines alike, with its source.

Each model is exported to ONNX (networks by `mias.onnx_export`, scikit-learn models by
skl2onnx) and timed on this machine with the one timing harness (`measured on host`).
For the target device, every network gets the same roofline estimate from its whole-graph
FLOPs (PyTorch's `FlopCounterMode`) and its weight + input/output traffic, so the column
compares like with like; architectures of the search space also carry the search's own
predictor figure (measured LUT or per-block roofline). A tree ensemble has no FLOP model:
its target figure is reported as unavailable rather than guessed.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mias.hardware.devices import resolve_device
from mias.hardware.figures import Figure
from mias.hardware.roofline import FLOAT32_BYTES, roofline_ms
from mias.hardware.timing import TimingPolicy

QUICK = TimingPolicy(rounds=3, pairs=2)


def network_onnx(net: nn.Module, example: torch.Tensor, path: Path) -> Path:
    from mias.onnx_export import export_onnx

    return export_onnx(net.cpu().eval(), [example], path)


def sklearn_onnx(model: Any, n_features: int, path: Path) -> Path:
    from skl2onnx import to_onnx

    final = _final(model)
    options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
    onx = to_onnx(model, np.zeros((1, n_features), dtype=np.float32), options=options,
                  target_opset=17)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    return path


def _final(model: Any) -> Any:
    """The last estimator of a pipeline (or the model itself)."""
    return model.steps[-1][1] if hasattr(model, "steps") else model


def network_flops(net: nn.Module, example: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.cpu().eval()(example)
    return int(counter.get_total_flops())


def roofline_figure(flops: float, bytes_moved: float, target: str) -> dict[str, Any] | None:
    device = resolve_device(target)
    if device.peak_gflops is None or device.memory_bandwidth_gbs.value is None:
        return None
    return Figure(value=roofline_ms(flops, bytes_moved, device), unit="ms", source="estimated",
                  device=device.name, model=f"roofline({device.name})",
                  basis="roofline of whole-graph FLOPs and weight + input/output bytes"
                  ).to_dict()


def measure_host(onnx_path: Path) -> dict[str, Any]:
    from mias.hardware.export import write_reference_kernel
    from mias.hardware.profiler import measure_latency

    with tempfile.TemporaryDirectory(prefix="mias-ref-") as tmp:
        ref = Path(tmp) / "reference.onnx"
        write_reference_kernel(ref)
        return measure_latency(onnx_path, ref, resolve_device("host"), policy=QUICK).to_dict()


def network_latency(net: nn.Module, example: torch.Tensor, onnx_path: Path,
                    target: str) -> dict[str, Any]:
    """ONNX export, host measurement and target roofline estimate of one network."""
    network_onnx(net, example, onnx_path)
    return target_estimate(net, example, target) | {"onnx": onnx_path.name,
                                                     "host": measure_host(onnx_path)}


def target_estimate(net: nn.Module, example: torch.Tensor, target: str) -> dict[str, Any]:
    """Parameters, whole-graph FLOPs and the target's roofline figure of one network."""
    params = sum(p.numel() for p in net.parameters())
    flops = network_flops(net, example)
    with torch.no_grad():
        out = net.cpu().eval()(example)
    traffic = (params + example.numel() + out.numel()) * FLOAT32_BYTES
    return {"params": int(params), "flops": flops,
            "target": roofline_figure(flops, traffic, target)}


def sklearn_latency(model: Any, n_features: int, n_rows: int, onnx_path: Path,
                    target: str) -> dict[str, Any]:
    """A scikit-learn model scoring `n_rows` feature rows (one input's voxels, or one image)."""
    sklearn_onnx(model, n_features, onnx_path)
    out: dict[str, Any] = {"onnx": onnx_path.name, "rows_per_input": n_rows,
                           "host": None, "target": None}
    model = _final(model)
    if hasattr(model, "coefs_"):
        dims = [n_features, *[c.shape[1] for c in model.coefs_]]
        flops = 2 * n_rows * sum(a * b for a, b in itertools.pairwise(dims))
        params = sum(c.size for c in model.coefs_) + sum(b.size for b in model.intercepts_)
        out |= {"params": int(params), "flops": int(flops),
                "target": roofline_figure(flops, (params + n_rows * (n_features + dims[-1]))
                                          * FLOAT32_BYTES, target)}
    else:
        nodes = sum(t.tree_.node_count for t in getattr(model, "estimators_", []))
        out |= {"params": int(nodes), "flops": None,
                "target_note": "no FLOP model for tree ensembles: not estimated"}
    out["host"] = _host_rows(onnx_path, n_rows, n_features)
    return out


def _host_rows(onnx_path: Path, n_rows: int, n_features: int) -> dict[str, Any]:
    """Time the model on a full input's worth of rows: re-save it with that batch fixed."""
    import onnx

    model = onnx.load(onnx_path)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim.ClearField("dim_param")
    dim.dim_value = n_rows
    with tempfile.TemporaryDirectory(prefix="mias-rows-") as tmp:
        fixed = Path(tmp) / "fixed.onnx"
        onnx.save(model, fixed)
        fig = measure_host(fixed)
    fig["basis"] = f"{fig.get('basis', '')}; {n_rows} rows of {n_features} features per " \
                   "input, feature extraction not included"
    return fig

