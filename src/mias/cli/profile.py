"""`mias profile`: measure a device's latency table (LUT) for a search space.

Three forms, one measurement code:

    mias profile --target host --space PREP [--out LUT.json]       export + time, here
    mias profile --space PREP --export-blocks DIR                   export only (needs torch)
    mias profile --import DIR --target rpi3 [--out LUT.json]        time only, on the board

The last form is what runs on a Raspberry Pi with the light install; it imports no torch.
A device is timed only on a machine that is that device: `--target rpi3` on a workstation
is refused (export the blocks and import them on the board, or time `--target host`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mias.hardware import DeviceProfile, LatencyTable, TimingPolicy
    from mias.space import SearchSpace

DEPRECATED_DEVICE = ("note: `mias profile --device` is deprecated; use --target (across mias, "
                     "--target names the hardware a network is for, --device where PyTorch "
                     "computes)")
# A median spread between rounds above this means the machine was too busy to trust.
BUSY_SPREAD = 0.10


class ProfileSettings(BaseModel):
    """The numeric settings, checked before anything is exported or timed."""

    model_config = ConfigDict(extra="ignore")

    threads: int | None = Field(default=None, ge=1)
    calibrate: int = Field(ge=0, le=1000)
    chains: int = Field(ge=0, le=1000)
    rounds: int = Field(ge=1, le=1000)
    pairs: int = Field(ge=1, le=1000)
    seed: int = Field(ge=0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="measure a device's latency table for a search space",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", help="the hardware to time: host, or a board (rpi3, rpi4) or "
                   "device YAML when run on that board")
    p.add_argument("--device", dest="device_alias", metavar="TARGET",
                   help="deprecated alias of --target")
    p.add_argument("--space", type=Path,
                   help="PREP folder (its search_space.json) or a search_space.json file")
    p.add_argument("--out", type=Path, help="latency table to write "
                   "(default: lut-TARGET.json beside the space or in the bundle)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--export-blocks", type=Path, metavar="DIR",
                      help="only export every block as ONNX + blocks.json into DIR")
    mode.add_argument("--import", dest="import_dir", type=Path, metavar="DIR",
                      help="time a bundle made by --export-blocks (no torch needed)")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: the "
                   "device's cores, at most this machine's)")
    p.add_argument("--calibrate", type=int, default=16, metavar="N",
                   help="whole networks timed with the blocks to fit the correction, used "
                   "only where it beats the plain sum out of sample (0: none; default: 16)")
    p.add_argument("--chains", type=int, default=32, metavar="N",
                   help="pairs of consecutive blocks of the calibration networks timed as one "
                   "graph, to learn what a boundary between blocks costs (default: 32)")
    p.add_argument("--rounds", type=int, default=4,
                   help="randomised rounds over all blocks; a block's latency is the median "
                   "of its bracketed ratios to the reference network (default: 4)")
    p.add_argument("--pairs", type=int, default=2,
                   help="bracketed runs per round of an item longer than a burst, e.g. a "
                   "whole network (default: 2)")
    p.add_argument("--measure-peaks", action="store_true",
                   help="calibrate this machine's peak FLOP/s and bandwidth into the profile "
                   "(run it on the device itself)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the calibration networks, inputs and round order (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.errors import InputError

    settings = _settings(args)
    target = _target(args)
    if args.export_blocks is not None:
        return _export(args, settings)
    if target is None:
        raise InputError(None, "--target is required to measure",
                         "pass --target host for this machine, or the board you run on "
                         "(e.g. --target rpi3 with --import DIR on the board)")
    if args.import_dir is None and args.space is None:
        raise InputError(None, "nothing to profile",
                         "pass --space PREP (or a search_space.json), or --import DIR")
    return _measure(args, settings, target)


def _settings(args: argparse.Namespace) -> ProfileSettings:
    from mias.errors import InputError

    try:
        return ProfileSettings.model_validate(vars(args))
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-")
        raise InputError(None, f"{flag} {first['input']!r}: {first['msg']}",
                         f"see `mias profile --help` for {flag}") from None


def _target(args: argparse.Namespace) -> str | None:
    from mias.cli.progress import console
    from mias.errors import InputError

    if args.device_alias is None:
        return args.target
    console.print(DEPRECATED_DEVICE)
    if args.target is not None and args.target != args.device_alias:
        raise InputError(None, f"--target {args.target} and --device {args.device_alias} "
                         "disagree", "pass only --target")
    return args.device_alias


def _export(args: argparse.Namespace, settings: ProfileSettings) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.errors import InputError
    from mias.hardware.export import export_bundle

    if args.space is None:
        raise InputError(None, "--export-blocks needs the search space",
                         "pass --space PREP (or a search_space.json)")
    space = _load_space(args.space)
    check_writable(args.export_blocks, "--export-blocks")
    with stage_progress() as update:
        bundle = export_bundle(space, args.export_blocks, calibration=settings.calibrate,
                               chains=settings.chains,
                               seed=settings.seed, overwrite=args.overwrite, progress=update)
    console.print(f"exported {len(bundle.blocks)} blocks and {len(bundle.networks)} "
                  f"calibration networks to [bold]{args.export_blocks}[/]; on the device run "
                  f"`mias profile --import {args.export_blocks.name} --target NAME`")
    return 0


def _measure(args: argparse.Namespace, settings: ProfileSettings, target: str) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.errors import InputError
    from mias.hardware import TimingPolicy, lut_path, measure_peaks, resolve_device
    from mias.hardware.machine import require_this_machine, resolve_threads
    from mias.output_guard import record_written

    device = resolve_device(target)
    require_this_machine(device.name, device.runs_on)
    resolve_threads(settings.threads, device.threads)
    space = None if args.import_dir is not None else _load_space(args.space)
    base = args.import_dir if args.import_dir is not None else _space_dir(args.space)
    out = args.out or lut_path(base, device.name)
    if out.exists() and not args.overwrite and not out.is_dir():
        raise InputError(out, "the latency table exists",
                         "choose another --out, or pass --overwrite to replace it")
    check_writable(out, "--out")
    if args.measure_peaks:
        device = measure_peaks(device)
    policy = TimingPolicy(rounds=settings.rounds, pairs=settings.pairs)
    start = time.perf_counter()
    with stage_progress() as update:
        table = _time(args, settings, device, policy, space, update)
    table.save(out)
    record_written(out)   # a table in PREP is mias's: `prepare --overwrite` may replace it
    _summary(table, time.perf_counter() - start)
    console.print(f"wrote [bold]{out}[/]")
    return 0


def _time(args: argparse.Namespace, settings: ProfileSettings, device: DeviceProfile,
          policy: TimingPolicy, space: SearchSpace | None,
          update: Callable[[str, int, int], None]) -> LatencyTable:
    from mias.hardware import profile_bundle

    if space is None:
        return profile_bundle(args.import_dir, device, threads=settings.threads,
                              policy=policy, seed=settings.seed, progress=update)
    from mias.hardware.profiler import profile_space

    return profile_space(space, device, threads=settings.threads, policy=policy,
                         calibration=settings.calibrate, chains=settings.chains,
                         seed=settings.seed, progress=update)


def _summary(table: LatencyTable, seconds: float) -> None:
    import numpy as np

    from mias.cli.progress import console

    entries = table.entries.values()
    spread = float(np.median([e.spread for e in entries]))
    others = float(np.mean([e.other_load or 0.0 for e in entries]))
    console.print(f"measured {len(table)} blocks on [bold]{table.device.name}[/] "
                  f"({table.machine.describe()}; {table.runtime}, {table.threads} threads) "
                  f"in {seconds:.0f} s; median spread between rounds {spread:.1%}; per-call "
                  f"overhead {table.overhead_ms * 1000:.0f} µs")
    console.print(f"protocol {table.protocol}: ratios to reference network "
                  f"{table.reference.arch_id} ({table.reference_ms:.1f} ms here), thread pool "
                  f"{table.timing_policy.get('thread_pool', '?')}")
    if table.boundary is not None:
        b = table.boundary
        console.print(f"boundary between blocks, from {b.chains} chains: "
                      f"{b.per_boundary_ms:+.3f} ms {b.per_melem_ms:+.3f} ms per M elements "
                      f"(residual {b.residual_ms:.3f} ms)")
    if spread > BUSY_SPREAD:
        console.print(f"[yellow]warning[/]: rounds disagree by {spread:.0%} (other processes "
                      f"used {others:.1f} cores meanwhile); on a machine this busy even "
                      "ratios to the reference drift: re-run when it is idle")
    fix = table.correction
    if fix is not None:
        best = sorted(fix.loo_mape.items(), key=lambda kv: kv[1])[:4]
        tried = ", ".join(f"{form} {mape:.1%}" for form, mape in best)
        console.print(f"correction from {len(fix.points)} networks: {fix.describe()} "
                      f"(best leave-one-out MAPE: {tried})")


def check_writable(path: Path, flag: str) -> None:
    """Refuse an output that cannot be written, before the long work starts; creates nothing."""
    from mias.errors import InputError

    if path.is_dir() and flag == "--out":
        raise InputError(path, "--out is a directory", "give the path of a .json file")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(path, f"{parent} is a file, so {flag} cannot be created under it",
                         f"choose another {flag}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mias-write-check-", dir=parent)
    except OSError as exc:
        raise InputError(path, f"cannot write under {parent} ({exc.strerror})",
                         f"choose a writable {flag}") from None
    os.close(fd)
    os.unlink(probe)


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
