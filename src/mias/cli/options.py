"""Options several commands share, so a flag means the same everywhere (DESIGN §5)."""

from __future__ import annotations

import argparse

DEVICES = ("cpu", "cuda", "auto")


def add_device(p: argparse.ArgumentParser, default: str = "cpu", where: str = "") -> None:
    """`--device`: where PyTorch computes — never the hardware a network is for."""
    shown = "auto = CUDA when present" if default == "auto" else default
    p.add_argument("--device", default=default, choices=DEVICES,
                   help=f"where PyTorch computes{where} (default: {shown})")
