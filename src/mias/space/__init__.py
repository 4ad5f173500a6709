"""Search space: operators, operator selection, blocks, the supernet, `Architecture`.

Importing `mias.space` stays torch-free (the board-side light install has only numpy and
onnxruntime); the torch-backed names (`build_block`, `Supernet`, …) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from mias.space.architecture import Architecture, BlockChoice
from mias.space.configs import BlockConfig
from mias.space.cost import (
    block_flops,
    block_params,
    block_peak_bytes,
    network_flops,
    network_params,
    peak_activation_bytes,
)
from mias.space.plans import list_ops, register_op
from mias.space.search_space import SearchSpace
from mias.space.selection import select_search_space

_TORCH_NAMES = {
    "build_block": "mias.space.modules",
    "block_example_inputs": "mias.space.modules",
    "create_op": "mias.space.modules",
    "build_network": "mias.space.network",
    "materialize": "mias.space.supernet",
    "Network": "mias.space.network",
    "Supernet": "mias.space.supernet",
    "FewShotSupernet": "mias.space.supernet",
    "build_supernet": "mias.space.supernet",
}

__all__ = [
    "Architecture",
    "BlockChoice",
    "BlockConfig",
    "FewShotSupernet",
    "Network",
    "SearchSpace",
    "Supernet",
    "block_example_inputs",
    "block_flops",
    "block_params",
    "block_peak_bytes",
    "build_block",
    "build_network",
    "build_supernet",
    "create_op",
    "list_ops",
    "materialize",
    "network_flops",
    "network_params",
    "peak_activation_bytes",
    "register_op",
    "select_search_space",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(_TORCH_NAMES[name]), name)
    raise AttributeError(f"module 'mias.space' has no attribute {name!r}")
