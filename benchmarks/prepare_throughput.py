"""Throughput of `mias prepare` vs a plain single-process MONAI pipeline, same cases, same run.

The MONAI baseline does the minimum (LoadImage, EnsureChannelFirst, Orientation, Spacing,
NormalizeIntensity) and writes nothing; `mias prepare` additionally imputes, crops/pads,
computes label statistics, the demographic report, the split and the search space, and
writes everything. Both are timed alternately (`--repeats`) after a warm-up read of the
files, and the ratio of the medians is reported.

    .venv/bin/python benchmarks/prepare_throughput.py [--cases 120] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mias.atomic import write_json
from mias.data.prepare import PrepareConfig, prepare
from mias.data.synth import synthesize

RESULTS = Path(__file__).parent / "results"


def monai_baseline(images: list[Path], spacing: tuple[float, ...]) -> float:
    """Seconds for the plain single-process MONAI pipeline over `images`."""
    import torch
    from monai.transforms import (
        Compose,
        EnsureChannelFirst,
        LoadImage,
        NormalizeIntensity,
        Orientation,
        Spacing,
    )

    torch.set_num_threads(1)
    pipeline = Compose([LoadImage(image_only=True), EnsureChannelFirst(),
                        Orientation(axcodes="RAS"), Spacing(pixdim=spacing),
                        NormalizeIntensity(nonzero=True, channel_wise=True)])
    start = time.perf_counter()
    for path in images:
        out = pipeline(str(path))
        assert np.isfinite(np.asarray(out)).all()
    return time.perf_counter() - start


def _median_spacing(images: list[Path]) -> tuple[float, ...]:
    """The target spacing both pipelines resample to (the dataset median, as mias plans)."""
    import nibabel as nib

    zooms = np.array([nib.load(p).header.get_zooms()[:3] for p in images], dtype=float)
    return tuple(float(z) for z in np.median(zooms, axis=0))


def mias_prepare(data: Path, work: Path, workers: int, run: int) -> float:
    start = time.perf_counter()
    prepare(data, work / f"prep-{run}", PrepareConfig(workers=workers))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hippocampus", help="synthetic generator")
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = synthesize(args.task, work / "data", cases=args.cases, seed=0)
        images = sorted((data / "imagesTr").glob("*.nii.gz"))
        for path in images:
            path.read_bytes()
        spacing = _median_spacing(images)
        base, ours = [], []
        for run in range(args.repeats):
            base.append(monai_baseline(images, spacing))
            ours.append(mias_prepare(data, work, args.workers, run))
        n = len(images)
        result = {
            "schema_version": 1,
            "benchmark": "prepare_throughput",
            "command": "python benchmarks/prepare_throughput.py " + " ".join(sys.argv[1:]),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "dataset": {"generator": args.task, "cases": n, "format": "nifti (MSD layout)"},
            "workers": args.workers,
            "repeats": args.repeats,
            "monai_seconds": base,
            "mias_seconds": ours,
            "monai_cases_per_s": n / statistics.median(base),
            "mias_cases_per_s": n / statistics.median(ours),
            "ratio_mias_over_monai": statistics.median(base) / statistics.median(ours),
            "target_ratio": 1.5,
        }
    suffix = "" if args.task == "hippocampus" else f"-{args.task}"
    write_json(RESULTS / f"prepare_throughput{suffix}.json", result)
    print(f"MONAI single-process: {result['monai_cases_per_s']:.1f} cases/s; "
          f"mias prepare ({args.workers} workers): {result['mias_cases_per_s']:.1f} cases/s; "
          f"ratio {result['ratio_mias_over_monai']:.2f}x (target >= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
