"""Device profiles: what a roofline, energy or memory estimate needs, each figure sourced.

Devices are registered by name (`register_device`, a `mias.registry.Registry`) and created
with `create_device(name, **overrides)`, as timm does for models. The boards ship as YAML files
beside this module, validated by pydantic; a user profile is any YAML file of the same
form (`load_device`). `host` is read from the machine itself (`mias.hardware.host`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from mias.errors import InputError
from mias.hardware.machine import Platform
from mias.registry import Registry
from mias.validation import validate_file

DEVICE_SCHEMA_VERSION = 1


class Spec(BaseModel):
    """One device figure with its source; `value` None means unknown, never guessed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float | None
    source: str
    confirmed: bool = False
    range: tuple[float, float] | None = None

    @classmethod
    def unknown(cls, why: str) -> Spec:
        return cls(value=None, source=why, confirmed=False)


class DeviceProfile(BaseModel):
    """A target device. Units are in the field names; each figure is a sourced `Spec`.

    `runs_on` says which machines are this device (CPU architecture and model): only a
    table timed on one of them may carry this device's name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = DEVICE_SCHEMA_VERSION
    name: str
    description: str
    cpu: str
    cores: Spec
    clock_ghz: Spec
    flops_per_cycle: Spec
    memory_bandwidth_gbs: Spec
    ram_mib: Spec
    idle_power_w: Spec
    load_power_w: Spec
    runs_on: Platform | None = None
    notes: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, v: str) -> str:
        if not v or not v.replace("-", "").replace("_", "").isalnum():
            raise ValueError("name must be letters, digits, '-' or '_'")
        return v

    @property
    def threads(self) -> int:
        """Default ONNX Runtime intra-op threads: one per core."""
        return int(self.cores.value or 1)

    @property
    def peak_gflops(self) -> float | None:
        """fp32 peak = cores × clock × FLOPs per cycle per core (None if any is unknown)."""
        parts = (self.cores.value, self.clock_ghz.value, self.flops_per_cycle.value)
        if any(p is None for p in parts):
            return None
        cores, ghz, per_cycle = parts
        return cores * ghz * per_cycle

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


DeviceFactory = Callable[[], DeviceProfile]
DEVICES: Registry[DeviceFactory] = Registry("device")


def register_device(name: str) -> Callable[[DeviceFactory], DeviceFactory]:
    """Decorator: register a factory `fn() -> DeviceProfile` under `name`."""
    return DEVICES.register(name)


def list_devices() -> list[str]:
    return sorted(DEVICES.names())


def create_device(name: str, **overrides: Any) -> DeviceProfile:
    """The registered device `name`, with figures replaced by `overrides`.

    An override may be a full `Spec`/dict or a bare number, which is recorded as an
    unconfirmed user-supplied figure.
    """
    return _apply_overrides(DEVICES.get(name)(), overrides)


def resolve_device(spec: str | Path) -> DeviceProfile:
    """A registered name (`rpi3`) or the path of a user profile (`my-board.yaml`)."""
    text = str(spec)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_device(Path(text))
    if text not in DEVICES:
        raise InputError(None, f"unknown device {text!r}",
                         f"use one of {', '.join(list_devices())}, or a device YAML file")
    return create_device(text)


def load_device(path: Path) -> DeviceProfile:
    """Read and validate a device YAML; bad files raise `InputError` naming the field."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "device profile not found",
                         f"check the path, or use one of {', '.join(list_devices())}") from exc
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({exc})", "fix the file's syntax") from exc
    return parse_device(data, path)


def parse_device(data: Any, origin: str | Path | None = None) -> DeviceProfile:
    return validate_file(DeviceProfile, data, origin, "device profile",
                         "compare it with src/mias/hardware/devices/rpi3.yaml")


def _apply_overrides(profile: DeviceProfile, overrides: dict[str, Any]) -> DeviceProfile:
    if not overrides:
        return profile
    data = profile.to_dict()
    for key, value in overrides.items():
        if key not in data:
            raise InputError(None, f"device {profile.name!r} has no field {key!r}",
                             f"use one of {', '.join(sorted(data))}")
        if isinstance(value, int | float) and isinstance(data[key], dict):
            value = {"value": float(value), "source": "user override", "confirmed": False}
        data[key] = value
    return parse_device(data, f"overrides of {profile.name}")


def _yaml_device(filename: str) -> DeviceFactory:
    def factory() -> DeviceProfile:
        ref = resources.files("mias.hardware").joinpath("devices", filename)
        return parse_device(yaml.safe_load(ref.read_text(encoding="utf-8")), filename)

    return factory


register_device("rpi3")(_yaml_device("rpi3.yaml"))
register_device("rpi4")(_yaml_device("rpi4.yaml"))
