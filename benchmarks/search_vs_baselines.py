"""MIAS against its baselines, in the paper's table: one synthetic (or Decathlon) task each.

For each task: synthesise (or read `--msd-root/TaskXX_*`), `mias prepare`, `mias search`
(preset `--preset`, target `--target`), `mias train`, `mias evaluate` — the CLI exactly as
a user runs it — then collect RUN/eval/metrics.json into one table: precision, recall, F1,
Dice (mean and per structure), relative volume error (95% bootstrap CIs), latency on the
target with its source, latency measured on this host, parameters — for MLP, RF, the fixed
U-Net (MONAI DynUNet, nnU-Net's topology), nnU-Net (when installed), the random-architecture
control and MIAS. Checks the targets: MIAS Dice ≥ fixed U-Net Dice − 0.01 at ≤ 50% of its
target latency, and MIAS Dice ≥ the random control's median Dice at the same predicted
latency (±10%). A model with a structure at Dice 0 failed to train (`failed`): no target
is judged against it (`met` null, with the reason), and a failed MIAS meets none.

    .venv/bin/python benchmarks/search_vs_baselines.py [--tasks hippocampus braintumour]
        [--preset demo] [--target rpi3] [--cases 40] [--msd-root DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mias.atomic import read_json, write_json
from mias.train.report_table import failed_models, markdown

RESULTS = Path(__file__).parent / "results" / "search_vs_baselines.json"
MSD_FOLDERS = {"hippocampus": "Task04_Hippocampus", "braintumour": "Task01_BrainTumour"}
UNET_DICE_MARGIN = 0.01
UNET_LATENCY_FRACTION = 0.5


def mias(*args: str) -> float:
    """Run one `mias` command; its wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mias.cli.main", *args], check=True)
    return time.perf_counter() - t0


def add_run_options(p: argparse.ArgumentParser, out: Path) -> None:
    """The options every end-to-end benchmark shares: preset, target, synthetic cases,
    seed, a work folder to keep and resume, and the JSON written."""
    p.add_argument("--preset", default="demo")
    p.add_argument("--target", default="rpi3")
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, help="keep the work here, and resume from it")
    p.add_argument("--out", type=Path, default=out)


def run_task(task: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = work / task / "data"
    prep, run = work / task / "prep", work / task / "run"
    seconds: dict[str, float] = {}
    if args.msd_root:
        data = args.msd_root / MSD_FOLDERS[task]
    elif not data.is_dir():
        seconds["synth"] = mias("synth", task, "--out", str(data), "--cases", str(args.cases),
                                "--seed", str(args.seed))
    if not prep.is_dir():
        seconds["prepare"] = mias("prepare", str(data), "--out", str(prep))
    if not (run / "search" / "result.json").is_file():
        seconds["search"] = mias("search", str(prep), "--target", args.target, "--out", str(run),
                                 "--preset", args.preset, "--seed", str(args.seed),
                                 "--device", "cpu")
    if not (run / "final" / "model.pt").is_file():
        seconds["train"] = mias("train", str(run))
    if not (run / "eval" / "metrics.json").is_file():
        seconds["evaluate"] = mias("evaluate", str(run), "--data", str(data))
    metrics = read_json(run / "eval" / "metrics.json")
    return {"task": task, "data": "msd" if args.msd_root else "synthetic",
            "seconds": seconds, "table": markdown(metrics), "targets": targets(metrics),
            "models": {name: model_record(e) for name, e in metrics["models"].items()},
            "failed": failed_models(metrics),
            "notes": metrics["notes"], "nnunet": metrics["nnunet"]}


def model_record(entry: dict[str, Any]) -> dict[str, Any]:
    """What the benchmark keeps of one model: headline figures, Dice per structure (so a
    collapsed structure shows), whether its training failed, latency."""
    summary = entry["summary"]
    keep = {k: summary.get(k) for k in ("n", "dice", "detection", "rel_volume_error",
                                        "failed", "failed_structures")}
    keep["dice_per_structure"] = {s: e.get("dice") for s, e in
                                  (summary.get("structures") or {}).items()}
    return {"summary": keep, "latency": entry.get("latency"), "kind": entry["kind"],
            "architecture": entry.get("architecture")}


def _value(entry: dict[str, Any] | None, *path: str) -> float | None:
    d: Any = entry
    for key in path:
        d = (d or {}).get(key)
    return d


def targets(metrics: dict[str, Any]) -> dict[str, Any]:
    """The two targets, judged only between trainings that did not fail."""
    models = metrics["models"]
    failed = failed_models(metrics)
    ours = models["mias"]
    dice = _value(ours, "summary", "dice", "value")
    out: dict[str, Any] = {"mias_dice": dice, "mias_failed": failed.get("mias")}
    unet = models.get("unet")
    if unet is not None:
        lat_ours = _value(ours, "latency", "target", "value")
        lat_unet = _value(unet, "latency", "target", "value")
        unet_dice = _value(unet, "summary", "dice", "value")
        not_judged = _not_judged(failed, "unet")
        out["vs_unet"] = {
            "unet_dice": unet_dice, "latency_ratio": None if not lat_unet or lat_ours is None
            else lat_ours / lat_unet,
            "met": None if not_judged or None in (dice, unet_dice, lat_ours, lat_unet)
            else bool(dice >= unet_dice - UNET_DICE_MARGIN
                      and lat_ours <= UNET_LATENCY_FRACTION * lat_unet),
            "not_judged": not_judged}
    randoms = {name: _value(e, "summary", "dice", "value") for name, e in models.items()
               if e["kind"] == "random"}
    usable = [d for name, d in randoms.items() if d is not None and name not in failed]
    if randoms:
        median = statistics.median(usable) if usable else None
        out["vs_random"] = {
            "n": len(usable), "failed": sorted(n for n in randoms if n in failed),
            "median_dice": median,
            "met": None if dice is None or median is None or "mias" in failed
            else bool(dice >= median)}
    return out


def _not_judged(failed: dict[str, str], other: str) -> str | None:
    """Why a comparison of MIAS with `other` is not judged (a failed training), or None."""
    why = [f"{name} training {failed[name]}" for name in ("mias", other) if name in failed]
    return "; ".join(why) or None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["hippocampus", "braintumour"],
                   choices=sorted(MSD_FOLDERS))
    p.add_argument("--preset", default="demo")
    p.add_argument("--target", default="rpi3")
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--msd-root", type=Path)
    p.add_argument("--work", type=Path, help="keep the work here (default: a temp folder)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mias-svb-") as tmp:
        work = args.work or Path(tmp)
        results = [run_task(t, work, args) for t in args.tasks]
    write_json(RESULTS, {"schema_version": 2, "preset": args.preset, "target": args.target,
                         "cases": args.cases, "seed": args.seed,
                         "machine": {"python": platform.python_version(),
                                     "processor": platform.processor() or platform.machine()},
                         "results": results})
    for r in results:
        print(f"\n## {r['task']} ({r['data']})\n\n{r['table']}\n\ntargets: {r['targets']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
