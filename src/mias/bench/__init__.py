"""MED-NAS-Bench: the tabular hardware-aware NAS benchmark for medical imaging.

`MedNasBench.load()` opens the table shipped in `mias/bench/data/`; `mias bench build`
makes a new one (synthetic stand-ins, or the user's Decathlon with `--msd-root`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MedNasBench"]


def __getattr__(name: str) -> Any:
    if name == "MedNasBench":
        from mias.bench.api import MedNasBench

        return MedNasBench
    raise AttributeError(f"module 'mias.bench' has no attribute {name!r}")
