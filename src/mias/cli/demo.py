"""`mias demo`: the whole job on an embedded synthetic hippocampus, in minutes on a CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from mias.cli.help import DefaultsFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthetic hippocampus → prepare (→ search when available)",
                       description=__doc__, formatter_class=DefaultsFormatter)
    p.add_argument("--out", type=Path, default=Path("demo-out"),
                   help="output folder; an earlier demo's output there is replaced")
    p.add_argument("--cases", type=int, default=40, help="number of synthetic cases")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.atomic import atomic_dir, output_stage
    from mias.cli.progress import console, stage_progress
    from mias.data.prepare import PrepareConfig, prepare
    from mias.data.synth import synthesize

    out: Path = args.out
    # Replace only an earlier demo's output: anything else in --out is the user's data.
    with atomic_dir(out, overwrite=output_stage(out) == "demo", stage="demo",
                    exists_fix="choose another --out: mias demo replaces only an earlier "
                               "demo's output") as tmp:
        console.print(f"[bold]1/2[/] synthesising {args.cases} hippocampus cases")
        data = synthesize("hippocampus", tmp / "data", cases=args.cases, seed=args.seed)
        console.print("[bold]2/2[/] preparing: imputation, transforms, demographics, split, "
                      "operator selection")
        with stage_progress() as update:
            prepare(data, tmp / "prep", PrepareConfig(seed=args.seed), progress=update)
    prep = out / "prep"
    console.print(f"demographic report: [bold]{(prep / 'demographics.html').resolve()}[/]")
    console.print(f"search space: {prep / 'search_space.json'}; split: {prep / 'splits.json'}")
    return 0
