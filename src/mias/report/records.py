"""The run's records read back from disk: everything the validation plan is made of.

The report reads files only (DESIGN §1), never live objects of earlier stages, so it can be
rebuilt later from the run directory alone. PREP is taken from `RUN/prep` when the run holds
it (as `mias run` writes it), else from the absolute path `RUN/search/result.json` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mias.atomic import read_json
from mias.errors import InputError
from mias.provenance import check_same_arch, check_same_prep, prep_fingerprint
from mias.record_schemas import (
    EvaluationRecord,
    FinalMetricsRecord,
    ParityRecord,
    ReportedSearchRecord,
)
from mias.records import (
    EVAL_SCHEMA_VERSION,
    METRICS_SCHEMA_VERSION,
    PARITY_SCHEMA_VERSION,
    RESULT_SCHEMA_VERSION,
)
from mias.space import Architecture, SearchSpace
from mias.validation import read_record

PIPELINE = "pipeline.json"
REQUIRED = (("search/result.json", "mias search PREP --target DEVICE --out RUN"),
            ("final/metrics.json", "mias train RUN"),
            ("eval/metrics.json", "mias evaluate RUN"),
            ("export/parity.json", "mias export RUN"))
# The records after the search: (file, schema version, the command that rewrites it, shape)
_FINAL, _EVAL, _PARITY = "final/metrics.json", "eval/metrics.json", "export/parity.json"
_STAGES = ((_FINAL, METRICS_SCHEMA_VERSION, "mias train", FinalMetricsRecord),
           (_EVAL, EVAL_SCHEMA_VERSION, "mias evaluate", EvaluationRecord),
           (_PARITY, PARITY_SCHEMA_VERSION, "mias export", ParityRecord))


@dataclass(frozen=True)
class RunRecords:
    """What each stage wrote, as plain data (JSON dicts and Parquet rows)."""

    run: Path
    prep: Path
    result: dict[str, Any]
    archive: list[dict[str, Any]]
    final: dict[str, Any]
    evaluation: dict[str, Any]
    parity: dict[str, Any]
    onnx_sizes: dict[str, int]
    spec: dict[str, Any]
    manifest: dict[str, Any]
    demographics: dict[str, Any]
    splits: dict[str, Any]
    space: SearchSpace
    rank: dict[str, Any] | None
    pipeline: dict[str, Any] | None

    @property
    def arch(self) -> Architecture:
        return Architecture.from_dict(self.result["arch"])

    @property
    def task(self) -> dict[str, Any]:
        return self.manifest["task"]

    @classmethod
    def load(cls, run: str | Path) -> RunRecords:
        run = Path(run)
        for rel, command in REQUIRED:
            if not (run / rel).is_file():
                raise InputError(run / rel, "this stage's record is missing, so the "
                                 "validation plan cannot be written",
                                 f"run `{command}` first (or `mias run` for the whole job)")
        result = read_record(run / "search" / "result.json", RESULT_SCHEMA_VERSION,
                             "mias search", ReportedSearchRecord)
        prep = _prep(run, result)
        splits = read_json(prep / "splits.json")
        check_same_prep(prep_fingerprint(prep, splits), result.get("data_fingerprint"),
                        prep=prep, record=run / "search" / "result.json",
                        rerun=f"run the whole job again: `mias run DATA --out {run} "
                              "--overwrite`")
        export = run / "export"
        stages = {}
        for rel, version, command, schema in _STAGES:
            stages[rel] = read_record(run / rel, version, f"{command} RUN --overwrite", schema)
            check_same_arch(result["arch_id"], stages[rel].get("arch_id"), record=run / rel,
                            rerun=f"re-run `{command} {run} --overwrite` and the stages "
                                  "after it")
        return cls(
            run=run, prep=prep, result=result, archive=_archive(run / "search"),
            final=stages[_FINAL], evaluation=stages[_EVAL], parity=stages[_PARITY],
            onnx_sizes={p.name: p.stat().st_size for p in sorted(export.glob("*.onnx"))},
            spec=_spec(export / "model.onnx"),
            manifest=read_json(prep / "manifest.json"),
            demographics=read_json(prep / "demographics.json"),
            splits=splits,
            space=SearchSpace.load(prep / "search_space.json"),
            rank=_optional(run / "rank" / "tau.json"),
            pipeline=_optional(run / PIPELINE))


def _prep(run: Path, result: dict[str, Any]) -> Path:
    for candidate in (run / "prep", Path(str(result.get("prep", "")))):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise InputError(run / "search" / "result.json", "the prepared data this run was "
                     f"searched on ({result.get('prep')}) is gone",
                     "restore PREP at that path (or copy it to RUN/prep) and rebuild")


def _archive(search: Path) -> list[dict[str, Any]]:
    """Every path the search evaluated (metric, latency), for the Pareto plot."""
    path = search / "archive.parquet"
    if not path.is_file():
        return []
    import pandas as pd

    rows = pd.read_parquet(path).to_dict("records")
    return [{"arch_id": str(r["arch_id"]), "metric": float(r["metric"]),
             "latency_ms": float(r["latency_ms"])} for r in rows]


def _spec(model: Path) -> dict[str, Any]:
    """The preprocessing and attribute ranges stored in `model.onnx` (what predict checks)."""
    from mias.export.spec import read_spec

    spec = read_spec(model)
    return {"task": spec.task, "plan": spec.plan, "inference": spec.inference,
            "ranges": spec.ranges, "model": spec.model}


def _optional(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.is_file() else None
