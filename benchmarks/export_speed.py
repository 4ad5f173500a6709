"""ONNX Runtime fp32 and int8 against PyTorch eager on a demo-sized final model, same run.

With `--run RUN` the run's own `RUN/final/model.pt` is used (e.g. after `mias demo`);
without it, the demo task (synthetic hippocampus, 40 cases, prepared at 40×56×40) is built
in a temporary folder and the lightest of a few sampled architectures stands in, with its
weights as initialised and batch-norm statistics from training cases (the JSON says so).
`mias export --int8` then gives the int8 metric change on the validation split; the three
runtimes are timed interleaved in one run on the first validation case (batch 1), cropped
to the exported window (the training patch; the whole input for a model without one).
Target: ONNX fp32 ≥ 2× faster than eager.

    .venv/bin/python benchmarks/export_speed.py [--run RUN] [--threads 2] [--budget 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from mias.atomic import read_json, write_json
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize
from mias.export import arrays, latency
from mias.export.exporter import export_run, window
from mias.export.runtime import open_model, run
from mias.space import SearchSpace, build_network, network_flops
from mias.train.data import PreparedData
from mias.train.model_file import ModelFile

RESULTS = Path(__file__).parent / "results" / "export_speed.json"
TARGET_SPEEDUP = 2.0


def demo_run(root: Path) -> tuple[Path, str]:
    """The demo task prepared under `root`, and a RUN holding an untrained final model."""
    data = synthesize("hippocampus", root / "data", cases=40, seed=0)
    prep = prepare(data, root / "prep", PrepareConfig(workers=1))
    space = SearchSpace.load(prep / "search_space.json")
    rng = np.random.default_rng(0)
    arch = min((space.sample(rng) for _ in range(8)), key=lambda a: network_flops(space, a))
    net = build_network(space, arch, seed=0)
    calibrate_batch_norm(net, PreparedData.load(prep, space=space))
    ModelFile(space, arch, net.state_dict(), read_json(prep / "manifest.json")["preprocessing"],
              {"prep": str(prep), "target": "host"}).save(root / "run" / "final" / "model.pt")
    return root / "run", ("as initialised, batch-norm statistics from 8 training cases (no "
                          "RUN given: lightest of 8 sampled architectures)")


def calibrate_batch_norm(net: torch.nn.Module, data: PreparedData, cases: int = 8) -> None:
    """Running statistics from real inputs, so activations have a trained network's scale."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for case in data.split("train")[:cases]:
            net(torch.from_numpy(case.image[None]))
    net.eval()


def measure(run_dir: Path, weights: str, threads: int, budget: float) -> dict:
    record = export_run(run_dir, int8=True, overwrite=True, latency_budget_s=5.0)
    model = ModelFile.load(run_dir / "final" / "model.pt")
    net = model.network()
    prep = PreparedData.load(model.meta.get("prep") or read_json(
        run_dir / "search" / "result.json")["prep"], space=model.space)
    x = arrays.centre_crop_or_pad(prep.split("val")[0].image, window(model))[0][None]
    tx = torch.from_numpy(x)
    torch.set_num_threads(threads)
    fp32 = open_model(run_dir / "export" / "model.onnx", threads)
    int8 = open_model(run_dir / "export" / "model.int8.onnx", threads)

    def eager() -> None:
        with torch.inference_mode():
            net(tx)

    samples = latency.interleaved_ms({"pytorch_eager": eager,
                                      "ort_fp32": lambda: run(fp32, x),
                                      "ort_int8": lambda: run(int8, x)}, budget_s=budget)
    runtime = {"pytorch_eager": f"torch {torch.__version__} eager (inference_mode)",
               "ort_fp32": f"onnxruntime {ort.__version__} CPU",
               "ort_int8": f"onnxruntime {ort.__version__} CPU"}
    figures = {k: latency.host_figure(v, runtime[k], threads) for k, v in samples.items()}
    speedup = latency.ratio(samples["pytorch_eager"], samples["ort_fp32"])
    q = record["int8"]
    return {
        "schema_version": 1, "arch_id": model.arch.id, "weights": weights,
        "input_shape": list(window(model)), "threads": threads,
        "machine": f"{platform.machine()} {platform.processor() or platform.platform()}",
        "latency": {k: f.to_dict() | {"label": f.label} for k, f in figures.items()},
        "speedup_fp32_over_eager": speedup, "target_speedup": TARGET_SPEEDUP,
        "target_met": speedup >= TARGET_SPEEDUP,
        "int8_latency_ratio_over_fp32": latency.ratio(samples["ort_int8"], samples["ort_fp32"]),
        "int8_metric": q["metric"], "int8_metric_change": q["metric_change"],
        "int8_verdict": q["verdict"], "fp32_parity_max_abs_diff": record["fp32"]["max_abs_diff"],
        "note": "measured on this host, interleaved in one run; not a Raspberry Pi figure",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run with RUN/final/model.pt")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mias-export-speed-") as tmp:
        run_dir, weights = (args.run, "trained (RUN/final/model.pt)") if args.run else \
            demo_run(Path(tmp))
        result = measure(run_dir, weights, args.threads, args.budget)
    write_json(RESULTS, result)
    lat = result["latency"]
    print(f"eager {lat['pytorch_eager']['value']:.1f} ms, ORT fp32 {lat['ort_fp32']['value']:.1f}"
          f" ms, int8 {lat['ort_int8']['value']:.1f} ms ({lat['ort_fp32']['label']}); fp32 "
          f"speed-up {result['speedup_fp32_over_eager']:.2f}× (target ≥ {TARGET_SPEEDUP}×); "
          f"int8 {result['int8_metric']} change {result['int8_metric_change']:+.4f}")


if __name__ == "__main__":
    main()
