"""Shared fixtures: tiny ONNX models, machine fingerprints, and a hand-made latency table."""

from __future__ import annotations

import numpy as np
import pytest

from mias.hardware import LatencyTable, MachineFingerprint, Timing, create_device, export
from mias.hardware.lut import LutEntry, ReferenceNetwork
from mias.hardware.timing import TimingPolicy
from mias.records import TaskSpec
from mias.space import BlockChoice, SearchSpace
from mias.space.geometry import plan_stages

FAST = TimingPolicy(rounds=2, pairs=2, warmup_runs=1, burst_ms=2.0, max_burst=4)
PI3_CPUINFO = """processor\t: 0
BogoMIPS\t: 38.40
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd03

Hardware\t: BCM2835
Model\t: Raspberry Pi 3 Model B Rev 1.2
"""


def timing(ms: float, reps: int = 10) -> Timing:
    """A timing of `ms` at a reference level of 1 ms (ratio = ms)."""
    return Timing(ratio=ms, spread=0.01, round_ratios=(ms, ms), reference_ms=1.0, min_ms=ms,
                  median_ms=ms, q1_ms=ms * 0.9, q3_ms=ms * 1.1, iqr_ms=ms * 0.2,
                  repetitions=reps, rounds=2)


def fingerprint(arch: str, cpu_model: str, cores: int = 4) -> MachineFingerprint:
    return MachineFingerprint(arch=arch, cpu_model=cpu_model, cores=cores, os="Linux 6.1",
                              python="3.11.7", runtimes={"onnxruntime": "1.32.0"},
                              threads=cores)


PI3 = fingerprint("aarch64", "Cortex-A53")
WORKSTATION = fingerprint("x86_64", "AMD EPYC 7B13", cores=2)


def write_conv(path, channels: int = 4, size: int = 8) -> None:
    """A 2D 3×3 convolution + ReLU on a [1, C, size, size] input."""
    export.write_conv(path, channels, size, size)


@pytest.fixture
def pretend_pi3(tmp_path, monkeypatch):
    """Make this process read a Raspberry Pi 3's /proc/cpuinfo and machine type."""
    import platform

    from mias.hardware import machine

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(PI3_CPUINFO)
    monkeypatch.setattr(machine, "_CPUINFO", cpuinfo)
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    return cpuinfo


@pytest.fixture
def conv_onnx(tmp_path):
    path = tmp_path / "conv.onnx"
    write_conv(path)
    return path


@pytest.fixture
def hand_table() -> LatencyTable:
    """Three blocks of 1, 2 and 4 ms, and a 0.1 ms per-call overhead, timed on a Pi 3."""
    entries = {k: LutEntry(**timing(v).model_dump(), flops=1000, params=10)
               for k, v in {"a": 1.0, "b": 2.0, "c": 4.0}.items()}
    reference = ReferenceNetwork(arch_id="0" * 12, arch={}, flops=1000, chosen="by hand")
    return LatencyTable(reference=reference, device=create_device("rpi3"), machine=PI3,
                        runtime="onnxruntime 1.32.0 CPU", libraries={"numpy": np.__version__},
                        threads=4, timing_policy={"rounds": 6}, reference_ms=1.0,
                        created="2025-01-01T00:00:00+00:00", call_overhead=timing(0.1),
                        entries=entries)


@pytest.fixture
def tiny_space() -> SearchSpace:
    """2D segmentation of 8×8 images, depth 1: 8 distinct blocks, 2 architectures."""
    task = TaskSpec(kind="segmentation", spatial_dims=2, in_channels=1, input_shape=(8, 8),
                    num_classes=2, label_names=("background", "lesion"), modality="CT",
                    spacing=(1.0, 1.0))

    def conv(width: int) -> BlockChoice:
        return BlockChoice(op="conv", kernel=(3, 3), width=width)

    return SearchSpace(task=task, stem_width=4, depths=(1,),
                       stages=tuple(plan_stages(task.input_shape, task.spacing, 1)),
                       encoder=((conv(4), conv(8)), (conv(8),)), decoder=((conv(4),),))
