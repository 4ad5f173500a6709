"""Run presets: YAML files validated by `Preset` (see `models`), plus `--config` overrides."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mias.errors import InputError
from mias.presets.models import (
    EvaluateSettings,
    HpoSettings,
    MetricSettings,
    Preset,
    PruneStep,
    Range,
    SearchSettings,
    TrainSettings,
)
from mias.validation import validate_file

__all__ = [
    "EvaluateSettings",
    "HpoSettings",
    "MetricSettings",
    "Preset",
    "PruneStep",
    "Range",
    "SearchSettings",
    "TrainSettings",
    "list_presets",
    "load_preset",
    "preset_data",
]


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".yaml"))


def preset_data(name: str) -> dict[str, Any]:
    """The raw mapping of a shipped preset."""
    if name not in list_presets():
        raise InputError(None, f"unknown preset {name!r}",
                         f"choose one of: {', '.join(list_presets())}")
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "config file not found", "check the --config path") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a valid YAML file ({exc})",
                         "fix its syntax (UTF-8 YAML mapping)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, "a config file must hold a mapping of fields",
                         "write e.g. `search: {epochs: 5}`")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_preset(name: str = "demo", config: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> Preset:
    """The preset `name` with the fields of the YAML `config` and `overrides` on top."""
    data = preset_data(name)
    origin: str | Path = f"preset {name}"
    if config is not None:
        data = _merge(data, _read_yaml(Path(config)))
        origin = Path(config)
    if overrides:
        data = _merge(data, overrides)
    return validate_file(Preset, data, origin, "configuration",
                         "fix or remove that field (see the presets in mias/presets/)")
