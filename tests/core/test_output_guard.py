"""The output guard (issue 21): `--overwrite` replaces only the files the same stage wrote,
never another stage's output, a file the user added or a declared input; Ctrl-C keeps a
resumable partial."""

from __future__ import annotations

import json

import pytest

from mias.atomic import MARKER, atomic_dir, resumable_dir
from mias.errors import InputError
from mias.output_guard import (
    check_output,
    check_output_file,
    command,
    foreign_files,
    output_stage,
    record_written,
)


def _output(path, stage="predict", files=("a.nii.gz", "sub/b.json")):
    with command(stage), atomic_dir(path) as tmp:
        for name in files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(name, encoding="utf-8")
    return path


def test_the_marker_names_the_declared_stage_and_lists_the_files(tmp_path):
    out = _output(tmp_path / "P")
    meta = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert meta["stage"] == "predict" and meta["files"] == ["a.nii.gz", "sub/b.json"]
    assert foreign_files(out) == []
    with command("predict"), atomic_dir(out, overwrite=True) as tmp:
        (tmp / "c.nii.gz").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "c.nii.gz"]


def test_a_file_the_user_added_is_never_deleted_and_is_named(tmp_path):
    out = _output(tmp_path / "P")
    (out / "sub" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match=r"sub/notes\.txt") as err, command("predict"), \
            atomic_dir(out, overwrite=True):
        pass
    assert "--out" in err.value.fix
    assert (out / "sub" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_another_stage_output_is_never_replaced(tmp_path):
    out = _output(tmp_path / "PREP", stage="prepare")
    with pytest.raises(InputError, match="mias prepare"), command("rank"), \
            resumable_dir(out, "f", overwrite=True):
        pass
    assert output_stage(out) == "prepare" and (out / "a.nii.gz").exists()


def test_fixed_outputs_advise_moving_the_folder_not_an_out_option(tmp_path):
    final = tmp_path / "RUN" / "final"
    final.mkdir(parents=True)
    (final / "model.pt").write_text("not from mias", encoding="utf-8")
    with pytest.raises(InputError) as err, command("train", out_option=None):
        check_output(final, overwrite=True)
    assert "--out" not in err.value.message and "mias train" in err.value.fix


def test_a_marker_without_a_file_list_vouches_for_nothing(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / MARKER).write_text('{"stage": "predict"}', encoding="utf-8")
    (out / "x.nii.gz").write_text("?", encoding="utf-8")
    with pytest.raises(InputError, match="older mias"), command("predict"):
        check_output(out, overwrite=True)


def test_declared_inputs_guard_every_output_written_inside(tmp_path):
    run = _output(tmp_path / "RUN", stage="run", files=("export/model.onnx",))
    with pytest.raises(InputError, match="contains the input"), \
            command("predict", [run / "export" / "model.onnx"]):
        check_output(run, overwrite=True)


def test_a_file_written_later_into_an_output_may_be_replaced_with_it(tmp_path):
    prep = _output(tmp_path / "PREP", stage="prepare")
    (prep / "lut-host.json").write_text("{}", encoding="utf-8")
    assert foreign_files(prep) == ["lut-host.json"]
    record_written(prep / "lut-host.json")
    assert foreign_files(prep) == []


def test_ctrl_c_keeps_the_partial_for_the_same_command(tmp_path):
    out = tmp_path / "S"
    with pytest.raises(KeyboardInterrupt), resumable_dir(out, "f") as (tmp, _):
        (tmp / "checkpoint.pt").write_text("step 7", encoding="utf-8")
        raise KeyboardInterrupt
    with resumable_dir(out, "f") as (tmp, resumed):
        assert resumed and (tmp / "checkpoint.pt").read_text(encoding="utf-8") == "step 7"


def test_file_outputs_exist_only_with_overwrite_and_are_never_an_input(tmp_path):
    table = tmp_path / "t.parquet"
    check_output_file(table)
    table.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="--overwrite"):
        check_output_file(table)
    check_output_file(table, overwrite=True)
    with pytest.raises(InputError, match="folder"):
        check_output_file(tmp_path, overwrite=True)
    with pytest.raises(InputError, match="input"):
        check_output_file(table, overwrite=True, inputs=[table])
    with pytest.raises(InputError, match="root"):
        check_output_file("/", overwrite=True)
