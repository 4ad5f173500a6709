"""`mias evaluate RUN`: the found network and its baselines, scored as a clinician would.

The held-out cases are the test split when prepare made one (`--test-fraction`): cases that
no decision saw. Without one they are the validation split, which chose the postprocessing
(and, in a search with a depth race, the network), so those figures are optimistic and
`metrics.json` says so. Each case is read from its original
file, predicted over the whole scan (Gaussian-weighted sliding windows of the training
patch), mapped back through the recorded preprocessing onto its original grid, postprocessed
(or, for a classifier, thresholded) as final training decided on validation and scored
against its original label file. The baselines (preset `evaluate.baselines`) are trained
on the same training split with the same budget and scored by the same code. Writes
`RUN/eval/metrics.json` (figures with 95% bootstrap CIs, subgroups, baselines, latency
with its source), `RUN/eval/cases.parquet` (one row per model and case) and each model's
ONNX under `RUN/eval/onnx/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mias import __version__
from mias.atomic import atomic_dir, atomic_file, read_json, write_json
from mias.errors import InputError
from mias.presets.models import EvaluateSettings
from mias.provenance import check_same_arch, check_same_prep
from mias.records import EVAL_SCHEMA_VERSION
from mias.train.baselines import nnunet
from mias.train.data import PreparedData
from mias.train.device import torch_device
from mias.train.evaluation_support import data_root as _data_root
from mias.train.evaluation_support import net_latency as _net_latency
from mias.train.inverse import from_resampled, unpad
from mias.train.metrics import segmentation_case
from mias.train.model_file import ModelFile
from mias.train.original import OriginalCase, load_original, network_input, subgroups
from mias.train.postprocess import apply_postprocessing
from mias.train.predictors import NetworkPredictor, Predictor
from mias.train.run_record import SearchRecord
from mias.train.summary import summarise
from mias.train.threshold import apply_threshold

Progress = Callable[[str, int, int], None]


class Evaluation:
    """The held-out cases of one run, loaded once, and how each model is scored on them."""

    def __init__(self, record: SearchRecord, data_root: Path | None, device: str) -> None:
        self.record = record
        self.settings: EvaluateSettings = record.preset.evaluate
        self.data = PreparedData.load(record.prep)
        record.check_prep(self.data.fingerprint)
        self.task = self.data.task
        manifest = read_json(self.data.root / "manifest.json")
        plan = manifest["preprocessing"]
        self.pre = {c["case_id"]: _complete(c["preprocessing"], plan) for c in manifest["cases"]}
        self.label_stats = {c["case_id"]: c.get("label_stats") for c in manifest["cases"]}
        self.scored_split = "test" if self.data.splits.get("test") else "val"
        self.held = list(self.data.splits[self.scored_split])
        self.device = torch_device(device)
        self.data_root = data_root
        self.beta = record.preset.metric.beta or self.task.beta
        self.originals: dict[str, OriginalCase] = {}
        self.inputs: dict[str, np.ndarray] = {}
        if self.task.kind == "segmentation":
            root = _data_root(manifest, data_root, self.data.root)
            for cid in self.held:
                case = load_original(root, self.data.records[cid], self.pre[cid], self.task,
                                     self.label_stats[cid])
                self.originals[cid] = case
                self.inputs[cid] = network_input(case)

    def base_row(self, model: str, cid: str) -> dict[str, Any]:
        return {"model": model, "case_id": cid, "split": self.scored_split,
                **subgroups(self.data.records[cid])}

    def rows(self, model: str, predictor: Predictor,
             decided: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One row per held-out case: the prediction scored in the original space, after
        the postprocessing or threshold `decided` on validation (`meta["inference"]`)."""
        decided = decided or {}
        if self.task.kind != "segmentation":
            return self.rows_from_images(model, predictor.predict_images(
                np.stack([self.data.cases[c].image for c in self.held])),
                decided.get("threshold"))
        preds = {cid: apply_postprocessing(
            from_resampled(unpad(predictor.segment(self.inputs[cid]), self.pre[cid]),
                           self.pre[cid]), decided.get("postprocessing"),
            self.originals[cid].spacing) for cid in self.held}
        return self.rows_from_labels(model, preds)

    def rows_from_labels(self, model: str, preds: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        out = []
        for cid in self.held:
            case = self.originals[cid]
            out.append(self.base_row(model, cid) | segmentation_case(
                preds[cid], case.label, case.spacing, self.task.label_names,
                tolerance_mm=self.settings.surface_tolerance_mm,
                min_voxels=self.settings.detection_min_voxels))
        return out

    def rows_from_images(self, model: str, outputs: np.ndarray,
                         threshold: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out = []
        for cid, value in zip(self.held, outputs, strict=True):
            row = self.base_row(model, cid) | {"y_true": self.data.records[cid].label}
            if self.task.kind == "classification":
                row |= {"y_pred": int(apply_threshold(value[None], threshold)[0])} | {
                    f"p_{c}": float(p) for c, p in enumerate(value)}
            else:
                row["y_pred"] = float(value)
            out.append(row)
        return out

    def network_predictor(self, net: torch.nn.Module, window: Sequence[int] | None = None,
                          mirror: bool = False) -> NetworkPredictor:
        """Windows of the training patch (`window`; the input shape when not recorded)."""
        return NetworkPredictor(net, window or self.task.input_shape,
                                overlap=self.settings.sliding_window_overlap,
                                device=self.device, regression=self.task.kind == "regression",
                                mirror=mirror)

    def example(self) -> torch.Tensor:
        return torch.zeros(1, self.task.in_channels, *self.task.input_shape)

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        s = self.settings
        return summarise(rows, self.task, beta=self.beta, resamples=s.bootstrap,
                         confidence=s.confidence, seed=self.record.seed)


def _complete(pre: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """A CT record whose normalisation was deferred takes the dataset statistics."""
    norm = pre.get("normalize") or {}
    if norm.get("deferred"):
        pre = pre | {"normalize": {"method": "ct", "clip": plan["ct_clip"],
                                   "mean": plan["ct_mean"], "std": plan["ct_std"]}}
    return pre


def evaluate_run(run: str | Path, *, data_root: str | Path | None = None,
                 device: str = "cpu", overwrite: bool = False,
                 progress: Progress | None = None) -> Path:
    """Score the run's final model and its baselines; returns `RUN/eval`."""
    from mias.train.baselines.runner import run_baselines

    record = SearchRecord.load(run)
    model_path = record.run / "final" / "model.pt"
    if not model_path.is_file():
        raise InputError(model_path, "no trained model in this run", "run `mias train RUN` first")
    model = ModelFile.load(model_path)
    ev = Evaluation(record, Path(data_root) if data_root else None, device)
    retrain = f"train it again: `mias train {record.run} --overwrite`"
    check_same_arch(record.arch.id, model.arch.id, record=model_path, rerun=retrain)
    check_same_prep(ev.data.fingerprint, model.meta.get("prep_fingerprint"), prep=record.prep,
                    record=model_path, rerun=retrain)
    with atomic_dir(record.run / "eval", overwrite=overwrite) as tmp:
        onnx_dir = tmp / "onnx"
        t0 = time.perf_counter()
        net = model.network()
        decided = model.meta.get("inference") or {}
        predictor = ev.network_predictor(net, decided.get("window"),
                                         bool(decided.get("mirror", False)))
        rows = ev.rows("mias", predictor, decided)
        entries = {"mias": {"kind": "found", "arch_id": model.arch.id,
                            "summary": ev.summary(rows),
                            "inference": {"window": list(predictor.roi),
                                          "overlap": predictor.overlap,
                                          "mirror": predictor.mirror,
                                          "postprocessing": decided.get("postprocessing"),
                                          "threshold": decided.get("threshold")},
                            "latency": _net_latency(ev, net, onnx_dir / "mias.onnx")
                            | {"search_predictor": record.latency},
                            "seconds": time.perf_counter() - t0}}
        all_rows = list(rows)
        baselines, notes = run_baselines(ev, model, onnx_dir, all_rows, progress)
        entries |= baselines
        _write(tmp, ev, entries, notes, all_rows)
    return record.run / "eval"


VALIDATION_NOTE = ("scored on the validation split: prepare made no test split "
                   "(`mias prepare --test-fraction`), and this split chose the postprocessing "
                   "(and a depth race's network), so these figures are optimistic")


def _write(tmp: Path, ev: Evaluation, entries: dict[str, Any], notes: list[str],
           rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    write_json(tmp / "metrics.json", {
        "schema_version": EVAL_SCHEMA_VERSION, "mias_version": __version__,
        "arch_id": ev.record.arch.id, "target": ev.record.target, "task": ev.task.kind,
        "space": "original image space (inverse of the recorded preprocessing)",
        "splits": [ev.scored_split], "n_cases": len(ev.held),
        "confidence": ev.settings.confidence, "bootstrap": ev.settings.bootstrap,
        "bootstrap_seed": ev.record.seed, "beta": ev.beta,
        "detection_min_voxels": ev.settings.detection_min_voxels,
        "surface_tolerance_mm": ev.settings.surface_tolerance_mm,
        "models": entries,
        "notes": [*notes, *([VALIDATION_NOTE] if ev.scored_split == "val" else [])],
        "nnunet": "run" if "nnunet" in entries else (
            nnunet.NOT_INSTALLED if "nnunet" in ev.settings.baselines else "not requested")})
    with atomic_file(tmp / "cases.parquet") as path:
        pd.DataFrame(rows).to_parquet(path, index=False)
