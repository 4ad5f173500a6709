"""`mias search PREP --target DEVICE --out RUN`: latency-aware supernet search.

Trains the supernet while searching it with L = ε_ce · TSL + ε_lat · T, prunes the worst
task-metric / latency trade-offs progressively and writes RUN/search/ (result.json,
history.parquet, archive.parquet, progress.png, hpo.db, supernet.pt, checkpoint.pt).
Re-running the same command after a crash resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mias.cli.options import add_device, load_checked_preset, positive, require_latency_source, seed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="latency-aware supernet search with progressive pruning",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prep", type=Path, metavar="PREP", help="folder written by `mias prepare`")
    p.add_argument("--target", default="rpi3",
                   help="hardware the network is for: host, rpi3, rpi4 or a device YAML "
                   "(default: rpi3)")
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    p.add_argument("--preset", default="demo",
                   help="demo, paper-hippocampus or paper-braintumour (default: demo)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="YAML overriding any preset field, e.g. `search: {epochs: 5}`")
    p.add_argument("--latency-budget", type=positive("milliseconds"), metavar="MS",
                   help="pick the best metric under this latency on the target (default: the "
                   "best trade-off under the loss)")
    add_device(p, "auto")
    p.add_argument("--seed", type=seed, default=0, help="seed of everything (default: 0)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted search (the same command resumes anyway; "
                   "this only says so explicitly)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier RUN/search written by mias")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.cli.search_view import SearchView
    from mias.search.api import search

    preset = load_checked_preset(args.preset, args.config)
    require_latency_source(args.prep, args.target)
    with SearchView() as view:
        out = search(args.prep, args.out, target=args.target, preset=preset,
                     latency_budget_ms=args.latency_budget, device=args.device, seed=args.seed,
                     overwrite=args.overwrite, on_step=view.step, on_start=view.start)
    view.summary(out)
    return 0
