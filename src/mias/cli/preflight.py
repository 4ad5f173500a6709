"""Check, before any work, that the files a command will load are whole, and the options
a command would otherwise refuse only after its work, or not at all (a demo's, a run's
--target, the --out `mias profile --overwrite` replaces, `mias predict --threads`).

Models, supernets, checkpoints (`torch.save`) and prepared cases (`.npz`) are zip archives
whose every part carries a CRC-32, so a truncated or damaged file is found by reading it
once, without unpickling: the command then stops with exit 2, naming the file to delete
and the command that writes it again, instead of a traceback deep in a loader, and a
corrupt checkpoint no longer fails every re-run without saying why.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from mias.errors import InputError

# The fewest synthetic cases a demo takes (as for the benchmark's stand-ins): some to train
# on, others to validate and score on.
DEMO_MIN_CASES = 4


def check_archive(path: Path, fix: str) -> None:
    """Raise `InputError` with `fix` when the zip archive `path` is truncated or damaged."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError,
            NotImplementedError) as exc:
        raise InputError(path, f"the file is corrupt or truncated ({exc})", fix) from None
    except OSError as exc:
        raise InputError(path, f"the file cannot be read ({exc.strerror or exc})",
                         fix) from None
    if bad is not None:
        raise InputError(path, f"the file is corrupt (its part {bad!r} fails its checksum)",
                         fix)


def check_prep(prep: Path) -> None:
    """Every prepared case of PREP is whole."""
    cases = prep / "cases"
    if not cases.is_dir():
        return
    for path in sorted(cases.glob("*.npz")):
        check_archive(path, f"delete {path}, then prepare the data again: `mias prepare "
                            f"DATA --out {prep} --overwrite` (DATA: the dataset {prep} was "
                            "prepared from)")


def run_prep(run: Path) -> Path | None:
    """The PREP a run reads: RUN/prep, else the one its search record names."""
    import json

    if (run / "prep" / "manifest.json").is_file():
        return run / "prep"
    try:
        named = json.loads((run / "search" / "result.json").read_bytes()).get("prep")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(named) if isinstance(named, str) and (Path(named) / "manifest.json").is_file() \
        else None


def _search_checkpoint(run: Path, rerun: str) -> None:
    path = run / ".search.partial" / "checkpoint.pt"
    if path.is_file():
        check_archive(path, f"delete {path}, then re-run {rerun}: the search starts again "
                            "from its first step")


def _train_files(run: Path, init: str | None) -> None:
    path = run / ".final.partial" / "checkpoint.pt"
    if path.is_file():
        check_archive(path, f"delete {path}, then re-run `mias train {run}`: training "
                            "starts again from its first step")
    supernet = run / "search" / "supernet.pt"
    if init != "scratch" and supernet.is_file():
        check_archive(supernet, f"delete {supernet}, then search again (`mias search PREP "
                                f"--out {run} --overwrite`), or train without it: "
                                f"`mias train {run} --init scratch`")


def _model(run: Path) -> None:
    path = run / "final" / "model.pt"
    if path.is_file():
        check_archive(path, f"delete {path}, then re-run `mias train {run}`")


def check(args: argparse.Namespace) -> None:
    """The checks for the parsed command `args` (a no-op for commands that load none)."""
    from mias.output_guard import check_not_root

    for option in ("out", "json", "work"):
        if isinstance(getattr(args, option, None), Path):
            check_not_root(getattr(args, option))
    name = args.command
    if name in ("search", "rank"):
        check_prep(args.prep)
        if name == "search":
            _search_checkpoint(args.out, "the same `mias search` command")
    elif name in ("train", "evaluate", "export"):
        prep = getattr(args, "prep", None) or run_prep(args.run)
        if prep is not None:
            check_prep(prep)
        if name == "train":
            _train_files(args.run, args.init)
        else:
            _model(args.run)
    elif name == "demo":
        _demo(args)
    elif name == "profile":
        _profile_out(args)
    elif name == "predict":
        _predict_threads(args.threads)
    elif name == "run":
        check_target(args.target, args.out / "prep")
        check_prep(args.out / "prep")
        _search_checkpoint(args.out, "the same `mias run` command")
        _train_files(args.out, None)
        _model(args.out)


def check_target(target: str, prep: Path) -> None:
    """A `run`'s or `demo`'s --target is a known device with a latency source, refused
    before the data is synthesised or prepared (the search would refuse it only then).
    `host` needs none: the run profiles this machine into PREP first."""
    from mias.hardware.devices import resolve_device
    from mias.hardware.lut import lut_path
    from mias.hardware.predictors import default_predictor

    device = resolve_device(target)
    if device.name != "host" and not lut_path(prep, device.name).is_file():
        default_predictor(device, None)


def _demo(args: argparse.Namespace) -> None:
    from mias.data.synth.api import MAX_CASES

    if not DEMO_MIN_CASES <= args.cases <= MAX_CASES:
        raise InputError(None, f"--cases {args.cases} is out of range: a demo trains on some "
                               "cases and validates on others",
                         f"pass --cases from {DEMO_MIN_CASES} to {MAX_CASES}, e.g. --cases 40")
    check_target(args.target, args.out / "prep")


def _profile_out(args: argparse.Namespace) -> None:
    """`mias profile --overwrite` replaces an existing --out only when it is a latency
    table: never the search space, the manifest or a bundle file the command reads."""
    import json

    out = args.out
    if out is None or not args.overwrite or not out.is_file():
        return   # a new file, a folder, or no --overwrite: `mias profile` says what is wrong
    try:
        table = json.loads(out.read_bytes())
    except (OSError, ValueError):
        table = None
    if not (isinstance(table, dict) and {"reference", "entries", "timing_policy"} <= set(table)):
        raise InputError(out, "--out is a file that is not a latency table, so --overwrite "
                              "will not replace it",
                         "choose another --out, e.g. lut-TARGET.json beside the search space")


def _predict_threads(threads: int | None) -> None:
    """`mias predict --threads`: 1 up to this process's cores (ONNX Runtime would fail on a
    negative count as if the model were broken, and oversubscribe on a huge one)."""
    from mias.hardware.machine import resolve_threads

    if threads is None:
        return
    if threads < 1:
        raise InputError(None, f"--threads {threads} is out of range: give 1 thread or more",
                         "pass --threads 1 or more, or leave it out to use every core")
    resolve_threads(threads, threads)
