"""Bootstrap CIs are seeded and contain the estimate; small subgroups are flagged."""

from __future__ import annotations

import numpy as np

from mias.train.stats import TOO_FEW, figure, mean_of, subgroup_figures


def test_bootstrap_is_seeded_and_contains_the_estimate():
    values = np.random.default_rng(0).uniform(0.5, 0.9, 20)
    a = figure(mean_of(values), 20, resamples=200, confidence=0.95, seed=1)
    b = figure(mean_of(values), 20, resamples=200, confidence=0.95, seed=1)
    c = figure(mean_of(values), 20, resamples=200, confidence=0.95, seed=2)
    assert a == b and a["ci"] != c["ci"]
    assert a["ci"][0] <= a["value"] <= a["ci"][1]
    assert a["value"] == np.mean(values) and a["n"] == 20


def test_one_case_has_no_ci():
    f = figure(mean_of([0.7]), 1, resamples=200, confidence=0.95, seed=0)
    assert f["value"] == 0.7 and f["ci"] is None and f["note"] == TOO_FEW


def test_subgroups_flag_n_below_two_and_report_the_gap():
    values = np.array([0.9, 0.8, 0.5, 0.4, 0.7])
    groups = {"sex": ["F", "F", "M", "M", "unknown"]}
    out = subgroup_figures(groups, {"dice": lambda m: mean_of(values[m])}, resamples=100,
                           confidence=0.95, seed=0)["sex"]
    assert out["groups"]["unknown"]["n"] == 1 and out["groups"]["unknown"]["flag"] == TOO_FEW
    assert out["groups"]["unknown"]["dice"]["ci"] is None
    assert out["groups"]["F"]["n"] == 2 and "flag" not in out["groups"]["F"]
    gap = out["worst_group_gap"]["dice"]
    assert gap["best"] == "F" and gap["worst"] == "M"
    assert gap["gap"] == np.mean([0.9, 0.8]) - np.mean([0.5, 0.4])


def test_gap_of_an_error_metric_calls_the_larger_error_worst():
    values = np.array([0.1, 0.1, 0.3, 0.3])
    out = subgroup_figures({"site": ["a", "a", "b", "b"]},
                           {"rel_volume_error": lambda m: mean_of(values[m])},
                           resamples=100, confidence=0.95, seed=0)
    assert out["site"]["worst_group_gap"]["rel_volume_error"]["worst"] == "b"
