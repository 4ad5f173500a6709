"""`mias train RUN`: final training of the searched architecture → RUN/final/."""

from __future__ import annotations

import argparse
from pathlib import Path

from mias.cli.options import add_device, count, positive


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the searched architecture (RUN/final)",
                       description=__doc__)
    p.add_argument("run", type=Path, help="run folder written by `mias search`")
    p.add_argument("--init", choices=("scratch", "inherited"),
                   help="initial weights (default: the preset's train.init)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=count(1), metavar="N",
                        help="train for N steps (default: the preset's epochs × steps)")
    budget.add_argument("--time-budget", type=positive("minutes"), metavar="MIN",
                        help="train for MIN minutes; the schedule decays to that time")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue an interrupted training from its last epoch checkpoint "
                       "(the same command resumes anyway; this only says so explicitly)")
    again.add_argument("--restart", action="store_true",
                       help="discard an interrupted training's checkpoint and start over")
    add_device(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing RUN/final")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.atomic import read_json
    from mias.cli.progress import console, stage_progress
    from mias.train.final import train_final

    with stage_progress() as update:
        out = train_final(args.run, init=args.init, restart=args.restart, device=args.device,
                          overwrite=args.overwrite, progress=update,
                          steps=getattr(args, "steps", None),
                          time_budget_min=getattr(args, "time_budget", None))
    m = read_json(out / "metrics.json")
    console.print(f"trained [bold]{m['arch_id']}[/] ({m['init']}, {m['steps']} steps, "
                  f"{m['seconds']:.0f} s, stopped by {m['stopped'].replace('_', ' ')}): "
                  f"validation {m['metric']} {m['val_score']:.3f} → {out / 'model.pt'}")
    return 0
