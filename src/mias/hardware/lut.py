"""The latency lookup table (LUT): measured block latencies of one device, on disk as JSON.

Keys are the canonical strings of `mias.space.BlockConfig` (`config.key`), so the table is
built from configs and queried with configs without ever holding a module. Every timing is
a ratio to the space's reference network, timed beside it by the bracketed protocol of
`mias.hardware.timing`; the table turns ratios into milliseconds with one level of the
reference, `reference_ms`. The file records everything that makes two tables comparable or
not: the timing protocol and its reference network, the device profile, the fingerprint of
the machine that timed it, runtime and library versions, threads, dtype, batch, the timing
policy, the per-call overhead of a session run, what boundaries between blocks cost
(learned from chains of blocks), and the correction fitted on whole networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mias.atomic import read_json, write_json
from mias.errors import InputError
from mias.hardware.devices import DeviceProfile
from mias.hardware.machine import MachineFingerprint
from mias.hardware.timing import PROTOCOL, Timing
from mias.space.configs import BlockConfig
from mias.validation import validate_file

LUT_SCHEMA_VERSION = 3
Form = Literal["sum", "scale", "line", "line+per-boundary", "line+boundaries"]
Basis = Literal["warm", "cold"]
SELECTION_TOLERANCE = 0.10
# Features of each form besides the LUT sum S: nb = boundaries (blocks − 1),
# bnd = M boundary elements, 1 = a fixed cost per network.
_FEATURES: dict[str, tuple[str, ...]] = {
    "sum": (), "scale": ("S",), "line": ("S", "1"), "line+per-boundary": ("S", "nb", "1"),
    "line+boundaries": ("S", "bnd", "1")}


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


class BoundaryCost(BaseModel):
    """What one boundary between blocks adds inside a network, against the blocks timed alone:
    `per_boundary_ms + per_melem_ms · M elements` (negative: a network saves it).

    Learned from chains of two consecutive blocks timed beside the single blocks: chain −
    (first + second − one call), one sample per chain, fitted by least squares.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_boundary_ms: float
    per_melem_ms: float
    chains: int
    residual_ms: float

    def ms(self, config: BlockConfig) -> float:
        if config.role == "stem":
            return 0.0
        return self.per_boundary_ms + self.per_melem_ms * block_input_elems(config) / 1e6

    @classmethod
    def fit(cls, samples: Sequence[tuple[float, float]]) -> BoundaryCost | None:
        """From (M boundary elements, measured boundary ms) pairs; None with fewer than 3."""
        if len(samples) < 3:
            return None
        x = np.array([[1.0, e] for e, _ in samples])
        y = np.array([c for _, c in samples])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = float(np.sqrt(np.mean((x @ coef - y) ** 2)))
        return cls(per_boundary_ms=float(coef[0]), per_melem_ms=float(coef[1]),
                   chains=len(samples), residual_ms=resid)


class CalibrationPoint(BaseModel):
    """A whole network timed with the blocks: its LUT sums, boundaries and latency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch_id: str
    warm_ms: float
    cold_ms: float
    chain_adjust_ms: float = 0.0
    boundaries: int
    boundary_melems: float = 0.0
    measured_ms: float
    measured: Timing

    def features(self, basis: Basis, chains: bool) -> dict[str, float]:
        total = (self.warm_ms if basis == "warm" else self.cold_ms)
        return {"S": total + (self.chain_adjust_ms if chains else 0.0),
                "nb": float(self.boundaries), "bnd": self.boundary_melems, "1": 1.0}


class Correction(BaseModel):
    """measured ≈ slope · S + per_boundary_ms · boundaries + boundary_ms_per_melem · M
    boundary elements + intercept_ms, where S is the LUT sum of warm or cold block figures
    (`basis`), adjusted by the chain-learned boundary cost when `chains`.

    Fitted by least squares on relative error over calibration networks disjoint from any
    network it is judged on. Every combination of basis, chains and form ("sum": no
    correction; "scale"; "line"; "line+per-boundary"; "line+boundaries") is scored by
    leave-one-out MAPE; of those within `SELECTION_TOLERANCE` of the lowest, the one with
    the fewest fitted terms is kept (a one-standard-error rule: with 16 networks, twenty
    candidates would otherwise be chosen partly by noise), so a term is only used where it
    predicts held-out networks clearly better.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: Basis = "warm"
    chains: bool = False
    form: Form = "sum"
    slope: float = 1.0
    per_boundary_ms: float = 0.0
    boundary_ms_per_melem: float = 0.0
    intercept_ms: float = 0.0
    points: tuple[CalibrationPoint, ...]
    loo_mape: dict[str, float] = Field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.form != "sum" or self.basis != "warm" or self.chains

    @property
    def name(self) -> str:
        return candidate_name(self.basis, self.chains, self.form)

    def apply(self, sum_ms: float, boundaries: int = 0, boundary: float = 0.0) -> float:
        """Corrected latency from a (basis-, chain-adjusted) LUT sum."""
        return (self.slope * sum_ms + self.per_boundary_ms * boundaries
                + self.boundary_ms_per_melem * boundary + self.intercept_ms)

    def describe(self) -> str:
        what = f"{self.basis} blocks" + (" + chain-learned boundaries" if self.chains else "")
        if self.form == "sum":
            return f"none ({what})"
        terms = [f"{self.slope:.3f} × LUT sum"]
        if self.form == "line+per-boundary":
            terms.append(f"{self.per_boundary_ms:+.3f} ms per boundary")
        if self.form == "line+boundaries":
            terms.append(f"{self.boundary_ms_per_melem:+.3f} ms per M boundary elements")
        if self.form != "scale":
            terms.append(f"{self.intercept_ms:+.3f} ms")
        return " ".join(terms) + f" ({what})"

    @classmethod
    def fit(cls, points: Sequence[CalibrationPoint], *,
            chains_available: bool = False) -> Correction:
        if not points:
            raise ValueError("a correction needs at least one calibration point")
        y = np.array([p.measured_ms for p in points])
        loo: dict[str, float] = {}
        options = []
        for basis, chains, form in itertools.product(("warm", "cold"), (False, True), _FEATURES):
            if chains and not chains_available:
                continue
            k = len(_FEATURES[form])
            if k and len(points) <= k:
                continue
            x = _design(points, basis, chains)
            held = [_predict(form, _solve(form, {n: np.delete(v, i) for n, v in x.items()},
                                          np.delete(y, i)),
                             {n: v[i:i + 1] for n, v in x.items()})
                    for i in range(len(y))]
            name = candidate_name(basis, chains, form)
            loo[name] = float(np.mean(np.abs(np.concatenate(held) - y) / y))
            options.append((round(loo[name], 9), k + chains + (basis != "warm"), basis, chains,
                            form))
        best = min(o[0] for o in options)
        within = [o for o in options if o[0] <= best * (1 + SELECTION_TOLERANCE) + 1e-12]
        _, _, basis, chains, form = min(within, key=lambda o: (o[1], o[0]))
        coef = _solve(form, _design(points, basis, chains), y)
        return cls(basis=basis, chains=chains, form=form, points=tuple(points), loo_mape=loo,
                   **coef)


def candidate_name(basis: str, chains: bool, form: str) -> str:
    return f"{basis}{'+chains' if chains else ''}:{form}"


def _design(points: Sequence[CalibrationPoint], basis: str, chains: bool) -> dict[str, Any]:
    return {name: np.array([p.features(basis, chains)[name] for p in points])
            for name in ("S", "nb", "bnd", "1")}


def _solve(form: str, x: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Least squares on relative error: rows weighted by 1 / measured."""
    names = _FEATURES[form]
    if not names:
        return {}
    design = np.stack([x[n] for n in names], axis=1) / y[:, None]
    coef, *_ = np.linalg.lstsq(design, np.ones(len(y)), rcond=None)
    fields = {"S": "slope", "nb": "per_boundary_ms", "bnd": "boundary_ms_per_melem",
              "1": "intercept_ms"}
    return {fields[n]: float(c) for n, c in zip(names, coef, strict=True)}


def _predict(form: str, coef: dict[str, float], x: dict[str, np.ndarray]) -> np.ndarray:
    if form == "sum":
        return x["S"]
    return (coef.get("slope", 0.0) * x["S"] + coef.get("per_boundary_ms", 0.0) * x["nb"]
            + coef.get("boundary_ms_per_melem", 0.0) * x["bnd"]
            + coef.get("intercept_ms", 0.0) * x["1"])


class ReferenceNetwork(BaseModel):
    """The network every ratio of a table is relative to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch_id: str
    arch: dict[str, Any]
    flops: int
    chosen: str


class LatencyTable(BaseModel):
    """Device metadata + block key → latency statistics, with provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = LUT_SCHEMA_VERSION
    protocol: str = PROTOCOL
    reference: ReferenceNetwork
    device: DeviceProfile
    machine: MachineFingerprint
    runtime: str
    libraries: dict[str, str]
    threads: int
    dtype: str = "float32"
    batch: int = 1
    timing_policy: dict[str, float | int | str]
    created: str
    space_id: str | None = None
    reference_ms: float
    call_overhead: Timing
    entries: dict[str, LutEntry] = Field(default_factory=dict)
    boundary: BoundaryCost | None = None
    correction: Correction | None = None

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def overhead_ms(self) -> float:
        """The fixed cost of one session run (the probe), in ms."""
        return self.call_overhead.ms(self.reference_ms)

    @property
    def basis(self) -> Basis:
        """Which block figure the correction chose: the warm burst's or the cold run's."""
        return self.correction.basis if self.correction is not None else "warm"

    def latency_ms(self, key: str, basis: Basis | None = None) -> float:
        """Latency of the block `key` alone; a key the table lacks is the user's to fix."""
        try:
            return self.entries[key].ms(self.reference_ms, cold=(basis or self.basis) == "cold")
        except KeyError:
            raise InputError(None, f"the latency table of {self.device.name!r} has no entry "
                             f"for block {key}",
                             "re-run `mias profile` for this search space") from None

    def sum_ms(self, keys: list[str], basis: Basis | None = None) -> float:
        """Σ block latencies minus the per-call overhead each separate session run added.

        Timing a block alone pays one session call; a network of n blocks pays one call in
        total, so n − 1 call overheads are not part of the network's latency.
        """
        return (sum(self.latency_ms(k, basis) - self.overhead_ms for k in keys)
                + self.overhead_ms)

    def chain_adjust_ms(self, configs: Sequence[BlockConfig]) -> float:
        """Σ over a network's boundaries of what the chains say each costs (0 without)."""
        if self.boundary is None:
            return 0.0
        return sum(self.boundary.ms(c) for c in configs)

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
        if isinstance(version, int) and version < LUT_SCHEMA_VERSION:
            device = (data.get("device") or {}).get("name", "DEVICE")
            raise InputError(path, "this latency table was made by an earlier timing protocol "
                             "(a small reference kernel, unbracketed runs); its figures are "
                             "not comparable with the current protocol's "
                             f"({PROTOCOL}: a reference network, bracketed runs)",
                             f"re-time it: `mias profile --target {device} --space PREP "
                             "--overwrite`")
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
