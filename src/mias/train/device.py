"""`--device cpu|cuda|auto`: where PyTorch computes (never the deployment target)."""

from __future__ import annotations

import torch

from mias.errors import InputError

DEVICE_CHOICES = ("cpu", "cuda", "auto")


def torch_device(name: str | torch.device = "cpu") -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is a usage error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(None, "--device cuda was given but no CUDA device is available",
                         "pass --device cpu or --device auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise InputError(None, f"unknown --device {name!r}",
                         f"choose one of: {', '.join(DEVICE_CHOICES)}")
    return torch.device(name)
