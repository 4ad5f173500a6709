"""Outputs appear whole or not at all, and never destroy an earlier good output."""

import pytest

from mias.atomic import atomic_dir, read_json, write_json
from mias.errors import InputError


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
    out.mkdir()
    (out / "old.txt").write_text("precious")
    with pytest.raises(InputError, match="--overwrite"), atomic_dir(out):
        pass
    with pytest.raises(RuntimeError), atomic_dir(out, overwrite=True):
        raise RuntimeError("boom")
    assert (out / "old.txt").read_text() == "precious"
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


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
    from mias.atomic import resumable_dir

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


def test_input_error_survives_pickling_from_a_worker_process():
    import pickle

    err = pickle.loads(pickle.dumps(InputError("/d/x.nii.gz", "all voxels are NaN", "re-export")))
    assert isinstance(err, InputError) and err.path == "/d/x.nii.gz" and err.fix == "re-export"
