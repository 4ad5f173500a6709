"""A generated corpus of broken inputs: one builder per class of mistake a new user makes.

Each builder gets an empty workspace and a pristine synthetic dataset, damages a copy, and
returns the command line plus what its error must name. The tests run every entry and
check the same promises: exit code 2, the culprit named, no traceback, nothing written
(not even a parent folder), nothing of the input lost, and leftovers of killed runs gone.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mias.atomic import MARKER


@dataclass(frozen=True)
class Broken:
    """One broken run: `argv` for `mias`, the text its error must contain, and the paths
    that must vanish (stale leftovers of earlier killed runs)."""

    argv: tuple[str, ...]
    names: str
    removed: tuple[Path, ...] = ()


Builder = Callable[[Path, Path], Broken]
CORPUS: dict[str, Builder] = {}


def builder(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        CORPUS[name] = fn
        return fn
    return register


def copy_dataset(src: Path, ws: Path, name: str = "D") -> Path:
    data = ws / name
    shutil.copytree(src, data)
    return data


def fresh_out(ws: Path) -> Path:
    """An output under folders that do not exist yet: a failed run must not leave them."""
    return ws / "runs" / "today" / "P"


def prepare(data: Path, out: Path, *extra: str) -> tuple[str, ...]:
    return ("prepare", str(data), "--out", str(out), *extra)


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under `root` (folders too) with the hash of its content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "folder" for p in sorted(root.rglob("*"))}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- outputs that would lose data ----------------------------------------------------

@builder("overwrite-the-input")
def _overwrite_input(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)                 # a synthetic set: it carries MIAS's marker
    assert (data / MARKER).exists()
    return Broken(prepare(data, data, "--overwrite"), "input")


@builder("overwrite-a-parent-of-the-input")
def _overwrite_parent(src: Path, ws: Path) -> Broken:
    study = ws / "study"
    study.mkdir()
    (study / MARKER).write_text('{"stage": "prepare"}')   # even if it looks like an output
    (study / "notes.txt").write_text("the radiologist's notes")
    data = copy_dataset(src, study)
    return Broken(prepare(data, study, "--overwrite"), "contains the input")


@builder("output-inside-the-input")
def _inside_input(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    return Broken(prepare(data, data / "prep"), "lies inside the input")


@builder("overwrite-a-folder-mias-did-not-write")
def _overwrite_foreign(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    mine = ws / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("years of work")
    return Broken(prepare(data, mine, "--overwrite"), "not a mias output")


# --- text in unexpected encodings ------------------------------------------------------

@builder("dataset-json-in-latin-1")
def _dataset_json_latin1(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    meta = json.loads((data / "dataset.json").read_text())
    meta["description"] = "Hippocampus, Universit\u00e9 de Gen\u00e8ve"
    (data / "dataset.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="latin-1")
    return Broken(prepare(data, fresh_out(ws)), "dataset.json")


@builder("label-table-in-utf-16")
def _labels_utf16(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    table = data / "labels_volume.csv"
    table.write_text(table.read_text(), encoding="utf-16")
    return Broken(prepare(data, fresh_out(ws), "--labels", str(table), "--task", "regression"),
                  table.name)


@builder("label-table-header-only")
def _labels_header_only(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    table = data / "empty.csv"
    table.write_text("case,label\n")
    return Broken(prepare(data, fresh_out(ws), "--labels", str(table)), table.name)


@builder("label-table-in-latin-1")
def _labels_latin1(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    table = data / "findings.csv"
    rows = [line.split(",")[0] for line in (data / "labels_volume.csv").read_text().split()[1:]]
    labels = ("normal", "l\u00e9sion")
    table.write_text("case,label\n" + "".join(f"{c},{labels[i % 2]}\n" for i, c in enumerate(rows)),
                     encoding="latin-1")
    return Broken(prepare(data, fresh_out(ws), "--labels", str(table)), table.name)


# --- impossible settings -----------------------------------------------------------------

# Settings no run can honour, as `prepare` options: (name, options, what the error names).
BAD_SETTINGS = (
    ("input-shape-too-large", ("--input-shape", "4096x4096x4096"), "--input-shape"),
    ("input-shape-the-network-cannot-take", ("--input-shape", "3x3x3"), "input shape"),
    ("negative-seed-prepare", ("--seed", "-1"), "--seed"),
    ("beta-nan", ("--beta", "nan"), "--beta"),
    ("beta-negative", ("--beta", "-0.5"), "--beta"),
    ("unknown-metric", ("--metric", "accuracy"), "--metric"),
    ("fractions-leave-no-training-cases", ("--val-fraction", "0.6", "--test-fraction", "0.5"),
     "--val-fraction"),
)


def _bad_setting(options: tuple[str, ...], names: str) -> Builder:
    def build(src: Path, ws: Path) -> Broken:
        return Broken(prepare(copy_dataset(src, ws), fresh_out(ws), *options), names)
    return build


for _name, _options, _names in BAD_SETTINGS:
    builder(_name)(_bad_setting(_options, _names))


@builder("negative-seed-synth")
def _negative_seed_synth(src: Path, ws: Path) -> Broken:
    return Broken(("synth", "hippocampus", "--out", str(fresh_out(ws)), "--seed", "-5"), "seed")


@builder("classification-table-with-one-class")
def _one_class(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    table = _one_class_table(data, ws)
    return Broken(prepare(data, fresh_out(ws), "--labels", str(table)), table.name)


def _one_class_table(data: Path, ws: Path) -> Path:
    table = ws / "labels.csv"
    rows = [line.split(",")[0] for line in (data / "labels_volume.csv").read_text().split()[1:]]
    table.write_text("case,label\n" + "".join(f"{c},healthy\n" for c in rows))
    return table


# --- outputs that cannot be written ------------------------------------------------------

@builder("out-under-a-file-prepare")
def _out_under_file(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    (ws / "report.pdf").write_bytes(b"%PDF")
    return Broken(prepare(data, ws / "report.pdf" / "P"), "report.pdf")


@builder("out-under-a-file-synth")
def _out_under_file_synth(src: Path, ws: Path) -> Broken:
    (ws / "report.pdf").write_bytes(b"%PDF")
    return Broken(("synth", "hippocampus", "--out", str(ws / "report.pdf" / "S")), "report.pdf")


@builder("out-unwritable-prepare")
def _out_unwritable(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    return Broken(prepare(data, Path("/proc/mias-out")), "/proc/mias-out")


@builder("out-unwritable-synth")
def _out_unwritable_synth(src: Path, ws: Path) -> Broken:
    return Broken(("synth", "xray", "--out", "/proc/mias-out"), "/proc/mias-out")


@builder("out-name-too-long")
def _out_name_too_long(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    return Broken(prepare(data, ws / ("P" * 240)), "too long")


# --- files that promise more than they hold ---------------------------------------------

def _header_promising(shape: tuple[int, ...], like: Path) -> bytes:
    header = nib.load(like).header.copy()
    header.set_data_dtype(np.int16)
    header.set_data_shape(shape)
    header["vox_offset"] = 352
    return header.binaryblock + b"\0" * 4 + np.zeros(4096, np.int16).tobytes()


def _gz_header_promising(index: int, shape: tuple[int, ...]) -> Builder:
    """A .nii.gz of the dataset replaced by a tiny one whose header promises `shape`."""
    def build(src: Path, ws: Path) -> Broken:
        data = copy_dataset(src, ws)
        image = sorted((data / "imagesTr").glob("*.nii.gz"))[index]
        image.write_bytes(gzip.compress(_header_promising(shape, image)))
        return Broken(prepare(data, fresh_out(ws)), image.name)
    return build


builder("nifti-gz-header-promises-more-voxels")(_gz_header_promising(3, (1000, 1000, 400)))
builder("nifti-header-beyond-the-voxel-limit")(_gz_header_promising(0, (4000, 4000, 4000)))


@builder("nifti-header-promises-more-voxels")
def _nifti_lies(src: Path, ws: Path) -> Broken:
    data = ws / "plain"
    (data / "labels").mkdir(parents=True)
    for image in sorted((src / "imagesTr").glob("*.nii.gz"))[:4]:
        nib.save(nib.load(image), data / image.name.replace(".nii.gz", ".nii"))
        shutil.copy(src / "labelsTr" / image.name, data / "labels" / image.name)
    liar = sorted(data.glob("*.nii"))[1]
    liar.write_bytes(_header_promising((800, 800, 800), liar))
    return Broken(prepare(data, fresh_out(ws)), liar.name)


# --- leftovers of killed runs -------------------------------------------------------------

@builder("stale-leftovers-beside-the-output")
def _stale(src: Path, ws: Path) -> Broken:
    data = copy_dataset(src, ws)
    table = _one_class_table(data, ws)
    out = ws / "P"
    stale = (ws / ".P.partial-0123456789ab", ws / f".P.tmp-{dead_pid()}-k3x")
    for folder in stale:
        folder.mkdir()
        (folder / "case.npz").write_bytes(b"half")
    return Broken(prepare(data, out, "--labels", str(table)), table.name, removed=stale)
