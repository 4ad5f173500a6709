"""`mias export RUN [--int8]`: the trained model as ONNX that carries its preprocessing.

Reads `RUN/final/model.pt` alone for the network and what final training decided on
validation (its window — the training patch —, mirroring, postprocessing, classification
threshold; `meta["inference"]`), and the prepared data (`PREP`, named by the model file or
`RUN/search/result.json`) for the attribute ranges, the parity inputs and, with int8, the
calibration (training) and scoring (validation) cases. A segmentation network is exported
at its window, the only input size it was trained on and is run at. Writes
`RUN/export/model.onnx` (fp32, opset 17), `model.int8.onnx` and `parity.json`: the largest
|ONNX − PyTorch| difference, and for int8 its metric change on the validation split, its
host latency beside fp32 (interleaved) and whether it is recommended for the target.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from mias import __version__
from mias.atomic import atomic_dir, read_json, write_json
from mias.data.planning import PreprocessPlan
from mias.errors import InputError
from mias.export import arrays, latency
from mias.export.quantize import quantize_int8
from mias.export.ranges import attribute_ranges
from mias.export.runtime import open_model, run
from mias.export.spec import ORIENTATION, InferenceSpec
from mias.onnx_export import OPSET, check_parity, onnx_bytes, with_metadata
from mias.provenance import check_same_arch, check_same_prep, prep_fingerprint
from mias.records import PARITY_SCHEMA_VERSION, SCHEMA_VERSION, TaskSpec
from mias.train.data import PreparedData
from mias.train.model_file import ModelFile
from mias.train.scoring import Scorer
from mias.validation import read_record

PARITY_CASES = 2
INT8_MAX_DICE_COST = 0.01
DEFAULT_OVERLAP = 0.5
LATENCY_BUDGET_S = 30.0
Progress = Callable[[str, int, int], None]


def _search_result(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "search" / "result.json"
    return read_json(path) if path.is_file() else {}


def _prep_path(run_dir: Path, model: ModelFile, result: dict[str, Any],
               prep: Path | None) -> Path | None:
    if prep is not None and not (prep / "manifest.json").is_file():
        raise InputError(prep, "--prep is not a folder written by `mias prepare` (no "
                               "manifest.json)", "pass the PREP this run was trained on, or "
                                                 "leave --prep out to use the one it names")
    for candidate in (prep, run_dir / "prep", model.meta.get("prep"), result.get("prep")):
        if candidate and (Path(candidate) / "manifest.json").is_file():
            return Path(candidate)
    return None


def _overlap(result: dict[str, Any]) -> float:
    evaluate = (result.get("config") or {}).get("evaluate") or {}
    return float(evaluate.get("sliding_window_overlap", DEFAULT_OVERLAP))


def _ranges(data: PreparedData) -> dict[str, Any]:
    """Training-split ranges, with the raw intensity means `prepare` normalised with."""
    manifest = read_json(data.root / "manifest.json")
    applied = {c["case_id"]: c.get("preprocessing", {}).get("normalize", {})
               for c in manifest["cases"]}
    train = [data.records[c] for c in data.splits["train"]]
    means = [applied[r.case_id]["mean"] for r in train
             if isinstance(applied.get(r.case_id, {}).get("mean"), list)]
    return attribute_ranges(train, means if len(means) == len(train) else ())


def window(model: ModelFile) -> tuple[int, ...]:
    """The window the network runs at: the training patch recorded by final training
    (the whole input for a classifier, and for a model trained before it was recorded)."""
    recorded = (model.meta.get("inference") or {}).get("window")
    task = model.task
    if task.kind != "segmentation" or not recorded:
        return tuple(task.input_shape)
    return tuple(int(s) for s in recorded)


def inference_spec(model: ModelFile, data: PreparedData | None, overlap: float) -> InferenceSpec:
    """The metadata `model.onnx` carries: task, plan, windows, decisions, ranges, provenance."""
    task = model.task
    plan = PreprocessPlan.from_dict(model.preprocessing).to_dict()
    plan["orientation"] = ORIENTATION
    decided = model.meta.get("inference") or {}
    inference = {"input_shape": list(task.input_shape), "overlap": overlap,
                 "window": list(window(model)), "mirror": bool(decided.get("mirror", False)),
                 "gaussian_sigma_scale": arrays.SIGMA_SCALE,
                 "postprocessing": decided.get("postprocessing"),
                 "threshold": decided.get("threshold"),
                 "large_scans": "sliding windows of the training patch, Gaussian-weighted "
                 "logits, then the postprocessing decided on validation"
                 if task.kind == "segmentation" else "centred crop or pad to the input shape",
                 "small_scans": "padded symmetrically with the scan's minimum",
                 "output": {"segmentation": "logits [N, classes, *window]",
                            "classification": "logits [N, classes]",
                            "regression": "value [N, 1]"}[task.kind]}
    provenance = {"arch_id": model.arch.id, "mias_version": __version__, "opset": OPSET}
    ranges = _ranges(data) if data is not None else {}
    return InferenceSpec(task=task.to_dict(), plan=plan, inference=inference, ranges=ranges,
                         model=provenance)


def _scores(model: bytes, data: PreparedData, scorer: Scorer, shape: tuple[int, ...]) -> float:
    """The scorer on the validation cases, a segmentation covered by windows of `shape`."""
    session = open_model(model)
    weights = arrays.gaussian_importance(shape)
    values = []
    for case in data.split("val"):
        if data.task.kind == "segmentation":
            logits = arrays.sliding_window(lambda b, s=session: run(s, b), case.image, shape,
                                           DEFAULT_OVERLAP, weights=weights)[None]
        else:
            logits = run(session, case.image[None])
        target = case.mask if data.task.kind == "segmentation" else case.target
        values.append(scorer(torch.from_numpy(logits), torch.as_tensor(np.asarray(target)[None])))
    return float(np.mean(values))


def _windows(images: list[np.ndarray], shape: tuple[int, ...]) -> list[np.ndarray]:
    """Each image centre-cropped (or padded) to the exported input shape."""
    return [arrays.centre_crop_or_pad(im, shape)[0] for im in images]


def _verdict(target: str, faster: bool, cost: float) -> dict[str, Any]:
    if target != "host":
        return {"recommended": False, "target": target,
                "reason": f"int8 was timed on this host only, not on {target}; a host "
                          "speed-up does not carry over to another CPU, so fp32 stays the "
                          "deployed model until int8 is measured faster there"}
    ok = faster and cost <= INT8_MAX_DICE_COST
    why = [] if faster else ["it was not measured faster on host"]
    if cost > INT8_MAX_DICE_COST:
        why.append(f"it costs {cost:.4f} of the metric (limit {INT8_MAX_DICE_COST})")
    return {"recommended": ok, "target": target,
            "reason": "measured faster on host at a metric cost within "
                      f"{INT8_MAX_DICE_COST}" if ok else "not recommended: " + "; ".join(why)}


def int8_record(fp32: bytes, int8: bytes, data: PreparedData, target: str,
                threads: int, budget_s: float = LATENCY_BUDGET_S,
                shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Metric change on the validation split and interleaved host latency of int8 vs fp32
    (one forward pass at the exported input `shape`, by default the task's input)."""
    shape = tuple(shape or data.task.input_shape)
    metric = "dice" if data.task.kind == "segmentation" else None
    scorer = Scorer.for_task(data.task, metric)
    fp32_score, int8_score = _scores(fp32, data, scorer, shape), _scores(int8, data, scorer,
                                                                          shape)
    cost = fp32_score - int8_score
    sessions = {"fp32": open_model(fp32, threads), "int8": open_model(int8, threads)}
    x = _windows([data.split("val")[0].image], shape)[0][None]
    samples = latency.interleaved_ms({k: (lambda s=s: run(s, x)) for k, s in sessions.items()},
                                     budget_s=budget_s)
    runtime = f"onnxruntime {ort.__version__} CPU"
    figures = {k: latency.host_figure(v, runtime, threads) for k, v in samples.items()}
    speed_ratio = latency.ratio(samples["int8"], samples["fp32"])
    return {
        "metric": scorer.metric, "metric_label": scorer.label,
        "split": "val (prepared space)", "cases": len(data.split("val")),
        "fp32_metric": fp32_score, "int8_metric": int8_score, "metric_change": -cost,
        "latency": {k: f.to_dict() | {"label": f.label} for k, f in figures.items()},
        "latency_ratio_int8_over_fp32": speed_ratio,
        "latency_note": "measured on host, interleaved in the same run; not a figure for "
                        "the target device",
        "quantisation": {"method": "ONNX Runtime static, QDQ, per-channel weights, MinMax "
                         "calibration", "calibration": "training split"},
        "verdict": _verdict(target, speed_ratio < 1.0, cost),
    }


def _parity_inputs(model: ModelFile, data: PreparedData | None) -> list[torch.Tensor]:
    shape_in = window(model)
    if data is not None:
        cases = data.split("val")[:PARITY_CASES]
        return [torch.from_numpy(np.stack(_windows([c.image for c in cases], shape_in)))]
    task = model.task
    rng = np.random.default_rng(0)
    shape = (PARITY_CASES, task.in_channels, *shape_in)
    return [torch.from_numpy(rng.standard_normal(shape).astype(np.float32))]


def _shape(task: TaskSpec) -> str:
    return (f"{task.kind}, {task.in_channels} channel(s), input "
            f"{'x'.join(map(str, task.input_shape))}, {task.num_classes} classes")


def _check_prep_fits(model: ModelFile, model_path: Path, prep: Path) -> None:
    """Refuse, before a case is loaded, a PREP the model was not trained on: another task
    (its kind, channels, input or classes; a model of an older mias records no
    fingerprint) or another preparation of the same one (by the recorded fingerprint)."""
    rerun = ("pass --prep with the PREP it was trained on, or leave --prep out to use the one "
             "the run names")
    prepare = f"mias prepare DATA --out {prep} --overwrite"
    manifest = read_record(prep / "manifest.json", SCHEMA_VERSION, prepare)
    splits = read_record(prep / "splits.json", SCHEMA_VERSION, prepare)
    try:
        task = TaskSpec.from_dict(manifest["task"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(prep / "manifest.json", f"not a valid manifest ({exc})",
                         f"re-run `{prepare}`") from exc
    if _shape(task) != _shape(model.task):
        raise InputError(prep, f"holds another task ({_shape(task)}) than {model_path} was "
                               f"trained for ({_shape(model.task)})", rerun)
    check_same_prep(prep_fingerprint(prep, splits), model.meta.get("prep_fingerprint"),
                    prep=prep, record=model_path, rerun=rerun)


def export_run(run_dir: str | Path, *, int8: bool = False, prep: str | Path | None = None,
               overwrite: bool = False, latency_budget_s: float = LATENCY_BUDGET_S,
               progress: Progress | None = None) -> dict[str, Any]:
    """Export `RUN/final/model.pt` into `RUN/export/` (see the module docstring)."""
    run_dir = Path(run_dir)
    model = ModelFile.load(run_dir / "final" / "model.pt")
    result = _search_result(run_dir)
    prep_dir = _prep_path(run_dir, model, result, None if prep is None else Path(prep))
    if int8 and prep_dir is None:
        raise InputError(run_dir, "int8 needs the prepared data (calibration and validation "
                                  "cases), and no PREP was found",
                         "pass --prep PREP (the folder `mias prepare` wrote)")
    model_path = run_dir / "final" / "model.pt"
    check_same_arch(str(result.get("arch_id", model.arch.id)), model.arch.id,
                    record=model_path, rerun=f"train it again: `mias train {run_dir} "
                                             "--overwrite`")
    if prep_dir is not None:
        _check_prep_fits(model, model_path, prep_dir)
    data = None if prep_dir is None else PreparedData.load(prep_dir, space=model.space)
    steps = 3 if int8 else 2
    tick = progress or (lambda *_: None)
    torch.manual_seed(0)
    net = model.network()
    task = model.task
    example = torch.zeros(1, task.in_channels, *window(model))
    spec = inference_spec(model, data, _overlap(result))
    fp32 = with_metadata(onnx_bytes(net, [example]), spec.to_metadata())
    tick("export", 1, steps)
    parity = check_parity(net, fp32, _parity_inputs(model, data),
                          probabilities=task.kind != "regression")
    parity["inputs"] = "validation cases" if data is not None else "seeded random inputs"
    record: dict[str, Any] = {"schema_version": PARITY_SCHEMA_VERSION, "arch_id": model.arch.id,
                              "fp32": parity}
    tick("export", 2, steps)
    target = str(result.get("target") or model.meta.get("target") or "unknown")
    with atomic_dir(run_dir / "export", overwrite=overwrite) as tmp:
        (tmp / "model.onnx").write_bytes(fp32)
        if int8:
            calibration = _windows([c.image for c in data.split("train")], window(model))
            quantised = quantize_int8(fp32, calibration)
            (tmp / "model.int8.onnx").write_bytes(quantised)
            threads = len(os.sched_getaffinity(0))
            record["int8"] = int8_record(fp32, quantised, data, target, threads,
                                         latency_budget_s, window(model))
            tick("export", 3, steps)
        write_json(tmp / "parity.json", record)
    return record
