"""Options several commands share, so a flag means the same everywhere (DESIGN §5)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEVICES = ("cpu", "cuda", "auto")
# numpy's and torch's generators take seeds below 2**32.
SEED_MAX = 2**32 - 1


def seed(text: str) -> int:
    """`--seed`: a whole number from 0 to 2**32 - 1, refused (exit 2) before any work."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is out of range: a seed is a whole number "
                                         f"from 0 to {SEED_MAX}")
    return value


def count(low: int = 1, high: int | None = None) -> Any:
    """An argparse type: a whole number in [low, high], refused (exit 2) before any work."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be {bound}")
        return value
    return parse


def positive(unit: str) -> Any:
    """An argparse type: a finite number above 0 of `unit` (a budget), refused (exit 2)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give a finite number "
                                             f"of {unit} above 0")
        return value
    return parse


def _numbers(value: Any, where: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{where}[{i}]")
    elif isinstance(value, float):
        yield where, value


def load_checked_preset(name: str, config: Path | None) -> Any:
    """`load_preset` for a command line: a --config that is no file, or a preset that
    cannot train, is refused (exit 2) before any work."""
    from mias.errors import InputError
    from mias.presets import load_preset

    if config is not None and not config.is_file():
        problem = "is a folder, not a YAML file" if config.is_dir() else "does not exist"
        raise InputError(config, f"the --config {problem}",
                         "give the path of a YAML file, e.g. --config tiny.yaml")
    preset = load_preset(name, config)
    check_preset(preset, config, name)
    return preset


def check_preset(preset: Any, config: Path | None, name: str) -> None:
    """Refuse before any work a preset (after the --config overrides) that cannot train:
    a non-finite number (`lr: .inf`), a patch size below 1, or a search loss whose both
    weights are 0 (the schema checks each field alone; these slip through it)."""
    from mias.errors import InputError

    origin = f"the --config {config}" if config is not None else f"the preset {name!r}"
    for where, value in _numbers(preset.model_dump(mode="python")):
        if not math.isfinite(value):
            raise InputError(config, f"{where} is {value}, not a finite number",
                             f"give {where} a finite value in {origin}")
    for section in ("search", "train"):
        patch = getattr(getattr(preset, section, None), "patch", None)
        if patch is not None and not all(size >= 1 for size in patch):
            raise InputError(config, f"{section}.patch is {list(patch)}: every size of a "
                                     "training patch must be 1 voxel or more",
                             f"give {section}.patch positive sizes in {origin}, or remove it "
                             "to train on the input shape")
    search = getattr(preset, "search", None)
    if search is not None and search.eps_ce == 0 and search.eps_lat == 0:
        raise InputError(config, "search.eps_ce and search.eps_lat are both 0, so the "
                                 "search loss weighs neither the task nor the latency",
                         f"give search.eps_ce (task) or search.eps_lat (latency) a weight "
                         f"above 0 in {origin}, e.g. eps_ce: 0.6, eps_lat: 0.4")


def add_device(p: argparse.ArgumentParser, default: str = "cpu", where: str = "") -> None:
    """`--device`: where PyTorch computes — never the hardware a network is for."""
    shown = "auto = CUDA when present" if default == "auto" else default
    p.add_argument("--device", default=default, choices=DEVICES,
                   help=f"where PyTorch computes{where} (default: {shown})")


def require_latency_source(prep: Path, target: str) -> None:
    """Refuse before any work a target with neither a measured table in PREP nor figures
    for a roofline estimate (`host`), naming the command that measures one."""
    from mias.errors import InputError
    from mias.hardware.devices import resolve_device
    from mias.hardware.lut import lut_path
    from mias.hardware.predictors import default_predictor

    device = resolve_device(target)
    table = lut_path(prep, device.name)
    if table.is_file() or not (prep / "manifest.json").is_file():
        return   # a missing PREP is reported by the command itself, naming what is wrong
    try:
        default_predictor(device, None)
    except InputError as exc:
        how = (f"measure this machine first: `mias profile --target host --space {prep}` "
               f"(writes {table}), then re-run this command" if device.name == "host" else
               exc.fix)
        raise InputError(table, f"no measured latency table for {device.name}, and "
                                f"{exc.problem.rstrip('.')}", how) from None
