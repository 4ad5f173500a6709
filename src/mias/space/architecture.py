"""`Architecture`: the one currency every stage speaks (supernet, LUT, search, export...).

Layer naming follows the U-Net of paper Fig. 3 with `depth` down-samplings:
encoder stages `enc0 … enc{depth}` (stage k runs at 1/2^k of the input resolution;
`enc{depth}` is the bottleneck) and, for segmentation, decoder stages
`dec{depth-1} … dec0` (stage k up-samples stage k+1 and concatenates the skip from enc k).
Classification and regression architectures have no decoder.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BlockChoice:
    """The architecture hyper-parameters of one block (paper Fig. 2).

    `op` names an operator in the operator registry; `kernel` has one entry per spatial
    axis (anisotropic kernels such as (1, 3, 3) are allowed); `layers` repeats the operator
    inside the block; `residual` adds an identity (or 1x1 projection) shortcut; `se`
    appends squeeze-excitation.
    """

    op: str
    kernel: tuple[int, ...]
    width: int
    expansion: int = 1
    layers: int = 1
    residual: bool = False
    se: bool = False
    norm: str = "instance"
    act: str = "relu"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kernel"] = list(self.kernel)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BlockChoice:
        kw = dict(d)
        kw["kernel"] = tuple(int(k) for k in kw["kernel"])
        return cls(**kw)

    @property
    def key(self) -> str:
        """Canonical short string, e.g. `mbconv_k3x3x3_e3_w32_l2_res_se_instance_relu`."""
        parts = [self.op, "k" + "x".join(map(str, self.kernel)), f"e{self.expansion}",
                 f"w{self.width}", f"l{self.layers}"]
        if self.residual:
            parts.append("res")
        if self.se:
            parts.append("se")
        parts += [self.norm, self.act]
        return "_".join(parts)

    @classmethod
    def from_key(cls, key: str) -> BlockChoice:
        """Inverse of `key` (operator names may hold underscores; norm and act may not)."""
        tokens = key.split("_")
        at = next((i for i in range(1, len(tokens) - 1)
                   if _KERNEL.fullmatch(tokens[i]) and _EXPANSION.fullmatch(tokens[i + 1])), None)
        if at is None or len(tokens) < at + 6:
            raise ValueError(f"not a block choice key: {key!r}")
        width, layers, flags = tokens[at + 2], tokens[at + 3], tokens[at + 4:-2]
        if (not _WIDTH.fullmatch(width) or not _LAYERS.fullmatch(layers)
                or flags not in ([], ["res"], ["se"], ["res", "se"])):
            raise ValueError(f"not a block choice key: {key!r}")
        return cls(op="_".join(tokens[:at]),
                   kernel=tuple(int(k) for k in tokens[at][1:].split("x")),
                   width=int(width[1:]), expansion=int(tokens[at + 1][1:]),
                   layers=int(layers[1:]), residual="res" in flags, se="se" in flags,
                   norm=tokens[-2], act=tokens[-1])


_KERNEL = re.compile(r"k\d+(x\d+)*")
_EXPANSION = re.compile(r"e\d+")
_WIDTH = re.compile(r"w\d+")
_LAYERS = re.compile(r"l\d+")


@dataclass(frozen=True)
class Architecture:
    """A path through the supernet: `depth` plus one `BlockChoice` per layer.

    `encoder` has `depth + 1` blocks (the last is the bottleneck); `decoder` has `depth`
    blocks ordered dec0 … dec{depth-1} for segmentation and is empty otherwise.
    """

    depth: int
    encoder: tuple[BlockChoice, ...]
    decoder: tuple[BlockChoice, ...] = ()

    def __post_init__(self) -> None:
        if self.depth < 0:
            raise ValueError("depth must be >= 0")
        if len(self.encoder) != self.depth + 1:
            raise ValueError(f"encoder needs depth+1={self.depth + 1} blocks, "
                             f"got {len(self.encoder)}")
        if self.decoder and len(self.decoder) != self.depth:
            raise ValueError(f"decoder needs depth={self.depth} blocks or none, "
                             f"got {len(self.decoder)}")

    @property
    def layers(self) -> dict[str, BlockChoice]:
        """Layer name → choice, e.g. {"enc0": …, "enc1": …, "dec0": …}."""
        out = {f"enc{i}": b for i, b in enumerate(self.encoder)}
        out.update({f"dec{i}": b for i, b in enumerate(self.decoder)})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "encoder": [b.to_dict() for b in self.encoder],
            "decoder": [b.to_dict() for b in self.decoder],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Architecture:
        return cls(
            depth=int(d["depth"]),
            encoder=tuple(BlockChoice.from_dict(b) for b in d["encoder"]),
            decoder=tuple(BlockChoice.from_dict(b) for b in d.get("decoder", [])),
        )

    @property
    def id(self) -> str:
        """Stable 12-hex-digit hash of the canonical JSON form (same across runs/machines)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
