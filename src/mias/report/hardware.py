"""Per-block cost of the final model and its efficiency on the target, each with its source.

FLOPs and parameters are analytic (`mias.space.cost`); a block's latency is the search's
own predictor for the target (a measured latency table where PREP has one for it, else the
roofline estimate), so the table says which. Energy and peak memory are models of the device
profile, labelled estimated unless both of their inputs were measured; the model size is the
exported file's. A figure for a board that was never measured says ESTIMATED in capitals.
"""

from __future__ import annotations

from typing import Any

from mias.errors import InputError
from mias.hardware.devices import resolve_device
from mias.hardware.energy import energy_or_reason
from mias.hardware.figures import Figure
from mias.hardware.memory import predict_memory
from mias.report.records import RunRecords
from mias.space.cost import block_cost


def block_names(space: Any, arch: Any) -> list[str]:
    return ["stem", *space.layer_names(arch.depth), "head"]


def _predictor(rec: RunRecords):
    from mias.search.api import load_latency

    try:
        _, predictor, _ = load_latency(rec.prep, rec.result["target"])
    except InputError as exc:
        return None, f"block latencies unavailable here: {exc.message}"
    return predictor, None


def block_table(rec: RunRecords) -> dict[str, Any]:
    """Rows of layer, operator, kernel, width, output shape, params, FLOPs, latency."""
    space, arch = rec.space, rec.arch
    predictor, note = _predictor(rec)
    whole = Figure.from_dict(rec.result["latency"])
    rows, params, flops = [], 0, 0
    for name, config in zip(block_names(space, arch), space.block_configs(arch), strict=True):
        cost = block_cost(config)
        choice = config.choice
        params, flops = params + cost.params, flops + cost.flops
        rows.append({
            "layer": name, "op": choice.op if choice else _fixed_op(name, space),
            "kernel": "×".join(map(str, choice.kernel)) if choice else "—",
            "width": config.out_channels, "shape": "×".join(map(str, config.in_shape)),
            "extras": ", ".join(x for x in (
                f"expansion {choice.expansion}" if choice and choice.expansion > 1 else "",
                f"{choice.layers} layers" if choice and choice.layers > 1 else "",
                "residual" if choice and choice.residual else "",
                "SE" if choice and choice.se else "") if x) or "—",
            "params": cost.params, "flops": cost.flops,
            "latency_ms": None if predictor is None else predictor.block_ms(config)})
    fixed = getattr(predictor, "fixed_ms", 0.0) if predictor is not None else None
    return {"rows": rows, "params": params, "flops": flops, "fixed_ms": fixed,
            "latency": whole.to_dict() | {"label": whole.label}, "source": whole.source,
            "note": note}


def _fixed_op(name: str, space: Any) -> str:
    """The stem and head are not searched: a conv in, a 1×1 conv (or pool + linear) out."""
    if name == "stem":
        return "conv"
    return "1×1 conv" if space.has_decoder else "global pool + linear"


def _row(quantity: str, fig: Figure | None, text: str | None = None) -> dict[str, Any]:
    if fig is None:
        return {"quantity": quantity, "value": text or "n/a", "source": "—", "device": "—",
                "runtime": "—", "basis": ""}
    shown = fig.source.upper() if fig.source != "measured" else "measured"
    return {"quantity": quantity, "value": f"{fig.value:.4g} {fig.unit}", "source": shown,
            "device": fig.device, "runtime": fig.runtime or "—", "basis": fig.label}


def efficiency(rec: RunRecords) -> dict[str, Any]:
    """Latency, energy, peak memory and model size on the target, plus the host measurement."""
    target = resolve_device(rec.result["target"])
    latency = Figure.from_dict(rec.result["latency"])
    mias_eval = rec.evaluation["models"].get("mias", {}).get("latency") or {}
    rows = [_row(f"latency on {target.name} (search predictor)", latency)]
    roofline = mias_eval.get("target")
    if roofline:
        rows.append(_row(f"latency on {target.name} (whole-graph roofline)",
                         Figure.from_dict(roofline)))
    host = mias_eval.get("host")
    if host:
        rows.append(_row("latency on this host (ONNX Runtime)", Figure.from_dict(host)))
    energy, why = energy_or_reason(latency, target)
    rows.append(_row(f"energy per inference on {target.name}", energy, why))
    memory = predict_memory(rec.space, rec.arch, target)
    share = "" if memory.share_of_ram is None else f" ({memory.share_of_ram:.1%} of " \
                                                   f"{memory.ram_mib:g} MiB RAM)"
    mem_row = _row(f"peak inference memory on {target.name}", memory.peak)
    mem_row["value"] += share
    rows.append(mem_row)
    for name, size in rec.onnx_sizes.items():
        rows.append({"quantity": f"model size ({name})", "value": f"{size / 2**20:.3f} MiB "
                     f"({size:,} bytes)", "source": "measured", "device": "—",
                     "runtime": "ONNX opset 17", "basis": "size of the exported file"})
    board = target.name != "host"
    warning = None
    if board and latency.source == "estimated":
        warning = (f"No {target.description} was measured for this run: every {target.name} "
                   "figure here is an ESTIMATE from the device profile (roofline model, "
                   "datasheet power), not a measurement. Time the model on the board "
                   f"(`mias profile --import` there) before relying on it.")
    return {"rows": rows, "target": target.name, "description": target.description,
            "warning": warning, "int8": _int8(rec)}


def _int8(rec: RunRecords) -> dict[str, Any] | None:
    q = rec.parity.get("int8")
    if not q:
        return None
    return {"change": q["metric_change"], "label": q["metric_label"],
            "ratio": q["latency_ratio_int8_over_fp32"], "recommended":
            q["verdict"]["recommended"], "reason": q["verdict"]["reason"],
            "note": q["latency_note"]}
