"""A configuration that cannot mean anything is refused (exit 2) before any work."""

from __future__ import annotations

import pytest

from mias.errors import InputError
from mias.presets import load_preset


@pytest.mark.parametrize("text", ["search: {lr: .inf}", "search: {eps_lat: .inf}",
                                  "train: {lr: .nan}",
                                  "search: {eps_ce: 0, eps_lat: 0}"])
def test_nonsense_figures_are_bad_input_naming_the_file(tmp_path, text):
    config = tmp_path / "bad.yaml"
    config.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_preset("demo", config)
    assert "bad.yaml" in str(err.value.path) or "bad.yaml" in err.value.message


def test_a_latency_only_or_accuracy_only_search_stays_allowed(tmp_path):
    assert load_preset("demo", overrides={"search": {"eps_lat": 0}}).search.eps_lat == 0
    assert load_preset("demo", overrides={"search": {"eps_ce": 0}}).search.eps_ce == 0
