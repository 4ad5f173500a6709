"""Outputs appear whole or not at all, never destroy an earlier good output, never an input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mias.atomic import (
    MARKER,
    atomic_dir,
    check_output,
    clean_stale,
    output_stage,
    read_json,
    resumable_dir,
    write_json,
)
from mias.errors import InputError
from mias.ledger import Ledger, file_stamp, fingerprint


def test_atomic_dir_renames_into_place_on_success(tmp_path):
    out = tmp_path / "prep"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("done")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["prep"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "prep"
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_non_empty_output_and_keeps_it_on_failed_overwrite(tmp_path):
    out = tmp_path / "prep"
    with atomic_dir(out) as tmp:
        (tmp / "old.txt").write_text("precious")
    with pytest.raises(InputError, match="--overwrite"), atomic_dir(out):
        pass
    with pytest.raises(RuntimeError), atomic_dir(out, overwrite=True):
        raise RuntimeError("boom")
    assert (out / "old.txt").read_text() == "precious"
    with atomic_dir(out, overwrite=True, stage="prepare") as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "new.txt"]
    assert output_stage(out) == "prepare"


def test_overwrite_replaces_only_a_mias_output(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="not a mias output"), atomic_dir(out, overwrite=True):
        pass
    assert (out / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("where", ["itself", "parent", "inside"])
def test_output_never_replaces_or_enters_an_input(tmp_path, where):
    data = tmp_path / "study" / "DATA"
    with atomic_dir(data) as tmp:          # a MIAS output (e.g. synthetic) used as input
        (tmp / "case.nii.gz").write_text("scan")
    out = {"itself": data, "parent": data.parent, "inside": data / "P"}[where]
    with pytest.raises(InputError, match="input") as err, \
            atomic_dir(out, overwrite=True, inputs=[data]):
        pass
    assert "Fix:" in err.value.message
    assert (data / "case.nii.gz").read_text() == "scan"
    assert sorted(p.name for p in data.iterdir()) == [MARKER, "case.nii.gz"]


def test_failure_removes_the_parent_folders_it_created(tmp_path):
    out = tmp_path / "new" / "deep" / "prep"
    with pytest.raises(InputError), atomic_dir(out):
        raise InputError(out, "bad", "fix")
    with pytest.raises(InputError), resumable_dir(out, "f1"):
        raise InputError(out, "bad", "fix")
    assert list(tmp_path.iterdir()) == []


def test_impossible_outputs_are_refused_before_any_work(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for out in (tmp_path / "file.txt" / "prep", tmp_path / ("n" * 250),
                Path("/proc/mias-cannot-write-here")):
        with pytest.raises(InputError) as err:
            check_output(out)
        assert str(out) in err.value.message and "Fix:" in err.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_leftovers_of_killed_runs_are_cleaned_and_a_parked_output_restored(tmp_path):
    dead = _dead_pid()
    out = tmp_path / "prep"
    (tmp_path / f".prep.tmp-{dead}-abc").mkdir()
    (tmp_path / ".prep.partial-0123456789ab").mkdir()
    parked = tmp_path / f".prep.old-{dead}"
    parked.mkdir()
    (parked / "manifest.json").write_text("{}")
    live = tmp_path / f".prep.tmp-{os.getpid()}-xyz"
    live.mkdir()
    clean_stale(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "prep"]
    assert (out / "manifest.json").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_json_round_trip_and_corrupt_file_message(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"b": (1, 2), "a": 1.5})
    assert read_json(path) == {"a": 1.5, "b": [1, 2]}
    path.write_text("{not json")
    with pytest.raises(InputError) as err:
        read_json(path)
    assert str(path) in err.value.message and "Fix:" in err.value.message


def test_input_error_message_names_file_problem_and_fix():
    err = InputError("/d/x.dcm", "the file is truncated", "re-export the series")
    assert err.message == "/d/x.dcm: the file is truncated. Fix: re-export the series"


def test_resumable_dir_keeps_partial_work_after_a_crash_but_not_after_bad_input(tmp_path):
    out = tmp_path / "prep"
    with pytest.raises(RuntimeError), resumable_dir(out, "abc123") as (tmp, resumed):
        assert not resumed
        (tmp / "case1.npz").write_text("done")
        raise RuntimeError("crash")
    assert not out.exists()
    with resumable_dir(out, "abc123") as (tmp, resumed):
        assert resumed and (tmp / "case1.npz").exists()
    assert (out / "case1.npz").exists()
    other = tmp_path / "other"
    with pytest.raises(InputError), resumable_dir(other, "abc123") as (tmp, _):
        raise InputError(tmp, "bad", "fix")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prep"]


def test_a_partial_of_other_settings_is_discarded_not_resumed(tmp_path):
    out = tmp_path / "prep"
    with pytest.raises(RuntimeError), resumable_dir(out, "settings-1") as (tmp, _):
        (tmp / "case1.npz").write_text("made with settings 1")
        (tmp / f".x.npz.tmp-{_dead_pid()}-q").write_text("torn write")
        raise RuntimeError("crash")
    with resumable_dir(out, "settings-2") as (tmp, resumed):
        assert not resumed and list(tmp.iterdir()) == [tmp / ".mias-partial.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prep"]


def test_a_partial_being_written_by_a_live_run_is_not_taken_over(tmp_path):
    out = tmp_path / "prep"
    with pytest.raises(RuntimeError), resumable_dir(out, "f"):
        raise RuntimeError("crash")
    partial = tmp_path / ".prep.partial"
    write_json(partial / ".mias-partial.json", {"fingerprint": "f", "pid": os.getppid()})
    with pytest.raises(InputError, match="another mias run"), resumable_dir(out, "f"):
        pass
    assert partial.is_dir()


def test_json_in_other_unicode_encodings_is_read_and_non_unicode_refused(tmp_path):
    path = tmp_path / "dataset.json"
    for encoding in ("utf-8-sig", "utf-16"):
        path.write_text('{"name": "Hippocampus é"}', encoding=encoding)
        assert read_json(path) == {"name": "Hippocampus é"}
    path.write_text('{"name": "Hippocampus é"}', encoding="latin-1")
    with pytest.raises(InputError, match="UTF-8") as err:
        read_json(path)
    assert str(path) in err.value.message


def test_ledger_reuses_only_items_finished_from_the_same_inputs(tmp_path):
    ledger = Ledger(tmp_path / ".ledger")
    data = tmp_path / "case.npz"
    key = fingerprint("settings", file_stamp(tmp_path / "input.nii"))
    assert ledger.finished("c1", key, data) is None
    data.write_text("arrays")
    ledger.finish("c1", key, {"voxels": 3})
    assert ledger.finished("c1", key, data) == {"voxels": 3}
    assert ledger.finished("c1", fingerprint("other settings"), data) is None
    ledger.forget("c1")
    assert ledger.finished("c1", key, data) is None
    data.unlink()
    ledger.finish("c1", key, {})
    assert ledger.finished("c1", key, data) is None


def test_file_stamp_changes_with_the_content(tmp_path):
    path = tmp_path / "a.nii"
    path.write_bytes(b"1234")
    before = file_stamp(path)
    path.write_bytes(b"12345")
    assert file_stamp(path) != before


def test_input_error_survives_pickling_from_a_worker_process():
    import pickle

    err = pickle.loads(pickle.dumps(InputError("/d/x.nii.gz", "all voxels are NaN", "re-export")))
    assert isinstance(err, InputError) and err.path == "/d/x.nii.gz" and err.fix == "re-export"
