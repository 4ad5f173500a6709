"""Export a search space's blocks (and a few whole networks) to ONNX: the block bundle.

This is the only part of `mias.hardware` that needs torch. Each block is exported alone, at
the resolution and width at which it occurs (its `BlockConfig`), batch 1, fp32, by the same
exporter (`mias.export`) as the deployed model, so the table times what the device runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from mias import __version__
from mias.atomic import atomic_dir
from mias.export import OPSET, export_onnx
from mias.hardware.bundle import BlockBundle, BundleBlock, BundleNetwork
from mias.space import (
    Architecture,
    BlockConfig,
    SearchSpace,
    block_example_inputs,
    block_flops,
    block_params,
    build_block,
    build_network,
)

PROBE_FILE = "probe.onnx"
REFERENCE_FILE = "reference.onnx"
REFERENCE_SHAPE = (32, 48, 48)  # channels, height, width: about half a millisecond on 2 cores


def export_bundle(space: SearchSpace, out: str | Path, *, calibration: int = 5, seed: int = 0,
                  overwrite: bool = False,
                  progress: Callable[[str, int, int], None] | None = None) -> BlockBundle:
    """Write every block of `space`, `calibration` random networks, the probe and the
    reference kernel to `out`.

    Calibration networks are drawn with `seed`, distinct, so a benchmark can keep its own
    evaluation networks apart by drawing with another seed.
    """
    configs = space.all_block_configs()
    archs = sample_distinct(space, calibration, np.random.default_rng(seed))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "blocks").mkdir()
        (tmp / "networks").mkdir()
        write_probe(tmp / PROBE_FILE)
        write_reference(tmp / REFERENCE_FILE)
        blocks = []
        for i, config in enumerate(configs):
            file = f"blocks/{i:04d}.onnx"
            export_block(config, tmp / file)
            blocks.append(BundleBlock(key=config.key, file=file, flops=block_flops(config),
                                      params=block_params(config)))
            if progress:
                progress("export blocks", i + 1, len(configs))
        networks = []
        for arch in archs:
            file = f"networks/{arch.id}.onnx"
            export_network(space, arch, tmp / file, seed=seed)
            networks.append(BundleNetwork(arch_id=arch.id, arch=arch.to_dict(), file=file,
                                          keys=tuple(c.key for c in space.block_configs(arch))))
        bundle = BlockBundle(space_id=space_id(space), opset=OPSET, probe=PROBE_FILE,
                             reference=REFERENCE_FILE,
                             libraries={"mias": __version__, "torch": torch.__version__,
                                        "onnx": onnx.__version__},
                             blocks=tuple(blocks), networks=tuple(networks))
        bundle.save(tmp)
    return bundle


def export_block(config: BlockConfig, path: Path) -> None:
    """One block, standalone: `forward(x)`, or `forward(x, skip)` for a decoder block."""
    inputs = block_example_inputs(config)
    export_onnx(build_block(config).eval(), inputs, path,
                input_names=("x", "skip")[: len(inputs)], output_names=("y",))


def export_network(space: SearchSpace, arch: Architecture, path: Path, seed: int = 0) -> None:
    """A whole standalone network at the space's input shape, batch 1."""
    stem = space.block_configs(arch)[0]
    x = torch.randn(1, stem.in_channels, *stem.in_shape,
                    generator=torch.Generator().manual_seed(seed))
    export_onnx(build_network(space, arch, seed=seed).eval(), (x,), path, input_names=("x",),
                output_names=("y",))


def write_probe(path: Path) -> None:
    """A one-element graph: timing it measures the fixed cost of one session run."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.save(model, path)


def write_reference(path: Path) -> None:
    """The fixed reference kernel every timing is a ratio to: a seeded 3×3 convolution +
    ReLU, the commonest operation of the space, identical in every bundle."""
    write_conv(path, *REFERENCE_SHAPE)


def write_conv(path: Path, channels: int, height: int, width: int, seed: int = 0) -> None:
    """A 2D 3×3 convolution (`channels` → `channels`, seeded weights) + ReLU."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(
        (rng.standard_normal((channels, channels, 3, 3)) / (3 * channels ** 0.5))
        .astype(np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, height, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, height, width])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "conv", [x], [y], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), path)


def sample_distinct(space: SearchSpace, n: int, rng: np.random.Generator,
                    exclude: Sequence[Architecture] = ()) -> list[Architecture]:
    """`n` distinct random architectures not in `exclude` (fewer if the space is smaller)."""
    seen = {a.id for a in exclude}
    out: list[Architecture] = []
    for _ in range(100 * max(n, 1)):
        if len(out) == n:
            break
        arch = space.sample(rng)
        if arch.id not in seen:
            seen.add(arch.id)
            out.append(arch)
    return out


def space_id(space: SearchSpace) -> str:
    """Stable hash of the space's canonical JSON: which space a table was measured for."""
    blob = json.dumps(space.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
