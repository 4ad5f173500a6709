"""`MedNasBench`: the query API, in the style of NAS-Bench-201 and HW-NAS-Bench.

    bench = MedNasBench.load()                  # the table shipped inside the package
    MedNasBench.load(tabulated=True)            # every architecture of a reduced space
    bench.tasks(); bench.archs("Hippocampus")
    bench.query(arch, "Hippocampus", "rpi3")    # one record: metrics, latency, energy, sources
    bench.query(arch, "Hippocampus", "rpi3", surrogate=True)  # off the table: predicted
    bench.best("Hippocampus", "rpi3", latency_budget_ms=20)
    bench.pareto("Hippocampus", "rpi3")

Rows are indexed by (task, arch id) once at load, so a query is a dict lookup.

Every record says where its figures come from, so a result can be cited without reading
the build: `source` (`trained`: a row of the table; `surrogate`: a predicted metric),
`data` (synthetic stand-in or the Decathlon), the training budget and seeds, the
`measured`/`predicted`/`estimated` source of latency, energy and memory, where
`train_seconds` were timed, and the table's version and content checksum.
"""

from __future__ import annotations

import json
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mias.bench.efficiency import DeviceModel, cost_columns
from mias.bench.prep import data_label
from mias.bench.surrogate import OffTablePredictor, Surrogate, first_seed, held_out_quality
from mias.bench.table import read_table
from mias.errors import InputError
from mias.space import Architecture, SearchSpace

SHIPPED_TABLE = "mednasbench.parquet"
#: Every architecture of a reduced Hippocampus space, trained: no search on it needs a
#: surrogate (`mias bench build --tabulate`).
TABULATED_TABLE = "mednasbench-tabulated.parquet"
JSON_COLUMNS = ("dice_by_structure", "jaccard_by_structure", "hd95_by_structure",
                "empty_cases_by_structure", "training_seeds", "metric_by_seed",
                "curve_by_seed")
#: Peak memory is always the analytic estimate of `mias.hardware.memory`, never timed.
MEMORY_SOURCE = "estimated"


def shipped_table_path(tabulated: bool = False) -> Path:
    name = TABULATED_TABLE if tabulated else SHIPPED_TABLE
    return Path(str(resources.files("mias.bench") / "data" / name))


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def decode_json_columns(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its JSON text columns (`JSON_COLUMNS`) parsed."""
    return {k: json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v
            for k, v in row.items()}


class MedNasBench:
    """A loaded benchmark table with its metadata."""

    def __init__(self, frame: pd.DataFrame, meta: dict[str, Any], path: Path | None = None):
        self.frame = frame
        self.meta = meta
        self.path = path
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        # Architecture.id hashes its JSON form (~1 ms); equal frozen dataclasses hash fast.
        self._by_arch: dict[tuple[str, Architecture], dict[str, Any]] = {}
        for record in frame.to_dict("records"):
            row = decode_json_columns({k: _clean(v) for k, v in record.items()})
            self._rows[(row["task"], row["arch_id"])] = row
            arch = Architecture.from_dict(json.loads(row["arch"]))
            self._by_arch[(row["task"], arch)] = row
        self._surrogates: dict[str, Surrogate] = {}
        self._off_tables: dict[str, OffTablePredictor] = {}
        self._models: dict[str, DeviceModel] = {}
        self._provenance: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_task: dict[str, list[dict[str, Any]]] = {}
        for (task, _), row in self._rows.items():
            self._by_task.setdefault(task, []).append(row)

    @classmethod
    def load(cls, path: str | Path | None = None, *, tabulated: bool = False) -> MedNasBench:
        """The table at `path`, or one shipped with mias: the 11-task table, or with
        `tabulated` the fully tabulated reduced space."""
        target = shipped_table_path(tabulated) if path is None else Path(path)
        frame, meta = read_table(target)
        return cls(frame, meta, target)

    # ---- what the table holds -----------------------------------------------------------

    def tasks(self) -> list[str]:
        """Task names in build order (the metadata's keys are sorted)."""
        return list(self._by_task)

    def devices(self) -> list[str]:
        return list(self.meta["devices"])

    def archs(self, task: str) -> list[Architecture]:
        return [Architecture.from_dict(json.loads(r["arch"])) for r in self._task_rows(task)]

    def space(self, task: str) -> SearchSpace:
        return self._spaces[self._check_task(task)]

    def surrogate(self, task: str) -> Surrogate:
        """The task's surrogate ensemble, fitted from the table's rows (deterministic: the
        first training seed of the build, 0 if the table records none)."""
        if task not in self._surrogates:
            self._surrogates[task] = Surrogate.fit(self.space(task), self.archs(task),
                                                   self._metrics(task), seed=self._fit_seed)
        return self._surrogates[task]

    def off_table(self, task: str) -> OffTablePredictor:
        """What answers for architectures of `task` the table does not hold: the surrogate
        where it beat log FLOPs out of fold and the architecture is in its trust region,
        the log-FLOPs fallback otherwise. The held-out quality is the table's own, or
        (tables built before it recorded log-FLOPs τ) computed here from the task's rows."""
        if task not in self._off_tables:
            archs, metrics = self.archs(task), self._metrics(task)
            quality = (self.meta.get("surrogate") or {}).get(task) or {}
            if "log_flops_tau" not in quality:
                quality = held_out_quality(self.space(task), archs, metrics,
                                           seed=self._fit_seed)
            self._off_tables[task] = OffTablePredictor(task, self.surrogate(task), quality,
                                                       archs, metrics)
        return self._off_tables[task]

    @property
    def _fit_seed(self) -> int:
        """The seed every reader fits the surrogate with: the build's first training seed."""
        return first_seed(self.meta.get("seeds", {}).get("training"))

    def _metrics(self, task: str) -> list[float]:
        return [r["metric"] for r in self._task_rows(task)]

    def device_model(self, device: str) -> DeviceModel:
        """The latency model the table used for `device` (its LUT, else the roofline)."""
        if device not in self._models:
            info = self.meta["devices"][self._check_device(device)]
            self._models[device] = DeviceModel.create(device, info.get("lut"))
        return self._models[device]

    def citation(self) -> str:
        """The table's name, version and content checksum: what a paper should quote."""
        return (f"{self.meta.get('name', 'MED-NAS-Bench')} {self.meta['table_version']} "
                f"(sha256 {self.meta['content_sha256']})")

    def provenance(self, task: str, device: str) -> dict[str, Any]:
        """What every answer about `task` on `device` rests on: data, training budget and
        seeds, the sources of latency, energy and memory, the timing host, the table."""
        key = (self._check_task(task), self._check_device(device))
        if key not in self._provenance:
            info = self.meta["tasks"][task]
            schedule = self.meta["schedule"]
            host = (self.meta.get("timing_host") or {}).get("host")
            self._provenance[key] = {
                "data": info.get("data") or data_label(info["origin"]),
                "train_steps": schedule["epochs"] * schedule["steps_per_epoch"],
                "seeds": dict(self.meta["seeds"]),
                "latency_source": self.meta["devices"][device]["latency_source"],
                "memory_source": MEMORY_SOURCE,
                "train_seconds_source": f"measured on {host['platform']}" if host else
                "measured on a host the table does not record",
                "table_version": self.meta["table_version"],
                "table_sha256": self.meta["content_sha256"]}
        return dict(self._provenance[key])

    @cached_property
    def _spaces(self) -> dict[str, SearchSpace]:
        return {t: SearchSpace.from_dict(m["space"]) for t, m in self.meta["tasks"].items()}

    # ---- queries ------------------------------------------------------------------------

    def query(self, arch: Architecture | str, task: str, device: str, *,
              surrogate: bool = False) -> dict[str, Any]:
        """One architecture's record on `task`, with `device`'s latency and energy; with
        `surrogate`, an architecture off the table gets the surrogate's predicted record."""
        row = self._row(arch, task)
        if row is None:
            self._check_task(task)
            if surrogate and isinstance(arch, Architecture):
                return self._predicted(arch, task, self._check_device(device))
            arch_id = arch if isinstance(arch, str) else arch.id
            raise InputError(None, f"architecture {arch_id} is not in the table for {task}",
                             "pick one from archs(task), or pass surrogate=True with the "
                             "Architecture for a predicted record")
        return self._record(row, self._check_device(device))

    def best(self, task: str, device: str, latency_budget_ms: float | None = None
             ) -> dict[str, Any] | None:
        """The highest-metric architecture within the latency budget (None if none fits)."""
        dev = self._check_device(device)
        key = f"latency_ms__{dev}"
        fits = [r for r in self._task_rows(task)
                if latency_budget_ms is None or r[key] <= latency_budget_ms]
        if not fits:
            return None
        return self._record(max(fits, key=lambda r: (r["metric"], -r[key])), dev)

    def pareto(self, task: str, device: str) -> list[dict[str, Any]]:
        """Non-dominated architectures (higher metric, lower latency), fastest first."""
        dev = self._check_device(device)
        key = f"latency_ms__{dev}"
        front, best = [], -np.inf
        for row in sorted(self._task_rows(task), key=lambda r: (r[key], -r["metric"])):
            if row["metric"] > best:
                front.append(self._record(row, dev))
                best = row["metric"]
        return front

    def latency(self, arch: Architecture | str, task: str, device: str) -> float | None:
        row = self._row(arch, task)
        return None if row is None else row[f"latency_ms__{device}"]

    def metric(self, arch: Architecture | str, task: str) -> float | None:
        """The table's metric, or None when the table does not hold `arch`."""
        row = self._row(arch, task)
        return None if row is None else row["metric"]

    def _row(self, arch: Architecture | str, task: str) -> dict[str, Any] | None:
        if isinstance(arch, str):
            return self._rows.get((task, arch))
        return self._by_arch.get((task, arch))

    # ---- helpers ------------------------------------------------------------------------

    def _record(self, row: dict[str, Any], device: str,
                source: str = "trained") -> dict[str, Any]:
        out = {"source": source, **self.provenance(row["task"], device)}
        out.update((k, v) for k, v in row.items() if "__" not in k)
        out["arch"] = json.loads(row["arch"])
        out["device"] = device
        for name in ("latency_ms", "latency_source", "latency_label", "energy_mj",
                     "energy_source", "memory_fits"):
            out[name] = row.get(f"{name}__{device}")
        return out

    def _predicted(self, arch: Architecture, task: str, device: str) -> dict[str, Any]:
        """A record of an architecture off the table: the off-table predictor's metric, its
        spread (`metric_std`, None from the fallback), which predictor gave it and why, and
        latency, energy and memory from the models the table's own rows were given."""
        space = self.space(task)
        space.check(arch)
        answer = self.off_table(task).predict(arch)
        template = self._task_rows(task)[0]
        row = {"task": task, "arch_id": arch.id, "arch": json.dumps(arch.to_dict()),
               "depth": arch.depth, "metric": answer.metric, "metric_std": answer.std,
               "predictor": answer.predictor, "predictor_reason": answer.reason,
               "metric_name": template["metric_name"],
               "training_seeds": template.get("training_seeds"),
               **cost_columns(space, arch, [self.device_model(device)])}
        return self._record(row, device, "surrogate")

    def _task_rows(self, task: str) -> list[dict[str, Any]]:
        return self._by_task[self._check_task(task)]

    def _check_task(self, task: str) -> str:
        if task not in self.meta["tasks"]:
            raise InputError(self.path, f"task {task!r} is not in the table",
                             f"choose one of: {', '.join(self.tasks())}")
        return task

    def _check_device(self, device: str) -> str:
        if device not in self.meta["devices"]:
            raise InputError(self.path, f"device {device!r} is not in the table",
                             f"choose one of: {', '.join(self.devices())} (or rebuild with "
                             f"--devices {device})")
        return device
