"""The `host` device: this machine, read from the operating system.

Cores, clock and RAM are read, not assumed. Peak FLOP/s and memory bandwidth are unknown
unless `measure_peaks` calibrates them with a short numpy micro-benchmark (they are only
needed for the roofline model; a measured latency table needs neither). Power is unknown:
no meter is read.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from mias.hardware.devices import DeviceProfile, Spec, register_device
from mias.hardware.machine import available_cores, cpu_model, this_platform

_CPUINFO = Path("/proc/cpuinfo")
_MAX_FREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")


@register_device("host")
def host_device() -> DeviceProfile:
    """This machine as a device profile; unknown figures stay unknown (value None)."""
    ram_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    uncalibrated = "not calibrated: run `mias profile --target host --measure-peaks`"
    return DeviceProfile(
        name="host",
        description=f"this machine ({platform.system()} {platform.machine()})",
        cpu=cpu_model(),
        cores=Spec(value=available_cores(), confirmed=True,
                   source="CPUs available to this process (sched_getaffinity)"),
        clock_ghz=_clock(),
        flops_per_cycle=Spec.unknown(uncalibrated),
        memory_bandwidth_gbs=Spec.unknown(uncalibrated),
        ram_mib=Spec(value=round(ram_mib), source="physical memory (sysconf)", confirmed=True),
        idle_power_w=Spec.unknown("no power meter is read on the host"),
        load_power_w=Spec.unknown("no power meter is read on the host"),
        runs_on=this_platform(),
    )


def measure_peaks(profile: DeviceProfile, *, seconds: float = 1.0) -> DeviceProfile:
    """Calibrate fp32 peak (numpy matmul) and memory bandwidth (array copy) on this machine.

    Both are best-of-several timings, so they approach what the hardware sustains; the
    FLOPs per cycle are derived from the measured GFLOP/s, the cores and the clock.
    """
    gflops = _matmul_gflops(seconds / 2)
    bandwidth = _copy_gbs(seconds / 2)
    cores, ghz = profile.cores.value, profile.clock_ghz.value
    per_cycle = gflops / (cores * ghz) if cores and ghz else None
    data = profile.to_dict()
    data["flops_per_cycle"] = Spec(
        value=per_cycle, confirmed=True,
        source=f"derived from a numpy float32 matmul micro-benchmark ({gflops:.1f} GFLOP/s)",
    ).model_dump()
    data["memory_bandwidth_gbs"] = Spec(
        value=bandwidth, confirmed=True,
        source="numpy array copy micro-benchmark (read + write bytes / time, best of runs)",
    ).model_dump()
    return DeviceProfile.model_validate(data)


def _clock() -> Spec:
    max_khz = _read(_MAX_FREQ).strip()
    if max_khz.isdigit():
        return Spec(value=int(max_khz) / 1e6, source=str(_MAX_FREQ), confirmed=True)
    for line in _read(_CPUINFO).splitlines():
        if line.startswith("cpu MHz"):
            return Spec(value=round(float(line.split(":")[1]) / 1000, 3),
                        source="/proc/cpuinfo 'cpu MHz' (current, not necessarily maximum)",
                        confirmed=False)
    return Spec.unknown("the clock is not exposed by this operating system")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _matmul_gflops(seconds: float, n: int = 1024) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return 2 * n**3 / _best_time(lambda: a @ b, seconds) / 1e9


def _copy_gbs(seconds: float, mib: int = 128) -> float:
    src = np.ones(mib * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / _best_time(lambda: np.copyto(dst, src), seconds) / 1e9


def _best_time(fn, seconds: float) -> float:
    fn()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds or best == float("inf"):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
