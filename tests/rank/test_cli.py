"""`mias rank` refuses bad input before any training, with exit code 2."""

from __future__ import annotations

import pytest

from mias.cli.main import main


@pytest.mark.parametrize("extra, message", [
    (["--archs", "2"], "archs"),
    (["--archs", "100000000"], "--archs"),
    (["--backend", "pool", "--ray", "localhost:1"], "--ray"),
    (["--workers", "0"], "--workers"),
])
def test_bad_rank_settings_exit_2(rank_prep, tmp_path, capsys, extra, message):
    assert main(["rank", str(rank_prep), "--out", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_sampler_and_missing_prep_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rank", str(tmp_path), "--out", str(tmp_path / "o"), "--samplers", "mias,darts"])
    assert exc.value.code == 2
    assert main(["rank", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "mias prepare" in capsys.readouterr().err
