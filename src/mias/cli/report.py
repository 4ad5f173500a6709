"""`mias report RUN`: the validation plan (HTML, PDF) and the model card → RUN/report/.

Built from the run's records alone (search, final, eval, export, PREP), so it can be
rebuilt at any time and a rebuild gives the same HTML. An earlier RUN/report is replaced.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the validation plan and model card (RUN/report)",
                       description=__doc__)
    p.add_argument("run", type=Path, metavar="RUN",
                   help="run folder with search/, final/, eval/ and export/")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.cli.progress import console
    from mias.output_guard import check_output
    from mias.report import build_report

    check_output(args.run / "report", overwrite=True, stage="report")
    out = build_report(args.run)
    console.print(f"validation plan: [bold]{(out / 'validation_plan.pdf').resolve()}[/] "
                  f"(and validation_plan.html, model_card.json in {out})")
    return 0
