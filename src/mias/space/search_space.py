"""`SearchSpace`: per layer the candidate blocks operator selection allowed, and the depths.

Layer `enc{k}` and `dec{k}` run at stage k (`stages[k]`: spatial shape, per-axis stride from
stage k−1, spacing). An architecture of depth d uses enc0…enc{d} and, with a decoder,
dec0…dec{d−1}; `enc{k}` is the same layer at every depth ≥ k, so its candidates (and the
supernet's weights for them) are shared by all depths. Torch-free: the board-side light
install reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mias.errors import InputError
from mias.records import TaskSpec
from mias.space.architecture import Architecture, BlockChoice
from mias.space.configs import BlockConfig

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Stage:
    """One resolution level: spatial shape, stride from the previous stage, voxel spacing."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    spacing: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "stride": list(self.stride),
                "spacing": list(self.spacing)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stage:
        return cls(tuple(int(s) for s in d["shape"]), tuple(int(s) for s in d["stride"]),
                   tuple(float(s) for s in d["spacing"]))


@dataclass(frozen=True)
class Note:
    """A decision of operator selection with its reason (exclusions and choices alike)."""

    what: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Note:
        return cls(str(d["what"]), str(d["reason"]))


@dataclass(frozen=True)
class SearchSpace:
    """Candidates per layer (`encoder[k]` for enc{k}, `decoder[k]` for dec{k}) and depths."""

    task: TaskSpec
    stem_width: int
    depths: tuple[int, ...]
    stages: tuple[Stage, ...]
    encoder: tuple[tuple[BlockChoice, ...], ...]
    decoder: tuple[tuple[BlockChoice, ...], ...] = ()
    exclusions: tuple[Note, ...] = field(default=(), compare=False)
    decisions: tuple[Note, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.depths or list(self.depths) != sorted(set(self.depths)) or self.depths[0] < 0:
            raise ValueError(f"depths must be increasing and non-negative, got {self.depths}")
        if len(self.stages) != self.max_depth + 1 or len(self.encoder) != self.max_depth + 1:
            raise ValueError("need one stage and one encoder layer per level 0…max depth")
        if self.decoder and len(self.decoder) != self.max_depth:
            raise ValueError("need one decoder layer per level 0…max depth − 1")
        if self.has_decoder and not self.decoder:
            raise ValueError("segmentation needs decoder candidates")
        if any(not c for c in (*self.encoder, *self.decoder)):
            raise ValueError("every layer needs at least one candidate")

    # ---- shape of the space -------------------------------------------------------------

    @property
    def spatial_dims(self) -> int:
        return self.task.spatial_dims

    @property
    def has_decoder(self) -> bool:
        return self.task.kind == "segmentation"

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    @property
    def out_channels(self) -> int:
        """Output channels of the head: one per class, or one value for regression."""
        return 1 if self.task.kind == "regression" else self.task.num_classes

    def layer_names(self, depth: int | None = None) -> list[str]:
        """Layers of an architecture of `depth` (default: the deepest) in execution order."""
        d = self.max_depth if depth is None else depth
        names = [f"enc{k}" for k in range(d + 1)]
        return names + ([f"dec{k}" for k in reversed(range(d))] if self.has_decoder else [])

    def candidates(self, layer: str) -> tuple[BlockChoice, ...]:
        role, k = layer[:3], int(layer[3:])
        return self.encoder[k] if role == "enc" else self.decoder[k]

    def size(self) -> int:
        """Number of distinct architectures."""
        return sum(math.prod(len(self.candidates(n)) for n in self.layer_names(d))
                   for d in self.depths)

    # ---- architectures ------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> Architecture:
        """Uniform depth, then a uniform candidate per layer."""
        depth = int(self.depths[rng.integers(len(self.depths))])
        return self._with_choices(depth, {n: self._draw(n, rng) for n in self.layer_names(depth)})

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """A neighbour: one layer re-drawn to another candidate, or the depth moved by one
        (new layers drawn at random, dropped layers forgotten)."""
        self.check(arch)
        layers = dict(arch.layers)
        movable = [d for d in (arch.depth - 1, arch.depth + 1) if d in self.depths]
        options = [n for n in layers if len(self.candidates(n)) > 1]
        if movable and rng.integers(len(options) + 1) == len(options):
            depth = int(movable[rng.integers(len(movable))])
            wanted = self.layer_names(depth)
            return self._with_choices(depth, {n: layers[n] if n in layers else self._draw(n, rng)
                                              for n in wanted})
        if not options:
            raise ValueError("the search space has a single architecture; nothing to mutate")
        name = options[rng.integers(len(options))]
        others = [c for c in self.candidates(name) if c != layers[name]]
        layers[name] = others[rng.integers(len(others))]
        return self._with_choices(arch.depth, layers)

    def check(self, arch: Architecture) -> None:
        """Raise ValueError naming the first layer of `arch` that the space does not allow."""
        if arch.depth not in self.depths:
            raise ValueError(f"depth {arch.depth} is not in the space's depths {self.depths}")
        if bool(arch.decoder) != self.has_decoder:
            raise ValueError(f"a {self.task.kind} architecture "
                             f"{'needs' if self.has_decoder else 'has no'} decoder")
        for name, choice in arch.layers.items():
            if choice not in self.candidates(name):
                raise ValueError(f"{name}: {choice.key} is not a candidate of this layer")

    def _draw(self, layer: str, rng: np.random.Generator) -> BlockChoice:
        options = self.candidates(layer)
        return options[rng.integers(len(options))]

    def _with_choices(self, depth: int, layers: dict[str, BlockChoice]) -> Architecture:
        return Architecture(
            depth=depth,
            encoder=tuple(layers[f"enc{k}"] for k in range(depth + 1)),
            decoder=tuple(layers[f"dec{k}"] for k in range(depth)) if self.has_decoder else ())

    # ---- blocks in context --------------------------------------------------------------

    def stem_config(self) -> BlockConfig:
        shape, unit = self.task.input_shape, (1,) * self.spatial_dims
        return BlockConfig("stem", None, self.spatial_dims, self.task.in_channels, 0,
                           self.stem_width, shape, unit, unit)

    def enc_config(self, k: int, choice: BlockChoice, in_channels: int) -> BlockConfig:
        unit = (1,) * self.spatial_dims
        in_shape = self.stages[k - 1].shape if k else self.stages[0].shape
        return BlockConfig("enc", choice, self.spatial_dims, in_channels, 0, choice.width,
                           in_shape, self.stages[k].stride, unit)

    def dec_config(self, k: int, choice: BlockChoice, in_channels: int,
                   skip_channels: int) -> BlockConfig:
        unit = (1,) * self.spatial_dims
        return BlockConfig("dec", choice, self.spatial_dims, in_channels, skip_channels,
                           choice.width, self.stages[k + 1].shape, unit,
                           self.stages[k + 1].stride)

    def head_config(self, in_channels: int, stage: int) -> BlockConfig:
        shape = self.stages[stage].shape
        stride = shape if not self.has_decoder else (1,) * self.spatial_dims
        return BlockConfig("head", None, self.spatial_dims, in_channels, 0, self.out_channels,
                           shape, stride, (1,) * self.spatial_dims)

    def block_configs(self, arch: Architecture) -> list[BlockConfig]:
        """Every module that runs for `arch`, in execution order (stem and head included)."""
        self.check(arch)
        configs = [self.stem_config()]
        width = self.stem_width
        for k, choice in enumerate(arch.encoder):
            configs.append(self.enc_config(k, choice, width))
            width = choice.width
        if not self.has_decoder:
            return [*configs, self.head_config(width, arch.depth)]
        for k in reversed(range(arch.depth)):
            choice = arch.decoder[k]
            configs.append(self.dec_config(k, choice, width, arch.encoder[k].width))
            width = choice.width
        return [*configs, self.head_config(width, 0)]

    def all_block_configs(self) -> list[BlockConfig]:
        """Union of `block_configs` over all architectures, deduplicated: what a latency
        table must hold. Enumerated per layer from the widths that can feed it, not per
        architecture, so it stays cheap for spaces of millions of architectures."""
        found: dict[str, BlockConfig] = {}

        def add(config: BlockConfig) -> None:
            found.setdefault(config.key, config)

        add(self.stem_config())
        for k in range(self.max_depth + 1):
            for width in self._in_widths(k):
                for choice in self.encoder[k]:
                    add(self.enc_config(k, choice, width))
        if self.has_decoder:
            for k in reversed(range(self.max_depth)):
                for main in self._main_widths(k):
                    for skip in _widths(self.encoder[k]):
                        for choice in self.decoder[k]:
                            add(self.dec_config(k, choice, main, skip))
            for width in _widths(self.decoder[0]):
                add(self.head_config(width, 0))
        else:
            for d in self.depths:
                for width in _widths(self.encoder[d]):
                    add(self.head_config(width, d))
        return list(found.values())

    def _in_widths(self, k: int) -> tuple[int, ...]:
        return (self.stem_width,) if k == 0 else _widths(self.encoder[k - 1])

    def _main_widths(self, k: int) -> tuple[int, ...]:
        """Widths that can reach dec{k}'s main input: the bottleneck enc{k+1} at depth k+1,
        dec{k+1} at deeper depths."""
        widths: set[int] = set()
        if k + 1 in self.depths:
            widths.update(_widths(self.encoder[k + 1]))
        if any(d > k + 1 for d in self.depths):
            widths.update(_widths(self.decoder[k + 1]))
        return tuple(sorted(widths))

    # ---- supernet layout ----------------------------------------------------------------

    def elastic_config(self, layer: str, choice: BlockChoice) -> BlockConfig:
        """The config a supernet builds `choice` of `layer` with: the widest inputs it can
        receive (narrower ones slice the input channels)."""
        k = int(layer[3:])
        if layer.startswith("enc"):
            return self.enc_config(k, choice, max(self._in_widths(k)))
        return self.dec_config(k, choice, max(self._main_widths(k)),
                               max(_widths(self.encoder[k])))

    def elastic_head_config(self) -> BlockConfig:
        if self.has_decoder:
            return self.head_config(max(_widths(self.decoder[0])), 0)
        return self.head_config(max(w for d in self.depths for w in _widths(self.encoder[d])),
                                self.max_depth)

    # ---- records ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        layers = {f"enc{k}": [c.to_dict() for c in cands] for k, cands in enumerate(self.encoder)}
        layers.update({f"dec{k}": [c.to_dict() for c in cands]
                       for k, cands in enumerate(self.decoder)})
        return {
            "schema_version": SCHEMA_VERSION,
            "task": self.task.to_dict(),
            "stem_width": self.stem_width,
            "depths": list(self.depths),
            "stages": [s.to_dict() for s in self.stages],
            "layers": layers,
            "exclusions": [n.to_dict() for n in self.exclusions],
            "decisions": [n.to_dict() for n in self.decisions],
            "size": self.size(),
            "num_block_configs": len(self.all_block_configs()),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        """Inverse of `to_dict` (`size` and `num_block_configs` are derived, not read)."""
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {d.get('schema_version')!r} is not "
                             f"{SCHEMA_VERSION}")
        layers = d["layers"]
        depths = tuple(int(x) for x in d["depths"])
        n_dec = sum(1 for name in layers if name.startswith("dec"))

        def cands(name: str) -> tuple[BlockChoice, ...]:
            return tuple(BlockChoice.from_dict(c) for c in layers[name])

        return cls(task=TaskSpec.from_dict(d["task"]), stem_width=int(d["stem_width"]),
                   depths=depths, stages=tuple(Stage.from_dict(s) for s in d["stages"]),
                   encoder=tuple(cands(f"enc{k}") for k in range(depths[-1] + 1)),
                   decoder=tuple(cands(f"dec{k}") for k in range(n_dec)),
                   exclusions=tuple(Note.from_dict(n) for n in d.get("exclusions", [])),
                   decisions=tuple(Note.from_dict(n) for n in d.get("decisions", [])))

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        """Read a `search_space.json`; a malformed file is an `InputError` naming it."""
        from mias.atomic import read_json

        try:
            return cls.from_dict(read_json(path))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"not a valid search space ({exc})",
                             "re-run `mias prepare` to regenerate it") from exc


def _widths(choices: tuple[BlockChoice, ...]) -> tuple[int, ...]:
    return tuple(sorted({c.width for c in choices}))
