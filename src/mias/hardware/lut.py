"""The latency lookup table (LUT): measured block latencies of one device, on disk as JSON.

Keys are the canonical strings of `mias.space.BlockConfig` (`config.key`), so the table is
built from configs and queried with configs without ever holding a module. The file
records everything that makes two tables comparable or not: device profile, runtime and
library versions, threads, dtype, batch, the timing policy, the measured per-call
overhead of a session run, and the optional linear correction fitted on whole networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mias.atomic import read_json, write_json
from mias.errors import InputError
from mias.hardware.devices import DeviceProfile
from mias.hardware.timing import Timing
from mias.validation import validate_file

LUT_SCHEMA_VERSION = 1


class LutEntry(Timing):
    """One block's timing plus its analytic cost (for roofline comparisons)."""

    flops: int | None = None
    params: int | None = None


class CalibrationPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    arch_id: str
    predicted_ms: float
    measured: Timing


class Correction(BaseModel):
    """measured ≈ slope · predicted + intercept_ms, least squares over `points`.

    Fitted on a few whole networks, it absorbs what a per-block sum misses (fusion across
    blocks, cache effects between blocks). A line through a handful of noisy points can
    also add error, so it is `applied` only when, left out one at a time, the points are
    predicted better by the line than by the plain sum (needs at least 3 points).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    slope: float
    intercept_ms: float
    points: tuple[CalibrationPoint, ...]
    loo_mape_plain: float | None = None
    loo_mape_line: float | None = None
    applied: bool = False

    def line(self, predicted_ms: float) -> float:
        return self.slope * predicted_ms + self.intercept_ms

    def apply(self, predicted_ms: float) -> float:
        """The corrected prediction, or the plain one when the line was not validated."""
        return self.line(predicted_ms) if self.applied else predicted_ms

    @classmethod
    def fit(cls, points: Sequence[CalibrationPoint]) -> Correction:
        if not points:
            raise ValueError("a correction needs at least one calibration point")
        x = np.array([p.predicted_ms for p in points])
        y = np.array([p.measured.median_ms for p in points])
        slope, intercept = _fit_line(x, y)
        if len(points) < 3:
            return cls(slope=slope, intercept_ms=intercept, points=tuple(points))
        loo = np.array([np.polyval(_fit_line(np.delete(x, i), np.delete(y, i)), x[i])
                        for i in range(len(x))])
        plain = float(np.mean(np.abs(x - y) / y))
        fitted = float(np.mean(np.abs(loo - y) / y))
        return cls(slope=slope, intercept_ms=intercept, points=tuple(points),
                   loo_mape_plain=plain, loo_mape_line=fitted, applied=fitted < plain)


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line; with one point, or no spread in x, a pure ratio."""
    if len(x) >= 2 and np.ptp(x) > 1e-9 * max(float(x.max()), 1.0):
        slope, intercept = np.polyfit(x, y, 1)
        return float(slope), float(intercept)
    return float(np.sum(x * y) / np.sum(x * x)), 0.0


class LatencyTable(BaseModel):
    """Device metadata + block key → latency statistics (ms), with provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = LUT_SCHEMA_VERSION
    device: DeviceProfile
    runtime: str
    libraries: dict[str, str]
    threads: int
    dtype: str = "float32"
    batch: int = 1
    timing_policy: dict[str, float | int]
    created: str
    space_id: str | None = None
    call_overhead: Timing
    entries: dict[str, LutEntry] = Field(default_factory=dict)
    correction: Correction | None = None

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def median_ms(self, key: str) -> float:
        """Median latency of the block `key`; a key the table lacks is the user's to fix."""
        try:
            return self.entries[key].median_ms
        except KeyError:
            raise InputError(None, f"the latency table of {self.device.name!r} has no entry "
                             f"for block {key}",
                             "re-run `mias profile` for this search space") from None

    def sum_ms(self, keys: list[str]) -> float:
        """Σ block medians minus the per-call overhead each separate session run added.

        Timing a block alone pays one session call; a network of n blocks pays one call in
        total, so n − 1 call overheads are not part of the network's latency.
        """
        net = sum(self.median_ms(k) - self.call_overhead.median_ms for k in keys)
        return net + self.call_overhead.median_ms

    def with_correction(self, correction: Correction | None) -> LatencyTable:
        return self.model_copy(update={"correction": correction})

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
        return validate_file(cls, data, path, "latency table",
                             "re-run `mias profile` to rebuild it")


def lut_path(directory: str | Path, device_name: str) -> Path:
    """Where `mias profile` writes a device's table by default, and the search looks for it."""
    return Path(directory) / f"lut-{device_name}.json"
