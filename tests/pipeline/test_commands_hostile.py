"""The hostile-input corpus per command (issue 21), for what the generated corpus and the
guard and fault tests leave out: every command, `profile`, `demo` and `bench` included,
given bad outputs (a file, a folder under a file, an unwritable place, `/`, a folder mias
did not write, another stage's output, an input), bad option values and missing inputs.

Each case runs on its own workspace (copies of a finished run and its dataset, a user's
file and folder) and must exit 2 with a fix, without a traceback, leaving every path in the
workspace as it was: nothing changed, nothing written, not even an empty folder. All are
refused before any work, so the whole corpus takes seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.pipeline.hostile import mias, refused

LONG = "D" * 240


def case(name: str, argv: str, says: str) -> Any:
    return pytest.param(argv, says, id=name)


CASES = [
    # --- profile: its --out is a file, replaced only when it is a latency table
    case("profile-out-is-a-folder", "profile --target host --space {prep} --out {run}",
         "--out is a directory"),
    case("profile-out-under-a-file",
         "profile --target host --space {prep} --out {file}/lut.json", "report.pdf is a file"),
    case("profile-out-unwritable",
         "profile --target host --space {prep} --out /proc/mias-lut.json", "cannot write"),
    case("profile-out-root", "profile --target host --space {prep} --out /",
         "root of the file system"),
    case("profile-out-exists",
         "profile --target host --space {prep} --out {prep}/search_space.json", "exists"),
    case("profile-overwrite-the-search-space",
         "profile --target host --space {prep} --out {prep}/search_space.json --overwrite",
         "not a latency table"),
    case("profile-overwrite-the-manifest",
         "profile --target host --space {prep} --out {prep}/manifest.json --overwrite",
         "not a latency table"),
    case("profile-export-blocks-over-the-space",
         "profile --space {prep} --export-blocks {prep} --overwrite", "is the input itself"),
    case("profile-export-blocks-to-a-file", "profile --space {prep} --export-blocks {file}",
         "not a directory"),
    case("profile-unknown-target", "profile --target toaster --space {prep}", "toaster"),
    case("profile-targets-disagree", "profile --target host --device rpi3 --space {prep}",
         "disagree"),
    case("profile-no-target", "profile --space {prep}", "--target is required"),
    case("profile-no-space", "profile --target host --space {ws}/nowhere",
         "no search space here"),
    case("profile-rounds-0", "profile --target host --space {prep} --rounds 0", "--rounds"),
    case("profile-threads-0", "profile --target host --space {prep} --threads 0",
         "--threads"),
    case("profile-seed-negative", "profile --target host --space {prep} --seed -1", "--seed"),
    # --- demo: replaces only an earlier demo; options checked before the data is made
    case("demo-out-root", "demo --out /", "root of the file system"),
    case("demo-out-unwritable", "demo --out /proc/mias-demo", "cannot write"),
    case("demo-out-under-a-file", "demo --out {file}/demo", "report.pdf is a file"),
    case("demo-out-is-a-file", "demo --out {file}", "not a directory"),
    case("demo-out-not-written-by-mias", "demo --out {mine}", "replaces only an earlier demo"),
    case("demo-out-is-a-run", "demo --out {run}", "replaces only an earlier demo"),
    case("demo-out-name-too-long", "demo --out {ws}/" + LONG, "too long"),
    case("demo-cases-0", "demo --out {new} --cases 0", "--cases 0"),
    case("demo-cases-3", "demo --out {new} --cases 3", "--cases 3"),
    case("demo-cases-too-many", "demo --out {new} --cases 100001", "--cases 100001"),
    case("demo-unknown-target", "demo --out {new} --target toaster", "toaster"),
    case("demo-seed-negative", "demo --out {new} --seed -1", "--seed"),
    case("demo-unknown-device", "demo --out {new} --device gpu", "--device"),
    # --- bench: --json / --out files, --work folders, budgets and counts
    case("bench-build-out-exists", "bench build --out {table} --work {ws}/work", "file exists"),
    case("bench-build-out-is-a-folder", "bench build --out {ws} --work {ws}/work",
         "mednasbench.parquet"),
    case("bench-build-archs-0", "bench build --out {ws}/t.parquet --work {ws}/w --archs 0",
         "--archs: 0 is out of range"),
    case("bench-build-cases-2", "bench build --out {ws}/t.parquet --work {ws}/w --cases 2",
         "--cases"),
    case("bench-build-lut-not-device-path",
         "bench build --out {ws}/t.parquet --work {ws}/w --lut rpi3", "is not DEVICE=PATH"),
    case("bench-build-lut-of-a-device-not-built",
         "bench build --out {ws}/t.parquet --work {ws}/w --devices rpi3 --lut rpi4=l.json",
         "not benchmarked"),
    case("bench-build-unknown-task", "bench build --out {ws}/t.parquet --work {ws}/w "
         "--tasks Nope", "unknown benchmark task 'Nope'"),
    case("bench-build-unknown-device", "bench build --out {ws}/t.parquet --work {ws}/w "
         "--devices toaster", "toaster"),
    case("bench-build-msd-root-missing", "bench build --out {ws}/t.parquet --work {ws}/w "
         "--msd-root {ws}/nowhere", "--msd-root is not a folder"),
    case("bench-build-work-is-out", "bench build --out {ws}/t.parquet --work {ws}/t.parquet",
         "the same path"),
    case("bench-build-work-is-a-file", "bench build --out {ws}/t.parquet --work {file}",
         "--work is a file"),
    case("bench-build-work-under-a-file", "bench build --out {ws}/t.parquet --work {file}/w",
         "report.pdf is a file"),
    case("bench-build-work-unwritable",
         "bench build --out {ws}/t.parquet --work /proc/mias-work", "cannot write"),
    case("bench-build-work-root", "bench build --out {ws}/t.parquet --work /",
         "root of the file system"),
    case("bench-build-work-is-the-msd-root",
         "bench build --out {ws}/t.parquet --work {data} --msd-root {data}",
         "is the input itself"),
    case("bench-build-work-inside-the-msd-root",
         "bench build --out {ws}/t.parquet --work {data}/work --msd-root {data}",
         "lies inside the input"),
    case("bench-build-work-holds-the-msd-root",
         "bench build --out {ws}/t.parquet --work {ws} --msd-root {data}",
         "contains the input"),
    case("bench-build-work-is-a-lut",
         "bench build --out {ws}/t.parquet --work {file} --lut rpi3={file}",
         "is the input itself"),
    case("bench-search-json-exists", "bench search --task Hippocampus --steps 3 --json "
         "{result}", "file exists"),
    case("bench-search-json-is-a-folder", "bench search --task Hippocampus --steps 3 "
         "--json {ws}", "is a folder"),
    case("bench-search-json-under-a-file", "bench search --task Hippocampus --json "
         "{file}/r.json", "report.pdf is a file"),
    case("bench-evaluate-json-unwritable", "bench evaluate --json /proc/mias.json",
         "cannot write"),
    case("bench-search-steps-negative", "bench search --task Hippocampus --steps -5",
         "--steps"),
    case("bench-search-steps-0", "bench search --task Hippocampus --steps 0", "--steps"),
    case("bench-build-tabulate-and-archs", "bench build --out {ws}/t.parquet --work {ws}/w "
         "--archs 5 --tabulate 3", "--archs and --tabulate"),
    case("bench-build-tabulate-0", "bench build --out {ws}/t.parquet --work {ws}/w "
         "--tabulate 0", "--tabulate"),
    case("bench-build-train-seeds-repeated", "bench build --out {ws}/t.parquet --work {ws}/w "
         "--train-seeds 1 1", "distinct"),
    case("bench-build-epochs-0", "bench build --out {ws}/t.parquet --work {ws}/w --epochs 0",
         "--epochs"),
    case("bench-search-msd-root-without-work", "bench search --task Hippocampus --steps 3 "
         "--msd-root {data}", "add --work"),
    case("bench-search-work-is-a-file", "bench search --task Hippocampus --steps 3 "
         "--work {file}", "is a file"),
    case("bench-search-seed-too-large", "bench search --task Hippocampus --seed 4294967296",
         "--seed"),
    case("bench-search-seed-negative", "bench search --task Hippocampus --seed -1", "--seed"),
    case("bench-search-budget-0", "bench search --task Hippocampus --budget-ms 0",
         "--budget-ms"),
    case("bench-search-unknown-device", "bench search --task Hippocampus --device toaster",
         "toaster"),
    case("bench-search-unknown-strategy", "bench search --task Hippocampus --strategy bogus",
         "bogus"),
    case("bench-search-table-missing", "bench search --task Hippocampus --table "
         "{ws}/nowhere.parquet", "nowhere.parquet"),
    case("bench-query-budget-nan", "bench query --task Hippocampus --budget-ms nan",
         "--budget-ms"),
    case("bench-query-unknown-device", "bench query --task Hippocampus --device toaster",
         "rpi3"),
    case("bench-query-unknown-task", "bench query --task Nope", "Nope"),
    # --- run: inputs, outputs and options refused before the data is prepared
    case("run-out-is-the-data", "run {data} --out {data}", "is the input itself"),
    case("run-out-inside-the-data", "run {data} --out {data}/run", "lies inside the input"),
    case("run-out-holds-the-data", "run {data} --out {ws}", "contains the input"),
    case("run-out-is-a-file", "run {data} --out {file}", "not a directory"),
    case("run-out-under-a-file", "run {data} --out {file}/run", "report.pdf is a file"),
    case("run-out-unwritable", "run {data} --out /proc/mias-run", "cannot write"),
    case("run-out-not-written-by-mias", "run {data} --out {mine}", "not a mias output"),
    case("run-other-settings-on-a-run", "run {data} --out {run}", "other settings"),
    case("run-unknown-target", "run {data} --out {new} --target toaster", "toaster"),
    case("run-unknown-preset", "run {data} --out {new} --preset nosuch", "nosuch"),
    case("run-budget-0", "run {data} --out {new} --latency-budget 0", "--latency-budget"),
    case("run-no-data", "run {ws}/nowhere --out {new}", "nowhere"),
    case("run-fractions-leave-no-training-cases",
         "run {data} --out {new} --val-fraction 0.6 --test-fraction 0.5", "--val-fraction"),
    # --- search
    case("search-out-is-the-prep", "search {prep} --out {prep} --overwrite",
         "inside the input"),
    case("search-out-inside-the-prep", "search {prep} --out {prep}/run",
         "inside the input"),
    case("search-out-is-a-file", "search {prep} --out {file}", "report.pdf is a file"),
    case("search-out-unwritable", "search {prep} --out /proc/mias-run", "cannot write"),
    case("search-finished-without-overwrite", "search {prep} --out {run}", "--overwrite"),
    case("search-unknown-preset", "search {prep} --out {new} --preset nosuch", "nosuch"),
    case("search-budget-nan", "search {prep} --out {new} --latency-budget nan",
         "--latency-budget"),
    case("search-unknown-target", "search {prep} --out {new} --target toaster", "toaster"),
    case("search-no-prep", "search {ws}/nowhere --out {new}", "not a prepared dataset"),
    case("search-a-run-as-prep", "search {run} --out {new}", "not a prepared dataset"),
    # --- rank
    case("rank-archs-3", "rank {prep} --out {new} --archs 3", "archs"),
    case("rank-truth-seeds-0", "rank {prep} --out {new} --truth-seeds 0", "truth_seeds"),
    case("rank-workers-0", "rank {prep} --out {new} --workers 0", "--workers"),
    case("rank-unknown-sampler", "rank {prep} --out {new} --samplers mias,bogus",
         "--samplers"),
    case("rank-unknown-target", "rank {prep} --out {new} --target toaster", "toaster"),
    case("rank-config-is-a-folder", "rank {prep} --out {new} --config {ws}", "is a folder"),
    case("rank-ray-and-pool", "rank {prep} --out {new} --ray 127.0.0.1:1 --backend pool",
         "drop one of the two"),
    case("rank-no-prep", "rank {ws}/nowhere --out {new}", "not a prepared dataset"),
    case("rank-out-is-a-file", "rank {prep} --out {file}", "not a directory"),
    case("rank-out-not-written-by-mias", "rank {prep} --out {mine} --overwrite",
         "not a mias output"),
    case("rank-out-is-a-search", "rank {prep} --out {run}/search --overwrite",
         "output of `mias search`"),
    # --- evaluate, export, train, report: a fixed folder of RUN
    case("evaluate-finished-without-overwrite", "evaluate {run}", "not empty"),
    case("evaluate-data-missing", "evaluate {run} --data {ws}/nowhere --overwrite",
         "the original dataset folder is not known or is gone"),
    case("evaluate-data-is-a-file", "evaluate {run} --data {file} --overwrite",
         "the original dataset folder is not known or is gone"),
    case("evaluate-data-is-the-run", "evaluate {run} --data {run} --overwrite",
         "lies inside the input"),
    case("evaluate-no-run", "evaluate {ws}/nowhere", "result.json"),
    case("evaluate-a-folder-of-mine", "evaluate {mine}", "result.json"),
    case("evaluate-unknown-device", "evaluate {run} --device gpu", "--device"),
    case("export-finished-without-overwrite", "export {run}", "not empty"),
    case("export-no-run", "export {ws}/nowhere", "model file not found"),
    case("export-a-folder-of-mine", "export {mine} --overwrite", "model file not found"),
    case("export-prep-is-the-data", "export {run} --prep {data} --overwrite",
         "not a folder written by `mias prepare`"),
    case("export-prep-is-its-cases", "export {run} --prep {prep}/cases --overwrite",
         "not a folder written by `mias prepare`"),
    case("train-finished-without-overwrite", "train {run}", "--overwrite"),
    case("train-no-run", "train {ws}/nowhere", "result.json"),
    case("train-time-budget-0", "train {run} --overwrite --time-budget 0", "--time-budget"),
    case("train-steps-and-time-budget", "train {run} --steps 1 --time-budget 1",
         "not allowed with"),
    case("train-resume-and-restart", "train {run} --resume --restart", "not allowed with"),
    case("report-no-run", "report {ws}/nowhere", "nowhere"),
    case("report-a-folder-of-mine", "report {mine}", "thesis"),
    # --- predict, synth, prepare
    case("predict-no-model", "predict {ws}/nowhere.onnx {data} --out {new}",
         "model file not found"),
    case("predict-model-not-onnx", "predict {prep}/search_space.json {data} --out {new}",
         "cannot load"),
    case("predict-no-data", "predict {model} {ws}/nowhere --out {new}", "nowhere"),
    case("predict-out-is-a-file", "predict {model} {data} --out {file}", "not a directory"),
    case("predict-out-not-written-by-mias", "predict {model} {data} --out {mine} --overwrite",
         "not a mias output"),
    case("predict-out-inside-the-data", "predict {model} {data} --out {data}/masks",
         "lies inside the input"),
    case("predict-threads-negative", "predict {model} {data} --out {new} --threads -1",
         "--threads"),
    case("synth-cases-0", "synth hippocampus --out {new} --cases 0", "0 cases"),
    case("synth-unknown-task", "synth nosuch --out {new}", "invalid choice"),
    case("synth-unknown-format", "synth hippocampus --out {new} --format png",
         "invalid choice"),
    case("synth-out-root", "synth hippocampus --out /", "root of the file system"),
    case("synth-over-a-folder-of-mine", "synth hippocampus --out {mine} --overwrite",
         "not a mias output"),
    case("synth-over-a-run", "synth hippocampus --out {run} --overwrite",
         "output of `mias run`"),
    case("prepare-over-a-run", "prepare {data} --out {run} --overwrite",
         "output of `mias run`"),
    case("prepare-no-data", "prepare {ws}/nowhere --out {new}", "nowhere"),
    case("prepare-workers-0", "prepare {data} --out {new} --workers 0", "--workers"),
    case("prepare-unknown-task", "prepare {data} --out {new} --task bogus", "invalid choice"),
    case("prepare-out-root", "prepare {data} --out /", "root of the file system"),
]


def _workspace(finished: tuple[Path, Path], ws: Path, argv: str) -> dict[str, Path]:
    """A user's folder: copies of the run and the dataset where `argv` names them (copying
    only what a case reads keeps the corpus fast), a file, a folder of their own, a table
    and a result built earlier."""
    ws.mkdir()
    if any(name in argv for name in ("{run}", "{prep}", "{model}")):
        shutil.copytree(finished[0], ws / "RUN", symlinks=True)
    if "{data}" in argv:
        shutil.copytree(finished[1], ws / "DATA", symlinks=True)
    (ws / "report.pdf").write_bytes(b"%PDF")
    (ws / "thesis").mkdir()
    (ws / "thesis" / "chapter1.tex").write_text("years of work", encoding="utf-8")
    (ws / "table.parquet").write_bytes(b"a table built yesterday")
    (ws / "result.json").write_text("{}", encoding="utf-8")
    return {"ws": ws, "run": ws / "RUN", "prep": ws / "RUN" / "prep",
            "model": ws / "RUN" / "export" / "model.onnx", "data": ws / "DATA",
            "file": ws / "report.pdf", "mine": ws / "thesis",
            "new": ws / "runs" / "today" / "NEW", "table": ws / "table.parquet",
            "result": ws / "result.json"}


@pytest.mark.parametrize("argv, says", CASES)
def test_bad_input_is_refused_before_any_work(finished, tmp_path, argv, says):
    names = _workspace(finished, tmp_path / "ws", argv)
    refused(names["ws"], *(a.format(**names) for a in argv.split()), says=says)


def _edit(path: Path, value: Any) -> None:
    """Replace a JSON record by `value`, or update its fields with `value` (a dict)."""
    record = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(record | value if isinstance(value, dict) else value),
                    encoding="utf-8")


@pytest.mark.parametrize("record, value, argv, says", [
    pytest.param("prep/manifest.json", {"schema_version": 99}, "search {prep} --out {new}",
                 "schema_version 99", id="manifest-of-another-version-search"),
    pytest.param("prep/manifest.json", {"schema_version": 99}, "rank {prep} --out {new}",
                 "schema_version 99", id="manifest-of-another-version-rank"),
    pytest.param("prep/splits.json", {"schema_version": 99}, "train {run} --overwrite",
                 "schema_version 99", id="splits-of-another-version-train"),
    pytest.param("prep/manifest.json", [], "evaluate {run} --overwrite",
                 "not a record this mias reads", id="manifest-not-an-object-evaluate"),
    pytest.param("prep/splits.json", {"schema_version": None}, "export {run} --overwrite",
                 "schema_version None", id="splits-without-a-version-export"),
])
def test_a_prepared_record_of_another_version_is_refused(finished, tmp_path, record, value,
                                                         argv, says):
    names = _workspace(finished, tmp_path / "ws", "{run}")
    _edit(names["run"] / record, value)
    text = refused(names["ws"], *(a.format(**names) for a in argv.split()), says=says)
    assert str(names["run"] / record) in text and "mias prepare" in text


def test_bench_search_replaces_its_json_with_overwrite(tmp_path):
    result = tmp_path / "result.json"
    result.write_text("{}", encoding="utf-8")
    rc, _ = mias("bench", "search", "--task", "Hippocampus", "--steps", "3", "--json", result,
                 "--overwrite")
    assert rc == 0 and result.read_text(encoding="utf-8") != "{}"
