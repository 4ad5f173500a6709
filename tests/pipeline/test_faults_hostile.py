"""Faults a user causes (issue 21): Ctrl-C keeps the checkpointed partial and says how to
resume; a corrupt model, supernet, prepared case or checkpoint stops with exit 2 naming
the file to delete and the command to re-run; nonsense options are refused before any
work; `--target host` works end to end. Never a traceback, never a changed input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests.pipeline.hostile import mias, snapshot
from tests.report.tiny import CONFIG

from mias.atomic import read_json
from mias.hardware.devices import resolve_device
from mias.hardware.energy import energy_or_reason
from mias.hardware.figures import Figure


@pytest.fixture
def run(finished, tmp_path) -> Path:
    copy = tmp_path / "RUN"
    shutil.copytree(finished[0], copy, symlinks=True)
    return copy


def _config(tmp_path: Path, **changes: dict) -> Path:
    config = {k: dict(v) for k, v in CONFIG.items()}
    for section, values in changes.items():
        config.setdefault(section, {}).update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_ctrl_c_in_search_keeps_the_checkpoint_and_the_same_command_resumes(
        run, finished, tmp_path, monkeypatch):
    prep, out, config = run / "prep", tmp_path / "NEW", _config(tmp_path)
    before = snapshot(prep)
    argv = ("search", prep, "--out", out, "--config", config, "--device", "cpu")
    with monkeypatch.context() as patch:
        patch.setattr("mias.cli.search_view.SearchView.step", _raise_at_step(2))
        rc, text = mias(*argv)
    assert rc == 130 and "resume" in text and "run the same command again" in text
    assert (out / ".search.partial" / "checkpoint.pt").is_file()
    rc, text = mias(*argv)
    assert rc == 0 and "resuming" in text
    assert not (out / ".search.partial").exists()
    assert snapshot(prep) == before
    # byte for byte the finished run's uninterrupted search (same PREP content, preset,
    # seed, target and device), once the one path that must differ, the PREP it read (a
    # copy of the run's), is written as the finished run's
    resumed = (out / "search" / "result.json").read_bytes()
    clean = (finished[0] / "search" / "result.json").read_bytes()
    assert resumed.replace(str(prep.resolve()).encode(),
                           str((finished[0] / "prep").resolve()).encode()) == clean


def _raise_at_step(stop: int):
    from mias.cli.search_view import SearchView

    original = SearchView.step

    def step(self, step: int, row: dict) -> None:
        if step == stop:
            raise KeyboardInterrupt
        original(self, step, row)

    return step


def test_ctrl_c_in_train_keeps_the_checkpoint_and_resume_continues(run, monkeypatch):
    import contextlib

    from mias.cli import progress

    real = progress.stage_progress

    @contextlib.contextmanager
    def interrupting():
        with real() as update:
            def tick(stage: str, done: int, total: int) -> None:
                if stage == "train" and done == 3:
                    raise KeyboardInterrupt
                update(stage, done, total)
            yield tick

    search_before = snapshot(run / "search")
    with monkeypatch.context() as patch:
        patch.setattr(progress, "stage_progress", interrupting)
        rc, text = mias("train", run, "--overwrite", "--steps", "4")
    assert rc == 130 and "run the same command again" in text
    assert (run / ".final.partial" / "checkpoint.pt").is_file()
    rc, text = mias("train", run, "--overwrite", "--steps", "4")
    assert rc == 0, text[-2000:]
    assert read_json(run / "final" / "metrics.json")["resumed_at"] is not None
    assert not (run / ".final.partial").exists()
    assert snapshot(run / "search") == search_before


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _scribble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _scribble])
@pytest.mark.parametrize("file, argv", [
    ("final/model.pt", ("evaluate",)),
    ("final/model.pt", ("export", "--overwrite")),
    ("search/supernet.pt", ("train", "--init", "inherited", "--overwrite")),
    ("prep/cases/hippocampus_003.npz", ("train", "--overwrite")),
    (".search.partial/checkpoint.pt", ("search",)),
    (".final.partial/checkpoint.pt", ("train", "--resume")),
])
def test_a_corrupt_file_names_itself_and_the_command_that_rewrites_it(run, file, argv,
                                                                     damage):
    path = run / file
    if not path.exists():                     # a partial left by an interrupted run
        path.parent.mkdir()
        shutil.copy(run / "search" / "checkpoint.pt", path)
    damage(path)
    before = snapshot(run)
    command = (argv[0], run / "prep", "--out", run) if argv[0] == "search" else \
        (argv[0], run, *argv[1:])
    rc, text = mias(*command)
    assert rc == 2 and str(path) in text and "delete" in text and "mias " in text.split(
        "Fix:")[1]
    assert snapshot(run) == before


def test_a_host_target_has_no_invented_energy():
    latency = Figure(value=12.0, unit="ms", source="measured", device="host")
    energy, why = energy_or_reason(latency, resolve_device("host"))
    assert energy is None and why.startswith("not estimated") and "power" in why
    energy, why = energy_or_reason(latency, resolve_device("rpi3"))
    assert energy is not None and why is None


def test_search_for_host_without_a_table_names_the_profile_command(run, tmp_path):
    before = snapshot(run / "prep")
    rc, text = mias("search", run / "prep", "--target", "host", "--out", tmp_path / "NEW")
    assert rc == 2 and f"mias profile --target host --space {run / 'prep'}" in text
    assert not (tmp_path / "NEW").exists()
    assert snapshot(run / "prep") == before


def test_the_report_of_a_host_run_says_energy_not_estimated(run):
    import json

    result = run / "search" / "result.json"
    record = json.loads(result.read_text(encoding="utf-8"))
    record["target"] = "host"
    result.write_text(json.dumps(record), encoding="utf-8")
    rc, text = mias("report", run)
    assert rc == 0, text[-2000:]
    html = (run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    assert "energy per inference on host" in html and "not estimated" in html


@pytest.mark.parametrize("changes, words", [
    ({"train": {"lr": float("inf")}}, "train.lr is inf"),
    ({"search": {"eps_lat": float("inf")}}, "search.eps_lat is inf"),
    ({"search": {"eps_ce": 0.0, "eps_lat": 0.0}}, "both 0"),
    ({"search": {"patch": [-1, 0, 3]}}, "search.patch is [-1, 0, 3]"),
])
@pytest.mark.parametrize("command", ["search", "run"])
def test_nonsense_in_a_config_is_refused_before_any_work(run, finished, tmp_path, changes,
                                                        words, command):
    config = _config(tmp_path, **changes)
    out = tmp_path / "NEW"
    source = run / "prep" if command == "search" else finished[1]
    before = snapshot(run)
    rc, text = mias(command, source, "--out", out, "--config", config, "--device", "cpu")
    assert rc == 2 and words in text and str(config) in text
    assert not out.exists() and snapshot(run) == before


@pytest.mark.parametrize("argv", [("search", "{prep}", "--out", "{new}", "--seed", "4294967296"),
                                  ("run", "{data}", "--out", "{new}", "--seed", "4294967296"),
                                  ("train", "{run}", "--steps", "-5"),
                                  ("search", "{prep}", "--out", "{new}", "--config", "{dir}")])
def test_out_of_range_values_are_refused_before_any_work(run, finished, tmp_path, argv):
    names = {"prep": run / "prep", "new": tmp_path / "NEW", "data": finished[1], "run": run,
             "dir": tmp_path}
    before = snapshot(run)
    rc, _ = mias(*(a.format(**names) for a in argv))
    assert rc == 2
    assert not (tmp_path / "NEW").exists() and snapshot(run) == before


def _rewrite(path: Path, **fields) -> None:
    import json

    record = read_json(path)
    record.update(fields)
    path.write_text(json.dumps(record), encoding="utf-8")


@pytest.mark.parametrize("argv", [("train", "{run}", "--overwrite"),
                                  ("evaluate", "{run}", "--overwrite")])
def test_a_search_made_from_other_prepared_data_is_refused(run, argv):
    result = run / "search" / "result.json"
    _rewrite(result, data_fingerprint="0" * 16)
    before = snapshot(run)
    rc, text = mias(*(a.format(run=run) for a in argv))
    assert rc == 2 and "other prepared data" in text and str(result) in text
    assert snapshot(run) == before


@pytest.mark.parametrize("stage", ["final/metrics.json", "eval/metrics.json",
                                   "export/parity.json"])
def test_the_report_refuses_a_stage_record_of_another_architecture(run, stage):
    _rewrite(run / stage, arch_id="0123456789ab")
    before = snapshot(run)
    rc, text = mias("report", run)
    assert rc == 2 and "belongs to architecture 0123456789ab" in text
    assert str(run / stage) in text and snapshot(run) == before


def test_export_refuses_a_prep_that_is_not_one(run, tmp_path):
    before = snapshot(run)
    rc, text = mias("export", run, "--prep", tmp_path / "nowhere", "--overwrite")
    assert rc == 2 and "--prep is not a folder written by `mias prepare`" in text
    assert snapshot(run) == before


@pytest.mark.parametrize("stage, fields, where, argv", [
    ("search/result.json", {"latency": "fast"}, "latency", ("train", "{run}", "--overwrite")),
    ("search/result.json", {"arch": [1, 2]}, "arch", ("report", "{run}")),
    ("eval/metrics.json", {"models": []}, "models", ("report", "{run}")),
    ("export/parity.json", {"fp32": {"passed": "maybe"}}, "fp32", ("report", "{run}")),
    ("final/metrics.json", {"steps": None}, "steps", ("report", "{run}")),
])
def test_a_record_of_the_wrong_shape_names_the_file_and_the_field(run, stage, fields, where,
                                                                   argv):
    _rewrite(run / stage, **fields)
    before = snapshot(run)
    rc, text = mias(*(a.format(run=run) for a in argv))
    assert rc == 2 and "Traceback" not in text
    assert f"invalid record at {where}" in text and str(run / stage) in text
    assert snapshot(run) == before


@pytest.mark.parametrize(("command", "failure"), [
    ("export", OSError(28, "No space left on device")),
    ("export", RuntimeError("PytorchStreamWriter failed writing file data/0: file write "
                            "failed")),
    ("train", RuntimeError("PytorchStreamWriter failed writing file data/0: file write "
                           "failed")),
    ("report", OSError(28, "No space left on device")),
    ("predict", OSError(28, "No space left on device")),
])
def test_a_full_disk_is_exit_2_naming_the_folder_and_keeps_earlier_outputs(
        run, finished, tmp_path, monkeypatch, command, failure):
    def full(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr("mias.atomic.write_marker", full)
    monkeypatch.setattr("mias.cli.main._free_bytes", lambda _path: 0)
    before = snapshot(run)
    out = tmp_path / "OUT"
    argv = {"export": (run, "--overwrite"), "train": (run, "--overwrite"), "report": (run,),
            "predict": (run / "export" / "model.onnx", finished[1], "--out", out)}[command]
    rc, text = mias(command, *argv)
    assert rc == 2 and "the disk is full" in text and "Traceback" not in text
    assert str(out.parent if command == "predict" else run) in text and "free space" in text
    after = {k: v for k, v in snapshot(run).items() if not k.startswith(".final.partial/")}
    assert after == before and not out.exists()   # a training's checkpointed partial stays


def test_a_moved_run_reads_the_prep_it_carries(run, tmp_path):
    from mias.train.run_record import SearchRecord

    moved = tmp_path / "elsewhere" / "RUN"
    shutil.move(run, moved)
    _rewrite(moved / "search" / "result.json", prep=str(tmp_path / "gone" / "prep"))
    assert SearchRecord.load(moved).prep == moved / "prep"
    rc, text = mias("export", moved, "--overwrite")
    assert rc == 0, text[-2000:]
