"""The latency lookup table (LUT): measured block latencies of one device, on disk as JSON.

Keys are the canonical strings of `mias.space.BlockConfig` (`config.key`), so the table is
built from configs and queried with configs without ever holding a module. Every timing is
a ratio to the reference kernel timed beside it (`mias.hardware.timing`); the table turns
ratios into milliseconds with one level of the reference, `reference_ms`. The file records
everything that makes two tables comparable or not: the device profile, the fingerprint of
the machine that timed it, runtime and library versions, threads, dtype, batch, the timing
policy, the per-call overhead of a session run, and the correction fitted on whole networks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mias.atomic import read_json, write_json
from mias.errors import InputError
from mias.hardware.devices import DeviceProfile
from mias.hardware.machine import MachineFingerprint
from mias.hardware.timing import Timing
from mias.space.configs import BlockConfig
from mias.validation import validate_file

LUT_SCHEMA_VERSION = 2
Form = Literal["sum", "scale", "line", "line+boundaries"]
_PARAMS: dict[str, int] = {"sum": 0, "scale": 1, "line": 2, "line+boundaries": 3}


class LutEntry(Timing):
    """One block's timing plus its analytic cost (for roofline comparisons)."""

    flops: int | None = None
    params: int | None = None


def boundary_melems(configs: Sequence[BlockConfig]) -> float:
    """Millions of activation elements a network passes between its blocks.

    Each block but the stem reads its input (and skip) from another block. Timed alone, a
    block converts those tensors to and from the runtime's internal layout (ONNX Runtime's
    NCHWc re-orders on x86, chiefly in 2D); inside one network it does not.
    """
    return sum(block_input_elems(c) for c in configs if c.role != "stem") / 1e6


def block_input_elems(config: BlockConfig) -> int:
    return (config.in_channels * math.prod(config.in_shape)
            + config.skip_channels * math.prod(config.skip_shape))


class CalibrationPoint(BaseModel):
    """A whole network timed with the blocks: its LUT sum, boundary size and latency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch_id: str
    predicted_ms: float
    boundary_melems: float = 0.0
    measured_ms: float
    measured: Timing


class Correction(BaseModel):
    """measured ≈ slope · LUT sum + boundary_ms_per_melem · boundary + intercept_ms.

    What a sum of blocks misses: fixed costs of a network run (intercept), effects that
    scale with the work such as caches between blocks (slope), and layout re-orders at
    block boundaries that a standalone block pays and a network does not (boundary term).
    Fitted by least squares on relative error over calibration networks disjoint from
    any network it is judged on. Of the forms "sum" (no correction), "scale" (slope only),
    "line" and "line+boundaries", the one with the lowest leave-one-out MAPE is kept (the
    simpler on a tie), so a term is only used where it predicts held-out networks better;
    on a noisy machine a few calibration networks pin a slope long before an intercept.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    form: Form = "sum"
    slope: float = 1.0
    boundary_ms_per_melem: float = 0.0
    intercept_ms: float = 0.0
    points: tuple[CalibrationPoint, ...]
    loo_mape: dict[str, float] = Field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.form != "sum"

    def apply(self, sum_ms: float, boundary: float = 0.0) -> float:
        return self.slope * sum_ms + self.boundary_ms_per_melem * boundary + self.intercept_ms

    def describe(self) -> str:
        if not self.applied:
            return "none"
        terms = [f"{self.slope:.3f} × LUT sum"]
        if self.form == "scale":
            return terms[0]
        if self.form == "line+boundaries":
            terms.append(f"{self.boundary_ms_per_melem:+.3f} ms per M boundary elements")
        return " ".join([*terms, f"{self.intercept_ms:+.3f} ms"])

    @classmethod
    def fit(cls, points: Sequence[CalibrationPoint]) -> Correction:
        if not points:
            raise ValueError("a correction needs at least one calibration point")
        x = np.array([[p.predicted_ms, p.boundary_melems] for p in points])
        y = np.array([p.measured_ms for p in points])
        loo = {"sum": float(np.mean(np.abs(x[:, 0] - y) / y))}
        for form, k in _PARAMS.items():
            if k and len(points) > k:
                held = [_predict(_solve(form, np.delete(x, i, 0), np.delete(y, i)), x[i:i + 1])
                        for i in range(len(y))]
                loo[form] = float(np.mean(np.abs(np.concatenate(held) - y) / y))
        best = min(loo, key=lambda f: (round(loo[f], 9), _PARAMS[f]))
        coef = _solve(best, x, y) if best != "sum" else (1.0, 0.0, 0.0)
        return cls(form=best, slope=coef[0], boundary_ms_per_melem=coef[1],
                   intercept_ms=coef[2], points=tuple(points), loo_mape=loo)


def _solve(form: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares on relative error: rows weighted by 1 / measured."""
    cols = {"scale": [x[:, 0]], "line": [x[:, 0], np.ones(len(y))],
            "line+boundaries": [x[:, 0], x[:, 1], np.ones(len(y))]}[form]
    design = np.stack(cols, axis=1) / y[:, None]
    coef, *_ = np.linalg.lstsq(design, np.ones(len(y)), rcond=None)
    if form == "scale":
        return float(coef[0]), 0.0, 0.0
    if form == "line":
        return float(coef[0]), 0.0, float(coef[1])
    return float(coef[0]), float(coef[1]), float(coef[2])


def _predict(coef: tuple[float, float, float], x: np.ndarray) -> np.ndarray:
    return coef[0] * x[:, 0] + coef[1] * x[:, 1] + coef[2]


class LatencyTable(BaseModel):
    """Device metadata + block key → latency statistics, with provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = LUT_SCHEMA_VERSION
    device: DeviceProfile
    machine: MachineFingerprint
    runtime: str
    libraries: dict[str, str]
    threads: int
    dtype: str = "float32"
    batch: int = 1
    timing_policy: dict[str, float | int]
    created: str
    space_id: str | None = None
    reference_ms: float
    call_overhead: Timing
    entries: dict[str, LutEntry] = Field(default_factory=dict)
    correction: Correction | None = None

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def overhead_ms(self) -> float:
        """The fixed cost of one session run (the probe), in ms."""
        return self.call_overhead.ms(self.reference_ms)

    def latency_ms(self, key: str) -> float:
        """Latency of the block `key` alone; a key the table lacks is the user's to fix."""
        try:
            return self.entries[key].ms(self.reference_ms)
        except KeyError:
            raise InputError(None, f"the latency table of {self.device.name!r} has no entry "
                             f"for block {key}",
                             "re-run `mias profile` for this search space") from None

    def sum_ms(self, keys: list[str]) -> float:
        """Σ block latencies minus the per-call overhead each separate session run added.

        Timing a block alone pays one session call; a network of n blocks pays one call in
        total, so n − 1 call overheads are not part of the network's latency.
        """
        return sum(self.latency_ms(k) - self.overhead_ms for k in keys) + self.overhead_ms

    def with_correction(self, correction: Correction | None) -> LatencyTable:
        return self.model_copy(update={"correction": correction})

    def check_machine(self, path: str | Path | None = None) -> None:
        """Refuse a table whose timing machine is not the device it is labelled with."""
        runs_on = self.device.runs_on
        if runs_on is not None and self.machine.matches(runs_on):
            return
        said = runs_on.describe() if runs_on else "no runs_on in its profile"
        raise InputError(path, f"this latency table is labelled {self.device.name!r} "
                         f"({said}) but was timed on {self.machine.describe()}",
                         f"time {self.device.name} on the board itself: `mias profile "
                         f"--space PREP --export-blocks DIR`, then `mias profile --import DIR "
                         f"--target {self.device.name}` there; or re-profile with "
                         "`--target host`")

    def save(self, path: str | Path) -> Path:
        write_json(path, self.model_dump(mode="json"))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        data = read_json(path)
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != LUT_SCHEMA_VERSION:
            raise InputError(path, f"latency table schema_version {version!r} is not "
                             f"{LUT_SCHEMA_VERSION}", "re-run `mias profile` to rebuild it")
        table = validate_file(cls, data, path, "latency table",
                              "re-run `mias profile` to rebuild it")
        table.check_machine(path)
        return table


def lut_path(directory: str | Path, device_name: str) -> Path:
    """Where `mias profile` writes a device's table by default, and the search looks for it."""
    return Path(directory) / f"lut-{device_name}.json"
