"""Efficiency columns of a cell: params, FLOPs, peak memory, latency and energy per device.

Latency comes from `mias.hardware`'s predictors: the sum of a measured latency table
(`predicted`) where the user gave one for that device, else the device's roofline
(`estimated`); energy is latency × the device's load power. Each figure keeps its source
and provenance label, and the table metadata records which model each device used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mias.errors import InputError
from mias.hardware.devices import DeviceProfile, resolve_device
from mias.hardware.energy import predict_energy
from mias.hardware.memory import predict_memory
from mias.hardware.predictors import LatencyPredictor, default_predictor
from mias.space import Architecture, SearchSpace, network_flops, network_params


@dataclass(frozen=True)
class DeviceModel:
    """A device and the latency predictor the benchmark uses for it."""

    profile: DeviceProfile
    predictor: LatencyPredictor
    lut: str | None

    @classmethod
    def create(cls, name: str, lut: str | Path | None = None) -> DeviceModel:
        from mias.hardware.lut import LatencyTable

        profile = resolve_device(name)
        table = None if lut is None else LatencyTable.load(lut)
        return cls(profile, default_predictor(profile, table), None if lut is None else str(lut))

    def describe(self) -> dict[str, Any]:
        return {"profile": self.profile.to_dict(), "lut": self.lut,
                "latency_model": "lut" if self.lut else "roofline",
                "latency_source": "predicted" if self.lut else "estimated"}


def device_models(devices: list[str], luts: dict[str, str] | None = None) -> list[DeviceModel]:
    luts = luts or {}
    unknown = set(luts) - set(devices)
    if unknown:
        raise InputError(None, f"latency tables given for devices not benchmarked: "
                         f"{', '.join(sorted(unknown))}", "add them to --devices")
    return [DeviceModel.create(d, luts.get(d)) for d in devices]


def latency_columns(space: SearchSpace, arch: Architecture,
                    model: DeviceModel) -> dict[str, Any]:
    """`latency_ms`, `energy_mj` and their sources on one device, suffixed with its name."""
    name = model.profile.name
    latency = model.predictor.predict(space, arch)
    out: dict[str, Any] = {f"latency_ms__{name}": latency.value,
                           f"latency_source__{name}": latency.source,
                           f"latency_label__{name}": latency.label}
    try:
        energy = predict_energy(latency, model.profile)
        out[f"energy_mj__{name}"] = energy.value
        out[f"energy_source__{name}"] = energy.source
    except InputError:
        out[f"energy_mj__{name}"] = None
        out[f"energy_source__{name}"] = "unknown (no power figure for this device)"
    memory = predict_memory(space, arch, model.profile)
    out[f"memory_fits__{name}"] = memory.fits
    return out


def cost_columns(space: SearchSpace, arch: Architecture,
                 models: list[DeviceModel]) -> dict[str, Any]:
    out: dict[str, Any] = {"params": network_params(space, arch),
                           "flops": network_flops(space, arch)}
    if models:
        out["peak_memory_mib"] = predict_memory(space, arch, models[0].profile).peak.value
    for model in models:
        out.update(latency_columns(space, arch, model))
    return out
