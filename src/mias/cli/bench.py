"""`mias bench build|query|search|evaluate`: MED-NAS-Bench, the tabular HW-NAS benchmark."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mias.cli.help import DefaultsFormatter
from mias.cli.options import SEED_MAX, count, positive

_COUNT = count(1)
_SEED = count(0, SEED_MAX)
# The fewest cases per synthetic stand-in the builder takes (BuildConfig.cases).
_CASES = count(4)


def _common_table(p: argparse.ArgumentParser) -> None:
    table = p.add_mutually_exclusive_group()
    table.add_argument("--table", type=Path, help="benchmark table (default: the shipped one)")
    table.add_argument("--tabulated", action="store_true", help="the shipped fully tabulated "
                       "table (every architecture of a reduced Hippocampus space trained)")
    p.add_argument("--device", dest="target", default="rpi3",
                   help="device whose latency is used (a device of the table)")
    p.add_argument("--budget-ms", type=positive("milliseconds"), help="latency budget in ms")


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", default="evolution",
                   help="mias, fairnas, random, evolution or nsga2")
    p.add_argument("--steps", type=_COUNT, default=1000,
                   help="distinct architectures evaluated (a repeat is free and not counted)")
    p.add_argument("--seed", type=_SEED, default=0, help="random seed")
    p.add_argument("--json", type=Path, help="also write the result as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="MED-NAS-Bench: build, query and search the benchmark",
                       description=__doc__)
    bench = p.add_subparsers(dest="bench_command", metavar="ACTION")
    bench.required = True

    b = bench.add_parser("build", help="train the fixed architecture list, write the table",
                         formatter_class=DefaultsFormatter)
    b.add_argument("--out", type=Path, required=True, help="Parquet table to write")
    b.add_argument("--work", type=Path, required=True,
                   help="work folder: stand-ins, PREP folders and cached cells (resumable)")
    b.add_argument("--msd-root", type=Path, help="folder holding the Decathlon tasks "
                   "(TaskNN_Name or DatasetNNN_Name); without it, synthetic stand-ins")
    b.add_argument("--tasks", nargs="+", help="task names (default: all 11)")
    b.add_argument("--archs", type=_COUNT, help="architectures per task (default: 30)")
    b.add_argument("--tabulate", type=_COUNT, metavar="K", help="instead of --archs: train "
                   "every architecture of each task's space reduced to K candidates per layer "
                   "(evenly spaced in FLOPs), a fully tabulated space")
    b.add_argument("--tabulate-ops", nargs="+", metavar="OP", help="with --tabulate: the "
                   "operators the reduced space draws from (default: all)")
    b.add_argument("--cases", type=_CASES, default=24, help="cases per synthetic stand-in")
    b.add_argument("--devices", nargs="+", default=["rpi3", "rpi4"], help="devices to record")
    b.add_argument("--lut", action="append", default=[], metavar="DEVICE=PATH",
                   help="measured latency table of a device (repeatable)")
    b.add_argument("--epochs", type=_COUNT, help="epochs per architecture, each validated "
                   "(the learning curve) (default: 4)")
    b.add_argument("--steps", type=_COUNT, help="SGD steps per epoch (default: 12)")
    b.add_argument("--seed", type=_SEED, default=0, help="seed of designs, stand-ins and splits")
    b.add_argument("--train-seeds", type=_SEED, nargs="+", default=[0, 1],
                   help="training seeds: every architecture is trained once per seed")
    b.add_argument("--ray", dest="ray_address", metavar="ADDRESS",
                   help="Ray cluster address (default: a local Ray when installed)")
    b.add_argument("--backend", default="auto", choices=("auto", "ray", "pool"),
                   help="auto: Ray when installed, else a process pool")
    b.add_argument("--workers", type=_COUNT, default=2, help="parallel cells on this machine")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out table")
    b.set_defaults(func=run_build)

    q = bench.add_parser("query", help="look up the table", formatter_class=DefaultsFormatter)
    q.add_argument("--task", required=True, help="benchmark task, e.g. Hippocampus")
    _common_table(q)
    q.add_argument("--arch", help="architecture id to look up")
    q.add_argument("--top", type=_COUNT, default=10, help="rows shown")
    q.set_defaults(func=run_query)

    s = bench.add_parser("search", help="run a strategy against the table",
                         formatter_class=DefaultsFormatter)
    s.add_argument("--task", required=True, help="benchmark task")
    _common_table(s)
    _search_args(s)
    s.add_argument("--work", type=Path, help="when the best architecture is not in the table, "
                   "train it here with the table's schedule and training seeds, and report "
                   "that figure beside the surrogate's guess (the folder the table was built "
                   "in reuses its prepared data)")
    s.add_argument("--msd-root", type=Path, help="the Decathlon folder the table was built "
                   "from (with --work; without it, the synthetic stand-ins)")
    s.set_defaults(func=run_search)

    e = bench.add_parser("evaluate", help="multi-task protocol: seen → unseen tasks",
                         formatter_class=DefaultsFormatter)
    _common_table(e)
    _search_args(e)
    e.add_argument("--seen", nargs="+", help="seen tasks (default: the documented split)")
    e.add_argument("--unseen", nargs="+", help="unseen tasks (default: the documented split)")
    e.set_defaults(func=run_evaluate)


def _parse_luts(items: list[str]) -> dict[str, str]:
    from mias.errors import InputError

    out = {}
    for item in items:
        device, sep, path = item.partition("=")
        if not sep or not device or not path:
            raise InputError(None, f"--lut {item!r} is not DEVICE=PATH", "e.g. --lut rpi3=LUT.json")
        out[device] = path
    return out


def _check_work(work: Path, out: Path, luts: dict[str, str]) -> None:
    """Refuse before any work a --work that is --out (the table would be written over the
    cached cells, or fail after hours) or an input, or that cannot be written."""
    import os

    from mias.errors import InputError
    from mias.output_guard import check_work_folder

    if os.path.realpath(work) == os.path.realpath(out):
        raise InputError(work, "--work and --out are the same path: the work folder holds "
                         "the cached cells, the table is one file",
                         f"give --work a folder of its own, e.g. {out.parent / 'bench-work'}")
    check_work_folder(work, inputs=[Path(p) for p in luts.values()])


def run_build(args: argparse.Namespace) -> int:
    from mias.bench.builder import BuildConfig, build, default_schedule
    from mias.bench.tasks import task_names
    from mias.cli.progress import console, stage_progress
    from mias.errors import InputError
    from mias.output_guard import check_output_file
    from mias.validation import validate_settings

    if args.tabulate is not None and args.archs is not None:
        raise InputError(None, "--archs and --tabulate both choose the architectures",
                         "give one: --archs N draws N designs, --tabulate K trains every "
                         "architecture of the reduced space")
    if args.tabulate_ops is not None and args.tabulate is None:
        raise InputError(None, "--tabulate-ops only shapes a --tabulate space",
                         "add --tabulate K, or leave out --tabulate-ops")
    train = default_schedule()
    if args.steps is not None:
        train = train.model_copy(update={"steps_per_epoch": args.steps})
    if args.epochs is not None:
        train = train.model_copy(update={"epochs": args.epochs})
    luts = _parse_luts(args.lut)
    config = validate_settings(BuildConfig, {
        "tasks": args.tasks or task_names(), "archs": args.archs or 30,
        "tabulate": args.tabulate, "tabulate_ops": args.tabulate_ops, "seed": args.seed,
        "train_seeds": args.train_seeds,
        "cases": args.cases, "devices": args.devices, "luts": luts, "train": train},
        {"tasks": "--tasks", "archs": "--archs", "tabulate": "--tabulate",
         "tabulate_ops": "--tabulate-ops", "seed": "--seed",
         "cases": "--cases", "train_seeds": "--train-seeds", "devices": "--devices",
         "luts": "--lut", "train": "--epochs / --steps"})
    if args.msd_root is not None and not args.msd_root.is_dir():
        raise InputError(args.msd_root, "--msd-root is not a folder",
                         "give the folder holding the Decathlon tasks (TaskNN_Name), or leave "
                         "out --msd-root to use the synthetic stand-ins")
    check_output_file(args.out, overwrite=args.overwrite, option="--out",
                      example="mednasbench.parquet")
    _check_work(args.work, args.out, luts)
    with stage_progress() as update:
        report = build(config, args.work, args.out, msd_root=args.msd_root,
                       backend=args.backend, workers=args.workers,
                       ray_address=args.ray_address, progress=update)
    console.print(f"wrote {report.rows} rows to [bold]{report.path}[/] ({report.computed} "
                  f"cells trained, {report.reused} reused, backend {report.backend})")
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.3g}"
    return str(value)


COLUMNS: tuple[tuple[str, str], ...] = (
    ("arch_id", "arch"), ("source", "source"), ("depth", "depth"), ("metric", "metric"),
    ("metric_sd", "sd (seeds)"), ("jaccard", "Jaccard"),
    ("hd95_mm", "HD95 mm"), ("latency_ms", "ms"), ("latency_source", "latency"),
    ("energy_mj", "mJ"), ("params", "params"), ("flops", "GFLOPs"))


def _cell(record: dict[str, Any], col: str) -> str:
    value = record.get(col)
    if col == "flops" and value is not None:
        return f"{value / 1e9:.2f}"
    if col == "params" and value is not None:
        return f"{value / 1e6:.2f}M"
    return _fmt(value)


def _table(title: str, records: list[dict[str, Any]], budget: float | None) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col, head in COLUMNS:
        table.add_column(head, justify="left" if col in ("arch_id", "source", "latency_source")
                         else "right", no_wrap=True)
    for r in records:
        style = None if budget is None or r["latency_ms"] <= budget else "dim"
        table.add_row(*(_cell(r, c) for c, _ in COLUMNS), style=style)
    return table


SOURCE_WORDS = {"trained": "trained figure", "surrogate": "surrogate guess"}


def provenance_line(record: dict[str, Any], citation: str) -> str:
    """What a printed answer rests on, in one line a reader can quote."""
    seeds = ", ".join(f"{k} {v}" for k, v in sorted(record["seeds"].items()))
    energy = record.get("energy_source")
    predictor = record.get("predictor")
    basis = "rows"
    if record.get("source") == "surrogate":
        basis = (f"predicted by the {predictor} fitted to rows" if predictor else
                 "predicted by the surrogate (or its log-FLOPs fallback where it has not "
                 "earned its answer) fitted to rows")
    return (f"provenance: {basis} trained on {record['data']} data, {record['train_steps']} "
            f"SGD steps, "
            f"seeds {seeds}; latency {record['latency_source']}"
            + (f", energy {energy}" if energy else "")
            + f", memory {record['memory_source']}; train_seconds "
            f"{record['train_seconds_source']}; table {citation}")


def _console() -> Any:
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120)


def run_query(args: argparse.Namespace) -> int:
    from mias.bench.api import MedNasBench

    out = _console()
    bench = MedNasBench.load(args.table, tabulated=args.tabulated)
    if args.arch:
        record = bench.query(args.arch, args.task, args.target)
        out.print(_table(f"{args.task} · {args.target}", [record], args.budget_ms))
        out.print(provenance_line(record, bench.citation()))
        return 0
    best = bench.best(args.task, args.target, args.budget_ms)
    front = bench.pareto(args.task, args.target)
    budget = "no budget" if args.budget_ms is None else f"budget {args.budget_ms:g} ms"
    if best is None:
        out.print(f"no architecture of {args.task} meets {budget} on {args.target}; the "
                  f"fastest takes {front[0]['latency_ms']:.1f} ms")
    else:
        out.print(_table(f"{args.task} · {args.target} · best within {budget}", [best],
                         args.budget_ms))
    out.print(_table(f"{args.task} · {args.target} · Pareto front ({len(front)} of "
                     f"{len(bench.archs(args.task))} architectures)", front[:args.top],
                     args.budget_ms))
    info = bench.meta["devices"][args.target]
    shown = best or front[0]
    out.print(f"latency: {info['latency_source']} ({info['latency_model']}); metric: "
              f"{shown['metric_name']} on the validation split after the table's fixed "
              f"schedule")
    out.print(provenance_line(shown, bench.citation()))
    return 0


def _check_json(args: argparse.Namespace) -> None:
    """Refuse a --json that exists (without --overwrite), is a folder or the table itself."""
    if args.json is not None:
        from mias.output_guard import check_output_file

        check_output_file(args.json, overwrite=args.overwrite, option="--json")


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        from mias.atomic import write_json

        write_json(path, payload)


def run_search(args: argparse.Namespace) -> int:
    import time

    from mias.bench.api import MedNasBench
    from mias.bench.evaluator import table_problem
    from mias.bench.strategies import run_strategy

    _check_json(args)
    if args.msd_root is not None and args.work is None:
        from mias.errors import InputError

        raise InputError(args.msd_root, "--msd-root is only read to train an off-table best",
                         "add --work FOLDER, or leave out --msd-root")
    if args.work is not None:
        from mias.output_guard import check_work_folder

        check_work_folder(args.work, inputs=[args.table, args.msd_root])
    bench = MedNasBench.load(args.table, tabulated=args.tabulated)
    problem = table_problem(bench, args.task, args.target, args.budget_ms)
    evaluator = problem.evaluator
    t0 = time.perf_counter()
    result = run_strategy(args.strategy, problem, steps=args.steps, seed=args.seed)
    seconds = time.perf_counter() - t0
    best = result.best
    trained = None
    if best is not None and best.source == "surrogate" and args.work is not None:
        from mias.bench.offtable import train_off_table

        trained = train_off_table(bench, args.task, best.arch, args.work,
                                  msd_root=args.msd_root)
    payload = {"task": args.task, "device": args.target, "steps": args.steps,
               "seed": args.seed, "seconds": seconds, "table_hits": evaluator.hits,
               "surrogate_calls": evaluator.misses, "fallbacks": evaluator.fallbacks,
               "table": bench.citation(), **result.to_dict(),
               "best_trained": None if trained is None else
               {k: trained[k] for k in ("metric", "metric_sd", "metric_by_seed",
                                        "training_seeds", "train_steps") if k in trained}}
    _write_json(args.json, payload)
    out = _console()
    spent = (f"{result.evaluations} distinct architectures evaluated ({result.proposals} "
             f"proposed) in {seconds:.1f} s: {evaluator.hits} table lookups, "
             f"{evaluator.misses} surrogate predictions ({evaluator.fallbacks} by the "
             f"log-FLOPs fallback)")
    if best is None:
        out.print(f"{args.strategy}: no architecture met the budget; {spent}")
        return 0
    figure = f"{best.metric:.3f} ({SOURCE_WORDS[best.source]})"
    if trained is not None:
        figure = (f"{trained['metric']:.3f} (trained here with the table's schedule; the "
                  f"surrogate guessed {best.metric:.3f})")
    out.print(f"{args.strategy} on {args.task} ({args.target}): best {figure} at "
              f"{best.latency_ms:.1f} ms, arch {best.arch.id}; {spent}")
    if best.source == "surrogate" and trained is None:
        out.print("the best is off the table: its figure is a guess; pass --work FOLDER to "
                  "train it with the table's schedule")
    out.print(provenance_line(best.to_dict(), bench.citation()))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from mias.bench.api import MedNasBench
    from mias.bench.protocol import Split, evaluate_protocol

    _check_json(args)
    bench = MedNasBench.load(args.table, tabulated=args.tabulated)
    split = Split() if not (args.seen or args.unseen) else \
        Split(tuple(args.seen or ()), tuple(args.unseen or ()))
    result = evaluate_protocol(bench, strategy=args.strategy, device=args.target,
                               budget_ms=args.budget_ms, steps=args.steps, seed=args.seed,
                               split=split)
    _write_json(args.json, result)
    out = _console()
    found = result["found"]
    out.print(f"searched on {', '.join(result['seen'])}: mean metric "
              f"{found['seen_mean_metric']:.3f} ({SOURCE_WORDS[found['source']]}) at "
              f"{found['seen_mean_latency_ms']:.1f} ms; {result['evaluations']} distinct "
              f"architectures evaluated")
    table = Table(title="found design on unseen tasks")
    for col in ("task", "metric", "source", "latency_ms", "percentile", "best in table"):
        table.add_column(col)
    for task, r in result["unseen"].items():
        oracle = r["best_in_table"]
        table.add_row(task, _fmt(r["metric"]), r["source"], _fmt(r["latency_ms"]),
                      _fmt(r["percentile"]), "–" if oracle is None else _fmt(oracle["metric"]))
    out.print(table)
    out.print(provenance_line(found["provenance"] | {"source": found["source"]},
                              result["table"]))
    if args.json is None:
        out.print_json(json.dumps(result["unseen"]))
    return 0
