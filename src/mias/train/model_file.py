"""`model.pt`: a trained network with everything needed to rebuild and use it.

It holds the search space and architecture (so `build_network` recreates the module), the
weights, the task and the preprocessing plan from `PREP/manifest.json` — never a case id
or any identifier. Export reads this file alone; it never reaches back into live objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mias.atomic import atomic_file
from mias.errors import InputError
from mias.records import TaskSpec
from mias.space import Architecture, SearchSpace

MODEL_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelFile:
    space: SearchSpace
    arch: Architecture
    state_dict: dict[str, torch.Tensor]
    preprocessing: dict[str, Any]
    meta: dict[str, Any]

    @property
    def task(self) -> TaskSpec:
        return self.space.task

    def network(self) -> torch.nn.Module:
        from mias.space import build_network

        net = build_network(self.space, self.arch)
        net.load_state_dict(self.state_dict)
        return net.eval()

    def save(self, path: str | Path) -> Path:
        payload = {"schema_version": MODEL_SCHEMA_VERSION, "space": self.space.to_dict(),
                   "arch": self.arch.to_dict(), "arch_id": self.arch.id,
                   "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
                   "preprocessing": self.preprocessing, "meta": self.meta}
        with atomic_file(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> ModelFile:
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            if d.get("schema_version") != MODEL_SCHEMA_VERSION:
                raise ValueError(f"schema_version {d.get('schema_version')!r}")
            return cls(space=SearchSpace.from_dict(d["space"]),
                       arch=Architecture.from_dict(d["arch"]), state_dict=d["state_dict"],
                       preprocessing=d["preprocessing"], meta=d["meta"])
        except FileNotFoundError:
            raise InputError(path, "model file not found", "run `mias train RUN` first") from None
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(path, f"not a valid MIAS model file ({exc})",
                             "re-run `mias train RUN` to rewrite it") from exc
