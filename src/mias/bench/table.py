"""The benchmark table on disk: one Parquet file, rows × columns plus a metadata record.

One row per (task, architecture); its training figures are means over the training seeds,
each seed's metric and learning curve beside them. Device columns carry the device name
after a double underscore (`latency_ms__rpi3`, `latency_source__rpi3`, …); per-structure
figures are JSON text. The metadata (schema version, search spaces, schedule, seeds and
their agreement, versions, devices and how each latency was obtained, surrogate quality)
travels inside the Parquet file's key-value metadata, so a table is self-describing.

A table is citable: the metadata records its version and the SHA-256 of its content, and a
table whose content no longer matches is refused on load, so every figure read from it is
the figure that was built. The checksum covers a canonical serialisation of the columns,
not the file's bytes, because the metadata lives in the same file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mias.atomic import atomic_file
from mias.bench.cells import CELL_SCHEMA_VERSION
from mias.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

TABLE_SCHEMA_VERSION = 2  # 2: several training seeds per row, per-epoch curves
#: What a table's figures mean: its layout (schema) and how its cells were computed (cell
#: schema), so two tables with the same version can be compared figure for figure.
TABLE_VERSION = f"{TABLE_SCHEMA_VERSION}.{CELL_SCHEMA_VERSION}"
CHECKSUM_BASIS = ("SHA-256 of the compact JSON of {column: values in row order} with columns "
                  "sorted by name (nulls as null, floats at full precision)")
REBUILD = ("rebuild it with `mias bench build`, or restore the original file (the shipped "
           "table: reinstall mias)")
META_KEY = b"mednasbench"
COLUMNS: dict[str, str] = {
    "task": "benchmark task name",
    "arch_id": "Architecture.id in the task's search space",
    "genotype_id": "task-independent design the architecture was projected from",
    "arch": "Architecture.to_dict() as JSON",
    "depth": "number of down-samplings",
    "metric": "the task's target metric on the validation split (Dice or F-beta), mean over "
              "the training seeds",
    "metric_sd": "standard deviation of `metric` over the training seeds",
    "metric_by_seed": "JSON: {seed: metric}",
    "curve_by_seed": "JSON: {seed: [validation metric after each epoch of the schedule]}",
    "training_seeds": "JSON: the training seeds the row's figures are means over",
    "metric_name": "label of `metric`",
    "dice": "mean foreground Dice (MONAI) by nnU-Net's convention: a structure absent from "
            "both prediction and truth is left out of that case's mean, one present on one "
            "side only scores 0",
    "jaccard": "mean foreground Jaccard, Dice / (2 − Dice) per case and structure",
    "hd95_mm": "mean 95th-percentile Hausdorff distance in mm (NaN-skipping)",
    "dice_by_structure": "JSON: Dice per label (each figure: mean over seeds)",
    "jaccard_by_structure": "JSON: Jaccard per label",
    "hd95_by_structure": "JSON: HD95 (mm) per label",
    "empty_cases_by_structure": "JSON: per label, validation cases left out of its mean "
                                "(absent from both prediction and truth), mean over seeds",
    "detection_precision": "case-level detection precision (lesion tasks, detection)",
    "detection_recall": "case-level detection recall",
    "detection_f1": "case-level detection F1",
    "detection_accuracy": "case-level detection accuracy",
    "params": "trainable parameters",
    "flops": "forward FLOPs at the input shape, batch 1 (2 × MACs)",
    "peak_memory_mib": "estimated peak inference memory: fp32 activations + weights",
    "train_seconds": "wall time of the fixed training schedule (mean over seeds)",
    "train_steps": "SGD steps taken",
    "diverged": "training loss became non-finite (any seed)",
    "latency_ms__DEVICE": "latency on DEVICE (ms)",
    "latency_source__DEVICE": "measured / predicted / estimated",
    "latency_label__DEVICE": "provenance in words",
    "energy_mj__DEVICE": "energy per inference (mJ) = latency × load power",
    "energy_source__DEVICE": "source of the energy figure",
    "memory_fits__DEVICE": "peak memory within the device's RAM",
}


def content_sha256(table: pa.Table) -> str:
    """Checksum of the table's content alone (see `CHECKSUM_BASIS`), so the metadata that
    records it can live in the same file."""
    content = {name: table.column(name).to_pylist() for name in sorted(table.column_names)}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def with_metadata(table: pa.Table, meta: dict[str, Any]) -> pa.Table:
    """`table` carrying `meta` plus the schema version, table version and content checksum."""
    record = {**meta, "schema_version": TABLE_SCHEMA_VERSION,
              "table_version": meta.get("table_version", TABLE_VERSION),
              "content_sha256": content_sha256(table), "checksum": CHECKSUM_BASIS}
    return table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          META_KEY: json.dumps(record, sort_keys=True)})


def write_table(frame: pd.DataFrame, meta: dict[str, Any], path: str | Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = with_metadata(pa.Table.from_pandas(frame, preserve_index=False), meta)
    path = Path(path)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "benchmark table not found",
                         "build one with `mias bench build --out PATH`, or omit the path "
                         "to use the shipped table")
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[META_KEY])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"not a MED-NAS-Bench table ({exc})",
                         "rebuild it with `mias bench build`") from exc
    if meta.get("schema_version") != TABLE_SCHEMA_VERSION:
        raise InputError(path, f"table schema_version {meta.get('schema_version')!r}, this "
                         f"mias reads {TABLE_SCHEMA_VERSION}", "rebuild it with this version")
    check_content(table, meta, path)
    return table.to_pandas(), meta


def check_content(table: pa.Table, meta: dict[str, Any], path: Path) -> None:
    """Refuse a table without a checksum, or whose content no longer matches it."""
    recorded = meta.get("content_sha256")
    if not recorded:
        raise InputError(path, "table records no content checksum (written before tables "
                         "were checksummed), so its figures cannot be vouched for", REBUILD)
    found = content_sha256(table)
    if found != recorded:
        raise InputError(path, f"table content was modified after it was built: SHA-256 "
                         f"{found[:12]}… does not match the recorded {recorded[:12]}…", REBUILD)
