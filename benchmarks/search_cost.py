"""Search cost and whether the search moves (issue: the search), both sides in one run.

1. Weight-sharing overhead: one K = 10 supernet step (gradients of 10 paths accumulated,
   one update) ÷ 10 single-path steps of the same paths as materialised networks, same
   batch, interleaved rounds (target ≤ 1.2).
2. Search cost: wall time of `mias search` with the demo preset ÷ one standalone training
   of the found architecture with the demo's final-training budget (target ≤ 2).
3. Does it move: the chosen architecture's predicted latency against the median of 200
   uniformly drawn ones, and T over the first vs the last steps — with ε_lat = 0 and with
   the preset's ε_lat (a larger ε_lat must give a faster network).

    .venv/bin/python benchmarks/search_cost.py [--prep PREP] [--target rpi3]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mias.atomic import write_json
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.presets import load_preset
from mias.search.api import load_latency, search
from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask
from mias.search.supernet_evaluator import SupernetEvaluator
from mias.space import Architecture
from mias.train.data import PreparedData
from mias.train.losses import task_loss
from mias.train.scoring import Scorer
from mias.train.standalone import train_architecture

RESULTS = Path(__file__).parent / "results" / "search_cost.json"


def weight_sharing_overhead(data: PreparedData, preset, rounds: int, k: int) -> dict:
    ev = SupernetEvaluator(data, preset.search, Scorer.for_task(data.task),
                           device=torch.device("cpu"), seed=0)
    rng = np.random.default_rng(0)
    archs = create_sampler("uniform").sample(data.space, CandidateMask.full(data.space), None,
                                             k, rng)
    loss_fn = task_loss(data.task)
    x, y = ev.train_sampler.batch(preset.search.batch)
    nets = [ev.supernet.materialize(a) for a in archs]
    opts = [torch.optim.SGD(n.parameters(), lr=0.01, momentum=0.9) for n in nets]
    opt = torch.optim.SGD(ev.supernet.parameters(), lr=0.01, momentum=0.9)

    def supernet_step() -> None:
        opt.zero_grad(set_to_none=True)
        for a in archs:
            (loss_fn(ev.supernet(x, a), y) / k).backward()
        opt.step()

    def single_steps() -> None:
        for n, o in zip(nets, opts, strict=True):
            o.zero_grad(set_to_none=True)
            loss_fn(n(x), y).backward()
            o.step()

    supernet_step(), single_steps()
    shared, single = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        supernet_step()
        shared.append(time.perf_counter() - t)
        t = time.perf_counter()
        single_steps()
        single.append(time.perf_counter() - t)
    ratios = np.array(shared) / np.array(single)
    return {"k": k, "rounds": rounds, "supernet_step_s": float(np.median(shared)),
            "single_path_steps_s": float(np.median(single)),
            "ratio_median": float(np.median(ratios)), "ratio_rounds": ratios.tolist(),
            "target": "<= 1.2"}


def timed_search(prep: Path, run: Path, preset, target: str, seed: int) -> tuple[dict, float]:
    t = time.perf_counter()
    out = search(prep, run, target=target, preset=preset, device="cpu", seed=seed)
    return json.loads((out / "result.json").read_text()), time.perf_counter() - t


def t_trend(result: dict, n: int = 5) -> dict:
    t = [h["t_ms"] for h in result["history"]]
    return {"first_steps_ms": float(np.mean(t[:n])), "last_steps_ms": float(np.mean(t[-n:]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prep", type=Path, help="a prepared dataset (default: synthetic "
                    "hippocampus, 40 cases)")
    ap.add_argument("--target", default="rpi3")
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--eps-lat-0-result", type=Path, metavar="RESULT_JSON",
                    help="take the ε_lat = 0 search from this result.json (run beside this "
                    "script on the same PREP, one thread each) instead of running it after")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="search-cost-"))
    prep = args.prep
    if prep is None:
        data_dir = synthesize("hippocampus", work / "data", cases=40, seed=0)
        prep = prepare(data_dir, work / "prep", PrepareConfig(seed=0))
    data = PreparedData.load(prep)
    preset = load_preset(args.preset)
    overhead = weight_sharing_overhead(data, preset, args.rounds, 10)
    print("weight sharing", json.dumps(overhead))

    found, search_s = timed_search(prep, work / "run-lat", preset, args.target, 0)
    arch = Architecture.from_dict(found["arch"])
    t = time.perf_counter()
    trained = train_architecture(data.space, arch, data, preset.train, device="cpu", seed=0)
    train_s = time.perf_counter() - t
    print(f"search {search_s:.0f} s, standalone {train_s:.0f} s")

    no_lat = preset.model_copy(update={"search": preset.search.model_copy(
        update={"eps_lat": 0.0})})
    if args.eps_lat_0_result is None:
        free, free_s = timed_search(prep, work / "run-nolat", no_lat, args.target, 0)
    else:
        while not args.eps_lat_0_result.is_file():
            time.sleep(5)
        free = json.loads(args.eps_lat_0_result.read_text())
        timing = args.eps_lat_0_result.with_name("timing.json")
        free_s = json.loads(timing.read_text())["wall_s_this_invocation"]
        if free["config"]["search"]["eps_lat"] != 0.0 or free["data_fingerprint"] != \
                data.fingerprint:
            raise SystemExit(f"{args.eps_lat_0_result} is not an ε_lat = 0 search of {prep}")
    _, predictor, provenance = load_latency(prep, args.target)
    rng = np.random.default_rng(0)
    uniform = [predictor.predict(data.space, data.space.sample(rng)).value for _ in range(200)]
    result = {
        "schema_version": 1, "benchmark": "search_cost", "preset": args.preset,
        "target": args.target, "latency_source": provenance["source"],
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "threads": args.threads},
        "weight_sharing": overhead,
        "search_cost": {"search_s": search_s, "standalone_train_s": train_s,
                        "ratio": search_s / train_s, "target": "<= 2",
                        "standalone_val_metric": trained.val_score,
                        "search_steps": found["schedule"]["total_steps"],
                        "paths_per_step": preset.search.paths_per_step},
        "moves": {
            "uniform_median_ms": float(np.median(uniform)),
            "uniform_quartiles_ms": [float(q) for q in np.percentile(uniform, [25, 75])],
            "with_eps_lat": {"eps_lat": preset.search.eps_lat,
                             "chosen_ms": found["latency"]["value"],
                             "metric": found["metric"]["value"], "T": t_trend(found),
                             "search_s": search_s},
            "eps_lat_0": {"eps_lat": 0.0, "chosen_ms": free["latency"]["value"],
                          "metric": free["metric"]["value"], "T": t_trend(free),
                          "search_s": free_s},
        },
    }
    result["moves"]["larger_eps_lat_is_faster"] = (
        result["moves"]["with_eps_lat"]["chosen_ms"] < result["moves"]["eps_lat_0"]["chosen_ms"])
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("weight_sharing", "search_cost", "moves")},
                     indent=1))


if __name__ == "__main__":
    main()
