"""One output guard for every command that writes (issue 21): no command replaces a run, a
dataset, the model it reads or another stage's output, and `--overwrite` never deletes a
file the user put into a mias output. Each case: exit 2, no traceback, no input changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.pipeline.hostile import mias, snapshot

from mias.data.synth import synthesize
from mias.output_guard import MARKER, output_stage


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    return synthesize("hippocampus", tmp_path_factory.mktemp("scans") / "S", cases=2, seed=9)


@pytest.fixture
def run(finished, tmp_path) -> Path:
    """A copy of the finished run, laid out like a demo's (its dataset inside, in RUN/data)."""
    copy = tmp_path / "RUN"
    shutil.copytree(finished[0], copy, symlinks=True)
    shutil.copytree(finished[1], copy / "data", symlinks=True)
    return copy


@pytest.mark.parametrize("out", ["", "data", "export", "prep", "search", "final", "eval"])
def test_predict_never_replaces_the_run_its_data_or_the_model(run, scans, out):
    before, scans_before = snapshot(run), snapshot(scans)
    rc, text = mias("predict", run / "export" / "model.onnx", scans, "--out", run / out,
                    "--overwrite")
    assert rc == 2 and "Fix:" in text
    assert snapshot(run) == before and snapshot(scans) == scans_before


def test_predict_overwrites_its_own_output_but_never_a_file_the_user_added(run, scans,
                                                                           tmp_path):
    model, out = run / "export" / "model.onnx", tmp_path / "masks"
    assert mias("predict", model, scans, "--out", out)[0] == 0
    assert output_stage(out) == "predict"
    assert mias("predict", model, scans, "--out", out, "--overwrite")[0] == 0
    (out / "reading.txt").write_text("the radiologist's reading", encoding="utf-8")
    before = snapshot(out)
    rc, text = mias("predict", model, scans, "--out", out, "--overwrite")
    assert rc == 2 and "reading.txt" in text
    assert snapshot(out) == before


def test_predict_refuses_the_root_of_the_file_system(run, scans):
    rc, text = mias("predict", run / "export" / "model.onnx", scans, "--out", "/",
                    "--overwrite")
    assert rc == 2 and "root of the file system" in text


@pytest.mark.parametrize("out", ["", "prep", "search"])
def test_rank_never_replaces_the_run_or_its_input(run, out):
    before = snapshot(run)
    rc, text = mias("rank", run / "prep", "--out", run / out, "--overwrite", "--archs", "4")
    assert rc == 2 and "Fix:" in text
    assert snapshot(run) == before


def test_report_and_train_never_delete_a_file_the_user_added(run):
    for folder, argv in (("report", ("report", run)),
                         ("final", ("train", run, "--overwrite"))):
        note = run / folder / "my notes.txt"
        note.write_text("mine", encoding="utf-8")
        before = snapshot(run)
        rc, text = mias(*argv)
        assert rc == 2 and "my notes.txt" in text and "--out" not in text
        assert snapshot(run) == before


def test_a_run_is_not_started_in_another_stage_output(run, finished):
    before = snapshot(run)
    rc, text = mias("run", finished[1], "--out", run / "prep", "--overwrite")
    assert rc == 2 and "mias prepare" in text
    assert snapshot(run) == before


def test_markers_list_the_files_each_stage_wrote(finished):
    run = finished[0]
    for stage, folder in (("prepare", "prep"), ("search", "search"), ("train", "final"),
                          ("evaluate", "eval"), ("export", "export"), ("report", "report")):
        assert output_stage(run / folder) == stage
        assert (run / folder / MARKER).is_file()
    assert output_stage(run) == "run"


@pytest.mark.parametrize("command, folder", [("train", "final"), ("evaluate", "eval"),
                                             ("export", "export"), ("report", "report")])
def test_fixed_output_commands_never_advise_an_out_option_they_lack(run, command, folder):
    shutil.rmtree(run / folder)
    (run / folder).mkdir()
    (run / folder / "thesis.tex").write_text("years of work", encoding="utf-8")
    before = snapshot(run)
    argv = (command, run) if command == "report" else (command, run, "--overwrite")
    rc, text = mias(*argv)
    assert rc == 2 and "Fix:" in text and "--out" not in text
    assert f"mias {command}" in text.split("Fix:")[1]
    assert snapshot(run) == before


@pytest.mark.parametrize("command", ["search", "rank", "run", "predict"])
def test_the_root_of_the_file_system_is_never_an_output(run, scans, command):
    argv = {"search": ("search", run / "prep"), "rank": ("rank", run / "prep"),
            "run": ("run", scans),
            "predict": ("predict", run / "export" / "model.onnx", scans)}[command]
    before = snapshot(run)
    rc, text = mias(*argv, "--out", "/", "--overwrite")
    assert rc == 2 and "root of the file system" in text
    assert snapshot(run) == before
