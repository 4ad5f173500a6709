"""Build a latency table: time every block of a bundle (and its calibration networks).

`profile_bundle` is the board-side path and imports only numpy + onnxruntime;
`profile_space` is the one-machine path (export with torch, then the same timing), so a
host table and a board table are made by exactly the same measurement code.
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
from mias.hardware.lut import CalibrationPoint, Correction, LatencyTable, LutEntry
from mias.hardware.timing import Timing, TimingPolicy, runtime_label, time_model, time_models

if TYPE_CHECKING:
    from mias.space import SearchSpace

Progress = Callable[[str, int, int], None]

NETWORK_POLICY = TimingPolicy(min_reps=15, max_time_s=3.0, warmup_s=0.1)


def profile_bundle(directory: str | Path, device: DeviceProfile, *, threads: int | None = None,
                   policy: TimingPolicy | None = None,
                   network_policy: TimingPolicy | None = None, seed: int = 0,
                   progress: Progress | None = None) -> LatencyTable:
    """Time the probe, every block and every calibration network of the bundle in `directory`.

    The probe (a one-element graph) measures the fixed cost of one session run, which the
    table subtracts from each block; the calibration networks fit its linear correction.
    """
    directory = Path(directory)
    bundle = BlockBundle.load(directory)
    threads = threads or device.threads
    policy = policy or TimingPolicy()
    report = progress or _quiet

    files = [directory / bundle.probe, *(directory / b.file for b in bundle.blocks)]
    timings = time_models(files, threads=threads, policy=policy, seed=seed,
                          progress=lambda done, total: report("blocks", done, total))
    network_policy = network_policy or dataclasses.replace(
        NETWORK_POLICY, rounds=policy.rounds, retries=policy.retries)
    networks = time_models([directory / n.file for n in bundle.networks], threads=threads,
                           policy=network_policy, seed=seed,
                           progress=lambda d, t: report("calibration networks", d, t))
    return assemble_table(bundle, device, threads=threads, policy=policy,
                          overhead=timings[0], blocks=timings[1:], networks=networks)


def assemble_table(bundle: BlockBundle, device: DeviceProfile, *, threads: int,
                   policy: TimingPolicy, overhead: Timing, blocks: Sequence[Timing],
                   networks: Sequence[Timing]) -> LatencyTable:
    """The table from the timings of the bundle's probe, blocks and calibration networks."""
    entries = {block.key: LutEntry(**timing.model_dump(), flops=block.flops, params=block.params)
               for block, timing in zip(bundle.blocks, blocks, strict=True)}
    table = LatencyTable(
        device=device, runtime=runtime_label(), threads=threads, dtype=bundle.dtype,
        batch=bundle.batch, libraries=_libraries(bundle), call_overhead=overhead,
        timing_policy=dataclasses.asdict(policy), space_id=bundle.space_id,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), entries=entries,
    )
    points = [CalibrationPoint(arch_id=net.arch_id, measured=timing,
                               predicted_ms=table.sum_ms(list(net.keys)))
              for net, timing in zip(bundle.networks, networks, strict=True)]
    return table.with_correction(Correction.fit(points) if points else None)


def measure_latency(model: str | Path, device: DeviceProfile, *, threads: int | None = None,
                    policy: TimingPolicy | None = None, seed: int = 0) -> Figure:
    """Whole-model latency on this machine, as a `measured` figure for `device`."""
    threads = threads or device.threads
    timing = time_model(model, threads=threads, policy=policy or NETWORK_POLICY, seed=seed)
    return Figure(value=timing.median_ms, unit="ms", source="measured", device=device.name,
                  runtime=runtime_label(), threads=threads)


def profile_space(space: SearchSpace, device: DeviceProfile, *, calibration: int = 5,
                  seed: int = 0, threads: int | None = None, policy: TimingPolicy | None = None,
                  progress: Progress | None = None) -> LatencyTable:
    """Export the space's blocks (needs torch) to a temporary bundle and time it here."""
    from mias.hardware.export import export_bundle

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
