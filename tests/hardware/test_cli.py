"""`mias profile`: usage errors exit 2 naming the fix; the two-step board flow end to end,
with the board side run through the whole `mias` command in a process where `import torch`
fails."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mias.atomic import write_json
from mias.cli import main as cli
from mias.hardware import LatencyTable, create_predictor

FAST = ["--max-seconds", "0.01", "--retries", "0"]


@pytest.fixture
def prep(tmp_path, tiny_space):
    write_json(tmp_path / "prep" / "search_space.json", tiny_space.to_dict())
    return tmp_path / "prep"


def test_missing_space_exits_2_and_names_prepare(tmp_path, capsys):
    assert cli.main(["profile", "--device", "host", "--space", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "search_space.json" in err and "mias prepare" in err


def test_unknown_device_exits_2_and_lists_the_known_ones(prep, capsys):
    assert cli.main(["profile", "--device", "pi-zero", "--space", str(prep)]) == 2
    assert "rpi3" in capsys.readouterr().err


def test_measuring_without_a_device_exits_2(prep, capsys):
    assert cli.main(["profile", "--space", str(prep)]) == 2
    assert "--device host" in capsys.readouterr().err


def test_host_table_for_a_space_and_no_silent_overwrite(prep, tiny_space, capsys):
    argv = ["profile", "--device", "host", "--space", str(prep), "--calibrate", "1", *FAST]
    assert cli.main(argv) == 0
    table = LatencyTable.load(prep / "lut-host.json")
    assert set(table.entries) == {c.key for c in tiny_space.all_block_configs()}
    assert table.threads == len(os.sched_getaffinity(0))
    assert table.correction is not None and len(table.correction.points) == 1
    assert cli.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_board_flow_export_then_import_without_torch(tmp_path, prep, tiny_space):
    bundle = tmp_path / "bundle"
    assert cli.main(["profile", "--space", str(prep / "search_space.json"),
                     "--export-blocks", str(bundle), "--calibrate", "2"]) == 0
    index = json.loads((bundle / "blocks.json").read_text())
    assert len(index["blocks"]) == 8 and len(index["networks"]) == 2

    board = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # the light install: any `import torch` fails
        from mias.cli import main as cli
        rc = cli.main(["profile", "--import", {str(bundle)!r}, "--device", "rpi3",
                       "--out", {str(tmp_path / "lut.json")!r}, *{FAST!r}])
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        sys.exit(rc)
    """)
    done = subprocess.run([sys.executable, "-c", board], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr

    table = LatencyTable.load(tmp_path / "lut.json")
    assert table.device.name == "rpi3" and table.threads == 4
    assert table.libraries["export:torch"] and table.runtime.startswith("onnxruntime")
    assert set(table.entries) == {c.key for c in tiny_space.all_block_configs()}
    assert all(e.repetitions >= 5 and e.q1_ms <= e.median_ms <= e.q3_ms
               for e in table.entries.values())
    assert len(table.correction.points) == 2
    arch = tiny_space.sample(np.random.default_rng(0))
    fig = create_predictor("lut", table=table).predict(tiny_space, arch)
    assert fig.source == "predicted" and fig.device == "rpi3" and fig.value > 0


def test_import_of_a_folder_without_a_bundle_names_export_blocks(tmp_path, capsys):
    assert cli.main(["profile", "--import", str(tmp_path), "--device", "rpi3"]) == 2
    assert "--export-blocks" in capsys.readouterr().err
