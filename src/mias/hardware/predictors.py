"""Latency predictors behind one small interface, registered by name.

The search cannot tell a table lookup from an analytic model: both answer `block_ms`
(one block's contribution, the lat(b) of the MIAS loss) and `predict` (a whole
architecture, as a labelled `Figure`). `lut` is a prediction from measurements; `roofline`
is an estimate from the device profile, for devices without a measured table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mias.errors import InputError
from mias.hardware.devices import DeviceProfile
from mias.hardware.figures import Figure
from mias.hardware.lut import Correction, LatencyTable, block_input_elems
from mias.hardware.roofline import block_bytes, roofline_ms
from mias.registry import Registry
from mias.space import block_flops

if TYPE_CHECKING:
    from mias.space import Architecture, BlockConfig, SearchSpace


class LatencyPredictor(ABC):
    """Latency of blocks and architectures on one device."""

    device: DeviceProfile

    @abstractmethod
    def block_ms(self, config: BlockConfig) -> float:
        """One block's contribution to a network's latency (ms)."""

    @abstractmethod
    def predict(self, space: SearchSpace, arch: Architecture) -> Figure:
        """The whole architecture, every block that runs (stem and head included)."""


PREDICTORS: Registry[type[LatencyPredictor]] = Registry("latency predictor")


def register_predictor(name: str) -> Callable[[type[LatencyPredictor]], type[LatencyPredictor]]:
    return PREDICTORS.register(name)


def list_predictors() -> list[str]:
    return sorted(PREDICTORS.names())


def create_predictor(name: str, **cfg: Any) -> LatencyPredictor:
    """E.g. `create_predictor("lut", table=table)`, `create_predictor("roofline", device=d)`."""
    return PREDICTORS.get(name)(**cfg)


@register_predictor("lut")
class LutPredictor(LatencyPredictor):
    """Σ measured block latencies − per-call overheads, then the table's correction (the
    basis, boundary model and form that predicted held-out calibration networks best).
    `corrected=False` gives the plain sum of warm block figures.

    `block_ms` carries the correction's per-block terms (slope, chain-learned and fitted
    boundary costs), so the sum of `block_ms` over an architecture differs from `predict`
    only by the network's fixed cost, `fixed_ms`. A block's share is never below zero (a
    boundary term can overshoot on a block that is almost all re-order).
    """

    def __init__(self, table: LatencyTable, *, corrected: bool = True) -> None:
        self.table = table
        self.device = table.device
        fit = table.correction if corrected else None
        self.correction = fit if fit is not None and fit.applied else Correction(points=())

    def block_ms(self, config: BlockConfig) -> float:
        fit, table = self.correction, self.table
        own = table.latency_ms(config.key, fit.basis) - table.overhead_ms
        if fit.chains and table.boundary is not None:
            own += table.boundary.ms(config)
        if config.role == "stem":
            return max(0.0, fit.slope * own)
        boundary = block_input_elems(config) / 1e6
        return max(0.0, fit.slope * own + fit.per_boundary_ms
                   + fit.boundary_ms_per_melem * boundary)

    @property
    def fixed_ms(self) -> float:
        """The part of a network's latency that no block owns: one call, fixed costs."""
        return self.correction.slope * self.table.overhead_ms + self.correction.intercept_ms

    def predict(self, space: SearchSpace, arch: Architecture) -> Figure:
        total = sum(self.block_ms(c) for c in space.block_configs(arch)) + self.fixed_ms
        basis = "LUT sum of measured blocks" + (
            " (cold runs)" if self.correction.basis == "cold" else "")
        if self.correction.applied:
            basis += (f", {self.correction.name} correction on "
                      f"{len(self.correction.points)} measured networks")
        return Figure(value=total, unit="ms", source="predicted", device=self.device.name,
                      runtime=self.table.runtime, threads=self.table.threads,
                      model=f"lut-sum({self.device.name})", basis=basis)


@register_predictor("roofline")
class RooflinePredictor(LatencyPredictor):
    """Per block, the slower of compute at peak FLOP/s and traffic at peak bandwidth.

    A lower bound: real kernels reach a fraction of peak, so it ranks architectures better
    than it predicts their absolute latency. Always labelled `estimated`.
    """

    def __init__(self, device: DeviceProfile) -> None:
        if device.peak_gflops is None or device.memory_bandwidth_gbs.value is None:
            raise InputError(None, f"device {device.name!r} lacks a peak FLOP/s or a memory "
                             "bandwidth figure for the roofline model",
                             "give cores, clock_ghz, flops_per_cycle and memory_bandwidth_gbs "
                             "in its YAML, or pass --measure-peaks for the host")
        self.device = device

    def block_ms(self, config: BlockConfig) -> float:
        return roofline_ms(block_flops(config), block_bytes(config), self.device)

    def predict(self, space: SearchSpace, arch: Architecture) -> Figure:
        total = sum(self.block_ms(c) for c in space.block_configs(arch))
        return Figure(value=total, unit="ms", source="estimated", device=self.device.name,
                      model=f"roofline({self.device.name})",
                      basis="roofline: max(FLOPs / peak, bytes / bandwidth) per block")


def default_predictor(device: DeviceProfile, table: LatencyTable | None = None
                      ) -> LatencyPredictor:
    """A measured table when there is one for this device, else the roofline estimate.

    The table must name `device` and have been timed on a machine that is `device` (for
    `host`: this machine), else it is refused: it would pass one machine off as another.
    """
    if table is not None:
        if table.device.name != device.name:
            raise InputError(None, f"the latency table was measured on {table.device.name!r}, "
                             f"not {device.name!r}",
                             f"profile {device.name} with `mias profile --target {device.name}`")
        table.check_machine()
        if device.runs_on is not None and not table.machine.matches(device.runs_on):
            raise InputError(None, f"the {device.name} latency table was timed on "
                             f"{table.machine.describe()}, not on this {device.name} "
                             f"({device.runs_on.describe()})",
                             f"re-profile here with `mias profile --target {device.name}`")
        return create_predictor("lut", table=table)
    return create_predictor("roofline", device=device)
