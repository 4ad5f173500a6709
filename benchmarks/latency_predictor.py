"""Latency predictor accuracy on `host`: LUT-predicted vs measured whole-network latency.

Protocol (issue 20): two search spaces made by `mias synth` + `mias prepare` — hippocampus
(3D segmentation) and X-ray (2D classification). Per space, the table is built exactly as
`mias profile --target host` builds it: every block exported to ONNX beside the space's
reference network, 16 calibration networks (seed 0) and 32 chains of two consecutive
blocks of those networks; all of them timed in one phase of randomised rounds, every run
bracketed by the reference network (ratio = x / √(ref_before · ref_after)), one
ONNX Runtime thread pool for every session, sessions opened once and warmed; the boundary
cost learned from the chains and the correction chosen by leave-one-out on the calibration
networks. Its build time is the wall time of export + timing. Then `archs` further
networks (seed 1, disjoint from the calibration networks and the reference) are timed
whole by the same harness twice, in two separate phases with fresh sessions: `test`
after both tables are built, `retest` after both spaces' tests, so minutes apart. A
network's truth is the geometric mean of its test and retest ratios, in ms at the table's
reference level (the unit every prediction is in). The test–retest agreement is the
measurement's own noise; a perfect predictor scored against one measurement would still
show test–retest/√2, and a missed target is excused only where it lies within that noise.
Reported per predictor: MAPE, the share within ±10% (acc10), ±5% (acc5), ±2% (acc2), Kendall
τ of the latency ranking, against the truth and against test and retest separately.

    .venv/bin/python benchmarks/latency_predictor.py [--archs 50] [--calibrate 16]
        [--chains 32] [--space hippocampus=PREP --space xray=PREP] [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from scipy.stats import kendalltau

from mias.atomic import write_json
from mias.cli import main as cli
from mias.hardware import (
    DeviceProfile,
    LatencyPredictor,
    LatencyTable,
    TimingPolicy,
    create_device,
    create_predictor,
    measure_peaks,
)
from mias.hardware.bundle import BlockBundle
from mias.hardware.export import export_bundle, export_network, sample_distinct
from mias.hardware.lut import boundary_melems
from mias.hardware.profiler import profile_bundle
from mias.hardware.timing import PROTOCOL, Timing, runtime_label, time_models
from mias.space import Architecture, SearchSpace, network_flops

RESULTS = Path(__file__).parent / "results" / "latency_predictor.json"
SPACES = ("hippocampus", "xray")
TARGETS = {
    "hippocampus": {"test_retest_mape": 0.015, "acc10": 0.98, "acc5": 0.95, "mape": 0.025,
                    "kendall_tau": 0.95, "build_s": 300.0},
    "xray": {"acc10": 0.95, "mape": 0.04, "kendall_tau": 0.9},
}
PREDICTORS = {
    "lut_plain_sum": "Σ warm block latencies, nothing subtracted",
    "lut": "Σ warm block latencies − (n − 1) per-call overheads",
    "lut_cold": "Σ cold block latencies (each block's first run after the reference) − "
                "(n − 1) per-call overheads",
    "lut_default": "what the search uses: the basis, boundary model and correction form "
                   "chosen on the calibration networks (leave-one-out)",
    "roofline": "roofline estimate from the host's calibrated peaks",
}


def accuracy(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    rel = np.abs(predicted - measured) / measured
    return {"mape": float(rel.mean()), "acc10": float((rel <= 0.10).mean()),
            "acc5": float((rel <= 0.05).mean()), "acc2": float((rel <= 0.02).mean()),
            "max_rel_error": float(rel.max()),
            "mean_signed_error": float(((predicted - measured) / measured).mean()),
            "kendall_tau": float(kendalltau(predicted, measured).statistic)}


def predictions(space: SearchSpace, arch: Architecture, table: LatencyTable,
                roofline: LatencyPredictor) -> dict[str, float]:
    keys = [c.key for c in space.block_configs(arch)]
    return {
        "lut_plain_sum": sum(table.latency_ms(k, "warm") for k in keys),
        "lut": table.sum_ms(keys, "warm"),
        "lut_cold": table.sum_ms(keys, "cold"),
        "lut_default": create_predictor("lut", table=table).predict(space, arch).value,
        "roofline": roofline.predict(space, arch).value,
    }


def prepared_space(name: str, given: dict[str, Path], work: Path) -> SearchSpace:
    """The space `mias prepare` writes for `mias synth NAME`, made here unless given."""
    prep = given.get(name)
    if prep is None:
        prep = work / f"{name}-prep"
        for argv in (["synth", name, "--out", str(work / f"{name}-data")],
                     ["prepare", str(work / f"{name}-data"), "--out", str(prep)]):
            if cli.main(argv) != 0:
                raise SystemExit(f"`mias {' '.join(argv)}` failed")
    return SearchSpace.load(prep / "search_space.json")


def build_table(name: str, space: SearchSpace, work: Path, args: argparse.Namespace,
                device: DeviceProfile, policy: TimingPolicy) -> dict:
    """Export and time the space's bundle, as `mias profile` does; export the evaluation
    networks (not timed here)."""
    bundle_dir = work / f"{name}-bundle"
    t0 = time.perf_counter()
    bundle = export_bundle(space, bundle_dir, calibration=args.calibrate, chains=args.chains,
                           seed=0)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = profile_bundle(bundle_dir, device, threads=args.threads, policy=policy, seed=0)
    timing_s = time.perf_counter() - t0
    log(f"{name}: table of {len(table)} blocks built in {export_s + timing_s:.0f} s "
        f"(export {export_s:.0f} s, timing {timing_s:.0f} s); correction "
        f"{table.correction.describe() if table.correction else None}")
    if args.save_tables:
        table.save(args.save_tables / f"lut-{name}.json")
    reference = Architecture.from_dict(bundle.reference.arch)
    calibration = [Architecture.from_dict(n.arch) for n in bundle.networks]
    archs = sample_distinct(space, args.archs, np.random.default_rng(1),
                            exclude=[reference, *calibration])
    files = [work / f"{name}-{a.id}.onnx" for a in archs]
    for arch, file in zip(archs, files, strict=True):
        export_network(space, arch, file)
    return {"space": space, "table": table, "bundle": bundle, "bundle_dir": bundle_dir,
            "archs": archs, "files": files, "export_s": export_s, "timing_s": timing_s}


def time_phase(name: str, state: dict, args: argparse.Namespace, policy: TimingPolicy,
               seed: int, label: str) -> tuple[list[Timing], float]:
    """One phase over the evaluation networks: fresh sessions, the bundle's reference."""
    bundle: BlockBundle = state["bundle"]
    t0 = time.perf_counter()
    timings = time_models(state["files"], state["bundle_dir"] / bundle.reference.file,
                          threads=state["table"].threads, policy=policy, seed=seed,
                          cold=False)
    wall = time.perf_counter() - t0
    log(f"{name}: {label} of {len(timings)} networks in {wall:.0f} s")
    return timings, wall


def excused(predicted: np.ndarray, truth: np.ndarray, test: np.ndarray, retest: np.ndarray,
            tolerance: float) -> float:
    """The share within `tolerance`, counting a miss as within when its excess over the
    tolerance is no larger than that network's own test–retest noise (|test − retest| / √2,
    relative to the truth)."""
    rel = np.abs(predicted - truth) / truth
    noise = np.abs(test - retest) / truth / math.sqrt(2)
    return float(((rel <= tolerance) | (rel - tolerance <= noise)).mean())


def analyse(name: str, state: dict, test: list[Timing], retest: list[Timing],
            walls: dict[str, float], device: DeviceProfile) -> dict:
    space: SearchSpace = state["space"]
    table: LatencyTable = state["table"]
    level = table.reference_ms
    roofline = create_predictor("roofline", device=table.device)
    rows = []
    for arch, t, r in zip(state["archs"], test, retest, strict=True):
        configs = space.block_configs(arch)
        rows.append({"arch_id": arch.id, "depth": arch.depth,
                     "gflops": network_flops(space, arch) / 1e9,
                     "boundary_melems": boundary_melems(configs), "blocks": len(configs),
                     "test_ms": t.ratio * level, "retest_ms": r.ratio * level,
                     "measured_ms": math.sqrt(t.ratio * r.ratio) * level,
                     "test_raw_ms": t.ms(), "retest_raw_ms": r.ms(),
                     "test_spread": t.spread, "retest_spread": r.spread,
                     "other_load": t.other_load,
                     **predictions(space, arch, table, roofline)})
    col = lambda key: np.array([row[key] for row in rows])  # noqa: E731
    truth, t_ms, r_ms = col("measured_ms"), col("test_ms"), col("retest_ms")
    metrics = {p: {"vs_truth": accuracy(col(p), truth), "vs_test": accuracy(col(p), t_ms),
                   "vs_retest": accuracy(col(p), r_ms)} for p in PREDICTORS}
    best = col("lut_default")
    metrics["lut_default"]["vs_truth"]["acc10_within_noise"] = excused(best, truth, t_ms,
                                                                       r_ms, 0.10)
    metrics["lut_default"]["vs_truth"]["acc5_within_noise"] = excused(best, truth, t_ms,
                                                                      r_ms, 0.05)
    test_retest = {"ratio": accuracy(r_ms, t_ms),
                   "raw_ms": accuracy(col("retest_raw_ms"), col("test_raw_ms"))}
    test_retest["perfect_predictor_noise_mape"] = test_retest["ratio"]["mape"] / math.sqrt(2)
    entries = table.entries.values()
    fix = table.correction
    result = {
        "task": space.task.to_dict(), "size": space.size(), "depths": list(space.depths),
        "input_shape": list(space.task.input_shape),
        "reference": table.reference.model_dump(mode="json", exclude={"arch"}),
        "lut_build": {"blocks": len(table), "chains": len(state["bundle"].chains),
                      "calibration_networks": len(state["bundle"].networks),
                      "export_s": round(state["export_s"], 1),
                      "timing_s": round(state["timing_s"], 1),
                      "total_s": round(state["export_s"] + state["timing_s"], 1),
                      "median_block_spread": float(np.median([e.spread for e in entries])),
                      "mean_other_load": float(np.mean([e.other_load or 0.0 for e in entries])),
                      "reference_ms": level, "thread_pool": table.timing_policy.get(
                          "thread_pool"),
                      "call_overhead_us": round(table.overhead_ms * 1000, 1)},
        "boundary": None if table.boundary is None else table.boundary.model_dump(mode="json"),
        "correction": None if fix is None else {
            **fix.model_dump(mode="json", exclude={"points", "loo_mape"}),
            "describe": fix.describe(), "loo_mape": dict(sorted(fix.loo_mape.items(),
                                                                key=lambda kv: kv[1]))},
        "phases": {"test_s": round(walls["test"], 1), "retest_s": round(walls["retest"], 1),
                   "test_reference_ms": test[0].reference_ms,
                   "retest_reference_ms": retest[0].reference_ms},
        "evaluated_archs": len(rows),
        "measured_ms_range": [float(truth.min()), float(truth.max())],
        "metrics": metrics,
        "test_retest": test_retest,
        "rows": rows,
    }
    result["targets_met"] = verdict(name, result)
    return result


def verdict(name: str, result: dict) -> dict[str, bool]:
    """Each target met outright, or (marked `_within_noise`) within the measurement's noise."""
    goal = TARGETS[name]
    m = result["metrics"]["lut_default"]["vs_truth"]
    noise = result["test_retest"]["perfect_predictor_noise_mape"]
    out = {"acc10": m["acc10"] >= goal["acc10"], "mape": m["mape"] <= goal["mape"],
           "kendall_tau": m["kendall_tau"] >= goal["kendall_tau"]}
    if not out["acc10"]:
        out["acc10_within_noise"] = m["acc10_within_noise"] >= goal["acc10"]
    if not out["mape"]:
        out["mape_within_noise"] = m["mape"] <= goal["mape"] + noise
    if "acc5" in goal:
        out["acc5"] = m["acc5"] >= goal["acc5"]
        if not out["acc5"]:
            out["acc5_within_noise"] = m["acc5_within_noise"] >= goal["acc5"]
    if "test_retest_mape" in goal:
        out["test_retest_mape"] = (result["test_retest"]["ratio"]["mape"]
                                   <= goal["test_retest_mape"])
    if "build_s" in goal:
        out["build_s"] = result["lut_build"]["total_s"] <= goal["build_s"]
    return out


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=50)
    parser.add_argument("--calibrate", type=int, default=16)
    parser.add_argument("--chains", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6,
                        help="rounds of the test and retest phases (the table keeps the "
                        "policy's own)")
    parser.add_argument("--spaces", default=",".join(SPACES),
                        help=f"which spaces, comma-separated (default: {','.join(SPACES)})")
    parser.add_argument("--space", action="append", default=[], metavar="NAME=PREP",
                        help="use an existing PREP for hippocampus or xray")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads for the "
                        "table and the networks (default: the host's cores, as `mias "
                        "profile`)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--save-tables", type=Path, help="also keep the host tables here")
    args = parser.parse_args(argv)
    given = {k: Path(v) for k, v in (s.split("=", 1) for s in args.space)}
    names = [n for n in args.spaces.split(",") if n]
    if not names or set(names) - set(SPACES):
        parser.error(f"--spaces takes names among {', '.join(SPACES)}")
    started = time.perf_counter()
    torch.set_num_threads(1)  # no OpenMP workers of the exporter spinning beside a timing
    device = measure_peaks(create_device("host"))
    policy = TimingPolicy()
    network_policy = dataclasses.replace(policy, rounds=args.rounds)
    with tempfile.TemporaryDirectory(prefix="mias-bench-") as tmp:
        work = Path(tmp)
        states = {name: build_table(name, prepared_space(name, given, work), work, args, device,
                                    policy) for name in names}
        tests = {name: time_phase(name, states[name], args, network_policy, 11, "test")
                 for name in names}
        retests = {name: time_phase(name, states[name], args, network_policy, 12, "retest")
                   for name in names}
        spaces = {name: analyse(name, states[name], tests[name][0], retests[name][0],
                                {"test": tests[name][1], "retest": retests[name][1]}, device)
                  for name in names}
    write_json(args.out, {**header(device, policy, network_policy, args.threads),
                          "spaces": spaces, "wall_s": round(time.perf_counter() - started, 1)})
    for name, res in spaces.items():
        for pred, m in res["metrics"].items():
            m = m["vs_truth"]
            log(f"{name:>11} {pred:>13}: MAPE {m['mape']:.2%}  acc10 {m['acc10']:.0%}  "
                f"acc5 {m['acc5']:.0%}  τ {m['kendall_tau']:.3f}")
        tr = res["test_retest"]["ratio"]
        log(f"{name:>11} test–retest: MAPE {tr['mape']:.2%}  acc2 {tr['acc2']:.0%}  "
            f"τ {tr['kendall_tau']:.3f}; networks {res['measured_ms_range'][0]:.1f}–"
            f"{res['measured_ms_range'][1]:.1f} ms; table {res['lut_build']['total_s']:.0f} s; "
            f"targets {res['targets_met']}")
    log(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


def header(device: DeviceProfile, policy: TimingPolicy, network_policy: TimingPolicy,
           threads: int | None) -> dict:
    """What every result file says about how and where it was measured."""
    return {
        "schema_version": 3,
        "benchmark": "latency_predictor",
        "protocol": " ".join(__doc__.split("\n\n")[1].split()),
        "timing_protocol": PROTOCOL,
        "environment": {
            "cpu": device.cpu, "cores": device.cores.value, "threads": threads or device.threads,
            "runtime": runtime_label(), "onnxruntime": ort.__version__,
            "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "host_peak_gflops": device.peak_gflops,
            "host_bandwidth_gbs": device.memory_bandwidth_gbs.value,
        },
        "timing_policy": dataclasses.asdict(policy),
        "network_timing_policy": dataclasses.asdict(network_policy),
        "predictors": PREDICTORS,
        "targets": TARGETS,
    }


if __name__ == "__main__":
    sys.exit(main())
