"""`mias synth`: write a synthetic stand-in dataset (Decathlon-like) for demos and tests."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from mias.cli.help import DefaultsFormatter


class _Tasks:
    """The registered generator names, looked up only when `mias synth` needs them (so
    building the parser for another command never imports the generators)."""

    def _names(self) -> list[str]:
        from mias.data.synth import available_generators

        return available_generators()

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write a synthetic dataset (hippocampus, braintumour, xray, "
                       "...)", description=__doc__, formatter_class=DefaultsFormatter)
    p.add_argument("task", metavar="TASK", choices=_Tasks(), type=lambda s: s.strip().lower(),
                   help="synthetic task, one of: %(choices)s")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (written all-or-nothing)")
    p.add_argument("--cases", type=int, default=40, help="number of cases")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--format", dest="fmt", default="nifti", choices=("nifti", "nnunet", "dicom"),
                   help="nifti: original Decathlon layout; nnunet: nnU-Net v2; dicom: series")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier mias output at --out (never anything else)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.data.synth import synthesize

    with stage_progress() as update:
        out = synthesize(args.task, args.out, cases=args.cases, seed=args.seed, fmt=args.fmt,
                         overwrite=args.overwrite, progress=update)
    console.print(f"wrote {args.cases} {args.task} cases ({args.fmt}) to [bold]{out}[/]")
    return 0
