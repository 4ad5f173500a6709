"""`Figure`: a latency, energy or memory number that always says where it came from.

A report must never present an estimate as a measurement (DESIGN §4), so no predictor
returns a bare float: every result is a `Figure` whose `source` is one of

- `measured`: timed (or metered) on `device` with `runtime` and `threads`;
- `predicted`: derived from measurements by a named `model`, e.g. the sum of a measured
  latency table (`lut-sum(host)`);
- `estimated`: from an analytic model of the device, e.g. `roofline(rpi3)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

SOURCES: tuple[str, ...] = ("measured", "predicted", "estimated")


@dataclass(frozen=True)
class Figure:
    """One number with its unit and provenance; `basis` says in words what it rests on."""

    value: float
    unit: str
    source: str
    device: str
    runtime: str | None = None
    threads: int | None = None
    model: str | None = None
    basis: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.source != "measured" and not self.model:
            raise ValueError(f"a {self.source} figure must name the model that produced it")

    @property
    def label(self) -> str:
        """Human-readable provenance, e.g. `predicted (LUT sum of measured blocks, host)`."""
        if self.source == "measured":
            how = ", ".join(p for p in (self.runtime, self._threads()) if p)
            return f"measured on {self.device}" + (f" ({how})" if how else "")
        return f"{self.source} ({self.basis or self.model}, {self.device})"

    def _threads(self) -> str | None:
        return None if self.threads is None else f"{self.threads} threads"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Figure:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
