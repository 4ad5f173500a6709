"""The fingerprint of the machine that times, and whether it is the device a table names.

A latency table is "measured on rpi3" only if it was timed on a Raspberry Pi 3 (DESIGN §4).
So every table records the machine that timed it (CPU architecture, model, cores, OS,
runtime versions, threads), every device profile states what it runs on (`runs_on`), and
the two are compared before timing starts and again whenever a table is loaded.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict

from mias.errors import InputError

_CPUINFO = Path("/proc/cpuinfo")
_ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "x64": "x86_64"}
# ARM Ltd. (implementer 0x41) core part numbers, as /proc/cpuinfo reports them on boards
# whose kernel gives no "model name".
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55",
              "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
              "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1",
              "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78"}


class Platform(BaseModel):
    """What a device runs on: accepted CPU architectures and a CPU model name to find."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: tuple[str, ...]
    cpu: str

    def describe(self) -> str:
        return f"{self.cpu}, {'/'.join(self.arch)}"


class MachineFingerprint(BaseModel):
    """The machine (and settings) a latency table was timed with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str
    cpu_model: str
    board: str | None = None
    cores: int
    os: str
    python: str
    runtimes: dict[str, str]
    threads: int

    def matches(self, runs_on: Platform) -> bool:
        return (normalise_arch(self.arch) in {normalise_arch(a) for a in runs_on.arch}
                and runs_on.cpu.lower() in self.cpu_model.lower())

    def describe(self) -> str:
        board = f" ({self.board})" if self.board else ""
        return f"{self.cpu_model}{board}, {self.arch}, {self.cores} cores"


def normalise_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch.lower(), arch.lower())


def available_cores() -> int:
    """CPUs this process may run on (cgroups and affinity included where visible)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's model name; on ARM boards without one, the core named by its part number."""
    fields = _cpuinfo_fields()
    if fields.get("model name"):
        return fields["model name"]
    part = fields.get("CPU part", "").lower()
    if fields.get("CPU implementer", "").lower() == "0x41" and part in _ARM_PARTS:
        return _ARM_PARTS[part]
    return fields.get("Hardware") or platform.processor() or platform.machine()


def this_machine(threads: int) -> MachineFingerprint:
    """This machine's fingerprint, for a table timed with `threads` intra-op threads."""
    return MachineFingerprint(
        arch=normalise_arch(platform.machine()), cpu_model=cpu_model(),
        board=_cpuinfo_fields().get("Model"), cores=available_cores(),
        os=f"{platform.system()} {platform.release()}", python=platform.python_version(),
        runtimes={"onnxruntime": ort.__version__, "numpy": np.__version__}, threads=threads)


def this_platform() -> Platform:
    """What the `host` device runs on: exactly this machine."""
    return Platform(arch=(normalise_arch(platform.machine()),), cpu=cpu_model())


def require_this_machine(name: str, runs_on: Platform | None) -> MachineFingerprint:
    """Refuse to time for device `name` unless this machine is one (the threads are set
    later, by `resolve_threads`)."""
    here = this_machine(threads=1)
    if runs_on is None:
        raise InputError(None, f"the profile of device {name!r} does not say what it runs on, "
                         "so a timing here cannot be attributed to it",
                         "add `runs_on: {arch: [aarch64], cpu: Cortex-A53}` (its CPU) to the "
                         "device YAML, or time this machine with `--target host`")
    if not here.matches(runs_on):
        raise InputError(None, f"this machine ({here.describe()}) is not a {name} "
                         f"({runs_on.describe()}); timing here would label this machine's "
                         f"latencies as {name}'s",
                         f"export the blocks with `mias profile --space PREP --export-blocks "
                         f"DIR`, copy DIR to the {name} and run `mias profile --import DIR "
                         f"--target {name}` on the board itself; or time this machine with "
                         "`--target host`")
    return here


def resolve_threads(requested: int | None, device_threads: int) -> int:
    """Threads to time with: as asked, else the device's cores; never more than this
    machine's cores."""
    cores = available_cores()
    if requested is not None and requested > cores:
        raise InputError(None, f"--threads {requested} exceeds the {cores} cores this process "
                         "may use; extra threads would only contend with each other",
                         f"pass --threads {cores} or fewer, or leave it out")
    return min(requested or device_threads, cores)


def _cpuinfo_fields() -> dict[str, str]:
    try:
        text = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields
