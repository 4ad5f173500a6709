"""The search's trade-off: does ε_lat or a latency budget move the found network along
accuracy against latency, and does it beat random networks of its own latency?

For each task: synthesise, `mias prepare`, then one `mias search` → `mias train` → `mias
evaluate` per point — the CLI as a user runs it, one recipe for every network (the
baselines get the found network's final-training settings, tuned hyper-parameters included) —
over ≥ 3 values of ε_lat and ≥ 4 latency budgets spread over the space's range on the
target (one of them a quarter of the DynUNet baseline's latency, when the space reaches it).
Every point's evaluation trains `--controls` random architectures within ±10% of the found
network's predicted latency with the same recipe and budget (the preset's steps; its
wall-clock cap is lifted so that points run side by side train alike); the DynUNet
baseline is trained once per task, at the first point, which also sets the budgets. Writes
`benchmarks/results/tradeoff.json` and a plot of held-out Dice against target latency
(found networks, their random controls, DynUNet). With `--test-fraction` the figures are
the test split's, which neither the depth race nor the postprocessing saw; without it they
are the validation split's, where the found network carries the race's selection and the
controls do not.

Judged, between trainings that did not fail (a structure at Dice 0 is a failed training):
at every budget, found Dice ≥ the median of its controls, and ≥ their best at ≥ half the
budgets; the budgets' choices are ≥ 3 distinct networks whose Dice rises with latency
within their CIs (the same figure over every point's choice, ε_lat's included, is reported
beside it); at a quarter of DynUNet's latency, found Dice ≥ DynUNet's − 0.02.

    .venv/bin/python benchmarks/tradeoff.py [--tasks hippocampus] [--eps 0.1 0.4 1.6]
        [--budgets 4] [--controls 5] [--preset demo] [--target rpi3] [--work DIR]
        [--race-steps N] [--test-fraction F] [--update] [--collect] [--recheck]
        [--only POINT ...]
"""

from __future__ import annotations

import argparse
import math
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from mias.atomic import read_json, write_json
from mias.train.report_table import failed_models
from search_vs_baselines import add_run_options, mias  # beside this script

RESULTS = Path(__file__).parent / "results" / "tradeoff.json"
UNET_FRACTION = 0.25
UNET_MARGIN = 0.02
RECIPE_NOTE = "network baselines trained with the found network's recipe"
PRESET_RECIPE = "the preset's recipe (runs made before baselines shared the found network's)"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_point(name: str, prep: Path, data: Path, work: Path, args: argparse.Namespace, *,
              eps_lat: float | None = None, budget: float | None = None,
              unet: bool = False) -> dict[str, Any]:
    """Search, train and evaluate one point of the sweep; its record."""
    run = work / name
    config = work / f"{name}.yaml"
    # the preset's step budget without its wall-clock cap: points run side by side share
    # the cores, and a time cap would hand their networks different numbers of steps
    overrides: dict[str, Any] = {"evaluate": {"baselines": ["random", *(["unet"] if unet
                                                                       else [])],
                                              "random_control": args.controls},
                                 "train": {"time_budget_min": None}}
    search: dict[str, Any] = {}
    if eps_lat is not None:
        search["eps_lat"] = eps_lat
    if args.race_steps is not None:
        search["race_steps"] = args.race_steps
    if search:
        overrides["search"] = search
    config.write_text(yaml.safe_dump(overrides), encoding="utf-8")
    seconds: dict[str, float] = {}
    if not (run / "search" / "result.json").is_file():
        cmd = ["search", str(prep), "--target", args.target, "--out", str(run), "--preset",
               args.preset, "--config", str(config), "--seed", str(args.seed), "--device",
               "cpu", "--overwrite"]
        if budget is not None:
            cmd += ["--latency-budget", f"{budget:.3f}"]
        seconds["search"] = mias(*cmd)
    if not (run / "final" / "model.pt").is_file():
        seconds["train"] = mias("train", str(run), "--overwrite")
    if not (run / "eval" / "metrics.json").is_file():
        seconds["evaluate"] = mias("evaluate", str(run), "--data", str(data), "--overwrite")
    result = read_json(run / "search" / "result.json")
    metrics = read_json(run / "eval" / "metrics.json")
    failed = failed_models(metrics)
    models = metrics["models"]
    empty = _empty_label_cases(run / "eval" / "cases.parquet")
    controls = {n: _figures(e, n in failed) | empty.get(n, {}) for n, e in models.items()
                if e["kind"] == "random"}
    record = {"point": name, "eps_lat": result["config"]["search"]["eps_lat"],
              "latency_budget_ms": budget, "arch_id": result["arch_id"],
              "latency_rank": result["latency_rank"], "warnings": result["warnings"],
              "learned_at": result["schedule"].get("learned_at"),
              "pruned_at": result["schedule"]["pruned_at"], "seconds": seconds,
              "found": _figures(models["mias"], "mias" in failed) | empty.get("mias", {}),
              "controls": controls}
    if "unet" in models:
        record["unet"] = _figures(models["unet"], "unet" in failed) | empty.get("unet", {})
    record["vs_controls"] = _vs_controls(record["found"], controls)
    record["baselines_recipe"] = next((n for n in metrics.get("notes", [])
                                       if n.startswith(RECIPE_NOTE)), PRESET_RECIPE)
    if record["baselines_recipe"] == PRESET_RECIPE:
        again = _preset_recipe(run, data, args.recheck)
        if again is not None:
            record["found_preset_recipe"] = again
            record["vs_controls_same_recipe"] = _vs_controls(again, controls)
    log(f"{name}: {record['arch_id']} {record['found']['latency_ms']:.1f} ms, Dice "
        f"{record['found']['dice']:.3f}; controls {record['vs_controls']}")
    return record


def _preset_recipe(run: Path, data: Path, train: bool) -> dict[str, Any] | None:
    """The found network trained again with the preset's recipe (no tuned hyper-parameters),
    as the random controls of a run made before baselines shared the found network's recipe
    were: the like-for-like figure to compare those controls with. Made only when `train`
    (`--recheck`); one made earlier in the work folder is always read."""
    again = run.with_name(f"{run.name}-preset-recipe")
    if not (again / "eval" / "metrics.json").is_file():
        if not train:
            return None
        shutil.rmtree(again, ignore_errors=True)
        shutil.copytree(run / "search", again / "search")
        path = again / "search" / "result.json"
        result = read_json(path)
        result["config"]["train"]["use_tuned"] = False
        result["config"]["evaluate"].update(baselines=[], random_control=0)
        write_json(path, result)
        mias("train", str(again))
        mias("evaluate", str(again), "--data", str(data))
    metrics = read_json(again / "eval" / "metrics.json")
    return _figures(metrics["models"]["mias"], "mias" in failed_models(metrics))


def _empty_label_cases(cases: Path) -> dict[str, dict[str, Any]]:
    """Per model, the scored cases whose label holds no structure (healthy subjects) and
    what it predicted there — any voxel of a structure scores it 0 on such a case
    (nnU-Net's convention), whatever the network does elsewhere — beside its Dice on the
    cases that hold a structure, so specificity and segmentation can be read apart."""
    import pandas as pd

    df = pd.read_parquet(cases)
    true = df.filter(like="present_true_").any(axis=1)
    detected = df.filter(like="present_pred_").any(axis=1)
    predicted_ml = df.filter(like="volume_pred_mm3_").sum(axis=1) / 1000.0
    dice = df.filter(like="dice_").mean(axis=1)  # structures undefined on a case left out
    out: dict[str, dict[str, Any]] = {}
    for model, g in df.groupby("model"):
        empty, full = g.index[~true[g.index]], g.index[true[g.index]]
        out[model] = {
            "empty_label_cases": len(empty),
            "false_positive_on_empty_cases": int(detected[empty].sum()),
            "any_voxel_on_empty_cases": int((predicted_ml[empty] > 0).sum()),
            "predicted_ml_on_empty_cases_median": float(predicted_ml[empty].median())
            if len(empty) else None,
            "dice_on_cases_with_structure": float(dice[full].mean()) if len(full) else None}
    return out


def _figures(entry: dict[str, Any], failed: bool) -> dict[str, Any]:
    summary = entry["summary"]
    dice = summary["dice"]
    target = (entry.get("latency") or {}).get("target") or {}
    return {"dice": dice["value"], "ci": dice.get("ci") or [None, None],
            "dice_per_structure": {s: (e.get("dice") or {}).get("value")
                                   for s, e in (summary.get("structures") or {}).items()},
            "failed": failed, "latency_ms": target.get("value"),
            "latency_source": f"{target.get('source')} ({target.get('model')})",
            "arch_id": entry.get("arch_id"), "steps": entry.get("steps"),
            "seconds": entry.get("seconds")}


def _vs_controls(found: dict[str, Any], controls: dict[str, dict[str, Any]]) -> dict[str, Any]:
    usable = [c["dice"] for c in controls.values() if not c["failed"] and c["dice"] is not None]
    if not usable or found["failed"]:
        return {"n": len(usable), "median": None, "best": None, "above_median": None,
                "above_best": None,
                "not_judged": "found network failed" if found["failed"] else "no control"}
    median, best = statistics.median(usable), max(usable)
    lo, hi = found["ci"]
    cis = [c["ci"] for c in controls.values() if not c["failed"] and None not in c["ci"]]
    with_structure = [c.get("dice_on_cases_with_structure") for c in controls.values()
                      if not c["failed"]]
    own = found.get("dice_on_cases_with_structure")
    return {"n": len(usable), "median": median, "best": best,
            "above_median": found["dice"] >= median, "above_best": found["dice"] >= best,
            # the rank among found + controls on the cases that hold a structure alone
            "rank_on_cases_with_structure": None if own is None or None in with_structure
            else 1 + sum(d > own for d in with_structure),
            # Dice CIs over cases that do not overlap: a difference the scored split can tell
            "controls_above_beyond_ci": None if lo is None else sum(c[0] > hi for c in cis),
            "controls_below_beyond_ci": None if hi is None else sum(c[1] < lo for c in cis)}


def budgets_for(first: dict[str, Any], n: int) -> list[float]:
    """`n` budgets across the space's range on the target, a quarter of DynUNet's latency
    first when the space reaches it: geometric steps from 1.2× the fastest member to the
    95th percentile of uniform draws (to their median when the quarter budget already
    covers the slow end)."""
    rank = first["latency_rank"]
    low, high = 1.2 * rank["space_fastest_ms"], rank["space_p95_ms"]
    out = []
    unet_ms = (first.get("unet") or {}).get("latency_ms")
    if unet_ms is not None and rank["space_fastest_ms"] < UNET_FRACTION * unet_ms:
        out.append(UNET_FRACTION * unet_ms)
        if out[0] > rank["space_median_ms"]:
            high = rank["space_median_ms"]
    k = n - len(out)
    ratio = (high / low) ** (1.0 / max(k - 1, 1))
    out += [low * ratio ** i for i in range(k)]
    return sorted(out)


def _against_controls(budgets: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """At each budget point, the found network against its controls' median and best."""
    judged = [p[key] for p in budgets if (p.get(key) or {}).get("above_median") is not None]
    share = sum(v["above_best"] for v in judged) / len(judged) if judged else None
    return {"budgets_judged": len(judged), "budgets": len(budgets),
            "above_median_every_budget": bool(judged) and len(judged) == len(budgets)
            and all(v["above_median"] for v in judged),
            "above_best_share": share, "above_best_half": share is not None and share >= 0.5,
            "controls_judged": sum(v["n"] for v in judged),
            "controls_above_beyond_ci": sum(v.get("controls_above_beyond_ci") or 0
                                            for v in judged),
            "controls_below_beyond_ci": sum(v.get("controls_below_beyond_ci") or 0
                                            for v in judged)}


def _rising(points: list[dict[str, Any]]) -> tuple[int, bool]:
    """The distinct networks these points chose, and whether their Dice rises with latency
    within the CIs: no faster network's lower bound above a slower one's upper bound."""
    distinct: dict[str, dict[str, Any]] = {}
    for p in points:
        if not p["found"]["failed"]:
            distinct.setdefault(p["arch_id"], p["found"])
    ordered = sorted(distinct.values(), key=lambda f: f["latency_ms"])
    rises = all(not (a["ci"][0] is not None and b["ci"][1] is not None
                     and a["ci"][0] > b["ci"][1])
                for i, a in enumerate(ordered) for b in ordered[i + 1:])
    return len(ordered), rises


def judge(points: list[dict[str, Any]], unet: dict[str, Any] | None) -> dict[str, Any]:
    budgets = [p for p in points if p["latency_budget_ms"] is not None]
    out: dict[str, Any] = _against_controls(budgets, "vs_controls")
    if any("vs_controls_same_recipe" in p for p in points):
        out["same_recipe"] = _against_controls(budgets, "vs_controls_same_recipe")
    every, rises = _rising(points)
    by_budget, budget_rises = _rising(budgets)
    out["distinct_networks"] = every
    out["dice_rises_with_latency_within_ci"] = rises
    # the budgets are the sweep along latency a user asks for; the ε_lat points price
    # latency instead, and are judged with them above
    out["distinct_budget_networks"] = by_budget
    out["budget_dice_rises_with_latency_within_ci"] = budget_rises
    out["trade_off_met"] = by_budget >= 3 and budget_rises
    quarter = [p for p in budgets if unet is not None and p["latency_budget_ms"] is not None
               and abs(p["latency_budget_ms"] - UNET_FRACTION * unet["latency_ms"]) < 1e-6]
    if unet is None:
        out["quarter_unet"] = {"met": None, "why": "DynUNet not evaluated"}
    elif unet["failed"]:
        out["quarter_unet"] = {"met": None, "why": "DynUNet training failed"}
    elif not quarter:
        reachable = points[0]["latency_rank"]["space_fastest_ms"] < \
            UNET_FRACTION * unet["latency_ms"]
        out["quarter_unet"] = {"met": None, "why": "no point at a quarter of DynUNet's "
                               "latency was run" if reachable else "the space's fastest "
                               "member is slower than a quarter of DynUNet's latency"}
    else:
        f = quarter[0]["found"]
        out["quarter_unet"] = {"found_dice": f["dice"], "unet_dice": unet["dice"],
                               "margin": UNET_MARGIN, "met": not f["failed"]
                               and f["dice"] >= unet["dice"] - UNET_MARGIN}
    return out


def plot(task: str, points: list[dict[str, Any]], unet: dict[str, Any] | None,
         target: str, split: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    names: dict[str, list[str]] = {}   # points that chose the same network share one label
    labelled: list[tuple[float, float]] = []
    span = max(p["found"]["ci"][1] or 1.0 for p in points) - min(
        p["found"]["ci"][0] or 0.0 for p in points)
    for p in points:
        names.setdefault(p["arch_id"], []).append(p["point"])
    for p in points:
        for c in p["controls"].values():
            ax.plot(c["latency_ms"], c["dice"], "o", color="0.7", ms=4,
                    mfc="none" if c["failed"] else "0.7")
        f = p["found"]
        budget = p["latency_budget_ms"] is not None
        # budgets and ε_lat points apart: colour and marker
        ax.errorbar(f["latency_ms"], f["dice"], yerr=[[f["dice"] - f["ci"][0]],
                                                      [f["ci"][1] - f["dice"]]],
                    fmt="s" if budget else "D", color="C0" if budget else "C1", capsize=3)
        if names[p["arch_id"]][0] == p["point"]:
            x, y = f["latency_ms"], f["dice"] + 0.01 * span
            # a label that would overprint one near it in latency moves up until it does not
            while any(abs(math.log(x / lx)) < 0.25 and abs(y - ly) < 0.03 * span
                      for lx, ly in labelled):
                y += 0.03 * span
            labelled.append((x, y))
            ax.annotate(", ".join(names[p["arch_id"]]), (x, f["dice"]), xytext=(x * 1.06, y),
                        fontsize=7, color="C0" if budget else "C1",
                        arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
        again = p.get("found_preset_recipe")
        if again is not None:
            ax.plot(again["latency_ms"], again["dice"], "s", color="C0", mfc="none", ms=7)
    if unet is not None:
        ax.errorbar(unet["latency_ms"], unet["dice"], yerr=[[unet["dice"] - unet["ci"][0]],
                                                            [unet["ci"][1] - unet["dice"]]],
                    fmt="^", color="C3", capsize=3, label="DynUNet baseline")
    ax.plot([], [], "s", color="C0", label="MIAS, latency budget")
    ax.plot([], [], "D", color="C1", label="MIAS, ε_lat")
    ax.plot([], [], "o", color="0.7", label="random control (hollow: failed)")
    if any("found_preset_recipe" in p for p in points):
        ax.plot([], [], "s", color="C0", mfc="none",
                label="MIAS network, trained with the controls' recipe")
    ax.set_xscale("log")
    ax.set_xlabel(f"latency on {target} (ms, estimated unless measured there)")
    ax.set_ylabel(f"Dice on the {'test' if split == 'test' else 'validation'} split "
                  "(95% CI)")
    ax.set_title(f"Search trade-off — {task}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_task(task: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    data, prep = work / task / "data", work / task / "prep"
    name = f"eps{args.eps[0]:g}"
    # another process runs the first point: it synthesises, prepares and sets the budgets
    helper = bool(args.only) and name not in args.only and not args.collect
    if helper:
        while not (prep / "manifest.json").is_file():
            time.sleep(10)
    if not data.is_dir():
        mias("synth", task, "--out", str(data), "--cases", str(args.cases), "--seed",
             str(args.seed))
    if not prep.is_dir():
        mias("prepare", str(data), "--out", str(prep), "--test-fraction",
             str(args.test_fraction))
    eps_jobs = [{"name": f"eps{eps:g}", "eps_lat": eps} for eps in args.eps[1:]]
    early: list[dict[str, Any]] = []
    if helper:  # this one's ε points meanwhile, then wait for the first point's evaluation
        early = [run_point(j["name"], prep, data, work / task, args, eps_lat=j["eps_lat"])
                 for j in eps_jobs if j["name"] in args.only]
        while not (work / task / name / "eval" / "metrics.json").is_file():
            time.sleep(30)
    first = run_point(name, prep, data, work / task, args, eps_lat=args.eps[0], unet=True)
    unet = first.get("unet")
    jobs = [*eps_jobs, *({"name": f"budget{b:.0f}ms", "budget": b}
                         for b in budgets_for(first, args.budgets))]
    if args.only:
        jobs = [j for j in jobs if j["name"] in args.only
                and j["name"] not in {p["point"] for p in early}]
    if args.collect:
        finished = [j for j in jobs if (work / task / j["name"] / "eval" / "metrics.json")
                    .is_file()]
        missing = [j["name"] for j in jobs if j not in finished]
        jobs = finished
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rest = list(pool.map(lambda j: run_point(j["name"], prep, data, work / task, args,
                                                 eps_lat=j.get("eps_lat"),
                                                 budget=j.get("budget")), jobs))
    points = [first, *early, *rest]
    race = read_json(work / task / name / "search" / "result.json")["config"]["search"]
    scored = read_json(work / task / name / "eval" / "metrics.json")["splits"]
    out = {"task": task, "cases": args.cases, "test_fraction": args.test_fraction,
           "scored_split": scored[0], "race_steps": race["race_steps"], "points": points,
           "unet": unet,
           "judged": judge(points, unet),
           "nnunet": "not installed here (pip install .[nnunet]): not in this sweep"}
    if args.collect:
        out["points_not_run"] = missing
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["hippocampus"],
                   choices=["hippocampus", "braintumour"])
    p.add_argument("--eps", nargs="+", type=float, default=[0.1, 0.4, 1.6])
    p.add_argument("--budgets", type=int, default=4)
    p.add_argument("--controls", type=int, default=5)
    p.add_argument("--jobs", type=int, default=1,
                   help="points run at once after the first (each gets a share of the cores: "
                   "time-budgeted trainings then take fewer steps, alike within a point)")
    add_run_options(p, RESULTS)
    p.add_argument("--recheck", action="store_true",
                   help="for points whose controls were trained with the preset's recipe "
                   "(runs made before baselines shared the found network's), also train the "
                   "found network with that recipe and compare like with like")
    p.add_argument("--race-steps", type=int, metavar="N",
                   help="the depth race's steps per network (default: the preset's)")
    p.add_argument("--test-fraction", type=float, default=0.0, metavar="F",
                   help="prepare a test split of this share that no decision sees (the race "
                   "and the postprocessing use validation); evaluate then scores it alone. "
                   "0: the validation split is scored, with its selection bias")
    p.add_argument("--update", action="store_true",
                   help="replace only these tasks' results in the existing --out JSON, "
                   "keeping the other tasks' (each task records its own cases, "
                   "test_fraction, scored split and race_steps)")
    p.add_argument("--collect", action="store_true",
                   help="with --work: write the JSON from the points finished there, run "
                   "nothing new, and list the points not run")
    p.add_argument("--only", nargs="+", metavar="POINT",
                   help="with --work: run only these points after the first (names as in the "
                   "JSON: eps0.05, budget73ms), e.g. to share a sweep between processes; "
                   "a process not given the first ε_lat runs its ε_lat points, then waits for "
                   "another to finish the first (it sets the budgets); --collect then writes "
                   "every finished point")
    args = p.parse_args()
    if args.only and args.work is None:
        p.error("--only shares the points of one --work folder between runs")
    if args.collect and args.work is None:
        p.error("--collect reads the points of an earlier --work folder")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mias-tradeoff-") as tmp:
        work = args.work or Path(tmp)
        results = [run_task(t, work, args) for t in args.tasks]
    for r in results:
        plot(r["task"], r["points"], r["unet"], args.target, r["scored_split"],
             args.out.with_name(f"{args.out.stem}-{r['task']}.png"))
    if args.update and args.out.is_file():
        done = {r["task"] for r in results}
        before = read_json(args.out)
        # results written before each task recorded its own protocol: the run's, no test split
        kept = [{"cases": before["cases"], "test_fraction": 0.0, "scored_split": "val"} | r
                for r in before["results"] if r["task"] not in done]
        results = kept + results
    write_json(args.out, {"schema_version": 1, "preset": args.preset, "target": args.target,
                          "cases": args.cases, "seed": args.seed, "eps": args.eps,
                          "controls": args.controls,
                          "machine": {"python": platform.python_version(),
                                      "processor": platform.processor() or platform.machine()},
                          "wall_s": round(time.perf_counter() - started, 1),
                          "results": results})
    for r in results:
        log(f"{r['task']}: {r['judged']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
