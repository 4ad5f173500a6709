"""`mias prepare DATA --out PREP`: automatic data pre-processing (paper component 1)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mias.cli.help import DefaultsFormatter
from mias.records import TASK_KINDS

FLAGS = {"task": "--task", "input_shape": "--input-shape", "labels_csv": "--labels",
         "val_fraction": "--val-fraction", "test_fraction": "--test-fraction",
         "seed": "--seed", "workers": "--workers", "target_metric": "--metric",
         "beta": "--beta", "skip_broken": "--skip-broken"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="read, impute, transform, analyse and split a dataset",
                       description=__doc__, formatter_class=DefaultsFormatter)
    p.add_argument("data", type=Path, help="DICOM folder, NIfTI folder or Decathlon/nnU-Net folder")
    p.add_argument("--out", type=Path, required=True, help="output folder PREP")
    p.add_argument("--task", choices=TASK_KINDS,
                   help="task kind; without it, inferred from the masks or the label table")
    p.add_argument("--input-shape", help="network input shape, e.g. 64x64 or 32x48x32; without "
                   "it, planned from the data")
    p.add_argument("--labels", type=Path, help="CSV with columns case,label "
                   "(classification/regression)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of subjects held out for validation")
    p.add_argument("--test-fraction", type=float, default=0.0,
                   help="share of subjects held out as a test set")
    p.add_argument("--metric", help="target metric: dice, f_beta or volume_error "
                   "(segmentation), f_beta (classification), mae (regression); without it, the "
                   "first of these")
    p.add_argument("--beta", type=float, default=1.0, help="β of the F-β metric (> 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split and sampling")
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    p.add_argument("--skip-broken", action="store_true",
                   help="leave out broken DICOM files (unreadable, truncated, malformed "
                   "header values, undecodable pixels) and the rest of their series, listed "
                   "by path on the console and counted per reason in the manifest, instead "
                   "of stopping at the first one; every image is decoded once more to find "
                   "them")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier mias output at --out (never anything else)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from mias.cli.progress import console, stage_progress
    from mias.data.planning import parse_shape
    from mias.data.prepare import PrepareConfig, prepare
    from mias.validation import validate_settings

    config = validate_settings(PrepareConfig, {
        "task": args.task, "labels_csv": args.labels, "val_fraction": args.val_fraction,
        "test_fraction": args.test_fraction, "seed": args.seed, "workers": args.workers,
        "target_metric": args.metric, "beta": args.beta,
        "input_shape": parse_shape(args.input_shape) if args.input_shape else None,
        "skip_broken": args.skip_broken,
    }, FLAGS)

    def warn(line: str) -> None:
        console.print(f"[yellow]warning:[/] {escape(line)}")

    with stage_progress() as update:
        out = prepare(args.data, args.out, config, overwrite=args.overwrite, progress=update,
                      warn=warn)
    console.print(f"prepared [bold]{out}[/]: manifest.json, splits.json, search_space.json, "
                  f"demographic report {out / 'demographics.html'}")
    return 0
