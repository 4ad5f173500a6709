"""Entry point of the `mias` command: builds the parser from the command modules.

Each command module exposes `register(subparsers)`; heavy imports (torch, MONAI) happen
inside the command's `run`, so `mias --help` and the board-side `mias profile --import`
stay light.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence

from mias import __version__
from mias.errors import InputError

COMMAND_MODULES: tuple[str, ...] = ("synth", "prepare", "profile", "demo", "search", "train",
                                    "evaluate", "export", "predict", "report", "run", "bench",
                                    "rank")


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
        with _quiet_libraries():
            rc = args.func(args)
    except InputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("internal error (exit 1): this is a bug in mias, please report it",
              file=sys.stderr)
        return 1
    return int(rc or 0)


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
