"""The Pareto archive: every sub-network scored on validation during the search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mias.space import Architecture


@dataclass
class ArchiveEntry:
    arch: Architecture
    latency_ms: float
    metric_sum: float = 0.0
    evaluations: int = 0
    first_step: int = 0
    last_step: int = 0

    @property
    def metric(self) -> float:
        return self.metric_sum / max(self.evaluations, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "arch_id": self.arch.id,
                "latency_ms": self.latency_ms, "metric_sum": self.metric_sum,
                "evaluations": self.evaluations, "first_step": self.first_step,
                "last_step": self.last_step}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArchiveEntry:
        return cls(Architecture.from_dict(d["arch"]), float(d["latency_ms"]),
                   float(d["metric_sum"]), int(d["evaluations"]), int(d["first_step"]),
                   int(d["last_step"]))


@dataclass
class Archive:
    entries: dict[str, ArchiveEntry] = field(default_factory=dict)

    def add(self, arch: Architecture, metric: float, latency_ms: float, step: int) -> None:
        e = self.entries.get(arch.id)
        if e is None:
            e = self.entries[arch.id] = ArchiveEntry(arch, latency_ms, first_step=step)
        e.metric_sum += metric
        e.evaluations += 1
        e.last_step = step

    def front(self) -> list[ArchiveEntry]:
        return non_dominated(list(self.entries.values()), lambda e: (e.metric, e.latency_ms))

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries.values()]

    @classmethod
    def from_list(cls, items: Sequence[dict[str, Any]]) -> Archive:
        return cls({d["arch_id"]: ArchiveEntry.from_dict(d) for d in items})


def non_dominated(items: list, key) -> list:
    """Items not dominated in (metric ↑, latency ↓), sorted by latency. An item is dominated
    when another is at least as good on both and strictly better on one."""
    pts = [key(i) for i in items]
    keep = []
    for i, (m, lat) in enumerate(pts):
        dominated = any((m2 >= m and l2 <= lat) and (m2 > m or l2 < lat)
                        for j, (m2, l2) in enumerate(pts) if j != i)
        if not dominated:
            keep.append(items[i])
    return sorted(keep, key=lambda i: key(i)[1])
