"""`mias synth`: write a synthetic stand-in dataset (Decathlon-like) for demos and tests."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write a synthetic dataset (hippocampus, braintumour, xray)",
                       description=__doc__)
    p.add_argument("task", metavar="TASK", help="generator name, e.g. hippocampus")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (written all-or-nothing)")
    p.add_argument("--cases", type=int, default=40, help="number of cases (default 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--format", dest="fmt", default="nifti", choices=("nifti", "nnunet", "dicom"),
                   help="nifti: original Decathlon layout; nnunet: nnU-Net v2; dicom: series")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.data.synth import synthesize

    with stage_progress() as update:
        out = synthesize(args.task, args.out, cases=args.cases, seed=args.seed, fmt=args.fmt,
                         overwrite=args.overwrite, progress=update)
    console.print(f"wrote {args.cases} {args.task} cases ({args.fmt}) to [bold]{out}[/]")
    return 0
