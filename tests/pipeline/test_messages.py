"""What the user reads: help with defaults, advice that points the right way, no library noise."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest

from mias.cli.main import build_parser, main

COMMANDS = ("synth", "prepare", "demo")


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_shows_its_default(command):
    parser = _subparser(command)
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.dest} has no help"
        if action.option_strings and action.default not in (None, False):
            assert f"{action.default}" in text and "default" in text, action.dest


def test_synth_help_lists_its_tasks():
    text = _subparser("synth").format_help()
    assert all(task in text for task in ("hippocampus", "braintumour", "xray"))


def test_demo_does_not_suggest_an_option_it_lacks(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" not in err and "demo" in err
    assert (out / "notes.txt").read_text() == "keep"


def test_library_warnings_do_not_reach_the_terminal(hippo_nifti, tmp_path):
    """A plain NIfTI folder has no demographics: matplotlib warns about an empty legend."""
    data = tmp_path / "plain"
    (data / "labels").mkdir(parents=True)
    for image in sorted((hippo_nifti / "imagesTr").glob("*.nii.gz"))[:6]:
        shutil.copy(image, data / image.name)
        shutil.copy(hippo_nifti / "labelsTr" / image.name, data / "labels" / image.name)
    proc = subprocess.run([sys.executable, "-m", "mias.cli", "prepare", str(data), "--out",
                           str(tmp_path / "P"), "--workers", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
