"""MIAS beside nnU-Net v2 on one split: the found network, the DynUNet baseline trained by
MIAS's recipe, and nnU-Net 3d_fullres (`nnUNetTrainer_5epochs` on the CPU).

One `mias run DATA --preset demo` on the synthetic hippocampus, with nnU-Net among the
baselines (the `mias[nnunet]` extra): the adapter writes nnU-Net's raw layout from the same
train / held-out split, lets nnU-Net plan, preprocess, train and predict, and the held-out
predictions are scored by the same code, in the same original image space, with the same
bootstrap CIs as MIAS's. For each model: Dice per structure with CIs, wall time (nnU-Net:
plan, preprocess, train, predict and time; DynUNet: train, score and time; MIAS: search and
training, the stages that pick and fit the network), parameters, ONNX Runtime latency on
this host at MIAS's input shape and the target's estimate. Run it alone: wall times are
compared.

Judged (a structure at Dice 0 is a failed training, never a result):
- the DynUNet baseline reaches a mean Dice ≥ 0.95 × nnU-Net's in ≤ half of nnU-Net's wall
  time, with no structure at 0;
- the found network reaches a mean Dice ≥ 0.9 × nnU-Net's.

    .venv/bin/python benchmarks/vs_nnunet.py [--epochs 5] [--preset demo] [--target rpi3]
        [--cases 40] [--seed 0] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from mias.atomic import read_json, write_json
from mias.train.baselines import nnunet
from mias.train.report_table import failed_models, markdown
from search_vs_baselines import add_run_options, mias  # beside this script

RESULTS = Path(__file__).parent / "results" / "vs_nnunet.json"
UNET_DICE_SHARE = 0.95
UNET_TIME_SHARE = 0.5
MIAS_DICE_SHARE = 0.9
MODELS = ("mias", "unet", "nnunet")


def model_figures(entry: dict[str, Any], failed: str | None, seconds: float) -> dict[str, Any]:
    """Dice (mean and per structure, with CIs), wall time, size and latency of one model."""
    summary = entry["summary"]
    latency = entry.get("latency") or {}
    host = latency.get("host") or {}
    target = latency.get("target") or {}
    return {"dice": summary["dice"],
            "dice_per_structure": {s: e.get("dice") for s, e in
                                   (summary.get("structures") or {}).items()},
            "failed": failed, "wall_s": round(seconds, 1),
            "params": latency.get("params"), "flops": latency.get("flops"),
            "host_latency_ms": host.get("value"), "host_latency": host,
            "target_latency_ms": target.get("value"), "target_latency": target,
            "steps": entry.get("steps"), "epochs": entry.get("epochs")}


def judge(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The two targets; a failed training is not judged against (met None, with why)."""
    nn, unet, ours = (models.get(k) for k in MODELS[::-1])
    if nn is None:
        return {"met": None, "why": "nnU-Net did not run"}
    if nn["failed"]:
        return {"met": None, "why": f"nnU-Net training {nn['failed']}"}
    ref_dice, ref_s = nn["dice"]["value"], nn["wall_s"]
    out: dict[str, Any] = {"nnunet_dice": ref_dice, "nnunet_wall_s": ref_s}
    if unet is not None:
        ratio, time_ratio = unet["dice"]["value"] / ref_dice, unet["wall_s"] / ref_s
        out["unet"] = {"dice_ratio": ratio, "wall_ratio": time_ratio,
                       "failed": unet["failed"],
                       "met": unet["failed"] is None and ratio >= UNET_DICE_SHARE
                       and time_ratio <= UNET_TIME_SHARE}
    ratio = ours["dice"]["value"] / ref_dice
    out["mias"] = {"dice_ratio": ratio, "failed": ours["failed"],
                   "met": ours["failed"] is None and ratio >= MIAS_DICE_SHARE}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5, help="nnU-Net epochs (250 steps each)")
    add_run_options(p, RESULTS)
    args = p.parse_args()
    if not nnunet.available():
        p.error(f"{nnunet.NOT_INSTALLED}, then pip uninstall -y torchvision")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mias-vs-nnunet-") as tmp:
        work = args.work or Path(tmp)
        data, run = work / "data", work / "run"
        if not data.is_dir():
            mias("synth", "hippocampus", "--out", str(data), "--cases", str(args.cases),
                 "--seed", str(args.seed))
        config = work / "vs_nnunet.yaml"
        config.write_text(yaml.safe_dump({"evaluate": {
            "baselines": ["unet", "nnunet"], "nnunet_epochs": args.epochs}}), encoding="utf-8")
        if not (run / "eval" / "metrics.json").is_file():
            mias("run", str(data), "--target", args.target, "--preset", args.preset,
                 "--config", str(config), "--seed", str(args.seed), "--device", "cpu",
                 "--out", str(run))
        metrics = read_json(run / "eval" / "metrics.json")
        stages = read_json(run / "pipeline.json")["stages"]
    failed = failed_models(metrics)
    entries = metrics["models"]
    seconds = {"mias": stages["search"]["seconds"] + stages["train"]["seconds"],
               **{k: entries[k]["seconds"] for k in ("unet", "nnunet") if k in entries}}
    models = {k: model_figures(entries[k], failed.get(k), seconds[k])
              for k in MODELS if k in entries}
    out = {"schema_version": 1, "task": "hippocampus (synthetic)", "preset": args.preset,
           "target": args.target, "cases": args.cases, "seed": args.seed,
           "nnunet": {"trainer": "nnUNetTrainer_5epochs", "configuration": "3d_fullres",
                      "epochs": args.epochs, "status": metrics.get("nnunet")},
           "split": {"held_out": entries["mias"]["summary"].get("n")},
           "machine": {"python": platform.python_version(),
                       "processor": platform.processor() or platform.machine()},
           "stages_s": {k: v["seconds"] for k, v in stages.items()},
           "wall_s": round(time.perf_counter() - started, 1),
           "models": models, "notes": metrics.get("notes", []),
           "judged": judge(models), "table": markdown(metrics)}
    write_json(args.out, out)
    print(out["table"])
    print(f"judged: {out['judged']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
