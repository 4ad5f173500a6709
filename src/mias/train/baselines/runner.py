"""Run the preset's baselines on an `Evaluation`: same split, recipe, budget, metrics and
latency. Every network baseline (the fixed U-Net, the random controls) is trained with the
settings the found network's final training used — its tuned learning rate, momentum and
weight decay and its step or time budget included — so a difference is the architecture's,
not the recipe's.

It imports what it shares with `mias.train.evaluate` from `evaluation_support`, never
`evaluate` itself (which imports this module): no import cycle.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mias.atomic import read_json
from mias.hardware.devices import resolve_device
from mias.presets.models import TrainSettings
from mias.train.baselines import nnunet
from mias.train.baselines.classical import train_classical, whole_scan
from mias.train.baselines.random_control import draw_matched, target_predictor
from mias.train.baselines.unet import fixed_unet
from mias.train.calibrate import inference_record
from mias.train.evaluation_support import data_root, net_latency, sk_latency
from mias.train.model_file import ModelFile
from mias.train.original import load_original
from mias.train.standalone import TrainResult, train_architecture, train_network
from mias.validation import validate_file


def run_baselines(ev, model: ModelFile, onnx_dir: Path, all_rows: list[dict[str, Any]],
                  progress=None) -> tuple[dict[str, Any], list[str]]:
    entries: dict[str, Any] = {}
    notes: list[str] = []
    names = list(ev.settings.baselines)
    train = recipe(ev.record.run, ev.record.preset.train)
    if {"unet", "random"} & set(names):
        budget = (f"{train.steps} steps" if train.steps else
                  f"{train.epochs * train.steps_per_epoch} steps" if train.steps_per_epoch
                  else f"{train.epochs} epochs")
        if train.time_budget_min is not None:
            budget += f", at most {train.time_budget_min:g} min"
        notes.append(f"network baselines trained with the found network's recipe: "
                     f"{train.optimizer} lr {train.lr:.3g}, momentum {train.momentum:.3g}, "
                     f"weight decay {train.weight_decay:.2g}, {budget}")
    seed = ev.record.seed
    seg = ev.task.kind == "segmentation"
    scans: dict[str, tuple[Any, Any]] | None = None
    originals: dict[str, Any] = {}

    def train_originals() -> dict[str, Any]:
        """The training cases' original scans, read once for every baseline that needs them."""
        if not originals:
            originals.update(_train_originals(ev))
        return originals

    def add(name: str, kind: str, rows: list[dict[str, Any]], latency: dict[str, Any],
            t0: float, **extra: Any) -> None:
        all_rows.extend(rows)
        entries[name] = {"kind": kind, "summary": ev.summary(rows), "latency": latency,
                         "seconds": time.perf_counter() - t0, **extra}

    for i, name in enumerate(names):
        if progress:
            progress("baselines", i, len(names))
        if name in ("mlp", "rf") and seg and scans is None:   # loaded once, not timed
            scans = {cid: whole_scan(case) for cid, case in train_originals().items()}
        t0 = time.perf_counter()
        if name in ("mlp", "rf"):
            predictor, estimator, n_features = train_classical(name, ev.data, ev.settings, seed,
                                                               scans)
            shift = getattr(predictor.model, "exponent", None)
            add(name, "classical", ev.rows(name, predictor),
                sk_latency(ev, estimator, n_features, onnx_dir / f"{name}.onnx"), t0,
                **({"prior_shift_exponent": shift} if shift is not None else {}))
        elif name == "unet":
            if not seg:
                notes.append("fixed U-Net: segmentation only, not run for this task")
                continue
            net, plan = fixed_unet(ev.data.space, resolve_device(ev.record.target), seed=seed,
                                   deep_supervision=train.deep_supervision)
            result = train_network(net, ev.data, train, device=ev.device, seed=seed)
            rows, decided = _scored(ev, "unet", result)
            add("unet", "fixed", rows, net_latency(ev, result.network, onnx_dir / "unet.onnx"),
                t0, architecture=plan.to_dict(), inference=decided,
                val_score_prepared=result.val_score, steps=result.steps,
                training_plan=result.plan)
        elif name == "nnunet":
            if not nnunet.available():
                notes.append(nnunet.NOT_INSTALLED)
                continue
            if not seg:
                notes.append("nnU-Net: segmentation only, not run for this task")
                continue
            with tempfile.TemporaryDirectory(prefix="mias-nnunet-") as tmp:
                preds, net = nnunet.run_nnunet(
                    Path(tmp), ev.originals | train_originals(), list(ev.data.splits["train"]),
                    ev.held, ev.task.label_names, ev.task.channel_names,
                    ev.task.spatial_dims, epochs=ev.settings.nnunet_epochs, seed=seed)
            add("nnunet", "nnunet", ev.rows_from_labels("nnunet", preds),
                net_latency(ev, net, onnx_dir / "nnunet.onnx"), t0,
                epochs=ev.settings.nnunet_epochs)
        elif name == "random":
            _random_control(ev, model, train, onnx_dir, add, notes)
    if progress:
        progress("baselines", len(names), len(names))
    return entries, notes


def _scored(ev, name: str, result: TrainResult) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A trained network scored as the found one is: windows of its training patch, and
    the postprocessing (or threshold) decided on validation (`calibrate`)."""
    patch = result.plan.get("patch") or ev.task.input_shape
    decided = inference_record(result.network, ev.data, patch, beta=ev.beta, device=ev.device)
    predictor = ev.network_predictor(result.network, decided["window"], decided["mirror"])
    return ev.rows(name, predictor, decided), decided


def _train_originals(ev) -> dict[str, Any]:
    manifest = read_json(ev.data.root / "manifest.json")
    root = data_root(manifest, ev.data_root, ev.data.root)
    return {cid: load_original(root, ev.data.records[cid], ev.pre[cid], ev.task,
                               ev.label_stats[cid])
            for cid in ev.data.splits["train"]}


def recipe(run: Path, preset: TrainSettings) -> TrainSettings:
    """The settings RUN/final/metrics.json says the found network was trained with (the
    preset's, for a final training that did not record them); the record's derived figures
    (planned patch, heads) are the training's own and are planned again."""
    path = run / "final" / "metrics.json"
    settings = read_json(path).get("settings") if path.is_file() else None
    if not isinstance(settings, dict):
        return preset
    known = {k: v for k, v in settings.items() if k in TrainSettings.model_fields}
    return validate_file(TrainSettings, known, path, "record",
                         f"re-run `mias train {run} --overwrite` to rewrite it")


def _random_control(ev, model: ModelFile, train: TrainSettings, onnx_dir: Path, add,
                    notes: list[str]) -> None:
    n = ev.settings.random_control
    if n == 0:
        return
    predictor = target_predictor(ev.record.prep, ev.record.target)
    picked, ref, draws = draw_matched(model.space, model.arch, n, predictor,
                                      seed=ev.record.seed)
    if len(picked) < n:
        notes.append(f"random control: only {len(picked)} of {n} architectures within ±10% "
                     f"of the found one's predicted latency in {draws} draws and walks")
    dice = []
    for k, (arch, fig) in enumerate(picked, start=1):
        t0 = time.perf_counter()
        result = train_architecture(model.space, arch, ev.data, train,
                                    device=ev.device, seed=ev.record.seed + k)
        name = f"random-{k}"
        rows, decided = _scored(ev, name, result)
        add(name, "random", rows, net_latency(ev, result.network, onnx_dir / f"{name}.onnx")
            | {"search_predictor": fig.to_dict()}, t0, arch_id=arch.id, inference=decided,
            val_score_prepared=result.val_score, steps=result.steps)
        dice.append(result.val_score)
    if dice:
        notes.append(f"random control: {len(picked)} architectures within ±10% of "
                     f"{ref.value:.1f} ms ({ref.label}); median validation score "
                     f"{statistics.median(dice):.3f}")
