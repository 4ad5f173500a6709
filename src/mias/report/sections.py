"""Sections 1, 3, 4 and 6 of the validation plan as plain data, from the run's records.

Only aggregates leave here: counts, ranges and pseudonymous fingerprints, never a case's
own attributes, a path of the source data or anything a reader put in a DICOM header.
"""

from __future__ import annotations

from typing import Any

import yaml

from mias.hardware.devices import resolve_device
from mias.report.records import RunRecords

KIND_WORDS = {"segmentation": "segmentation of", "classification": "classification into",
              "regression": "regression of"}


def _span(values: list[float] | None, unit: str = "") -> str:
    if not values:
        return "not recorded"
    low, high = values
    return f"{low:g}–{high:g}{unit}"


def _axes(bounds: list[list[float]] | None, unit: str = "") -> str:
    if not bounds:
        return "not recorded"
    low, high = bounds
    return " × ".join(f"{a:g}–{b:g}" for a, b in zip(low, high, strict=True)) + unit


def intended_use(rec: RunRecords) -> dict[str, Any]:
    task, demo = rec.task, rec.demographics
    labels = [n for n in task["label_names"] if n != "background"] or task["label_names"]
    target = resolve_device(rec.result["target"])
    age = demo.get("age") or {}
    sexes = (demo.get("sex") or {}).get("counts", {})
    not_for = [
        "autonomous diagnosis or treatment decisions: the output is an aid to a qualified "
        "reader, who reviews every result",
        f"images other than {task['modality']} "
        f"{task['spatial_dims']}D scans like the training data, or other anatomy or tasks",
        "scans outside the attribute ranges of section 4 (mias predict warns on each)",
    ]
    if age.get("min") is not None and age["min"] >= 18:
        not_for.append(f"patients under 18: none were in the data (youngest {age['min']:g})")
    data_note = (rec.pipeline or {}).get("data_note")
    if data_note:
        not_for.insert(0, f"any clinical use: {data_note}")
    return {
        "task": f"{task['kind']}: {KIND_WORDS[task['kind']]} {', '.join(labels)} on "
                f"{task['modality']} {task['spatial_dims']}D images "
                f"({task['in_channels']} channel(s): {', '.join(task['channel_names'])})",
        "metric": rec.result["metric"]["label"], "input_shape": "×".join(
            map(str, task["input_shape"])),
        "population": {"cases": demo.get("n_cases"), "subjects": demo.get("n_subjects"),
                       "ages": _span([age["min"], age["max"]], " years")
                       if age.get("min") is not None else "not recorded",
                       "median_age": age.get("median"),
                       "sexes": ", ".join(f"{k} {v}" for k, v in sexes.items()),
                       "modality": ", ".join(f"{k} {v}" for k, v in
                                             (demo.get("modality") or {}).items())},
        "device": {"name": target.name, "description": target.description,
                   "cpu": target.cpu, "runtime": "ONNX Runtime (fp32 ONNX, opset 17)"},
        "not_for": not_for, "data_note": data_note,
    }


def training_data(rec: RunRecords) -> dict[str, Any]:
    demo, splits = rec.demographics, rec.splits
    split_rows = []
    for name, entry in (demo.get("split") or {}).items():
        split_rows.append({"split": name, "cases": entry.get("cases"),
                           "subjects": entry.get("subjects"),
                           "age_bins": ", ".join(f"{k}: {v}" for k, v in
                                                 entry.get("age_bin", {}).items()),
                           "sexes": ", ".join(f"{k}: {v}" for k, v in
                                              entry.get("sex", {}).items())})
    missing = [{"attribute": a, "missing": f"{m['missing_rate']:.0%}",
                "imputed": f"{m['imputed_rate']:.0%}",
                "rules": ", ".join(f"{r} ({n})" for r, n in m.get("rules", {}).items()) or "—"}
               for a, m in (demo.get("missing") or {}).items()]
    deid = rec.manifest.get("deidentification") or {}
    return {
        "findings": demo.get("findings", []), "splits": split_rows, "missing": missing,
        "balance": {"max_deviation": splits.get("max_deviation"),
                    "tolerance": splits.get("tolerance"),
                    "within": splits.get("within_tolerance"), "seed": splits.get("seed")},
        "fingerprint": rec.result.get("data_fingerprint", "not recorded"),
        "source_format": rec.manifest.get("source_format"),
        "deidentification": f"{deid.get('standard', '')} {deid.get('profile', '')}".strip()
                            or "not recorded",
        "image": None,
    }


def validation_requirements(rec: RunRecords) -> dict[str, Any]:
    """The ranges stored in model.onnx, which `mias predict` checks every scan against."""
    r = rec.spec.get("ranges") or {}

    def listed(key: str) -> str:
        return ", ".join(r[key]) if r.get(key) else "not recorded"

    rows = [
        ("age", _span(r.get("age"), " years"), "warns when a scan's age is outside"),
        ("sex", listed("sex"), "warns on a sex not in the list"),
        ("modality", listed("modality"), "warns on another modality"),
        ("scanner manufacturer", listed("manufacturer"), "warns on another manufacturer"),
        ("scanner model", listed("manufacturer_model"), "warns on another model"),
        ("field strength (T)", _span(r.get("field_strength")), "warns outside (±1%)"),
        ("voxel spacing (mm, per axis)", _axes(r.get("spacing")), "warns outside (±1%)"),
        ("image size (voxels, per axis)", _axes(r.get("shape")), "warns outside"),
        ("mean raw intensity (per channel)", _axes(r.get("intensity_mean")),
         "warns outside (±5%)"),
    ]
    unrecorded = [name for name, value, _ in rows if value == "not recorded"]
    return {"rows": [{"attribute": n, "range": v, "check": c if v != "not recorded" else
                      "cannot be checked"} for n, v, c in rows],
            "unrecorded": unrecorded, "n_cases": r.get("n_cases"),
            "covered_by": r.get("covered_by", "training split")}


def reproducibility(rec: RunRecords) -> dict[str, Any]:
    pipeline = rec.pipeline or {}
    versions = pipeline.get("versions") or {"mias": rec.result.get("mias_version")}
    commands = pipeline.get("commands") or _equivalent_commands(rec)
    return {
        "versions": sorted(versions.items()),
        "versions_source": "recorded by mias run" if pipeline.get("versions") else
                           "mias version recorded by the search (library versions were not "
                           "recorded: run the pipeline with mias run to record them)",
        "seeds": [("search, training, bootstrap", rec.result.get("seed")),
                  ("split", rec.splits.get("seed")),
                  ("evaluation bootstrap", rec.evaluation.get("bootstrap_seed"))],
        "fingerprint": rec.result.get("data_fingerprint"),
        "arch_id": rec.result["arch_id"], "torch_device": rec.result.get("device"),
        "config": yaml.safe_dump(rec.result["config"], sort_keys=True, width=96,
                                 default_flow_style=None, allow_unicode=True),
        "commands": commands,
        "commands_source": "as run by mias run" if pipeline.get("commands") else
                           "equivalent commands, reconstructed from the records",
    }


def _equivalent_commands(rec: RunRecords) -> list[str]:
    r = rec.result
    budget = (r.get("schedule") or {}).get("latency_budget_ms")
    search = (f"mias search PREP --target {r['target']} --out RUN --config CONFIG.yaml "
              f"--seed {r['seed']} --device {r.get('device', 'auto')}"
              + (f" --latency-budget {budget:g}" if budget is not None else ""))
    return ["mias prepare DATA --out PREP", search,
            f"mias train RUN --init {rec.final.get('init', 'scratch')}", "mias evaluate RUN",
            "mias export RUN" + (" --int8" if "int8" in rec.parity else ""), "mias report RUN"]
