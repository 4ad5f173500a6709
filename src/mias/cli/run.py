"""`mias run DATA --target DEVICE --out RUN`: the whole job in one command.

prepare → profile (when the target is `host`) → search → train → evaluate → export →
report, into RUN/prep, PREP's latency table, RUN/search, RUN/final, RUN/eval, RUN/export and
RUN/report. Takes every option of `mias prepare` and `mias search`. Resumable stage by
stage: re-running the same command reuses every finished stage and lets an interrupted one
resume its own way (the search from its checkpoint, training from its last epoch).
RUN/pipeline.json records the settings, the mias and library versions, the commands and
each stage's wall time; an earlier run of other settings or another mias version is not
resumed.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mias import __version__
from mias.cli import prepare as prepare_cli
from mias.cli import search as search_cli
from mias.cli.help import DefaultsFormatter
from mias.cli.options import seed

PIPELINE_SCHEMA_VERSION = 1
SETTINGS = ("task", "input_shape", "labels", "val_fraction", "test_fraction", "metric", "beta",
            "seed", "target", "preset", "config", "latency_budget")
VERSIONED = ("mias", "numpy", "torch", "monai", "onnx", "onnxruntime", "nibabel", "pydicom",
             "scikit-learn", "scipy", "pandas", "optuna", "matplotlib", "jinja2", "weasyprint")
# Options whose value is a path: only the file name enters the records (a folder path can
# hold a name or a date of the source data).
PATH_OPTIONS = ("labels", "config")


class _Formatter(argparse.RawDescriptionHelpFormatter, DefaultsFormatter):
    """The module docstring as written, and each option's default."""


def _parent(module: Any, name: str) -> argparse.ArgumentParser:
    """The parser `module.register` builds, to inherit its options (no copy to drift)."""
    holder = argparse.ArgumentParser(add_help=False).add_subparsers()
    module.register(holder)
    return holder.choices[name]


def _search_options() -> argparse.ArgumentParser:
    """`mias search`'s options without its PREP positional (`mias run` makes PREP itself).

    argparse has no public way to drop an inherited argument; `_remove_action` plus the
    group's list is what its own conflict handler does."""
    parser = _parent(search_cli, "search")
    for action in [a for a in parser._actions if a.dest == "prep"]:
        parser._remove_action(action)
        parser._positionals._group_actions.remove(action)
    return parser


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="prepare → [profile host] → search → train → evaluate → "
                       "export → report, resumable", description=__doc__,
                       formatter_class=_Formatter,
                       parents=[_parent(prepare_cli, "prepare"), _search_options()],
                       conflict_handler="resolve", add_help=False)
    p.add_argument("-h", "--help", action="help", help="show this help message and exit")
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the split, the search, training and the bootstrap "
                   "(default: 0)")
    p.add_argument("--int8", action="store_true", help="also export a static int8 model")
    p.add_argument("--overwrite", action="store_true",
                   help="redo every stage, replacing an earlier mias run at RUN")
    p.set_defaults(func=run, prep=None, resume=True)


@dataclass(frozen=True)
class Stage:
    name: str
    done: Callable[[], bool]
    work: Callable[[bool], None]   # called with overwrite


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options and inputs a run's results depend on, as recorded in RUN/pipeline.json:
    a path option by its file name and a hash of its content (two configs of one name are
    two runs), DATA by a hash of its files' relative paths and sizes (adding or removing a
    case is another run; no path or name is stored)."""
    out = {k: getattr(args, k, None) for k in SETTINGS}
    for k in PATH_OPTIONS:
        if out[k] is not None:
            path = Path(out[k])
            out[f"{k}_sha256"] = _file_hash(path)
            out[k] = path.name
    data = getattr(args, "data", None)
    out["data_fingerprint"] = None if data is None else folder_fingerprint(Path(data))
    return out


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def folder_fingerprint(root: Path) -> str | None:
    """Hash of every file's path relative to `root` and size: cheap on a large DICOM
    export, and it changes when a case is added, removed or replaced by another size."""
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def stage_commands(args: argparse.Namespace) -> list[str]:
    """The stand-alone commands equal to this run (DATA and RUN stand for the folders)."""
    s = settings_of(args)
    prep = [f"--{k.replace('_', '-')} {s[k]}" for k in ("task", "input_shape", "labels",
                                                        "metric") if s[k] is not None]
    prep += [f"--val-fraction {s['val_fraction']:g}", f"--test-fraction "
             f"{s['test_fraction']:g}", f"--beta {s['beta']:g}", f"--seed {s['seed']}"]
    search = [f"--target {s['target']}", f"--preset {s['preset']}", f"--seed {s['seed']}",
              f"--device {args.device}"]
    if s["config"]:
        search.append(f"--config {s['config']}")
    if s["latency_budget"] is not None:
        search.append(f"--latency-budget {s['latency_budget']:g}")
    lines = ["mias prepare DATA --out RUN/prep " + " ".join(prep)]
    if s["target"] == "host":
        lines.append("mias profile --target host --space RUN/prep")
    return [*lines, "mias search RUN/prep --out RUN " + " ".join(search),
            f"mias train RUN --resume --device {args.device}",
            f"mias evaluate RUN --data DATA --device {args.device}",
            "mias export RUN" + (" --int8" if args.int8 else ""), "mias report RUN"]


def _profile(prep: Path) -> None:
    """`mias profile --target host --space PREP` with its default settings."""
    from mias.cli.profile import _summary
    from mias.cli.progress import stage_progress
    from mias.hardware import TimingPolicy, lut_path, resolve_device
    from mias.hardware.profiler import profile_space
    from mias.output_guard import record_written
    from mias.space import SearchSpace

    device = resolve_device("host")
    space = SearchSpace.load(prep / "search_space.json")
    start = time.perf_counter()
    with stage_progress() as update:
        table = profile_space(space, device, threads=None, policy=TimingPolicy(),
                              calibration=16, seed=0, progress=update)
    table.save(lut_path(prep, device.name))
    record_written(lut_path(prep, device.name))
    _summary(table, time.perf_counter() - start)


def stages(args: argparse.Namespace) -> list[Stage]:
    from mias.cli import evaluate as evaluate_cli
    from mias.cli import export as export_cli
    from mias.cli import report as report_cli
    from mias.cli import train as train_cli
    from mias.hardware.lut import lut_path

    run_dir: Path = args.out
    prep = run_dir / "prep"
    dev = args.device

    def ns(**kw: Any) -> argparse.Namespace:
        return argparse.Namespace(**kw)

    out = [Stage("prepare", lambda: (prep / "manifest.json").is_file(),
                 lambda o: prepare_cli.run(ns(**vars(args) | {"out": prep, "overwrite": o})))]
    if args.target == "host":
        out.append(Stage("profile", lambda: lut_path(prep, "host").is_file(),
                         lambda _: _profile(prep)))
    out += [
        Stage("search", lambda: (run_dir / "search" / "result.json").is_file(),
              lambda o: search_cli.run(ns(**vars(args) | {"prep": prep, "out": run_dir,
                                                          "overwrite": o}))),
        Stage("train", lambda: (run_dir / "final" / "model.pt").is_file(),
              lambda o: train_cli.run(ns(run=run_dir, init=None, restart=False, device=dev,
                                         overwrite=o))),
        Stage("evaluate", lambda: (run_dir / "eval" / "metrics.json").is_file(),
              lambda o: evaluate_cli.run(ns(run=run_dir, data=args.data, device=dev,
                                            overwrite=o))),
        Stage("export", lambda: (run_dir / "export" / "parity.json").is_file(),
              lambda o: _checked(export_cli.run(ns(run=run_dir, int8=args.int8, prep=None,
                                                   overwrite=o)))),
        Stage("report", lambda: (run_dir / "report" / "validation_plan.pdf").is_file(),
              lambda o: report_cli.run(ns(run=run_dir))),
    ]
    return out


def _checked(rc: int) -> None:
    from mias.errors import InputError

    if rc:
        raise InputError(None, "the exported ONNX model differs from PyTorch beyond the "
                         "parity limit, so the run stops before the report",
                         "report this as a bug in mias (the model file is kept in RUN/final)")


def made_by(record: dict[str, Any]) -> str | None:
    """The mias version that wrote a pipeline record (older records list it among the
    library versions only)."""
    version = record.get("mias_version") or (record.get("versions") or {}).get("mias")
    return version if isinstance(version, str) else None


def _mismatch(earlier: Any, settings: dict[str, Any]) -> tuple[str, str] | None:
    """Why an earlier run's pipeline record cannot be resumed with `settings` (the problem
    and its fix), or None: another mias version, other settings, or a file that is no
    record."""
    if not isinstance(earlier, dict):
        return ("its pipeline.json is not a pipeline record (not a JSON object)",
                "pass --overwrite to redo every stage")
    if made_by(earlier) != __version__:
        return (f"an earlier run here was made by mias "
                f"{made_by(earlier) or 'of an unknown version'}, this is mias {__version__}: "
                "its stages are not what this version computes",
                "choose another --out, or pass --overwrite to redo every stage with this "
                "version")
    old = earlier.get("settings") or {}
    changed = sorted(k for k in settings | old if settings.get(k) != old.get(k))
    if changed:
        return (f"an earlier run here used other settings ({', '.join(changed)})",
                "repeat its options to resume it, choose another --out, or pass --overwrite "
                "to redo every stage")
    return None


def claim(run_dir: Path, inputs: tuple[Path, ...], settings: dict[str, Any], *,
          overwrite: bool, stage: str, restart: bool = False) -> tuple[dict[str, Any], bool]:
    """Check RUN can hold this run; return its pipeline record (the earlier one if resumed)
    and whether every stage is redone. An earlier run made by another mias version (its
    stages are not what this code would write) or with other settings is refused, or with
    `restart` (the demo, which owns its folder) started over."""
    from mias.atomic import read_json
    from mias.errors import InputError
    from mias.output_guard import check_output, output_stage, write_marker

    check_output(run_dir, overwrite=True, inputs=inputs, stage=stage, replace=False)
    record_path = run_dir / "pipeline.json"
    earlier = read_json(record_path) if record_path.is_file() else None
    problem = None if earlier is None or overwrite else _mismatch(earlier, settings)
    if problem is not None and not restart:
        raise InputError(run_dir, *problem)
    overwrite = overwrite or problem is not None
    run_dir.mkdir(parents=True, exist_ok=True)
    if output_stage(run_dir) is None:
        write_marker(run_dir, stage)
    return ({} if overwrite or earlier is None else earlier), overwrite


def _new_folders(path: Path) -> list[Path]:
    """The folders `path.mkdir(parents=True)` would create, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _withdraw(run_dir: Path, created: list[Path], marked: bool) -> None:
    """Undo `claim` for a run that failed before any stage wrote into RUN: its marker and
    the folders it made go, so bad input leaves nothing behind; a folder holding anything
    else (a partial stage to resume) stays."""
    from mias.output_guard import MARKER

    marker = run_dir / MARKER
    if marked and marker.is_file() and [p.name for p in run_dir.iterdir()] == [MARKER]:
        marker.unlink()
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


def execute(args: argparse.Namespace, *, stage: str = "run", data_note: str | None = None,
            force: bool | None = None, inside: bool = False) -> dict[str, Any]:
    """Run the pipeline; returns RUN/pipeline.json's content. `inside`: DATA lies in RUN
    on purpose (the demo's synthetic data), else RUN may neither hold nor be in DATA.
    `force` (the demo's): whether to redo every stage, decided by the caller; a run made by
    another mias version is then started over rather than refused."""
    from mias.output_guard import output_stage

    run_dir: Path = args.out
    created, marked = _new_folders(run_dir), output_stage(run_dir) is None
    try:
        return _execute(args, stage=stage, data_note=data_note, force=force, inside=inside)
    except BaseException:
        _withdraw(run_dir, created, marked)
        raise


def _execute(args: argparse.Namespace, *, stage: str, data_note: str | None,
             force: bool | None, inside: bool) -> dict[str, Any]:
    from mias.atomic import write_json
    from mias.cli.main import FIXED_OUTPUT
    from mias.cli.progress import console
    from mias.output_guard import command

    run_dir: Path = args.out
    settings = settings_of(args)
    earlier, redo = claim(run_dir, () if inside else (args.data,), settings,
                          overwrite=args.overwrite if force is None else force, stage=stage,
                          restart=force is not None)
    record = {"schema_version": PIPELINE_SCHEMA_VERSION, "mias_version": __version__,
              "settings": settings, "versions": versions(), "commands": stage_commands(args),
              "data_note": data_note, "stages": earlier.get("stages", {})}
    todo = stages(args)
    for i, st in enumerate(todo, 1):
        if st.done() and not redo:
            console.print(f"[bold]{i}/{len(todo)} {st.name}[/]: finished earlier, reused")
            record["stages"].setdefault(st.name, {})["reused"] = True
            continue
        console.print(f"[bold]{i}/{len(todo)} {st.name}[/]")
        start = time.perf_counter()
        with command(st.name, out_option=None if st.name in FIXED_OUTPUT else "--out"):
            st.work(redo)
        record["stages"][st.name] = {"seconds": round(time.perf_counter() - start, 1),
                                     "reused": False}
        write_json(run_dir / "pipeline.json", record)
        redo = True   # every later stage depends on this one's new output
    write_json(run_dir / "pipeline.json", record)
    return record


def summary(run_dir: Path) -> list[str]:
    """The final lines: report path, chosen architecture, metric with CI, latency + source."""
    from mias.atomic import read_json
    from mias.train.report_table import fmt_figure

    result = read_json(run_dir / "search" / "result.json")
    ev = read_json(run_dir / "eval" / "metrics.json")
    card = read_json(run_dir / "report" / "model_card.json")
    head = card["quantitative_analyses"]["headline"]
    lat = result["latency"]
    arch = result["arch"]
    ops = ", ".join(f"{b['op']} k{'×'.join(map(str, b['kernel']))} w{b['width']}"
                    for b in arch["encoder"])
    return [
        f"validation plan: {(run_dir / 'report' / 'validation_plan.pdf').resolve()}",
        f"architecture {result['arch_id']}: depth {arch['depth']}, encoder {ops}",
        f"{card['metrics']['target']} on {ev['n_cases']} "
        f"{'test' if ev['splits'] == ['test'] else 'validation'} cases (original space): "
        f"{fmt_figure(head)} ({card['metrics']['confidence']:.0%} CI)",
        f"latency on {lat['device']}: {lat['value']:.1f} ms — {lat['label']}",
    ]


def run(args: argparse.Namespace) -> int:
    from mias.cli.options import load_checked_preset
    from mias.cli.progress import console

    load_checked_preset(args.preset, args.config)
    execute(args)
    for line in summary(args.out):
        console.print(line)
    return 0
