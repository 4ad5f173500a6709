"""Run the preset's baselines on an `Evaluation`: same split, budget, metrics and latency."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mias.train.baselines import nnunet
from mias.train.baselines.classical import train_classical
from mias.train.baselines.random_control import draw_matched, target_predictor
from mias.train.baselines.unet import fixed_unet
from mias.train.model_file import ModelFile
from mias.train.standalone import train_architecture, train_network


def run_baselines(ev, model: ModelFile, onnx_dir: Path, all_rows: list[dict[str, Any]],
                  progress=None) -> tuple[dict[str, Any], list[str]]:
    from mias.train.evaluate import _net_latency, _sk_latency

    entries: dict[str, Any] = {}
    notes: list[str] = []
    names = list(ev.settings.baselines)
    train = ev.record.preset.train
    seed = ev.record.seed
    seg = ev.task.kind == "segmentation"

    def add(name: str, kind: str, rows: list[dict[str, Any]], latency: dict[str, Any],
            t0: float, **extra: Any) -> None:
        all_rows.extend(rows)
        entries[name] = {"kind": kind, "summary": ev.summary(rows), "latency": latency,
                         "seconds": time.perf_counter() - t0, **extra}

    for i, name in enumerate(names):
        if progress:
            progress("baselines", i, len(names))
        t0 = time.perf_counter()
        if name in ("mlp", "rf"):
            predictor, estimator, n_features = train_classical(name, ev.data, ev.settings, seed)
            add(name, "classical", ev.rows(name, predictor),
                _sk_latency(ev, estimator, n_features, onnx_dir / f"{name}.onnx"), t0)
        elif name == "unet":
            if not seg:
                notes.append("fixed U-Net: segmentation only, not run for this task")
                continue
            net = fixed_unet(ev.data.space, ev.settings)
            result = train_network(net, ev.data, train, device=ev.device, seed=seed)
            add("unet", "fixed", ev.rows("unet", ev.network_predictor(result.network)),
                _net_latency(ev, result.network, onnx_dir / "unet.onnx"), t0,
                val_score_prepared=result.val_score, steps=result.steps)
        elif name == "nnunet":
            if not nnunet.available():
                notes.append(nnunet.NOT_INSTALLED)
                continue
            if not seg:
                notes.append("nnU-Net: segmentation only, not run for this task")
                continue
            with tempfile.TemporaryDirectory(prefix="mias-nnunet-") as tmp:
                preds, net = nnunet.run_nnunet(
                    Path(tmp), ev.originals | _train_originals(ev), list(ev.data.splits["train"]),
                    [c for c, _ in ev.held], ev.task.label_names, ev.task.channel_names,
                    ev.task.spatial_dims, epochs=ev.settings.nnunet_epochs, seed=seed)
            add("nnunet", "nnunet", ev.rows_from_labels("nnunet", preds),
                _net_latency(ev, net, onnx_dir / "nnunet.onnx"), t0,
                epochs=ev.settings.nnunet_epochs)
        elif name == "random":
            _random_control(ev, model, onnx_dir, add, notes)
    if progress:
        progress("baselines", len(names), len(names))
    return entries, notes


def _train_originals(ev) -> dict[str, Any]:
    from mias.atomic import read_json
    from mias.train.evaluate import _data_root
    from mias.train.original import load_original

    manifest = read_json(ev.data.root / "manifest.json")
    root = _data_root(manifest, ev.data_root, ev.data.root)
    return {cid: load_original(root, ev.data.records[cid], ev.pre[cid], ev.task)
            for cid in ev.data.splits["train"]}


def _random_control(ev, model: ModelFile, onnx_dir: Path, add, notes: list[str]) -> None:
    from mias.train.evaluate import _net_latency

    n = ev.settings.random_control
    if n == 0:
        return
    predictor = target_predictor(ev.record.prep, ev.record.target)
    picked, ref, draws = draw_matched(model.space, model.arch, n, predictor,
                                      seed=ev.record.seed)
    if len(picked) < n:
        notes.append(f"random control: only {len(picked)} of {n} architectures within ±10% "
                     f"of the found one's predicted latency in {draws} uniform draws")
    dice = []
    for k, (arch, fig) in enumerate(picked, start=1):
        t0 = time.perf_counter()
        result = train_architecture(model.space, arch, ev.data, ev.record.preset.train,
                                    device=ev.device, seed=ev.record.seed + k)
        name = f"random-{k}"
        add(name, "random", ev.rows(name, ev.network_predictor(result.network)),
            _net_latency(ev, result.network, onnx_dir / f"{name}.onnx")
            | {"search_predictor": fig.to_dict()}, t0, arch_id=arch.id,
            val_score_prepared=result.val_score, steps=result.steps)
        dice.append(result.val_score)
    if dice:
        notes.append(f"random control: {len(picked)} architectures within ±10% of "
                     f"{ref.value:.1f} ms ({ref.label}); median validation score "
                     f"{statistics.median(dice):.3f}")
