"""Resume never corrupts: a crash in any pass of `prepare`, then a re-run, gives the bytes of
a clean run, redoing only what the crash left unfinished or what changed since."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.pipeline.corpus import tree_digest

from mias.data import prepare as prepare_module
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.errors import InputError

CASES = 6
CONFIG = PrepareConfig(workers=1, seed=2)


@pytest.fixture(scope="module")
def ct_data(tmp_path_factory) -> Path:
    """A tiny CT dataset (the hippocampus stand-in declared CT): dataset-wide normalisation."""
    root = synthesize("hippocampus", tmp_path_factory.mktemp("ct") / "D", cases=CASES, seed=9)
    meta = json.loads((root / "dataset.json").read_text())
    meta["modality"] = {"0": "CT"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def clean_run(ct_data, tmp_path_factory) -> dict[str, str]:
    prep = prepare(ct_data, tmp_path_factory.mktemp("clean") / "P", CONFIG)
    assert json.loads((prep / "manifest.json").read_text())["preprocessing"]["ct_mean"]
    return tree_digest(prep)


def _count_calls(monkeypatch, name: str, crash_at: int | None = None) -> list[int]:
    """Wrap `prepare_module.<name>`, counting calls and raising at call `crash_at`."""
    real = getattr(prepare_module, name)
    calls: list[int] = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == crash_at:
            raise RuntimeError(f"simulated crash in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare_module, name, wrapped)
    return calls


# The passes of `prepare`, each with the call its crash hits and how many cases the re-run
# must preprocess again (the unfinished ones only).
PASSES = {"_process_case": (4, CASES - 3), "_normalise_case": (3, 0), "render_html": (1, 0),
          "_keep_only": (1, 0)}


@pytest.mark.parametrize("where", sorted(PASSES))
def test_a_crash_in_any_pass_then_a_rerun_gives_the_clean_bytes(where, ct_data, clean_run,
                                                                 tmp_path, monkeypatch):
    crash_at, redone = PASSES[where]
    out = tmp_path / "P"
    with monkeypatch.context() as patch:
        _count_calls(patch, where, crash_at)
        with pytest.raises(RuntimeError, match="simulated crash"):
            prepare(ct_data, out, CONFIG)
    assert not out.exists()
    processed = _count_calls(monkeypatch, "_process_case")
    prepare(ct_data, out, CONFIG)
    assert len(processed) == redone
    assert tree_digest(out) == clean_run
    assert [p.name for p in tmp_path.iterdir()] == ["P"]


def test_a_case_changed_between_crash_and_rerun_is_redone(ct_data, tmp_path, monkeypatch):
    data = tmp_path / "D"
    shutil.copytree(ct_data, data)
    out = tmp_path / "P"
    with monkeypatch.context() as patch:
        _count_calls(patch, "_normalise_case", crash_at=4)
        with pytest.raises(RuntimeError):
            prepare(data, out, CONFIG)
    changed = sorted((data / "imagesTr").glob("*.nii.gz"))[1]
    img = nib.load(changed)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj) * 1.5 + 40, img.affine, img.header), changed)
    processed = _count_calls(monkeypatch, "_process_case")
    prepare(data, out, CONFIG)
    assert len(processed) == 1
    monkeypatch.undo()
    assert tree_digest(out) == tree_digest(prepare(data, tmp_path / "clean", CONFIG))


_KILL_MID_WRITE = textwrap.dedent("""
    import os, signal, sys
    from mias.atomic import atomic_file
    from mias.data import prepare as m

    real, calls = m.write_npz, []

    def write_then_die(path, arrays):
        calls.append(path)
        if len(calls) == int(sys.argv[3]):
            with atomic_file(path) as tmp:
                tmp.write_bytes(b"half an array")
                os.kill(os.getpid(), signal.SIGKILL)
        real(path, arrays)

    m.write_npz = write_then_die
    m.prepare(sys.argv[1], sys.argv[2], m.PrepareConfig(workers=1, seed=2))
""")


@pytest.mark.slow
def test_a_kill_during_the_ct_normalisation_never_normalises_twice(ct_data, clean_run,
                                                                   tmp_path):
    out = tmp_path / "P"
    kill_at = CASES + 3                 # the third write of the dataset-wide pass
    proc = subprocess.run([sys.executable, "-c", _KILL_MID_WRITE, str(ct_data), str(out),
                           str(kill_at)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    partial = tmp_path / ".P.partial"
    assert any(".tmp-" in p.name for p in partial.rglob("*")), "the kill tore a write"
    prepare(ct_data, out, CONFIG)
    assert tree_digest(out) == clean_run
    assert [p.name for p in tmp_path.iterdir()] == ["P"]


def test_overwrite_replaces_an_earlier_prep_whole(ct_data, clean_run, tmp_path):
    out = tmp_path / "P"
    prepare(ct_data, out, CONFIG)
    (out / "cases" / "stray.npz").write_bytes(b"left by hand")
    with pytest.raises(InputError, match="--overwrite"):
        prepare(ct_data, out, CONFIG)
    with pytest.raises(InputError, match=r"stray\.npz"):     # a file mias did not write
        prepare(ct_data, out, CONFIG, overwrite=True)
    (out / "cases" / "stray.npz").unlink()
    prepare(ct_data, out, CONFIG, overwrite=True)
    assert tree_digest(out) == clean_run
    assert [p.name for p in tmp_path.iterdir()] == ["P"]
