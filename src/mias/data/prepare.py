"""`mias prepare`: the paper's automatic data pre-processing, end to end.

discover → impute → plan → preprocess every case (parallel workers, each case decoded once)
→ for CT, the dataset-wide normalisation → demographic analysis → balanced split →
operator selection, written all-or-nothing into PREP.

Resume never corrupts: every item of every pass is written once, atomically, from its
inputs, and recorded with a fingerprint of those inputs (files' sizes and times, the plan,
the settings). A re-run after a crash redoes exactly the items whose inputs changed; the
CT pass reads the un-normalised arrays of the first pass, so it can never apply twice.
Bad input leaves nothing, and is found before the long work starts where it can be.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mias import __version__
from mias.atomic import check_output, clean_stale, resumable_dir, write_json, write_npz
from mias.data.demographics import analyse, render_html
from mias.data.label_stats import label_statistics
from mias.data.planning import (
    PreprocessPlan,
    check_input_shape,
    fit_ct_intensity,
    plan_preprocessing,
)
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
from mias.ledger import Ledger, file_stamp, fingerprint
from mias.output_guard import check_free_space
from mias.records import SCHEMA_VERSION, TASK_METRICS, CaseRecord, TaskKind, TaskSpec
from mias.validation import Seed

Progress = Callable[[str, int, int], None]
MapFn = Callable[..., Iterable[Any]]
CT_SAMPLE_PER_CASE = 20_000
WORK_DIR, LEDGER_DIR = ".work", ".ledger"
OUTPUT_FILES = ("manifest.json", "splits.json", "demographics.json", "demographics.html",
                "search_space.json")


class PrepareConfig(BaseModel):
    """Settings of one `mias prepare` run, validated; their hash names the resumable job.

    `skip_broken` leaves broken DICOM files out (listed) instead of stopping; it is part of
    the hash, since it changes which cases there are.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: TaskKind | None = None
    input_shape: tuple[int, ...] | None = None
    labels_csv: Path | None = None
    val_fraction: float = Field(0.2, ge=0, lt=1, description="give a share in [0, 1), e.g. 0.2")
    test_fraction: float = Field(0.0, ge=0, lt=1, description="give a share in [0, 1), e.g. 0.1")
    seed: Seed = 0
    workers: int = Field(2, ge=1, description="give a number of processes, at most the cores")
    target_metric: str | None = None
    beta: float = Field(1.0, gt=0, allow_inf_nan=False,
                        description="give a finite β > 0: 1 weighs precision and recall alike, "
                                    "2 favours recall")
    skip_broken: bool = False

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if shape is None:
            return None
        try:
            return check_input_shape(shape)
        except InputError as exc:
            raise ValueError(exc.problem) from exc

    @field_validator("workers")
    @classmethod
    def _workers(cls, workers: int) -> int:
        cores = os.cpu_count() or 1
        if workers > max(cores, 2):
            raise ValueError(f"{workers} workers on a machine with {cores} cores would only "
                             f"compete for them; use at most {max(cores, 2)}")
        return workers

    @model_validator(mode="after")
    def _fractions(self) -> PrepareConfig:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"--val-fraction + --test-fraction = "
                             f"{self.val_fraction + self.test_fraction:g} leaves no training "
                             "cases; keep their sum under 1")
        return self

    def fingerprint(self, data: Path) -> str:
        settings = self.model_dump(mode="json", exclude={"workers"})
        return fingerprint(settings, str(Path(data).resolve()), __version__)


@dataclass(frozen=True)
class _CaseJob:
    case: SourceCase
    label_names: tuple[str, ...]
    plan: PreprocessPlan
    target: Path
    ledger: Ledger
    key: str
    seed: int

    @property
    def item(self) -> str:
        return f"{self.case.record.case_id}.case"


def _process_case(job: _CaseJob) -> dict[str, Any]:
    """Decode one case once, preprocess it and save it; return what the manifest needs.

    For CT the intensity statistics are dataset-wide, so the resampled array is saved
    un-normalised with a foreground sample, and normalised in a second cheap pass.
    """
    import torch

    torch.set_num_threads(1)
    job.ledger.forget(job.item)
    rec = job.case.record
    loaded = load_case(job.case, job.label_names)
    stats = (label_statistics(loaded.label, rec.spacing, job.label_names)
             if loaded.label is not None else {})
    image, label, applied = preprocess_case(loaded.image, loaded.label, spacing=rec.spacing,
                                            attributes=rec.attributes, plan=job.plan)
    arrays = {"image": image.astype(np.float32)}
    if label is not None:
        arrays["label"] = label.astype(np.uint8)
    sample = None
    if job.plan.normalization == "ct":
        rng = np.random.default_rng([job.seed, int(hashlib.sha256(rec.case_id.encode())
                                                   .hexdigest()[:8], 16)])
        sample = intensity_sample(image, label, rng, CT_SAMPLE_PER_CASE)
        arrays["ct_sample"] = sample
    write_npz(job.target, arrays)
    result = {"case_id": rec.case_id, "nonfinite_voxels": loaded.nonfinite_voxels,
              "label_stats": stats, "applied": applied}
    job.ledger.finish(job.item, job.key, result)
    return result | {"ct_sample": sample}


def _finished_case(job: _CaseJob) -> dict[str, Any] | None:
    """The result of a case an earlier run finished from the same inputs, else None."""
    result = job.ledger.finished(job.item, job.key, job.target)
    if result is None:
        return None
    sample = None
    if job.plan.normalization == "ct":
        with np.load(job.target) as npz:
            sample = npz["ct_sample"]
    return result | {"ct_sample": sample}


@dataclass(frozen=True)
class _NormJob:
    case_id: str
    source: Path
    target: Path
    plan: PreprocessPlan
    ledger: Ledger
    key: str

    @property
    def item(self) -> str:
        return f"{self.case_id}.ct"


def _normalise_case(job: _NormJob) -> str:
    """Write one case's CT-normalised arrays from the first pass's un-normalised ones."""
    job.ledger.forget(job.item)
    with np.load(job.source) as npz:
        arrays = {"image": normalize(npz["image"], job.plan).astype(np.float32)}
        if "label" in npz.files:
            arrays["label"] = npz["label"]
    write_npz(job.target, arrays)
    job.ledger.finish(job.item, job.key, {})
    return job.case_id


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
    _check_classes(source, config)
    metrics = TASK_METRICS[kind]
    if config.target_metric is not None and config.target_metric not in metrics:
        raise InputError(None, f"--metric {config.target_metric!r} does not apply to a {kind} "
                               "task", f"choose one of: {', '.join(metrics)}")
    num_classes = 1 if kind == "regression" else len(source.label_names)
    return TaskSpec(
        kind=kind, spatial_dims=plan.spatial_dims, in_channels=len(source.channel_names),
        input_shape=tuple(plan.input_shape), num_classes=num_classes,
        label_names=tuple(source.label_names), modality=source.modality,
        spacing=tuple(plan.target_spacing), channel_names=tuple(source.channel_names),
        target_metric=config.target_metric or metrics[0], beta=config.beta,
    )


def _check_classes(source: DatasetSource, config: PrepareConfig) -> None:
    """A classifier needs two classes; a segmentation needs a foreground label."""
    names = source.label_names
    if source.kind == "classification" and len(names) < 2:
        raise InputError(config.labels_csv or source.root,
                         f"every case has the same class {names[0] if names else ''!r}: "
                         "there is nothing to tell apart",
                         "label cases of at least two classes, or use --task regression for "
                         "a numeric target")
    if source.kind == "segmentation" and len(names) < 2:
        raise InputError(source.root, "the masks hold background only: no structure to "
                                      "segment", "give masks with at least one foreground label")


@contextlib.contextmanager
def _worker_map(workers: int) -> Iterator[MapFn]:
    """A `map` over `workers` forked processes (the built-in `map` for one worker).

    One pool serves every pass and the report's figures, so it starts once.
    """
    if workers <= 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield pool.map


def _case_key(case: SourceCase, plan: PreprocessPlan, label_names: Sequence[str],
              seed: int) -> str:
    """Fingerprint of everything one case's arrays are made from."""
    files = [*case.image_paths, *([case.label_path] if case.label_path else [])]
    return fingerprint(__version__, case.record.to_dict(), [file_stamp(f) for f in files],
                       plan.to_dict(), list(label_names), seed)


def _run_jobs(jobs: Sequence[_CaseJob], map_fn: MapFn, progress: Progress | None
              ) -> dict[str, dict[str, Any]]:
    """Process every case not already finished, from the same inputs, by an earlier run."""
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        previous = _finished_case(job)
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


def _normalise_ct(jobs: Sequence[_CaseJob], plan: PreprocessPlan, cases_dir: Path,
                  results: dict[str, dict[str, Any]], map_fn: MapFn,
                  progress: Progress | None) -> PreprocessPlan:
    """Fit the dataset-wide CT statistics (samples in case order: the same floats every
    run) and write each case's normalised arrays, skipping those already written from the
    same first-pass arrays and statistics."""
    ids = [job.case.record.case_id for job in jobs]
    plan = fit_ct_intensity(plan, [results[i]["ct_sample"] for i in ids])
    stats = (plan.ct_clip, plan.ct_mean, plan.ct_std)
    norm_jobs = [_NormJob(i, job.target, cases_dir / f"{i}.npz", plan, job.ledger,
                          fingerprint(job.key, stats)) for i, job in zip(ids, jobs, strict=True)]
    todo = [j for j in norm_jobs if j.ledger.finished(j.item, j.key, j.target) is None]
    if progress:
        progress("normalise CT", len(ids) - len(todo), len(ids))
    for done, _ in enumerate(map_fn(_normalise_case, todo), start=len(ids) - len(todo) + 1):
        if progress:
            progress("normalise CT", done, len(ids))
    return plan


def _expected_bytes(task: TaskSpec, cases: int, plan: PreprocessPlan) -> int:
    voxels = math.prod(task.input_shape)
    per_case = voxels * (4 * task.in_channels + 1)
    return cases * per_case * (2 if plan.normalization == "ct" else 1)


def _keep_only(folder: Path, names: set[str]) -> None:
    """Delete from `folder` all but `names`: the work files of the passes, and what killed
    or earlier runs left there (cases no longer in the dataset, torn temporary files)."""
    for path in folder.iterdir():
        if path.name not in names:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def prepare(data: str | Path, out: str | Path, config: PrepareConfig | None = None, *,
            overwrite: bool = False, progress: Progress | None = None,
            warn: Callable[[str], None] | None = None) -> Path:
    """Prepare `data` into `out` (see the DESIGN contract for the files written).

    `warn` hears discovery's warnings as they come (see `discover`), so the user learns
    what was skipped even when a later check stops the run.
    """
    from mias.space import select_search_space

    config = config or PrepareConfig()
    data, out = Path(data), Path(out)
    inputs = (data, config.labels_csv)
    check_output(out, overwrite=overwrite, inputs=inputs)
    clean_stale(out)
    source = discover(data, task=config.task, labels_csv=config.labels_csv,
                      skip_broken=config.skip_broken, warn=warn)
    records = impute([c.record for c in source.cases])
    cases = [replace(c, record=r) for c, r in zip(source.cases, records, strict=True)]
    plan = plan_preprocessing(records, spatial_dims=_spatial_dims(source),
                              input_shape=config.input_shape)
    task = _task_spec(source, plan, config)
    space = select_search_space(task)
    check_free_space(out, _expected_bytes(task, len(cases), plan))
    with resumable_dir(out, config.fingerprint(data), overwrite=overwrite, inputs=inputs,
                       stage="prepare") as (tmp, _):
        cases_dir, work_dir = tmp / "cases", tmp / WORK_DIR
        cases_dir.mkdir(exist_ok=True)
        ledger = Ledger(tmp / LEDGER_DIR)
        first_pass_dir = work_dir if plan.normalization == "ct" else cases_dir
        labels = tuple(source.label_names)
        jobs = [_CaseJob(c, labels, plan, first_pass_dir / f"{c.record.case_id}.npz", ledger,
                         _case_key(c, plan, labels, config.seed), config.seed) for c in cases]
        with _worker_map(config.workers) as map_fn:
            results = _run_jobs(jobs, map_fn, progress)
            if plan.normalization == "ct":
                plan = _normalise_ct(jobs, plan, cases_dir, results, map_fn, progress)
            records = [replace(r, nonfinite_voxels=int(results[r.case_id]["nonfinite_voxels"]))
                       for r in records]
            _write_records(tmp, source, task, plan, records, results, config, map_fn)
        write_json(tmp / "search_space.json", space.to_dict())
        _keep_only(cases_dir, {f"{r.case_id}.npz" for r in records})
        _keep_only(tmp, {*OUTPUT_FILES, cases_dir.name, *(p.name for p in tmp.glob(".mias-*"))})
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
