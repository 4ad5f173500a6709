"""Build a latency table: time every block of a bundle with its chains and networks.

`profile_bundle` is the board-side path and imports only numpy + onnxruntime;
`profile_space` is the one-machine path (export with torch, then the same timing), so a
host table and a board table are made by exactly the same measurement code. The probe,
the blocks, the block chains and the calibration networks are timed in one phase of
randomised rounds, bracketed by the reference network, so the boundary costs learned from
the chains and the correction fitted on the networks see the blocks' conditions.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from mias import __version__
from mias.hardware.bundle import BlockBundle
from mias.hardware.devices import DeviceProfile
from mias.hardware.figures import Figure
from mias.hardware.lut import (
    BoundaryCost,
    CalibrationPoint,
    Correction,
    LatencyTable,
    LutEntry,
    ReferenceNetwork,
    boundary_melems,
)
from mias.hardware.machine import MachineFingerprint, require_this_machine, resolve_threads
from mias.hardware.timing import (
    PROTOCOL,
    Timing,
    TimingPolicy,
    runtime_label,
    time_model,
    time_models,
)
from mias.space.configs import BlockConfig

if TYPE_CHECKING:
    from mias.space import SearchSpace

Progress = Callable[[str, int, int], None]


def profile_bundle(directory: str | Path, device: DeviceProfile, *, threads: int | None = None,
                   policy: TimingPolicy | None = None, seed: int = 0,
                   progress: Progress | None = None) -> LatencyTable:
    """Time the probe, every block, chain and calibration network of the bundle in
    `directory`, in one phase beside its reference network.

    Refused (`InputError`) unless this machine is `device`. The probe (a one-element graph)
    measures the fixed cost of one session run, which the table subtracts from each block.
    """
    machine = require_this_machine(device.name, device.runs_on)
    threads = resolve_threads(threads, device.threads)
    directory = Path(directory)
    bundle = BlockBundle.load(directory)
    policy = policy or TimingPolicy()
    report = progress or _quiet
    models = [directory / bundle.probe, *(directory / b.file for b in bundle.blocks),
              *(directory / c.file for c in bundle.chains),
              *(directory / n.file for n in bundle.networks)]
    timings = time_models(models, directory / bundle.reference.file, threads=threads,
                          policy=policy, seed=seed,
                          progress=lambda done, total: report("time blocks", done, total))
    n_blocks, n_chains = len(bundle.blocks), len(bundle.chains)
    return assemble_table(bundle, device, machine.model_copy(update={"threads": threads}),
                          policy=policy, pool=timings[0].thread_pool or "?",
                          reference_ms=timings[0].reference_ms,
                          overhead=timings[0], blocks=timings[1:1 + n_blocks],
                          chains=timings[1 + n_blocks:1 + n_blocks + n_chains],
                          networks=timings[1 + n_blocks + n_chains:])


def assemble_table(bundle: BlockBundle, device: DeviceProfile, machine: MachineFingerprint, *,
                   policy: TimingPolicy, pool: str, reference_ms: float, overhead: Timing,
                   blocks: Sequence[Timing], chains: Sequence[Timing],
                   networks: Sequence[Timing]) -> LatencyTable:
    """The table from the timings of the bundle's probe, blocks, chains and networks."""
    entries = {block.key: LutEntry(**timing.model_dump(), flops=block.flops, params=block.params)
               for block, timing in zip(bundle.blocks, blocks, strict=True)}
    ref = bundle.reference
    table = LatencyTable(
        protocol=PROTOCOL,
        reference=ReferenceNetwork(arch_id=ref.arch_id, arch=ref.arch, flops=ref.flops,
                                   chosen=ref.chosen),
        device=device, machine=machine, runtime=runtime_label(), threads=machine.threads,
        dtype=bundle.dtype, batch=bundle.batch, libraries=_libraries(bundle),
        reference_ms=reference_ms, call_overhead=overhead,
        timing_policy={**dataclasses.asdict(policy), "thread_pool": pool},
        space_id=bundle.space_id,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), entries=entries,
    )
    table.check_machine()
    table = table.model_copy(update={"boundary": _boundary_cost(table, bundle, chains)})
    points = []
    for net, timing in zip(bundle.networks, networks, strict=True):
        keys = list(net.keys)
        configs = [BlockConfig.from_key(k) for k in keys]
        points.append(CalibrationPoint(
            arch_id=net.arch_id, warm_ms=table.sum_ms(keys, "warm"),
            cold_ms=table.sum_ms(keys, "cold"), chain_adjust_ms=table.chain_adjust_ms(configs),
            boundaries=len(keys) - 1, boundary_melems=boundary_melems(configs),
            measured_ms=timing.ms(reference_ms), measured=timing))
    fit = Correction.fit(points, chains_available=table.boundary is not None) if points else None
    return table.with_correction(fit)


def _boundary_cost(table: LatencyTable, bundle: BlockBundle,
                   chains: Sequence[Timing]) -> BoundaryCost | None:
    """Each chain's boundary: chain − (first + second − one call), against the boundary's
    size (the second block's main input)."""
    samples = []
    for chain, timing in zip(bundle.chains, chains, strict=True):
        alone = table.sum_ms(list(chain.keys), "warm")
        second = BlockConfig.from_key(chain.keys[-1])
        melems = second.in_channels * math.prod(second.in_shape) / 1e6
        samples.append((melems, timing.ms(table.reference_ms) - alone))
    return BoundaryCost.fit(samples)


def measure_latency(model: str | Path, reference: str | Path, device: DeviceProfile, *,
                    threads: int | None = None, policy: TimingPolicy | None = None,
                    seed: int = 0) -> Figure:
    """Whole-model latency on this machine, as a `measured` figure for `device` (refused
    unless this machine is `device`)."""
    require_this_machine(device.name, device.runs_on)
    threads = resolve_threads(threads, device.threads)
    timing = time_model(model, reference, threads=threads, policy=policy, seed=seed)
    return Figure(value=timing.ms(), unit="ms", source="measured",
                  device=device.name, runtime=runtime_label(), threads=threads,
                  basis=f"median of runs bracketed by a reference ({PROTOCOL}), "
                  f"{timing.rounds} rounds (spread {timing.spread:.1%})")


def profile_space(space: SearchSpace, device: DeviceProfile, *, calibration: int = 16,
                  chains: int = 32, seed: int = 0, threads: int | None = None,
                  policy: TimingPolicy | None = None,
                  progress: Progress | None = None) -> LatencyTable:
    """Export the space's blocks (needs torch) to a temporary bundle and time it here."""
    from mias.hardware.export import export_bundle

    require_this_machine(device.name, device.runs_on)
    resolve_threads(threads, device.threads)
    with tempfile.TemporaryDirectory(prefix="mias-blocks-") as tmp:
        export_bundle(space, Path(tmp) / "bundle", calibration=calibration, chains=chains,
                      seed=seed, progress=progress)
        return profile_bundle(Path(tmp) / "bundle", device, threads=threads, policy=policy,
                              seed=seed, progress=progress)


def _libraries(bundle: BlockBundle) -> dict[str, str]:
    here = {"mias": __version__, "numpy": np.__version__, "onnxruntime": ort.__version__}
    return {**here, **{f"export:{k}": v for k, v in bundle.libraries.items()}}


def _quiet(stage: str, done: int, total: int) -> None:
    """No progress output (library use)."""
