"""`mias evaluate RUN`: clinical metrics in the original image space, with CIs, subgroups
and baselines → RUN/eval/."""

from __future__ import annotations

import argparse
from pathlib import Path

from mias.cli.options import add_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score the trained model and its baselines (RUN/eval)",
                       description=__doc__)
    p.add_argument("run", type=Path, help="run folder with search/ and final/")
    p.add_argument("--data", type=Path, help="the original dataset folder PREP was prepared "
                   "from (`mias run` and `mias demo` pass it themselves)")
    add_device(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing RUN/eval")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from mias.atomic import read_json
    from mias.cli.progress import console, stage_progress
    from mias.output_guard import check_output
    from mias.train.evaluate import evaluate_run
    from mias.train.report_table import table_rows

    check_output(args.run / "eval", overwrite=args.overwrite)   # before any work
    with stage_progress() as update:
        out = evaluate_run(args.run, data_root=args.data, device=args.device,
                           overwrite=args.overwrite, progress=update)
    metrics = read_json(out / "metrics.json")
    for line in table_rows(metrics):
        console.print(escape(line))
    for note in metrics["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"wrote [bold]{out / 'metrics.json'}[/] and {out / 'cases.parquet'}")
    return 0
