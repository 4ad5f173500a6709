"""Export a search space's blocks (and a few whole networks) to ONNX: the block bundle.

This is the only part of `mias.hardware` that needs torch. Each block is exported alone, at
the resolution and width at which it occurs (its `BlockConfig`), batch 1, fp32, by the same
exporter (`mias.onnx_export`) as the deployed model, so the table times what the device runs.
Beside the blocks go the reference network, calibration networks, and chains of two
consecutive blocks of those networks (what a boundary between blocks costs inside a network).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from mias import __version__
from mias.atomic import atomic_dir
from mias.hardware.bundle import (
    BlockBundle,
    BundleBlock,
    BundleChain,
    BundleNetwork,
    BundleReference,
)
from mias.onnx_export import OPSET, export_onnx
from mias.space import (
    Architecture,
    BlockConfig,
    SearchSpace,
    block_example_inputs,
    block_flops,
    block_params,
    build_block,
    build_network,
    network_flops,
)

PROBE_FILE = "probe.onnx"
REFERENCE_FILE = "reference.onnx"
KERNEL_SHAPE = (32, 48, 48)  # channels, height, width: about half a millisecond on 2 cores
REFERENCE_DRAWS = 64
REFERENCE_QUANTILE = 0.2
REFERENCE_SEED = 20_000


def reference_arch(space: SearchSpace) -> Architecture:
    """The space's reference network: the 20th FLOPs percentile of 64 fixed draws.

    Long enough to feel the memory phases the space's networks feel, short enough not to
    dominate the timing, and the same for every bundle of the space (its own fixed seed).
    """
    rng = np.random.default_rng(REFERENCE_SEED)
    pool = sorted((space.sample(rng) for _ in range(REFERENCE_DRAWS)),
                  key=lambda a: (network_flops(space, a), a.id))
    return pool[int(REFERENCE_QUANTILE * (len(pool) - 1))]


def chain_keys(space: SearchSpace, archs: Sequence[Architecture], n: int,
               rng: np.random.Generator) -> list[tuple[BlockConfig, BlockConfig]]:
    """Up to `n` distinct pairs of consecutive blocks of `archs` (stem and head included)."""
    pairs: dict[tuple[str, str], tuple[BlockConfig, BlockConfig]] = {}
    for arch in archs:
        configs = space.block_configs(arch)
        for a, b in itertools.pairwise(configs):
            pairs.setdefault((a.key, b.key), (a, b))
    found = list(pairs.values())
    order = rng.permutation(len(found))[:n]
    return [found[i] for i in sorted(order)]


def export_bundle(space: SearchSpace, out: str | Path, *, calibration: int = 16,
                  chains: int = 32, seed: int = 0, overwrite: bool = False,
                  progress: Callable[[str, int, int], None] | None = None) -> BlockBundle:
    """Write every block of `space`, `calibration` random networks, `chains` chains of two
    consecutive blocks of those networks, the probe and the reference network to `out`.

    Calibration networks are drawn with `seed`, distinct and never the reference, so a
    benchmark can keep its own evaluation networks apart by drawing with another seed.
    """
    configs = space.all_block_configs()
    ref = reference_arch(space)
    archs = sample_distinct(space, calibration, np.random.default_rng(seed), exclude=[ref])
    pairs = chain_keys(space, archs, chains, np.random.default_rng(seed + 1))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for sub in ("blocks", "chains", "networks"):
            (tmp / sub).mkdir()
        write_probe(tmp / PROBE_FILE)
        export_network(space, ref, tmp / REFERENCE_FILE, seed=REFERENCE_SEED)
        reference = BundleReference(
            file=REFERENCE_FILE, arch_id=ref.id, arch=ref.to_dict(),
            flops=network_flops(space, ref),
            chosen=f"{REFERENCE_QUANTILE:.0%} FLOPs percentile of {REFERENCE_DRAWS} draws "
                   f"(seed {REFERENCE_SEED})")
        blocks = []
        for i, config in enumerate(configs):
            file = f"blocks/{i:04d}.onnx"
            export_block(config, tmp / file)
            blocks.append(BundleBlock(key=config.key, file=file, flops=block_flops(config),
                                      params=block_params(config)))
            if progress:
                progress("export blocks", i + 1, len(configs))
        bundle_chains = []
        for i, chain in enumerate(pairs):
            file = f"chains/{i:04d}.onnx"
            export_chain(chain, tmp / file)
            bundle_chains.append(BundleChain(file=file, keys=tuple(c.key for c in chain)))
        networks = []
        for arch in archs:
            file = f"networks/{arch.id}.onnx"
            export_network(space, arch, tmp / file, seed=seed)
            networks.append(BundleNetwork(arch_id=arch.id, arch=arch.to_dict(), file=file,
                                          keys=tuple(c.key for c in space.block_configs(arch))))
        bundle = BlockBundle(space_id=space_id(space), opset=OPSET, probe=PROBE_FILE,
                             reference=reference,
                             libraries={"mias": __version__, "torch": torch.__version__,
                                        "onnx": onnx.__version__},
                             blocks=tuple(blocks), chains=tuple(bundle_chains),
                             networks=tuple(networks))
        bundle.save(tmp)
    return bundle


def export_block(config: BlockConfig, path: Path) -> None:
    """One block, standalone: `forward(x)`, or `forward(x, skip)` for a decoder block."""
    inputs = block_example_inputs(config)
    export_onnx(build_block(config).eval(), inputs, path,
                input_names=("x", "skip")[: len(inputs)], output_names=("y",))


class _Chain(torch.nn.Module):
    """Blocks run one after the other; a decoder block takes its skip as an extra input."""

    def __init__(self, configs: Sequence[BlockConfig]) -> None:
        super().__init__()
        self.roles = [c.role for c in configs]
        self.blocks = torch.nn.ModuleList(build_block(c) for c in configs)

    def forward(self, x: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        pending = iter(skips)
        for role, block in zip(self.roles, self.blocks, strict=True):
            x = block(x, next(pending)) if role == "dec" else block(x)
        return x


def export_chain(configs: Sequence[BlockConfig], path: Path) -> None:
    """Consecutive blocks as one graph: `forward(x, *skips)`, one skip per decoder block."""
    inputs = list(block_example_inputs(configs[0]))
    inputs += [block_example_inputs(c)[1] for c in configs[1:] if c.role == "dec"]
    names = ["x", *(f"skip{i}" for i in range(len(inputs) - 1))]
    export_onnx(_Chain(configs).eval(), tuple(inputs), path, input_names=names,
                output_names=("y",))


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


def write_reference_kernel(path: Path) -> None:
    """A fixed reference for timing a model outside any search space: a seeded 3×3
    convolution + ReLU, long enough to be run in bursts beside the model."""
    write_conv(path, *KERNEL_SHAPE)


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
