"""Entry point of the `mias` command: builds the parser from the command modules.

Each command module exposes `register(subparsers)`; heavy imports (torch, MONAI) happen
inside the command's `run`, so `mias --help` and the board-side `mias profile --import`
stay light.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import shutil
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from mias import __version__
from mias.cli import preflight
from mias.errors import InputError

COMMAND_MODULES: tuple[str, ...] = ("synth", "prepare", "profile", "demo", "search", "train",
                                    "evaluate", "export", "predict", "report", "run", "bench",
                                    "rank")


# What each command reads: its outputs may neither be, hold nor lie inside these paths.
INPUTS: dict[str, tuple[str, ...]] = {
    "prepare": ("data", "labels"), "profile": ("space", "import_dir"),
    "search": ("prep", "config"), "evaluate": ("data",), "export": ("prep",),
    "predict": ("model", "data"), "run": ("data", "labels", "config"),
    "bench": ("table", "msd_root"), "rank": ("prep", "config")}
# Commands whose output is a fixed folder of RUN: their fixes cannot say "another --out".
FIXED_OUTPUT = frozenset({"train", "evaluate", "export", "report"})
# Below this much free space a failed torch write is taken for a full disk.
LOW_SPACE = 64 * 2**20
# Commands that keep their finished work on Ctrl-C (as on kill -9) for the next run.
RESUMABLE = frozenset({"train", "search", "run", "prepare", "rank", "demo", "bench build"})


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its message on stderr."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mias", description="Hardware-aware NAS for medical imaging "
                     "on edge devices.")
    parser.add_argument("--version", action="version", version=f"mias {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"mias.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _quiet_libraries(), declared(args):
            preflight.check(args)
            rc = args.func(args)
    except InputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted_note(args)}", file=sys.stderr)
        return 130
    except Exception as exc:
        full = disk_full(exc, args)
        if full is not None:
            print(f"error: {full}", file=sys.stderr)
            return 2
        traceback.print_exc()
        print("internal error (exit 1): this is a bug in mias, please report it",
              file=sys.stderr)
        return 1
    return int(rc or 0)


def disk_full(exc: BaseException, args: argparse.Namespace) -> str | None:
    """The message for a write that failed for want of space (None: another failure).

    The outputs are atomic, so a full disk leaves the earlier outputs as they were; torch
    reports it as a RuntimeError of its zip writer, hence the check of the folder's space.
    """
    where = Path(getattr(exc, "filename", None) or getattr(args, "out", None)
                 or getattr(args, "run", None) or ".")
    if isinstance(exc, OSError):
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    else:
        full = isinstance(exc, RuntimeError) and "write failed" in str(exc) \
            and _free_bytes(where) < LOW_SPACE
    if not full:
        return None
    folder = where if where.is_dir() else where.parent
    return (f"{folder}: the disk is full ({exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or 'write failed'}); earlier outputs are kept "
            f"as they were. Fix: free space on that disk; {interrupted_note(args)}")


def _free_bytes(path: Path) -> int:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return LOW_SPACE


def declared(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Declare the command to the output guard: its stage, inputs and output option."""
    from mias.output_guard import command

    name = args.command
    inputs = [getattr(args, attr, None) for attr in INPUTS.get(name, ())]
    option = None if name in FIXED_OUTPUT else "--json" if name == "bench" and \
        getattr(args, "bench_command", "") != "build" else "--out"
    return command(name, [p for p in inputs if isinstance(p, Path)], option)


def interrupted_note(args: argparse.Namespace) -> str:
    """What Ctrl-C kept and how to go on."""
    name = f"{args.command} {getattr(args, 'bench_command', '')}".strip()
    if name not in RESUMABLE:
        return "nothing was written (outputs appear only when complete); run the command again"
    return "the work finished so far is kept; to resume, run the same command again"


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Hide library warnings (matplotlib's, MONAI's...): they speak to developers, and mias
    reports what the user must know itself. `python -W ...` still shows them."""
    if sys.warnoptions:
        yield
        return
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


if __name__ == "__main__":
    sys.exit(main())
