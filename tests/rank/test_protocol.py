"""A rank refuses, before any training, a protocol its scores could not honour."""

from __future__ import annotations

import pytest

from mias.errors import InputError
from mias.presets import load_preset
from mias.rank.api import rank
from mias.rank.settings import RankSettings

from .conftest import TINY


def test_too_few_validation_cases_are_refused_before_any_work(rank_prep, tiny_rank_preset,
                                                              tmp_path):
    with pytest.raises(InputError, match="validation split has"):
        rank(rank_prep, tmp_path / "o", preset=tiny_rank_preset,
             settings=RankSettings(archs=4, min_val_cases=16), backend="pool", workers=1)
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.partial*"))


def test_the_eps0_variant_needs_an_accuracy_objective(rank_prep, tmp_path):
    preset = load_preset("demo", overrides={**TINY, "search": {**TINY["search"],
                                                                "eps_ce": 0.0}})
    with pytest.raises(InputError, match="mias-eps0"):
        rank(rank_prep, tmp_path / "o", preset=preset,
             settings=RankSettings(archs=4, samplers=("mias-eps0", "spos")), backend="pool",
             workers=1)


def test_a_variant_that_does_not_fit_the_preset_is_refused_before_any_work(rank_prep, tmp_path,
                                                                           capsys):
    from mias.cli.main import main

    out = tmp_path / "o"
    config = tmp_path / "k3.yaml"
    config.write_text("search: {paths_per_step: 3}\n")
    rc = main(["rank", str(rank_prep), "--out", str(out), "--archs", "4", "--samplers",
               "mias,mias-sandwich", "--config", str(config), "--backend", "pool"])
    err = capsys.readouterr().err
    assert rc == 2 and "mias-sandwich" in err and "paths_per_step must be >= 4" in err
    assert not out.exists()


def test_min_val_cases_is_validated():
    with pytest.raises(ValueError, match="min_val_cases"):
        RankSettings(min_val_cases=0)
    assert RankSettings(samplers=("mias", "mias-eps0")).samplers == ("mias", "mias-eps0")


def test_the_command_takes_every_sampler_and_the_validation_floor(rank_prep, tmp_path,
                                                                  capsys):
    from mias.cli.main import main

    out = tmp_path / "o"
    rc = main(["rank", str(rank_prep), "--out", str(out), "--archs", "4", "--samplers",
               "mias,mias-eps0", "--min-val-cases", "999", "--backend", "pool"])
    assert rc == 2 and "validation split has" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["rank", str(rank_prep), "--out", str(out), "--samplers", "mias,sandwich"])
