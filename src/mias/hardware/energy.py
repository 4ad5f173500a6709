"""Energy per inference = latency × power drawn while the network runs.

The power is the device's load (stress-test) figure unless a power meter reading is
given; the result is `measured` only when both the latency and the power were measured,
otherwise `estimated`, naming both inputs. A device without a power figure (`host`: this
machine's draw is unknown) has no energy: `energy_or_reason` says why instead.
"""

from __future__ import annotations

from mias.errors import InputError
from mias.hardware.devices import DeviceProfile
from mias.hardware.figures import Figure


def predict_energy(latency: Figure, device: DeviceProfile, *,
                   power: Figure | None = None) -> Figure:
    """Energy (mJ) of one inference: `latency` (ms) × power (W)."""
    if latency.unit != "ms":
        raise ValueError(f"latency must be in ms, got {latency.unit}")
    if power is None:
        watts = device.load_power_w.value
        if watts is None:
            raise InputError(None, f"device {device.name!r} has no load power figure",
                             "give load_power_w in its YAML, or pass a power-meter reading")
        power_basis = f"load power {watts:g} W ({device.load_power_w.source})"
        power_measured = False
    else:
        if power.unit != "W":
            raise ValueError(f"power must be in W, got {power.unit}")
        watts = power.value
        power_basis = f"power {watts:g} W {power.label}"
        power_measured = power.source == "measured"
    basis = f"{latency.label} × {power_basis}"
    if latency.source == "measured" and power_measured:
        return Figure(value=latency.value * watts, unit="mJ", source="measured",
                      device=device.name, runtime=latency.runtime, threads=latency.threads,
                      basis=basis)
    return Figure(value=latency.value * watts, unit="mJ", source="estimated",
                  device=device.name, runtime=latency.runtime, threads=latency.threads,
                  model=f"latency×power({device.name})", basis=basis)


def energy_or_reason(latency: Figure, device: DeviceProfile, *,
                     power: Figure | None = None) -> tuple[Figure | None, str | None]:
    """The energy per inference, or (None, why) where it cannot be estimated, so a report
    on a device without a power figure says "not estimated" rather than failing."""
    if power is None and device.load_power_w.value is None:
        return None, (f"not estimated: the device {device.name!r} has no load power figure "
                      "(give load_power_w in its device YAML, or measure the power with a "
                      "meter)")
    return predict_energy(latency, device, power=power), None
