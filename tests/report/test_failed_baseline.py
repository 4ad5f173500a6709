"""A baseline whose training collapsed a structure is flagged in the validation plan and
the model card, with its Dice per structure, and never shown as a result."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from mias.report.build import context, render_html
from mias.report.model_card import model_card
from mias.report.records import RunRecords


def _with_failed_baseline(rec: RunRecords) -> RunRecords:
    """The run's records plus a `unet` whose Posterior was never predicted."""
    evaluation = copy.deepcopy(rec.evaluation)
    summary = copy.deepcopy(evaluation["models"]["mias"]["summary"])
    structures = list(summary["structures"])
    lost = structures[-1]
    summary["structures"][lost]["dice"] = {"value": 0.0, "ci": [0.0, 0.0]}
    summary["failed"] = True
    summary["failed_structures"] = {lost: "collapsed: never predicted where the label "
                                          "holds it"}
    evaluation["models"]["unet"] = {"kind": "fixed", "summary": summary, "latency": {}}
    return dataclasses.replace(rec, evaluation=evaluation)


def test_failed_baseline_is_flagged_in_plan_and_card(tiny_run: Path) -> None:
    rec = _with_failed_baseline(RunRecords.load(tiny_run))
    ctx = context(rec)
    html = render_html(ctx)
    lost = next(iter(rec.evaluation["models"]["unet"]["summary"]["failed_structures"]))
    assert f"Dice {lost}" in html
    assert "Failed training." in html and f"unet: training failed: {lost} collapsed" in html
    header = ctx["performance"]["baselines"]["header"]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in ctx["performance"]["baselines"][
        "rows"]}
    assert rows["unet"]["training"].startswith("failed")
    assert rows["mias"]["training"] == "ok"
    card = model_card(ctx)
    assert any(c.startswith("unet: training failed") for c in
               card["caveats_and_recommendations"])
    assert card["quantitative_analyses"]["headline"]["failed"] is None
