"""`mias bench build`: prepare the tasks, train a fixed seeded list of designs, write the table.

The list is seeded and shared by all tasks: genotypes are drawn from one stream and
projected onto each task's space until every task has `archs` distinct architectures, so
the multi-task protocol can follow one design across tasks. Cells fan out over Ray or a
process pool and are cached on disk; efficiency columns and the surrogate are computed
once the cells are in. Every architecture is trained with each of the config's training
seeds; its row holds their mean, each seed's metric and learning curve, and the metadata
how far the seeds agree on each task's ranking.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mias import __version__
from mias.bench.cells import CellJob, cached_row, cell_jobs
from mias.bench.efficiency import DeviceModel, cost_columns, device_models
from mias.bench.fanout import run_cells
from mias.bench.genotype import Genotype, lift, project, sample_genotype, space_ops
from mias.bench.prep import data_label, prepare_task
from mias.bench.seeds import merge_seeds, seed_agreement
from mias.bench.surrogate import held_out_quality
from mias.bench.table import COLUMNS, write_table
from mias.bench.tabulated import enumerate_space, reduce_space
from mias.bench.tasks import DETECTION_MIN_VOXELS, get_task, task_names
from mias.presets.models import TrainSettings
from mias.space import Architecture, SearchSpace

Progress = Callable[[str, int, int], None]
DEFAULT_EPOCHS = 4
DEFAULT_STEPS = 12
LATENCY_PROVENANCE = (
    "Latency per device from mias.hardware: with a latency table measured on the device "
    "(--lut DEVICE=PATH), the LUT sum of measured blocks with its validated correction "
    "(source 'predicted'); otherwise the device profile's roofline, max(FLOPs / peak, "
    "bytes / bandwidth) per block (source 'estimated'). Energy = latency × the profile's "
    "load power (source 'estimated' unless both were measured).")


def default_schedule() -> TrainSettings:
    """The fixed short schedule of the shipped table: EPOCHS epochs of STEPS SGD steps of 2
    whole inputs, validated after each epoch."""
    return TrainSettings(epochs=DEFAULT_EPOCHS, steps_per_epoch=DEFAULT_STEPS, batch=2,
                         lr=0.02, augment=False, schedule="poly")


class BuildConfig(BaseModel):
    """What a build trains and records; part of the table's metadata."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[str] = Field(default_factory=task_names)
    archs: int = Field(30, ge=1, description="distinct architectures per task")
    tabulate: int | None = Field(None, ge=1, description="instead of `archs` designs: every "
                                 "architecture of each task's space reduced to this many "
                                 "candidates per layer")
    tabulate_ops: list[str] | None = Field(None, min_length=1, description="operators the "
                                           "reduced space draws from (default: all)")
    seed: int = Field(0, description="seed of designs, stand-ins and data splits")
    train_seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1,
                                   description="training seeds of every cell")
    cases: int = Field(20, ge=4, description="cases of each synthetic stand-in")
    devices: list[str] = Field(default_factory=lambda: ["rpi3", "rpi4"])
    luts: dict[str, str] = Field(default_factory=dict)
    train: TrainSettings = Field(default_factory=default_schedule)
    detection_min_voxels: int = Field(DETECTION_MIN_VOXELS, ge=1)
    max_draws: int = Field(4000, ge=1, description="genotype draws before giving up")

    @field_validator("tabulate_ops")
    @classmethod
    def _known_ops(cls, ops: list[str] | None) -> list[str] | None:
        from mias.space import list_ops

        unknown = sorted(set(ops or ()) - set(list_ops()))
        if unknown:
            raise ValueError(f"unknown operators {unknown}; choose from {list(list_ops())}")
        return ops

    @field_validator("train_seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError("training seeds must be distinct and non-negative")
        return sorted(seeds)


@dataclass
class BuildReport:
    path: Path
    rows: int
    computed: int
    reused: int
    backend: str


def draw_designs(spaces: dict[str, SearchSpace], archs: int, seed: int,
                 max_draws: int) -> tuple[dict[str, list[tuple[Architecture, str]]],
                                          dict[str, Genotype]]:
    """Per task, the first `archs` distinct projections of one seeded genotype stream."""
    rng = np.random.default_rng(seed)
    ops = space_ops(list(spaces.values()))
    chosen: dict[str, list[tuple[Architecture, str]]] = {t: [] for t in spaces}
    seen: dict[str, set[str]] = {t: set() for t in spaces}
    genotypes: dict[str, Genotype] = {}
    for _ in range(max_draws):
        if all(len(v) >= archs for v in chosen.values()):
            break
        genotype = sample_genotype(ops, rng)
        used = False
        for task, space in spaces.items():
            arch = project(space, genotype)
            if len(chosen[task]) < archs and arch.id not in seen[task]:
                seen[task].add(arch.id)
                chosen[task].append((arch, genotype.id))
                used = True
        if used:
            genotypes[genotype.id] = genotype
    return chosen, genotypes


def every_design(spaces: dict[str, SearchSpace]) -> tuple[
        dict[str, list[tuple[Architecture, str]]], dict[str, Genotype]]:
    """Per task, every architecture of its space with the genotype it lifts to."""
    designs: dict[str, list[tuple[Architecture, str]]] = {}
    genotypes: dict[str, Genotype] = {}
    for task, space in spaces.items():
        designs[task] = []
        for arch in enumerate_space(space):
            genotype = lift(space, arch)
            genotypes[genotype.id] = genotype
            designs[task].append((arch, genotype.id))
    return designs, genotypes


def prepared_sha256(prep: Path) -> str:
    """Checksum of a PREP folder's manifest (less where the raw data sat) and splits: the
    data a cell was trained on, so an architecture trained later, in another work folder,
    can be shown to have seen the same data."""
    manifest = json.loads((prep / "manifest.json").read_text())
    manifest.pop("data_root", None)
    splits = json.loads((prep / "splits.json").read_text())
    text = json.dumps({"manifest": manifest, "splits": splits}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict[str, str]:
    import monai
    import sklearn
    import torch

    return {"mias": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "monai": monai.__version__, "numpy": np.__version__, "sklearn": sklearn.__version__,
            "pandas": pd.__version__}


def timing_host(backend: str, ray_address: str | None, *, computed: int,
                reused: int) -> dict[str, Any]:
    """Where `train_seconds` were timed, so a reader knows whose wall clock they are: this
    machine, unless the cells ran on a remote Ray cluster (whose nodes are not recorded)."""
    remote = backend == "ray" and bool(ray_address) and ray_address != "local"
    host = None if remote else {"platform": platform.platform(), "machine": platform.machine(),
                                "processor": platform.processor() or None,
                                "cpus": os.cpu_count(), "python": platform.python_version()}
    return {"host": host, "ray_address": ray_address if remote else None,
            "cells_timed_here": computed, "cells_reused": reused,
            "note": "reused cells keep the timing of the build that computed them"}


def build(config: BuildConfig, work: str | Path, out: str | Path, *,
          msd_root: str | Path | None = None, backend: str = "auto", workers: int = 2,
          ray_address: str | None = None, progress: Progress | None = None) -> BuildReport:
    """Build (or finish) the table; finished cells under `work/cells` are reused."""
    work = Path(work)
    root = None if msd_root is None else Path(msd_root)
    tasks = [get_task(n) for n in config.tasks]
    models = device_models(config.devices, config.luts)
    preps: dict[str, tuple[Path, str]] = {}
    for i, task in enumerate(tasks):
        preps[task.name] = prepare_task(task, work, msd_root=root, cases=config.cases,
                                        seed=config.seed)
        if progress:
            progress("prepare", i + 1, len(tasks))
    spaces = {t: SearchSpace.load(p / "search_space.json") for t, (p, _) in preps.items()}
    if config.tabulate is None:
        designs, genotypes = draw_designs(spaces, config.archs, config.seed, config.max_draws)
    else:
        spaces = {t: reduce_space(s, config.tabulate, config.tabulate_ops)
                  for t, s in spaces.items()}
        designs, genotypes = every_design(spaces)
    settings = config.train.model_dump(mode="json")
    jobs = [job for t in tasks for a, g in designs[t.name]
            for job in cell_jobs(task=t.name, prep=preps[t.name][0], arch=a, genotype_id=g,
                                 settings=settings, seeds=config.train_seeds, lesion=t.lesion,
                                 min_voxels=config.detection_min_voxels, work=work)]
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for job in jobs:
        row = cached_row(job)
        if row is not None:
            rows[_cell_key(job)] = row
    reused = len(rows)
    todo = [j for j in jobs if _cell_key(j) not in rows]

    def done(job: CellJob, row: dict[str, Any]) -> None:
        rows[_cell_key(job)] = row
        if progress:
            progress("train", len(rows), len(jobs))

    if progress:
        progress("train", len(rows), len(jobs))
    used = run_cells(todo, backend=backend, workers=workers, ray_address=ray_address, done=done)
    frame = _frame(jobs, rows, spaces, models)
    meta = _metadata(config, tasks, preps, spaces, genotypes, models, frame, used)
    meta["timing_host"] = timing_host(used, ray_address, computed=len(todo), reused=reused)
    path = write_table(frame, meta, out)
    return BuildReport(path=path, rows=len(frame), computed=len(todo), reused=reused,
                       backend=used)


def _cell_key(job: CellJob) -> tuple[str, str, int]:
    return job.task, job.arch_id, job.seed


def _frame(jobs: list[CellJob], rows: dict[tuple[str, str, int], dict[str, Any]],
           spaces: dict[str, SearchSpace], models: list[DeviceModel]) -> pd.DataFrame:
    """One row per (task, architecture): its seeds merged, then its efficiency columns."""
    cells: dict[tuple[str, str], list[CellJob]] = {}
    for job in jobs:
        cells.setdefault((job.task, job.arch_id), []).append(job)
    records = []
    for group in cells.values():
        row = merge_seeds([rows[_cell_key(j)] for j in group])
        job = group[0]
        row.update(cost_columns(spaces[job.task], Architecture.from_dict(job.arch), models))
        records.append(row)
    return pd.DataFrame.from_records(records)


def _metadata(config: BuildConfig, tasks: list[Any], preps: dict[str, tuple[Path, str]],
              spaces: dict[str, SearchSpace], genotypes: dict[str, Genotype],
              models: list[DeviceModel], frame: pd.DataFrame, backend: str) -> dict[str, Any]:
    from mias.atomic import read_json

    task_meta, surrogate, agreement = {}, {}, {}
    for task in tasks:
        prep, origin = preps[task.name]
        splits = read_json(prep / "splits.json")
        sub = frame[frame["task"] == task.name]
        space = spaces[task.name]
        task_meta[task.name] = {
            "number": task.number, "kind": task.kind, "modality": task.modality,
            "lesion": task.lesion, "origin": origin, "data": data_label(origin),
            "task": space.task.to_dict(),
            "space": space.to_dict(), "cases": {k: len(splits.get(k, [])) for k in
                                                ("train", "val", "test")},
            "prepared_sha256": prepared_sha256(prep)}
        archs = [Architecture.from_dict(json.loads(a)) for a in sub["arch"]]
        surrogate[task.name] = held_out_quality(space, archs, sub["metric"].tolist(),
                                                seed=config.seed)
        agreement[task.name] = seed_agreement(sub, seed=config.seed)
    return {
        "name": "MED-NAS-Bench", "config": config.model_dump(mode="json"),
        "schedule": config.train.model_dump(mode="json"),
        "seeds": {"genotypes": config.seed, "training": list(config.train_seeds),
                  "prepare": config.seed, "standins": config.seed},
        "seed_tau": agreement, "seed_tau_median": _median_tau(agreement),
        "versions": _versions(), "backend": backend,
        "devices": {m.profile.name: m.describe() for m in models},
        "latency_provenance": LATENCY_PROVENANCE, "tasks": task_meta,
        "genotypes": {k: g.to_dict() for k, g in sorted(genotypes.items())},
        "surrogate": surrogate, "columns": COLUMNS,
    }


def _median_tau(agreement: dict[str, dict[str, Any]]) -> float | None:
    """The median task's seed-to-seed τ (tasks whose seeds rank nothing left out)."""
    taus = [a["kendall_tau"] for a in agreement.values() if a["kendall_tau"] is not None]
    return float(np.median(taus)) if taus else None
