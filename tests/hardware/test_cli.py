"""`mias profile`: honest device labels, settings and output checked before timing, and the
two-step board flow end to end, with the board side run through the whole `mias` command in
a process where `import torch` fails and the machine reads as a Raspberry Pi 3."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mias.atomic import write_json
from mias.cli import main as cli
from mias.hardware import LatencyTable, create_device, default_predictor

from .conftest import PI3_CPUINFO
from .test_machine import ON_A_PI3

FAST = ["--rounds", "2", "--pairs", "2"]


@pytest.fixture
def prep(tmp_path, tiny_space):
    write_json(tmp_path / "prep" / "search_space.json", tiny_space.to_dict())
    return tmp_path / "prep"


def test_missing_space_exits_2_and_names_prepare(tmp_path, capsys):
    assert cli.main(["profile", "--target", "host", "--space", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "search_space.json" in err and "mias prepare" in err


def test_unknown_target_exits_2_and_lists_the_known_ones(prep, capsys):
    assert cli.main(["profile", "--target", "pi-zero", "--space", str(prep)]) == 2
    assert "rpi3" in capsys.readouterr().err


def test_measuring_without_a_target_exits_2(prep, capsys):
    assert cli.main(["profile", "--space", str(prep)]) == 2
    assert "--target host" in capsys.readouterr().err


@pytest.mark.skipif(ON_A_PI3, reason="this machine is a Raspberry Pi 3")
@pytest.mark.parametrize("flag", ["--target", "--device"])
def test_timing_rpi3_on_another_machine_exits_2_with_the_board_flow(prep, capsys, flag):
    assert cli.main(["profile", flag, "rpi3", "--space", str(prep), *FAST]) == 2
    err = capsys.readouterr().err
    assert "is not a rpi3" in err and "--export-blocks" in err
    assert "mias profile --import DIR --target rpi3" in err and "--target host" in err
    assert ("deprecated" in err) == (flag == "--device")
    assert sorted(p.name for p in prep.iterdir()) == ["search_space.json"]


@pytest.mark.parametrize("argv, flag", [
    (["--rounds", "0"], "--rounds"), (["--pairs", "-1"], "--pairs"),
    (["--threads", "0"], "--threads"), (["--calibrate", "-2"], "--calibrate"),
    (["--seed", "-1"], "--seed"), (["--threads", "4096"], "--threads 4096 exceeds"),
])
def test_bad_settings_exit_2_naming_the_flag(prep, capsys, argv, flag):
    assert cli.main(["profile", "--target", "host", "--space", str(prep), *argv]) == 2
    assert flag in capsys.readouterr().err
    assert sorted(p.name for p in prep.iterdir()) == ["search_space.json"]


def test_an_impossible_out_is_refused_before_timing_and_nothing_is_left(prep, tmp_path,
                                                                        capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "sub" / "lut.json"
    assert cli.main(["profile", "--target", "host", "--space", str(prep), "--out", str(out),
                     *FAST]) == 2
    err = capsys.readouterr().err
    assert "a-file is a file" in err and "measured" not in err
    assert cli.main(["profile", "--target", "host", "--space", str(prep), "--out", str(prep),
                     *FAST]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "prep"]
    assert sorted(p.name for p in prep.iterdir()) == ["search_space.json"]


def test_host_table_for_a_space_and_no_silent_overwrite(prep, tiny_space, capsys):
    argv = ["profile", "--target", "host", "--space", str(prep), "--calibrate", "1", *FAST]
    assert cli.main(argv) == 0
    assert "on host" in capsys.readouterr().err
    table = LatencyTable.load(prep / "lut-host.json")
    assert set(table.entries) == {c.key for c in tiny_space.all_block_configs()}
    assert table.threads == table.machine.threads == len(os.sched_getaffinity(0))
    assert table.machine.matches(create_device("host").runs_on)
    assert table.reference_ms > 0 and all(e.ratio > 0 for e in table.entries.values())
    assert table.correction is not None and len(table.correction.points) == 1
    fig = default_predictor(create_device("host"), table).predict(
        tiny_space, tiny_space.sample(np.random.default_rng(0)))
    assert fig.source == "predicted" and fig.device == "host" and fig.value > 0
    assert cli.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_board_flow_export_then_import_on_the_board_without_torch(tmp_path, prep, tiny_space):
    bundle = tmp_path / "bundle"
    assert cli.main(["profile", "--space", str(prep / "search_space.json"),
                     "--export-blocks", str(bundle), "--calibrate", "2"]) == 0
    index = json.loads((bundle / "blocks.json").read_text())
    # the space has two networks: one is the reference, never a calibration network
    assert len(index["blocks"]) == 8 and len(index["networks"]) == 1
    reference = index["reference"]
    assert (bundle / reference["file"]).is_file() and reference["arch_id"] not in {
        n["arch_id"] for n in index["networks"]}
    assert index["chains"] and all(len(c["keys"]) == 2 for c in index["chains"])
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(PI3_CPUINFO)

    board = textwrap.dedent(f"""
        import platform, sys
        sys.modules["torch"] = None  # the light install: any `import torch` fails
        platform.machine = lambda: "aarch64"
        from pathlib import Path
        from mias.hardware import machine
        machine._CPUINFO = Path({str(cpuinfo)!r})
        from mias.cli import main as cli
        rc = cli.main(["profile", "--import", {str(bundle)!r}, "--target", "rpi3",
                       "--out", {str(tmp_path / "lut.json")!r}, *{FAST!r}])
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        sys.exit(rc)
    """)
    done = subprocess.run([sys.executable, "-c", board], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "on rpi3" in done.stderr and "Cortex-A53" in done.stderr

    table = LatencyTable.load(tmp_path / "lut.json")
    assert table.device.name == "rpi3"
    assert (table.machine.cpu_model, table.machine.board) == ("Cortex-A53",
                                                              "Raspberry Pi 3 Model B Rev 1.2")
    assert table.threads == min(4, len(os.sched_getaffinity(0)))  # never more than the cores
    assert table.libraries["export:torch"] and table.runtime.startswith("onnxruntime")
    assert set(table.entries) == {c.key for c in tiny_space.all_block_configs()}
    assert all(e.repetitions >= 2 * 2 and e.rounds == 2 for e in table.entries.values())
    assert len(table.correction.points) == 1
    assert table.reference.arch_id == reference["arch_id"]
    assert table.protocol == "bracketed-reference-network/1"
    arch = tiny_space.sample(np.random.default_rng(0))
    fig = default_predictor(create_device("rpi3"), table).predict(tiny_space, arch)
    assert fig.source == "predicted" and fig.device == "rpi3" and fig.value > 0


def test_import_of_a_folder_without_a_bundle_names_export_blocks(tmp_path, capsys,
                                                                 pretend_pi3):
    assert cli.main(["profile", "--import", str(tmp_path), "--target", "rpi3"]) == 2
    assert "--export-blocks" in capsys.readouterr().err
