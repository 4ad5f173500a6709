"""`model_card.json`: the plan's content under the model-card headings (Mitchell et al.)."""

from __future__ import annotations

from typing import Any

from mias.report.standards import MODEL_CARD, SECTIONS

CARD_SCHEMA_VERSION = 1


def model_card(ctx: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON from the same context the HTML is rendered from (no figures)."""
    use, algo, data = ctx["intended_use"], ctx["algorithm"], ctx["training_data"]
    perf, req, repro = ctx["performance"], ctx["validation"], ctx["reproducibility"]
    change = ctx["change_control"]
    head = perf["headline"]
    card = {
        "model_details": {
            "arch_id": algo["arch_id"], "depth": algo["depth"], "params": algo["blocks"][
                "params"], "flops": algo["blocks"]["flops"], "format": "ONNX opset 17 (fp32)",
            "mias_version": dict(repro["versions"]).get("mias"),
            "search": algo["search"], "blocks": [
                {k: r[k] for k in ("layer", "op", "kernel", "width", "params", "flops")}
                for r in algo["blocks"]["rows"]]},
        "intended_use": {"task": use["task"], "device": use["device"],
                         "population": use["population"], "out_of_scope": use["not_for"]},
        "factors": {"subgroups": sorted({r["attribute"] for r in perf["subgroups"]}),
                    "attribute_ranges": req["rows"]},
        "metrics": {"target": head["label"], "confidence": perf["confidence"],
                    "bootstrap_resamples": perf["bootstrap"], "space": perf["eval_space"]},
        "evaluation_data": {"splits": perf["splits"], "cases": perf["n_cases"]},
        "training_data": {"findings": data["findings"], "splits": data["splits"],
                          "fingerprint": data["fingerprint"]},
        "quantitative_analyses": {
            "headline": {"value": head["figure"].get("value"), "ci": head["figure"].get("ci"),
                         "failed": head["failed"]},
            "subgroups": [{k: r[k] for k in ("attribute", "group", "n", "text")}
                          for r in perf["subgroups"]],
            "worst_group_gap": perf["worst_gap"],
            "baselines": [dict(zip(perf["baselines"]["header"], row, strict=True))
                          for row in perf["baselines"]["rows"]],
            "hardware": ctx["hardware"]["rows"]},
        "ethical_considerations": [
            "No patient identifier is stored in the model, the plan or this card; subgroups "
            "are aggregates.", *data["findings"]],
        "caveats_and_recommendations": [
            *([ctx["hardware"]["warning"]] if ctx["hardware"]["warning"] else []),
            *[f"{name}: not recorded in the training data, so not checked" for name in
              req["unrecorded"]],
            *[f"acceptance criterion {c['criterion']}: {c['status']}" for c in
              change["criteria"]],
            *perf["failed"]],
    }
    return {"schema_version": CARD_SCHEMA_VERSION,
            "headings": {key: title for key, title, _ in MODEL_CARD},
            "plan_sections": {key: [SECTIONS[i - 1][1] for i in nums]
                              for key, _, nums in MODEL_CARD},
            **card}
