"""Wall time per stage of `mias demo` on this machine → benchmarks/results/demo_time.json,
with what the demo found: the chosen network's place in the space's latency range, and the
held-out Dice per structure (95% CI) of it and of every baseline, with each training's
steps, seconds and failed flag.

Goal 5 is the whole demo in at most 10 minutes on 2 CPU cores. A shared machine runs it
slower than an idle one, so the machine's load average before and after is recorded with
the times: compare runs only at similar load.

    .venv/bin/python benchmarks/demo_time.py [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT = Path(__file__).resolve().parent / "results" / "demo_time.json"
GOAL_S = 600.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="demo folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the demo folder")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mias-demo-time-")) / "demo"
    mias = Path(sys.executable).with_name("mias")
    load = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run([str(mias), "demo", "--out", str(out)], check=False)
    wall = time.perf_counter() - start
    if proc.returncode:
        print(f"mias demo failed (exit {proc.returncode})", file=sys.stderr)
        return proc.returncode
    timing = json.loads((out / "demo_time.json").read_text(encoding="utf-8"))
    result = {"schema_version": 1, "command": "mias demo", "wall_s": round(wall, 1),
              "goal_s": GOAL_S, "within_goal": wall <= GOAL_S, "stages": timing["stages"],
              "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
              "loadavg_before": [round(x, 2) for x in load],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "note": "a load average above the core count means other processes shared "
                      "the CPUs: the times are then longer than on an idle machine",
              "found": found(out)}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, sort_keys=True))
    if not args.keep and args.out is None:
        shutil.rmtree(out.parent, ignore_errors=True)
    return 0


def found(out: Path) -> dict:
    """The search's choice and every model's held-out figures, from the run's records."""
    result = json.loads((out / "search" / "result.json").read_text(encoding="utf-8"))
    metrics = json.loads((out / "eval" / "metrics.json").read_text(encoding="utf-8"))
    models = {}
    for name, entry in metrics["models"].items():
        summary = entry["summary"]
        models[name] = {
            "dice": summary["dice"],
            "dice_per_structure": {s: v["dice"] for s, v in summary["structures"].items()},
            "failed": summary.get("failed"), "steps": entry.get("steps"),
            "seconds": entry.get("seconds"), "latency": entry.get("latency")}
    final = json.loads((out / "final" / "metrics.json").read_text(encoding="utf-8"))
    models["mias"] |= {"steps": final["steps"], "train_seconds": final["seconds"],
                       "stopped": final["stopped"]}
    return {"arch_id": result["arch_id"], "latency": result["latency"],
            "latency_rank": result["latency_rank"], "warnings": result["warnings"],
            "n_cases": metrics["n_cases"], "models": models, "notes": metrics["notes"]}


if __name__ == "__main__":
    sys.exit(main())
