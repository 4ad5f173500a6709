"""`mias run` end to end: planted DICOM identifiers reach no output (the DICOM SEG's
references to the source series excepted, by design); stages resume; settings are kept."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pydicom
import pytest
from tests.report.tiny import require_weasyprint, run_args

from mias.atomic import read_json
from mias.cli import main as cli
from mias.data.synth import synthesize

SURNAME = "Qwertyson"
UID_TAGS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
STAGES = ("prepare", "search", "train", "evaluate", "export", "report")


def _plant(data: Path) -> set[str]:
    """Give every scan a patient name, id, accession number and institution of ours; return
    them with every UID the files carry."""
    secrets: set[str] = set()
    files = [p for p in data.rglob("*") if p.is_file() and p.read_bytes()[128:132] == b"DICM"]
    for path in files:
        ds = pydicom.dcmread(path)
        subject = re.sub(r"\W", "", str(ds.PatientID))[-6:]
        planted = {"PatientName": f"{SURNAME}^Planted{subject}",
                   "PatientID": f"PLANTEDID{subject}", "AccessionNumber": f"ACC{subject}X9",
                   "InstitutionName": "Planted Memorial Hospital"}
        for tag, value in planted.items():
            setattr(ds, tag, value)
        secrets |= set(planted.values()) | {str(getattr(ds, t)) for t in UID_TAGS if t in ds}
        ds.save_as(path)
    assert files and secrets
    return secrets


def _text(path: Path) -> str:
    """What a file holds, as text: raw bytes, plus decoded content where it is compressed."""
    blob = path.read_bytes().decode("latin-1")
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        blob += " ".join(p.extract_text() for p in PdfReader(path).pages)
    elif path.suffix == ".parquet":
        import pandas as pd

        blob += pd.read_parquet(path).to_csv()
    return blob


def _leaks(root: Path, secrets: set[str], skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(skip):
            continue
        text = _text(path).lower()
        found += [f"{path.relative_to(root)}: {s}" for s in secrets if s.lower() in text]
    return found


@pytest.fixture(scope="module")
def nifti_run(tmp_path_factory) -> tuple[Path, list[str]]:
    require_weasyprint()
    root = tmp_path_factory.mktemp("niftirun")
    data = synthesize("hippocampus", root / "data", cases=8, seed=4)
    argv = run_args(data, root / "run", root / "tiny.yaml")
    _logged(argv)
    return root / "run", argv


def _logged(argv: list[str], expect: int = 0) -> str:
    """Run `mias` and return all it printed (rich writes to the real stderr)."""
    import contextlib
    import io

    from mias.cli import progress

    buf = io.StringIO()
    console = progress.console
    saved = console.file
    console.file = buf
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            assert cli.main(argv) == expect, buf.getvalue()[-3000:]
    finally:
        console.file = saved
    return buf.getvalue()


def test_no_planted_identifier_reaches_any_output(tmp_path: Path) -> None:
    require_weasyprint()
    data = synthesize("hippocampus", tmp_path / "data", cases=8, seed=4, fmt="dicom")
    secrets = _plant(data)
    assert len(_leaks(data, secrets)) >= len(secrets), "the scan finds what was planted"
    run = tmp_path / "run"
    argv = run_args(data, run, tmp_path / "tiny.yaml")
    log = _logged(argv)
    assert (run / "report" / "validation_plan.pdf").is_file()
    assert _leaks(run, secrets) == []
    assert not [s for s in secrets if s.lower() in log.lower()]
    predicted = tmp_path / "pred"
    log = _logged(["predict", str(run / "export" / "model.onnx"), str(data), "--out",
                   str(predicted)])
    assert list(predicted.glob("*.seg.dcm")), "DICOM input gives a DICOM SEG"
    uids = {s for s in secrets if re.fullmatch(r"[\d.]+", s)}
    # A SEG references its source series by UID (documented): only UIDs may appear there.
    assert _leaks(predicted, secrets - uids) == []
    assert _leaks(predicted, uids, skip=(".seg.dcm",)) == []
    assert not [s for s in secrets if s.lower() in log.lower()]


def test_a_rerun_reuses_every_stage_and_a_lost_stage_is_redone(nifti_run) -> None:
    run, argv = nifti_run
    kept = {p: p.stat().st_mtime_ns for p in (run / "search" / "result.json",
                                              run / "final" / "model.pt")}
    log = _logged(argv)
    assert log.count("finished earlier, reused") == len(STAGES)
    for stage in ("export", "report"):
        os.rename(run / stage, run.parent / f"lost-{stage}")
    _logged(argv)
    record = read_json(run / "pipeline.json")["stages"]
    assert [s for s in STAGES if not record[s]["reused"]] == ["export", "report"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert (run / "report" / "validation_plan.html").read_bytes() == (
        run.parent / "lost-report" / "validation_plan.html").read_bytes()


def test_other_settings_on_an_earlier_run_are_refused(nifti_run, capsys) -> None:
    run, argv = nifti_run
    before = (run / "pipeline.json").read_bytes()
    assert cli.main([*argv, "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert "seed" in err and "--overwrite" in err
    assert (run / "pipeline.json").read_bytes() == before


def test_a_host_target_is_profiled_before_the_search(tmp_path: Path) -> None:
    from mias.cli.run import stages

    args = cli.build_parser().parse_args(["run", str(tmp_path), "--out", str(tmp_path / "r"),
                                          "--target", "host"])
    assert [s.name for s in stages(args)][:3] == ["prepare", "profile", "search"]
    args = cli.build_parser().parse_args(["run", str(tmp_path), "--out", str(tmp_path / "r")])
    assert "profile" not in [s.name for s in stages(args)]


def test_demo_replaces_only_an_earlier_demo(tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    assert cli.main(["demo", "--out", str(mine)]) == 2
    assert "replaces only an earlier demo" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_config_of_the_same_name_with_other_content_is_another_run(nifti_run, tmp_path,
                                                                       capsys) -> None:
    run, argv = nifti_run
    before = (run / "pipeline.json").read_bytes()
    at = argv.index("--config") + 1
    other = tmp_path / Path(argv[at]).name
    other.write_text(Path(argv[at]).read_text(encoding="utf-8").replace("epochs: 1",
                                                                        "epochs: 2", 1)
                     + "\n", encoding="utf-8")
    assert cli.main([*argv[:at], str(other), *argv[at + 1:]]) == 2
    err = capsys.readouterr().err
    assert "config_sha256" in err and "--overwrite" in err
    assert (run / "pipeline.json").read_bytes() == before


def test_the_data_fingerprint_changes_with_the_cases_not_with_the_folder(tmp_path) -> None:
    import shutil

    from mias.cli.run import folder_fingerprint

    data = synthesize("hippocampus", tmp_path / "a", cases=3, seed=1)
    moved = Path(shutil.copytree(data, tmp_path / "b"))
    assert folder_fingerprint(moved) == folder_fingerprint(data)
    first = next(p for p in sorted(moved.rglob("*.nii.gz")))
    first.unlink()
    assert folder_fingerprint(moved) != folder_fingerprint(data)


def test_a_killed_demo_resumes_on_its_settings_and_starts_over_on_others(tmp_path,
                                                                         monkeypatch) -> None:
    from mias.cli import run as run_cli

    forced: list[bool] = []

    def killed(args, *, stage, data_note, force, inside):
        forced.append(force)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_cli, "execute", killed)
    out = tmp_path / "demo"
    for cases in (4, 4, 5):
        assert cli.main(["demo", "--out", str(out), "--cases", str(cases)]) == 130
    assert forced == [True, False, True]
    assert len(list((out / "data" / "imagesTr").glob("*.nii.gz"))) == 5


def test_a_host_run_completes_with_its_report(tmp_path, monkeypatch) -> None:
    """`mias run DATA --target host` profiles this machine into PREP, then runs every stage
    to the report, whose energy is "not estimated" (the host has no power figure). The
    profile is timed briefly here; its protocol is tested in tests/hardware."""
    from mias.hardware import profiler
    from mias.hardware.timing import TimingPolicy

    require_weasyprint()
    full = profiler.profile_space
    brief = TimingPolicy(rounds=1, pairs=1, warmup_runs=1, burst_ms=1.0, max_burst=3)
    monkeypatch.setattr(profiler, "profile_space", lambda space, device, **kw: full(
        space, device, **kw | {"calibration": 0, "chains": 0, "policy": brief}))
    data = synthesize("hippocampus", tmp_path / "data", cases=8, seed=4)
    run = tmp_path / "run"
    log = _logged(run_args(data, run, tmp_path / "tiny.yaml", "--target", "host"))
    assert (run / "prep" / "lut-host.json").is_file()
    assert read_json(run / "search" / "result.json")["target"] == "host"
    assert (run / "report" / "validation_plan.pdf").is_file()
    html = (run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    assert "energy per inference on host" in html and "not estimated" in html
    assert "latency on host" in log
    assert read_json(run / "pipeline.json")["stages"]["profile"]["reused"] is False


def test_a_run_made_by_another_mias_version_is_not_resumed(nifti_run, tmp_path,
                                                          capsys) -> None:
    import shutil

    from mias import __version__
    from mias.atomic import write_json

    run, argv = nifti_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    record = read_json(copy / "pipeline.json")
    assert record["mias_version"] == __version__
    write_json(copy / "pipeline.json", record | {"mias_version": "0.0.1"})
    before = (copy / "pipeline.json").read_bytes()
    at = argv.index("--out") + 1
    assert cli.main([*argv[:at], str(copy), *argv[at + 1:]]) == 2
    err = capsys.readouterr().err
    assert "mias 0.0.1" in err and f"mias {__version__}" in err and "--overwrite" in err
    assert (copy / "pipeline.json").read_bytes() == before


def test_the_version_check_of_claim(tmp_path) -> None:
    """The same settings and version resume; another version (or other settings) is
    refused, or started over where the caller owns the folder (the demo)."""
    from mias import __version__
    from mias.atomic import write_json
    from mias.cli.run import claim
    from mias.errors import InputError
    from mias.output_guard import write_marker

    run = tmp_path / "run"
    run.mkdir()
    write_marker(run, "run")
    earlier = {"schema_version": 1, "mias_version": __version__, "settings": {"seed": 0},
               "stages": {"prepare": {"reused": False}}}
    write_json(run / "pipeline.json", earlier)
    assert claim(run, (), {"seed": 0}, overwrite=False, stage="run") == (earlier, False)
    write_json(run / "pipeline.json", earlier | {"mias_version": "0.0.1"})
    with pytest.raises(InputError, match=r"mias 0\.0\.1"):
        claim(run, (), {"seed": 0}, overwrite=False, stage="run")
    restarted = claim(run, (), {"seed": 0}, overwrite=False, stage="run", restart=True)
    assert restarted == ({}, True)
    write_json(run / "pipeline.json", earlier)
    restarted = claim(run, (), {"seed": 5}, overwrite=False, stage="run", restart=True)
    assert restarted == ({}, True)
    assert claim(run, (), {"seed": 0}, overwrite=True, stage="run") == ({}, True)
