"""`mias demo`: the whole job on a synthetic hippocampus, in minutes on a CPU.

Synthesises the dataset into OUT/data and runs `mias run` on it with the demo preset:
prepare → search → train → evaluate → export → report, ending with the validation plan's
path. Re-running the same command reuses what an interrupted demo finished. OUT/demo_time.json
records each stage's wall time and the machine's load while it ran.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from mias.cli.help import DefaultsFormatter
from mias.cli.options import add_device, seed

EXISTS_FIX = "choose another --out: mias demo replaces only an earlier demo's output"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthetic hippocampus → the whole pipeline → validation "
                       "plan", description=__doc__, formatter_class=DefaultsFormatter)
    p.add_argument("--out", type=Path, default=Path("demo-out"),
                   help="output folder; an earlier demo's output there is replaced")
    p.add_argument("--cases", type=int, default=40, help="number of synthetic cases")
    p.add_argument("--seed", type=seed, default=0, help="random seed")
    p.add_argument("--target", default="rpi3", help="hardware the network is for")
    add_device(p)
    p.set_defaults(func=run)


def _run_args(args: argparse.Namespace, data: Path) -> argparse.Namespace:
    """`mias run DATA --out OUT --preset demo ...` as the run parser reads it."""
    from mias.cli.main import build_parser

    return build_parser().parse_args(
        ["run", str(data), "--out", str(args.out), "--preset", "demo", "--seed",
         str(args.seed), "--target", args.target, "--device", args.device])


def run(args: argparse.Namespace) -> int:
    from mias.atomic import read_json, write_json
    from mias.cli import run as run_cli
    from mias.cli.progress import console, stage_progress
    from mias.data.synth import synthesize
    from mias.output_guard import check_output, command, output_stage, write_marker

    out: Path = args.out
    # Replace only an earlier demo's output: anything else in --out is the user's data.
    check_output(out, overwrite=output_stage(out) == "demo", exists_fix=EXISTS_FIX,
                 stage="demo", replace=False)
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, "demo")
    timing_path = out / "demo_time.json"
    wanted = {"cases": args.cases, "seed": args.seed, "target": args.target}
    earlier = read_json(timing_path) if timing_path.is_file() else {}
    fresh = earlier.get("settings") != wanted
    data = out / "data"
    load_before, started = os.getloadavg(), time.perf_counter()
    synth_s = earlier.get("stages", {}).get("synth", {}).get("seconds")
    if fresh or not (data / "dataset.json").is_file():
        console.print(f"[bold]synth[/]: {args.cases} hippocampus cases")
        t0 = time.perf_counter()
        with stage_progress() as update, command("synth"):
            synthesize("hippocampus", data, cases=args.cases, seed=args.seed, overwrite=True,
                       progress=update)
        synth_s, fresh = round(time.perf_counter() - t0, 1), True
    # the settings first, the timings at the end: a demo killed mid-way resumes on the same
    # settings and starts over on others
    write_json(timing_path, {"schema_version": 1, "settings": wanted,
                             "stages": {"synth": {"seconds": synth_s, "reused": not fresh}},
                             "note": "in progress"})
    note = (f"trained on {args.cases} synthetic cases (mias synth hippocampus, seed "
            f"{args.seed}) for a demonstration; no patient data")
    record = run_cli.execute(_run_args(args, data), stage="demo", data_note=note, force=fresh,
                             inside=True)
    stages = {"synth": {"seconds": synth_s, "reused": not fresh}} | record["stages"]
    write_json(timing_path, {
        "schema_version": 1, "settings": wanted, "stages": stages,
        "wall_s_this_invocation": round(time.perf_counter() - started, 1),
        "total_stage_s": round(sum(s.get("seconds") or 0 for s in stages.values()), 1),
        "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
        "loadavg_1m_start": round(load_before[0], 2),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "note": "wall time per stage on this machine; load averages above the core count "
                "mean other processes shared the CPUs (times are then longer than on an "
                "idle machine)"})
    for line in run_cli.summary(out):
        console.print(line)
    timing = read_json(timing_path)
    console.print(f"demo stages took {timing['total_stage_s']:.0f} s in all (load average "
                  f"{timing['loadavg_1m_start']:g} → {timing['loadavg_1m_end']:g} on "
                  f"{timing['affinity']} cores); per stage in {timing_path}")
    return 0
