"""`mias profile`: measure a device's latency table (LUT) for a search space.

Three forms, one measurement code:

    mias profile --device host --space PREP [--out LUT.json]       export + time, here
    mias profile --space PREP --export-blocks DIR                   export only (needs torch)
    mias profile --import DIR --device rpi3 [--out LUT.json]        time only (numpy + onnxruntime)

The last form is what runs on a Raspberry Pi with the light install; it imports no torch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mias.space import SearchSpace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="measure a device's latency table for a search space",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", help="device name (host, rpi3, rpi4) or a device YAML file")
    p.add_argument("--space", type=Path,
                   help="PREP folder (its search_space.json) or a search_space.json file")
    p.add_argument("--out", type=Path, help="latency table to write "
                   "(default: lut-DEVICE.json beside the space or in the bundle)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--export-blocks", type=Path, metavar="DIR",
                      help="only export every block as ONNX + blocks.json into DIR")
    mode.add_argument("--import", dest="import_dir", type=Path, metavar="DIR",
                      help="time a bundle made by --export-blocks (no torch needed)")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads "
                   "(default: the device's cores)")
    p.add_argument("--calibrate", type=int, default=5, metavar="N",
                   help="whole networks measured to fit the linear correction, applied only "
                   "if it beats the plain sum out of sample (needs >= 3; 0: none)")
    p.add_argument("--max-seconds", type=float, default=1.0,
                   help="timing budget per block (all rounds) once its minimum repetitions "
                   "are done")
    p.add_argument("--target-ci", type=float, default=0.02,
                   help="stop timing a block when the median's 95%% CI is within this "
                   "fraction of it")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved passes over all blocks, pooled, so slow drift of the "
                   "machine does not bias the blocks timed during it")
    p.add_argument("--retries", type=int, default=2,
                   help="re-time a block measured while other processes loaded the CPU, up "
                   "to this many times (the quietest timing is kept)")
    p.add_argument("--measure-peaks", action="store_true",
                   help="calibrate this machine's peak FLOP/s and bandwidth into the profile "
                   "(run it on the device itself)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.errors import InputError

    if args.threads is not None and args.threads < 1:
        raise InputError(None, f"--threads must be at least 1, got {args.threads}",
                         "pass e.g. --threads 4, or leave it out to use the device's cores")
    if args.calibrate < 0:
        raise InputError(None, f"--calibrate must be >= 0, got {args.calibrate}",
                         "pass e.g. --calibrate 5")
    if args.export_blocks is not None:
        return _export(args)
    if args.device is None:
        raise InputError(None, "--device is required to measure",
                         "pass --device host for this machine, or the board you run on "
                         "(e.g. --device rpi3)")
    if args.import_dir is None and args.space is None:
        raise InputError(None, "nothing to profile",
                         "pass --space PREP (or a search_space.json), or --import DIR")
    return _measure(args)


def _export(args: argparse.Namespace) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.errors import InputError
    from mias.hardware.export import export_bundle

    if args.space is None:
        raise InputError(None, "--export-blocks needs the search space",
                         "pass --space PREP (or a search_space.json)")
    space = _load_space(args.space)
    with stage_progress() as update:
        bundle = export_bundle(space, args.export_blocks, calibration=args.calibrate,
                               seed=args.seed, overwrite=args.overwrite, progress=update)
    console.print(f"exported {len(bundle.blocks)} blocks and {len(bundle.networks)} "
                  f"calibration networks to [bold]{args.export_blocks}[/]; on the device run "
                  f"`mias profile --import {args.export_blocks.name} --device NAME`")
    return 0


def _measure(args: argparse.Namespace) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.errors import InputError
    from mias.hardware import (
        TimingPolicy,
        lut_path,
        measure_peaks,
        profile_bundle,
        resolve_device,
    )

    device = resolve_device(args.device)
    if args.measure_peaks:
        device = measure_peaks(device)
    base = args.import_dir if args.import_dir is not None else _space_dir(args.space)
    out = args.out or lut_path(base, device.name)
    if out.exists() and not args.overwrite:
        raise InputError(out, "the latency table exists",
                         "choose another --out, or pass --overwrite to replace it")
    policy = TimingPolicy(max_time_s=args.max_seconds, target_rel_ci=args.target_ci,
                          rounds=max(1, args.rounds), retries=max(0, args.retries))
    start = time.perf_counter()
    with stage_progress() as update:
        if args.import_dir is not None:
            table = profile_bundle(args.import_dir, device, threads=args.threads, policy=policy,
                                   seed=args.seed, progress=update)
        else:
            from mias.hardware.profiler import profile_space

            table = profile_space(_load_space(args.space), device, threads=args.threads,
                                  policy=policy, calibration=args.calibrate, seed=args.seed,
                                  progress=update)
    table.save(out)
    entries = table.entries.values()
    unstable = sum(not e.stable for e in entries)
    contended = sum((e.other_load or 0.0) > policy.max_other_load for e in entries)
    console.print(f"measured {len(table)} blocks on [bold]{device.name}[/] ({table.runtime}, "
                  f"{table.threads} threads) in {time.perf_counter() - start:.0f} s; "
                  f"{unstable} did not reach the CI target; per-call overhead "
                  f"{table.call_overhead.median_ms * 1000:.0f} µs")
    if contended:
        console.print(f"[yellow]warning[/]: {contended} blocks were timed while other "
                      "processes used the CPU; re-run on an idle machine for a clean table")
    fix = table.correction
    if fix is not None:
        if fix.loo_mape_line is None:
            verdict = "not applied: validating it needs at least 3 networks"
        else:
            verdict = (f"{'applied' if fix.applied else 'not applied'}: leave-one-out MAPE "
                       f"{fix.loo_mape_line:.1%} with it, {fix.loo_mape_plain:.1%} without")
        console.print(f"linear correction on {len(fix.points)} networks, measured ≈ "
                      f"{fix.slope:.3f} × LUT sum {fix.intercept_ms:+.3f} ms: {verdict}")
    console.print(f"wrote [bold]{out}[/]")
    return 0


def _space_dir(space: Path) -> Path:
    return space.parent if space.suffix == ".json" else space


def _load_space(path: Path) -> SearchSpace:
    from mias.errors import InputError
    from mias.space import SearchSpace

    file = path if path.suffix == ".json" else path / "search_space.json"
    if not file.is_file():
        raise InputError(file, "no search space here",
                         "run `mias prepare DATA --out PREP` first, then pass --space PREP")
    return SearchSpace.load(file)
