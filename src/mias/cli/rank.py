"""`mias rank PREP --out DIR`: does the supernet rank architectures as training does?

Draws N architectures across the predicted latency range of the search space, trains each
one standalone (the ground truth) and one supernet per sampler (MIAS, FairNAS strict
fairness, SPOS uniform), scores all N with inherited weights after every supernet epoch,
and writes DIR/tau.json (protocol, Kendall τ and Spearman ρ per epoch with bootstrap CIs,
top-k overlap, the standalone scores) and DIR/tau.png (τ over training). The jobs run on
a local Ray sized to this machine's cores (`pip install 'mias[ray]'`), on the cluster at
--ray ADDRESS, or on a process pool when Ray is not installed; the result is the same for
the same seed. Re-running the same command after a crash resumes the unfinished jobs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mias.cli.options import add_device, load_checked_preset, require_latency_source, seed

DEFAULT_SAMPLERS = ("mias", "fairnas", "spos")


def _samplers(text: str) -> tuple[str, ...]:
    from mias.rank.settings import SAMPLER_REGISTRY

    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in SAMPLER_REGISTRY]
    if bad or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected distinct names among {','.join(SAMPLER_REGISTRY)}, got {text!r}")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rank", help="Kendall τ of supernet vs standalone rankings (MIAS, "
                       "FairNAS, SPOS)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prep", type=Path, metavar="PREP", help="folder written by `mias prepare`")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--archs", type=int, default=20, metavar="N",
                   help="architectures to rank (default: 20, at least 4)")
    p.add_argument("--samplers", type=_samplers, default=DEFAULT_SAMPLERS, metavar="LIST",
                   help="comma-separated among mias (the search's settings), mias-eps0 (the "
                   "same with eps_lat 0: the accuracy signal alone), mias-fewshot (one "
                   "sub-supernet per depth), mias-sandwich (sandwich rule with in-place "
                   "distillation), mias-fewshot-sandwich (both), mias-explore (half of "
                   "every draw uniform), mias-fair (half of every step strict-fair), "
                   "fairnas, spos "
                   "(default: mias,fairnas,spos)")
    p.add_argument("--preset", default="demo",
                   help="budgets: `train` for each standalone training, `search` for each "
                   "supernet (default: demo)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="YAML overriding any preset field, e.g. `train: {epochs: 2}`")
    p.add_argument("--target", default="rpi3",
                   help="device whose predicted latency stratifies the draw and enters the "
                   "MIAS loss (default: rpi3)")
    p.add_argument("--seed", type=seed, default=0, help="seed of everything (default: 0)")
    p.add_argument("--truth-seeds", type=int, default=1, metavar="S",
                   help="standalone trainings per architecture (seeds SEED…SEED+S-1); the "
                   "truth is their mean and, with 2 or more, the truth's own seed-to-seed τ "
                   "is reported as the ceiling (default: 1)")
    p.add_argument("--min-val-cases", type=int, default=1, metavar="N",
                   help="refuse, before any work, a PREP whose validation split has fewer "
                   "cases than the scores should rest on (default: 1)")
    p.add_argument("--ray", metavar="ADDRESS", dest="ray_address",
                   help="join this Ray cluster (default: a local Ray for the run)")
    p.add_argument("--backend", default="auto", choices=("auto", "ray", "pool"),
                   help="auto = Ray when installed, else a process pool (default: auto)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="parallel jobs on this machine (default: its cores)")
    add_device(p, where=" in each job")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted rank (the same command resumes anyway; this "
                   "only says so explicitly)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier DIR written by mias (its finished standalone "
                   "trainings are reused)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from mias.cli.progress import stage_progress
    from mias.errors import InputError
    from mias.rank.api import rank, summary_lines
    from mias.rank.settings import RankSettings

    preset = load_checked_preset(args.preset, args.config)
    require_latency_source(args.prep, args.target)
    try:
        settings = RankSettings(archs=args.archs, samplers=args.samplers, target=args.target,
                                seed=args.seed, truth_seeds=args.truth_seeds,
                                min_val_cases=args.min_val_cases)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(None, f"invalid rank settings ({problem})",
                         "pass --archs 4 or more, --seed 0 or more, --truth-seeds "
                         "1 to 8 and --min-val-cases 1 or more") from None
    with stage_progress() as update:
        outcome = rank(args.prep, args.out, preset=preset, settings=settings,
                       device=args.device, backend=args.backend, workers=args.workers,
                       ray_address=args.ray_address, overwrite=args.overwrite,
                       progress=update)
    for line in summary_lines(outcome.tau, outcome.run):
        print(line)
    print(f"wrote {outcome.out / 'tau.json'} and {outcome.out / 'tau.png'}")
    return 0
