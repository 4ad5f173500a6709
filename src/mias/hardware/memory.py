"""Peak memory of one inference versus the device's RAM.

Peak = the largest set of activations alive at once (the space knows the U-Net's skip
connections) + all fp32 weights. The runtime's own footprint and the operating system are
not counted, so `fits` is necessary, not sufficient: the figure is an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mias.hardware.devices import DeviceProfile
from mias.hardware.figures import Figure
from mias.hardware.roofline import FLOAT32_BYTES
from mias.space import network_params, peak_activation_bytes

if TYPE_CHECKING:
    from mias.space import Architecture, SearchSpace

MIB = 2**20


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak inference memory (MiB, estimated), the device's RAM, and the share it takes."""

    peak: Figure
    ram_mib: float | None
    share_of_ram: float | None

    @property
    def fits(self) -> bool | None:
        return None if self.share_of_ram is None else self.share_of_ram <= 1.0


def predict_memory(space: SearchSpace, arch: Architecture,
                   device: DeviceProfile) -> MemoryEstimate:
    peak_bytes = (peak_activation_bytes(space, arch)
                  + network_params(space, arch) * FLOAT32_BYTES)
    peak = Figure(value=peak_bytes / MIB, unit="MiB", source="estimated", device=device.name,
                  model="activations+weights",
                  basis="peak live fp32 activations + fp32 weights, runtime not counted")
    ram = device.ram_mib.value
    return MemoryEstimate(peak=peak, ram_mib=ram,
                          share_of_ram=None if not ram else peak.value / ram)
