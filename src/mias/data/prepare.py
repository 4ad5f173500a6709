"""`mias prepare`: the paper's automatic data pre-processing, end to end.

discover → impute → plan → preprocess every case (parallel workers, each case decoded once)
→ demographic analysis → balanced split → operator selection, written all-or-nothing into
PREP. A crash keeps finished cases for a resumed identical run; bad input leaves nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mias import __version__
from mias.atomic import read_json, resumable_dir, write_json
from mias.data.demographics import analyse, render_html
from mias.data.label_stats import label_statistics
from mias.data.planning import PreprocessPlan, fit_ct_intensity, plan_preprocessing
from mias.data.readers import (
    UNLABELED,
    DatasetSource,
    SourceCase,
    discover,
    impute,
    load_case,
)
from mias.data.split import label_strata, split_cases
from mias.data.transforms import intensity_sample, normalize, preprocess_case
from mias.errors import InputError
from mias.records import SCHEMA_VERSION, CaseRecord, TaskSpec

Progress = Callable[[str, int, int], None]
MapFn = Callable[..., Iterable[Any]]
DEFAULT_METRIC = {"segmentation": "dice", "classification": "f_beta", "regression": "mae"}
CT_SAMPLE_PER_CASE = 20_000


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of one `mias prepare` run; their hash names the resumable partial output."""

    task: str | None = None
    input_shape: tuple[int, ...] | None = None
    labels_csv: Path | None = None
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    workers: int = 2
    target_metric: str | None = None
    beta: float = 1.0

    def fingerprint(self, data: Path) -> str:
        blob = json.dumps({k: str(v) for k, v in self.__dict__.items() if k != "workers"}
                          | {"data": str(Path(data).resolve()), "version": __version__},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class _CaseJob:
    case: SourceCase
    label_names: tuple[str, ...]
    plan: PreprocessPlan
    out_dir: Path
    seed: int


def _process_case(job: _CaseJob) -> dict[str, Any]:
    """Decode one case once, preprocess it and save it; return what the manifest needs.

    For CT the intensity statistics are dataset-wide, so the resampled array is saved
    un-normalised with a foreground sample, and normalised in a second cheap pass.
    """
    import torch

    torch.set_num_threads(1)
    rec = job.case.record
    loaded = load_case(job.case, job.label_names)
    stats = (label_statistics(loaded.label, rec.spacing, job.label_names)
             if loaded.label is not None else {})
    image, label, applied = preprocess_case(loaded.image, loaded.label, spacing=rec.spacing,
                                            attributes=rec.attributes, plan=job.plan)
    sample = None
    if job.plan.normalization == "ct":
        rng = np.random.default_rng([job.seed, int(hashlib.sha256(rec.case_id.encode())
                                                   .hexdigest()[:8], 16)])
        sample = intensity_sample(image, label, rng, CT_SAMPLE_PER_CASE)
    arrays = {"image": image.astype(np.float32)}
    if label is not None:
        arrays["label"] = label.astype(np.uint8)
    target = job.out_dir / f"{rec.case_id}.npz"
    tmp = target.with_name(f".{target.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, target)
    result = {"case_id": rec.case_id, "nonfinite_voxels": loaded.nonfinite_voxels,
              "label_stats": stats, "applied": applied, "ct_sample": sample}
    write_json(job.out_dir / f".{rec.case_id}.done.json",
               {k: v for k, v in result.items() if k != "ct_sample"})
    if sample is not None:
        np.save(job.out_dir / f".{rec.case_id}.ctsample.npy", sample)
    return result


def _resume(out_dir: Path, case_id: str) -> dict[str, Any] | None:
    done = out_dir / f".{case_id}.done.json"
    if not (done.exists() and (out_dir / f"{case_id}.npz").exists()):
        return None
    result = read_json(done)
    sample = out_dir / f".{case_id}.ctsample.npy"
    result["ct_sample"] = np.load(sample) if sample.exists() else None
    return result


def _spatial_dims(source: DatasetSource) -> int:
    dims = {len(c.record.shape) for c in source.cases}
    if len(dims) != 1:
        raise InputError(source.root, f"cases mix {sorted(dims)}-dimensional images",
                         "keep 2D radiographs and 3D volumes in separate datasets")
    return dims.pop()


def _task_spec(source: DatasetSource, plan: PreprocessPlan, config: PrepareConfig) -> TaskSpec:
    kind = source.kind
    if kind == UNLABELED:
        raise InputError(source.root, "the dataset has no labels (no masks, no label table)",
                         "add segmentation masks, or pass --labels TABLE.csv with columns "
                         "case,label and --task classification|regression")
    num_classes = 1 if kind == "regression" else len(source.label_names)
    return TaskSpec(
        kind=kind, spatial_dims=plan.spatial_dims, in_channels=len(source.channel_names),
        input_shape=tuple(plan.input_shape), num_classes=num_classes,
        label_names=tuple(source.label_names), modality=source.modality,
        spacing=tuple(plan.target_spacing), channel_names=tuple(source.channel_names),
        target_metric=config.target_metric or DEFAULT_METRIC[kind], beta=config.beta,
    )


@contextlib.contextmanager
def _worker_map(workers: int) -> Iterator[MapFn]:
    """A `map` over `workers` forked processes (the built-in `map` for one worker).

    One pool serves both the per-case work and the report's figures, so it starts once.
    """
    if workers <= 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield pool.map


def _run_jobs(jobs: Sequence[_CaseJob], map_fn: MapFn, progress: Progress | None,
              out_dir: Path) -> dict[str, dict[str, Any]]:
    """Process every case not already finished by an earlier, crashed run."""
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        previous = _resume(out_dir, job.case.record.case_id)
        if previous is None:
            todo.append(job)
        else:
            results[job.case.record.case_id] = previous
    total = len(jobs)
    if progress:
        progress("preprocess", len(results), total)
    for res in map_fn(_process_case, todo):
        results[res["case_id"]] = res
        if progress:
            progress("preprocess", len(results), total)
    return results


def _normalise_ct(cases_dir: Path, plan: PreprocessPlan, case_ids: Sequence[str]) -> None:
    for case_id in case_ids:
        path = cases_dir / f"{case_id}.npz"
        with np.load(path) as npz:
            arrays = dict(npz)
        arrays["image"] = normalize(arrays["image"], plan).astype(np.float32)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)


def prepare(data: str | Path, out: str | Path, config: PrepareConfig | None = None, *,
            overwrite: bool = False, progress: Progress | None = None) -> Path:
    """Prepare `data` into `out` (see the DESIGN contract for the files written)."""
    from mias.space import select_search_space

    config = config or PrepareConfig()
    data, out = Path(data), Path(out)
    source = discover(data, task=config.task, labels_csv=config.labels_csv)
    records = impute([c.record for c in source.cases])
    cases = [replace(c, record=r) for c, r in zip(source.cases, records, strict=True)]
    plan = plan_preprocessing(records, spatial_dims=_spatial_dims(source),
                              input_shape=config.input_shape)
    with resumable_dir(out, config.fingerprint(data), overwrite=overwrite) as (tmp, _):
        cases_dir = tmp / "cases"
        cases_dir.mkdir(exist_ok=True)
        jobs = [_CaseJob(c, tuple(source.label_names), plan, cases_dir, config.seed)
                for c in cases]
        with _worker_map(config.workers) as map_fn:
            results = _run_jobs(jobs, map_fn, progress, cases_dir)
            if plan.normalization == "ct":
                samples = [r["ct_sample"] for r in results.values()
                           if r["ct_sample"] is not None]
                plan = fit_ct_intensity(plan, samples)
                _normalise_ct(cases_dir, plan, [c.record.case_id for c in cases])
            records = [replace(r, nonfinite_voxels=int(results[r.case_id]["nonfinite_voxels"]))
                       for r in records]
            task = _task_spec(source, plan, config)
            _write_records(tmp, source, task, plan, records, results, config, map_fn)
        space = select_search_space(task)
        write_json(tmp / "search_space.json", space.to_dict())
        for marker in cases_dir.glob(".*"):
            marker.unlink()
    return out


def _write_records(tmp: Path, source: DatasetSource, task: TaskSpec, plan: PreprocessPlan,
                   records: Sequence[CaseRecord], results: dict[str, dict[str, Any]],
                   config: PrepareConfig, map_fn: MapFn) -> None:
    label_stats = {r.case_id: results[r.case_id]["label_stats"] for r in records}
    strata = label_strata(records, kind=task.kind, label_stats=label_stats)
    split = split_cases(records, label_strata=strata, val_fraction=config.val_fraction,
                        test_fraction=config.test_fraction, seed=config.seed)
    write_json(tmp / "splits.json", {"schema_version": SCHEMA_VERSION, "seed": config.seed}
               | split.to_dict())
    manifest_cases = []
    for rec in records:
        entry = rec.to_dict()
        entry["array"] = f"cases/{rec.case_id}.npz"
        entry["preprocessing"] = results[rec.case_id]["applied"]
        entry["label_stats"] = label_stats[rec.case_id]
        manifest_cases.append(entry)
    write_json(tmp / "manifest.json", {
        "schema_version": SCHEMA_VERSION, "mias_version": __version__,
        "source_format": source.format, "task": task.to_dict(),
        "preprocessing": plan.to_dict(), "cases": manifest_cases,
        "warnings": list(source.warnings), **source.manifest_fields(),
    })
    report = analyse(records, kind=task.kind, label_names=task.label_names,
                     label_stats=label_stats, split=split.splits)
    write_json(tmp / "demographics.json", report)
    render_html(report, tmp / "demographics.html", map_fn=map_fn)
