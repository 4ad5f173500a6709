"""Section 5's figures from `RUN/eval/metrics.json` and the search records: the task metric
with its CI, per structure and subgroup, the worst-group gap, baselines, Pareto front,
pruning history and ranking τ."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mias.report import figures
from mias.report.records import RunRecords
from mias.train.report_table import failed_models, fmt_figure, table
from mias.train.stats import lower_is_better

# (task kind, metric name) → path of the headline figure in an evaluation summary, and the
# subgroup statistic that goes with it.
HEADLINE: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("segmentation", "dice"): (("dice",), "dice"),
    ("segmentation", "volume_error"): (("rel_volume_error",), "rel_volume_error"),
    ("segmentation", "f_beta"): (("detection", "f_beta"), "dice"),
    ("classification", "f_beta"): (("f_beta",), "f_beta"),
    ("regression", "mae"): (("mae",), "mae"),
}
STRUCTURE_METRICS = (("dice", "Dice"), ("jaccard", "Jaccard"), ("hd95_mm", "HD95 (mm)"),
                     ("nsd", "surface Dice"))


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        d = (d or {}).get(key)
    return d


def headline(rec: RunRecords) -> dict[str, Any]:
    """The target metric of the found model: name, figure, its worse CI bound, subgroup key."""
    kind = rec.evaluation["task"]
    name = rec.result["metric"]["name"]
    path, group_stat = HEADLINE.get((kind, name), HEADLINE[next(
        k for k in HEADLINE if k[0] == kind)])
    summary = rec.evaluation["models"]["mias"]["summary"]
    fig = _get(summary, path) or {}
    lower = lower_is_better(path[-1])
    ci = fig.get("ci")
    bound = None if not ci else (ci[1] if lower else ci[0])
    failed = failed_models(rec.evaluation).get("mias")
    text = fmt_figure(fig) + (f" — training {failed}, not a result" if failed else "")
    return {"name": path[-1], "label": rec.result["metric"]["label"], "figure": fig,
            "text": text, "lower_is_better": lower, "worse_bound": bound,
            "group_stat": group_stat, "n": summary.get("n"), "failed": failed}


def subgroup_rows(rec: RunRecords, stat: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per attribute and group, and the worst-group gap of each attribute."""
    groups = rec.evaluation["models"]["mias"]["summary"].get("subgroups", {})
    rows, gaps = [], {}
    for attribute, entry in groups.items():
        for group, g in entry["groups"].items():
            rows.append({"attribute": attribute, "group": group, "n": g["n"],
                         "figure": g.get(stat) or {}, "text": fmt_figure(g.get(stat)),
                         "flag": g.get("flag", "")})
        gaps[attribute] = (entry.get("worst_group_gap") or {}).get(stat) or {}
    return rows, gaps


def worst_gap(gaps: dict[str, Any]) -> tuple[str | None, float | None]:
    """The attribute with the largest defined gap."""
    defined = {a: g["gap"] for a, g in gaps.items() if g.get("gap") is not None}
    if not defined:
        return None, None
    attribute = max(defined, key=defined.get)
    return attribute, defined[attribute]


def structures(rec: RunRecords) -> list[dict[str, str]]:
    per = rec.evaluation["models"]["mias"]["summary"].get("structures") or {}
    return [{"structure": s, **{label: fmt_figure(e.get(key)) for key, label in
                                STRUCTURE_METRICS}} for s, e in per.items()]


def race(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The depth race for the plan; entries of searches made before grown paths raced say
    nothing of their path, and were all the best-scored one."""
    if not record:
        return None
    return {**record, "entries": [{"path": "best-scored", **e} for e in record["entries"]]}


def pruning_rounds(rec: RunRecords) -> list[dict[str, Any]]:
    """Per pruning point: step, candidates kept per layer, how many were pruned."""
    by_step: dict[int, Counter] = {}
    keep: dict[int, int] = {}
    for d in rec.result.get("pruning_log", []):
        by_step.setdefault(d["step"], Counter())[d["action"]] += 1
        keep[d["step"]] = d["keep"]
    return [{"step": s, "keep": keep[s], "pruned": c["pruned"], "kept": c["kept"]}
            for s, c in sorted(by_step.items())]


def _ci(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")


def rank(rec: RunRecords) -> dict[str, Any] | None:
    """Kendall τ (and Spearman ρ) between supernet and stand-alone rankings, per sampler,
    from `mias rank`'s tau.json, with the protocol that τ depends on."""
    r = rec.rank
    if r is None:
        return None
    p = r.get("protocol", {})
    rows = [{"sampler": name, "tau": _ci(f.get("tau"), f.get("tau_ci")),
             "rho": _ci(f.get("rho"), f.get("rho_ci"))}
            for name, entry in r.get("samplers", {}).items() if (f := entry.get("final", {}))]
    return {"rows": rows, "n": p.get("n"), "metric": r.get("metric"),
            "standalone_steps": (p.get("standalone") or {}).get("steps"),
            "supernet_epochs": (p.get("supernet") or {}).get("epochs"),
            "confidence": (p.get("statistics") or {}).get("confidence")}


def failure_notes(failed: dict[str, str]) -> list[str]:
    """One sentence per failed training (model → why), for the plan and the model card."""
    return [f"{name}: training {why} — a structure at Dice 0 marks a failed training, so "
            "its figures are not a result and no comparison with it is made"
            for name, why in failed.items()]


def performance(rec: RunRecords) -> dict[str, Any]:
    head = headline(rec)
    rows, gaps = subgroup_rows(rec, head["group_stat"])
    gap_attr, gap = worst_gap(gaps)
    header, base_rows = table(rec.evaluation)
    failed = failed_models(rec.evaluation)
    schedule = rec.result.get("schedule") or {}
    budget = schedule.get("latency_budget_ms")
    latency = rec.result["latency"]
    images = {
        "pareto": figures.data_uri(figures.pareto(
            rec.archive, rec.result.get("pareto", []), rec.result["arch_id"],
            rec.result["metric"]["label"], f"{latency['source']} for {latency['device']}",
            budget)),
        "pruning": figures.data_uri(figures.pruning(
            rec.result.get("history", []), sorted(int(s) for s in schedule.get("prune_at",
                                                                               {})))),
    }
    charted = [(r["attribute"], r["group"], r["figure"]) for r in rows
               if r["figure"].get("value") is not None]
    if charted:
        images["subgroups"] = figures.data_uri(figures.subgroups(
            charted, head["group_stat"], rec.evaluation["confidence"]))
    final = rec.final
    return {
        "headline": head, "structures": structures(rec), "subgroups": rows, "gaps": gaps,
        "worst_gap": {"attribute": gap_attr, "gap": gap}, "baselines": {"header": header,
                                                                         "rows": base_rows},
        "notes": rec.evaluation.get("notes", []), "images": images,
        "failed": failure_notes(failed),
        "pareto": rec.result.get("pareto", []), "evaluated": len(rec.archive),
        "pruning": pruning_rounds(rec), "race": race(rec.result.get("race")), "rank": rank(rec),
        "budget_ms": budget,
        "search_metric": rec.result["metric"], "final": {
            "init": final.get("init"), "steps": final.get("steps"),
            "val_score": final.get("val_score"), "metric": final.get("metric"),
            "space": final.get("space")},
        "confidence": rec.evaluation["confidence"], "bootstrap": rec.evaluation["bootstrap"],
        "n_cases": rec.evaluation["n_cases"], "splits": rec.evaluation["splits"],
        "eval_space": rec.evaluation["space"],
    }
