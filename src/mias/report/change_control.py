"""Section 7: the search itself as an FDA Predetermined Change Control Plan (PCCP).

A PCCP states which modifications are planned (description of modifications), how each is
made and verified (modification protocol) and what it may change (impact assessment). For
MIAS the modification is a re-search or re-training inside the fixed search space; the
acceptance criteria are fixed now, from this validated model and the preset's `evaluate`
section, so a new model is accepted or refused by rule, not by judgement after the fact.
"""

from __future__ import annotations

from typing import Any

from mias.hardware.figures import Figure
from mias.presets import Preset
from mias.report.performance import headline, subgroup_rows, worst_gap
from mias.report.records import RunRecords


def space_bounds(rec: RunRecords) -> list[dict[str, str]]:
    """Per layer: the operators, kernels, widths and options a new search may choose from."""
    space = rec.space
    rows = [{"layer": "depth", "allowed": ", ".join(map(str, space.depths))},
            {"layer": "input", "allowed": "×".join(map(str, space.task.input_shape))
             + f", {space.task.in_channels} channel(s), stem width {space.stem_width}"}]
    for name in space.layer_names():
        cands = space.candidates(name)
        kernels = sorted({"×".join(map(str, c.kernel)) for c in cands})
        widths = sorted({c.width for c in cands})
        rows.append({"layer": name, "allowed": (
            f"{len(cands)} candidates; operators {', '.join(sorted({c.op for c in cands}))}; "
            f"kernels {', '.join(kernels)}; widths {', '.join(map(str, widths))}; "
            f"expansions {', '.join(map(str, sorted({c.expansion for c in cands})))}; "
            f"layers {', '.join(map(str, sorted({c.layers for c in cands})))}")})
    return rows


def _status(ok: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "pending"}[ok]


def _predictor_error(rec: RunRecords) -> tuple[float | None, str]:
    """Relative error of the search's latency figure against a measurement on the target."""
    latency = Figure.from_dict(rec.result["latency"])
    host = (rec.evaluation["models"].get("mias", {}).get("latency") or {}).get("host")
    if rec.result["target"] == "host" and host:
        measured = Figure.from_dict(host)
        return (abs(latency.value - measured.value) / measured.value,
                f"{latency.value:.2f} ms {latency.source} vs {measured.value:.2f} ms "
                f"{measured.label}")
    return None, (f"no measurement on {rec.result['target']} in this run: time the model "
                  f"on the device (mias profile there) to verify")


def criteria(rec: RunRecords) -> list[dict[str, str]]:
    """The acceptance criteria, each with its threshold and whether this model meets it."""
    settings = Preset.model_validate(rec.result["config"]).evaluate
    margin, tolerance = settings.acceptance_margin, settings.acceptance_predictor_error
    head = headline(rec)
    out = []
    bound = head["worse_bound"]
    if bound is not None:
        limit = bound + margin if head["lower_is_better"] else bound - margin
        side = "upper" if head["lower_is_better"] else "lower"
        sign = "≤" if head["lower_is_better"] else "≥"
        out.append({"criterion": f"{head['label']} {settings.confidence:.0%} CI {side} bound "
                    "(original image space, same held-out protocol)",
                    "threshold": f"{sign} {limit:.3f} (this model {bound:.3f}, margin "
                    f"{margin:g})", "this_model": f"{bound:.3f}", "status": _status(True)})
    _, gaps = subgroup_rows(rec, head["group_stat"])
    attribute, gap = worst_gap(gaps)
    if gap is not None:
        out.append({"criterion": f"worst-group gap of {head['group_stat']} over every "
                    "recorded attribute", "threshold": f"≤ {gap + margin:.3f} (this model "
                    f"{gap:.3f} by {attribute}, margin {margin:g})",
                    "this_model": f"{gap:.3f}", "status": _status(True)})
    latency = Figure.from_dict(rec.result["latency"])
    budget = (rec.result.get("schedule") or {}).get("latency_budget_ms")
    limit = budget if budget is not None else latency.value * (1 + tolerance)
    why = "the search's --latency-budget" if budget is not None else \
        f"this model's latency + {tolerance:.0%} (no budget was given)"
    out.append({"criterion": f"latency on {latency.device} ({latency.source})",
                "threshold": f"≤ {limit:.2f} ms ({why})", "this_model":
                f"{latency.value:.2f} ms", "status": _status(latency.value <= limit)})
    error, basis = _predictor_error(rec)
    out.append({"criterion": "latency predictor error against a measurement on the target",
                "threshold": f"≤ {tolerance:.0%}", "this_model": basis if error is None else
                f"{error:.1%} ({basis})", "status": _status(None if error is None else
                                                            error <= tolerance)})
    fp32 = rec.parity["fp32"]
    out.append({"criterion": "exported ONNX matches PyTorch", "threshold":
                f"max |difference| ≤ {fp32['atol']:g}", "this_model":
                f"{fp32['max_abs_diff']:.2e}", "status": _status(bool(fp32["passed"]))})
    return out


def change_control(rec: RunRecords) -> dict[str, Any]:
    r = rec.result
    return {
        "modifications": [
            "re-search: the same search space (bounds below), preset and target, with a new "
            "seed or on more data drawn from the population of section 3",
            "re-training of the chosen architecture (mias train) on updated data of the same "
            "population and acquisition ranges (section 4)",
            "a new latency budget on the same target, or a measured latency table replacing "
            "an estimate",
        ],
        "excluded": [
            "a change of task, labels, modality, input shape or target device",
            "widening the search space or the attribute ranges of section 4",
            "changing the acceptance criteria below",
        ],
        "bounds": space_bounds(rec), "criteria": criteria(rec),
        "protocol": [
            f"run `mias run DATA --target {r['target']} --out NEW_RUN` with this plan's "
            "configuration (section 6), changing only what a planned modification allows",
            "the new run's evaluation is on a held-out split drawn by the same balanced, "
            "subject-wise rule; its report (section 5) is compared with each criterion below",
            "the new model replaces this one only if every criterion is met; a pending "
            "criterion (a target measurement) must be measured first",
            "the new validation plan and model card are filed with the version history",
        ],
        "impact": [
            "sections 2, 5 and 7 change (architecture, performance, criteria evidence) and "
            "section 3 may grow; sections 1 and 4 (intended use, attribute ranges) must not, "
            "or the change falls outside this plan",
            "a model that fails any criterion is not deployed, and the current one stays",
        ],
    }
