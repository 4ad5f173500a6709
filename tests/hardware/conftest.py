"""Shared fixtures: tiny ONNX models built with onnx.helper, and a hand-made latency table."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mias.hardware import LatencyTable, Timing, create_device
from mias.hardware.lut import LutEntry
from mias.hardware.timing import TimingPolicy
from mias.records import TaskSpec
from mias.space import BlockChoice, SearchSpace
from mias.space.geometry import plan_stages

FAST = TimingPolicy(warmup_runs=1, warmup_s=0.0, min_reps=5, max_reps=20, max_time_s=0.05,
                    retries=0)


def timing(median_ms: float, reps: int = 10) -> Timing:
    return Timing(median_ms=median_ms, q1_ms=median_ms * 0.9, q3_ms=median_ms * 1.1,
                  iqr_ms=median_ms * 0.2, repetitions=reps, rel_ci=0.01, stable=True)


def write_conv(path, channels: int = 4, size: int = 8) -> None:
    """A 2D 3×3 convolution + ReLU on a [1, C, size, size] input."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((channels, channels, 3, 3))
                                .astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, size, size])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "conv", [x], [y], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.fixture
def conv_onnx(tmp_path):
    path = tmp_path / "conv.onnx"
    write_conv(path)
    return path


@pytest.fixture
def hand_table() -> LatencyTable:
    """Three blocks of 1, 2 and 4 ms, and a 0.1 ms per-call overhead, on rpi3."""
    entries = {k: LutEntry(**timing(v).model_dump(), flops=1000, params=10)
               for k, v in {"a": 1.0, "b": 2.0, "c": 4.0}.items()}
    return LatencyTable(device=create_device("rpi3"), runtime="onnxruntime 1.32.0 CPU",
                        libraries={"numpy": np.__version__}, threads=4,
                        timing_policy={"min_reps": 5}, created="2025-01-01T00:00:00+00:00",
                        call_overhead=timing(0.1), entries=entries)


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
