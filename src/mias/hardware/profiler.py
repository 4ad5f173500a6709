"""Build a latency table: time every block of a bundle with its calibration networks.

`profile_bundle` is the board-side path and imports only numpy + onnxruntime;
`profile_space` is the one-machine path (export with torch, then the same timing), so a
host table and a board table are made by exactly the same measurement code. The probe,
the blocks and the calibration networks are timed in the same randomised rounds beside the
reference kernel, so the correction fitted on the networks sees the blocks' conditions.
"""

from __future__ import annotations

import dataclasses
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
    CalibrationPoint,
    Correction,
    LatencyTable,
    LutEntry,
    boundary_melems,
)
from mias.hardware.machine import MachineFingerprint, require_this_machine, resolve_threads
from mias.hardware.timing import (
    Timing,
    TimingPolicy,
    reference_level,
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
    """Time the probe, every block and every calibration network of the bundle in `directory`.

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
              *(directory / n.file for n in bundle.networks)]
    timings = time_models(models, directory / bundle.reference, threads=threads,
                          policy=policy, seed=seed,
                          progress=lambda done, total: report("time blocks", done, total))
    n_blocks = len(bundle.blocks)
    return assemble_table(bundle, device, machine.model_copy(update={"threads": threads}),
                          policy=policy, reference_ms=reference_level(timings),
                          overhead=timings[0], blocks=timings[1:1 + n_blocks],
                          networks=timings[1 + n_blocks:])


def assemble_table(bundle: BlockBundle, device: DeviceProfile, machine: MachineFingerprint, *,
                   policy: TimingPolicy, reference_ms: float, overhead: Timing,
                   blocks: Sequence[Timing], networks: Sequence[Timing]) -> LatencyTable:
    """The table from the timings of the bundle's probe, blocks and calibration networks."""
    entries = {block.key: LutEntry(**timing.model_dump(), flops=block.flops, params=block.params)
               for block, timing in zip(bundle.blocks, blocks, strict=True)}
    table = LatencyTable(
        device=device, machine=machine, runtime=runtime_label(), threads=machine.threads,
        dtype=bundle.dtype, batch=bundle.batch, libraries=_libraries(bundle),
        reference_ms=reference_ms, call_overhead=overhead,
        timing_policy=dataclasses.asdict(policy), space_id=bundle.space_id,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), entries=entries,
    )
    table.check_machine()
    points = [CalibrationPoint(
        arch_id=net.arch_id, predicted_ms=table.sum_ms(list(net.keys)),
        boundary_melems=boundary_melems([BlockConfig.from_key(k) for k in net.keys]),
        measured_ms=timing.ms(reference_ms), measured=timing)
        for net, timing in zip(bundle.networks, networks, strict=True)]
    return table.with_correction(Correction.fit(points) if points else None)


def measure_latency(model: str | Path, reference: str | Path, device: DeviceProfile, *,
                    threads: int | None = None, policy: TimingPolicy | None = None,
                    seed: int = 0) -> Figure:
    """Whole-model latency on this machine, as a `measured` figure for `device` (refused
    unless this machine is `device`)."""
    require_this_machine(device.name, device.runs_on)
    threads = resolve_threads(threads, device.threads)
    timing = time_model(model, reference, threads=threads, policy=policy, seed=seed)
    return Figure(value=timing.ms(timing.reference_ms), unit="ms", source="measured",
                  device=device.name, runtime=runtime_label(), threads=threads,
                  basis=f"fastest run per round / reference beside it, median of "
                  f"{timing.rounds} rounds (spread {timing.spread:.1%})")


def profile_space(space: SearchSpace, device: DeviceProfile, *, calibration: int = 16,
                  seed: int = 0, threads: int | None = None, policy: TimingPolicy | None = None,
                  progress: Progress | None = None) -> LatencyTable:
    """Export the space's blocks (needs torch) to a temporary bundle and time it here."""
    from mias.hardware.export import export_bundle

    require_this_machine(device.name, device.runs_on)
    resolve_threads(threads, device.threads)
    with tempfile.TemporaryDirectory(prefix="mias-blocks-") as tmp:
        export_bundle(space, Path(tmp) / "bundle", calibration=calibration, seed=seed,
                      progress=progress)
        return profile_bundle(Path(tmp) / "bundle", device, threads=threads, policy=policy,
                              seed=seed, progress=progress)


def _libraries(bundle: BlockBundle) -> dict[str, str]:
    here = {"mias": __version__, "numpy": np.__version__, "onnxruntime": ort.__version__}
    return {**here, **{f"export:{k}": v for k, v in bundle.libraries.items()}}


def _quiet(stage: str, done: int, total: int) -> None:
    """No progress output (library use)."""
