"""`BlockConfig`: one module of a network with everything that fixes its cost.

It is the typed key of the latency table: two blocks with equal configs run the same
computation, so one measurement serves both. It stays torch-free because the board-side
light install (numpy + onnxruntime) reads latency tables keyed by it.

Head convention: a head whose `stride` equals its `in_shape` pools globally (classification,
regression: global average pooling + linear); a head with unit stride is a 1×1 convolution
(segmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mias.space.architecture import BlockChoice

ROLES: tuple[str, ...] = ("stem", "enc", "dec", "head")
_NO_CHOICE = "none"


@dataclass(frozen=True)
class BlockConfig:
    """A block in context: its choice plus the channels and spatial shape it runs on."""

    role: str
    choice: BlockChoice | None
    spatial_dims: int
    in_channels: int
    skip_channels: int
    out_channels: int
    in_shape: tuple[int, ...]
    stride: tuple[int, ...]
    upsample: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if (self.choice is None) != (self.role in ("stem", "head")):
            raise ValueError(f"{self.role} blocks {'take no' if self.choice else 'need a'} choice")
        for name in ("in_shape", "stride", "upsample"):
            if len(getattr(self, name)) != self.spatial_dims:
                raise ValueError(f"{name} needs {self.spatial_dims} entries")
        if self.skip_channels and self.role != "dec":
            raise ValueError("only decoder blocks take a skip input")

    @property
    def pooled(self) -> bool:
        """True for a classification/regression head (global pooling over `in_shape`)."""
        return self.role == "head" and self.stride == self.in_shape and any(
            s > 1 for s in self.in_shape)

    @property
    def skip_shape(self) -> tuple[int, ...]:
        """Spatial shape of the decoder's skip input (the up-sampled main input)."""
        return tuple(s * u for s, u in zip(self.in_shape, self.upsample, strict=True))

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Spatial shape of the output (empty for a pooled head)."""
        if self.pooled:
            return ()
        if self.role == "dec":
            return self.skip_shape
        return tuple(s // t for s, t in zip(self.in_shape, self.stride, strict=True))

    @property
    def key(self) -> str:
        """One canonical, file-name-safe string, e.g.
        `enc-conv_k3x3x3_e1_w16_l2_instance_leakyrelu-d3-i8-k0-o16-s40x56x40-t2x2x2-u1x1x1`."""
        return "-".join([
            self.role,
            self.choice.key if self.choice is not None else _NO_CHOICE,
            f"d{self.spatial_dims}", f"i{self.in_channels}", f"k{self.skip_channels}",
            f"o{self.out_channels}", "s" + _axes(self.in_shape), "t" + _axes(self.stride),
            "u" + _axes(self.upsample),
        ])

    @classmethod
    def from_key(cls, key: str) -> BlockConfig:
        """Exact inverse of `key`."""
        parts = key.split("-")
        prefixes = ("d", "i", "k", "o", "s", "t", "u")
        if len(parts) != 9 or any(not p.startswith(x) for p, x in zip(parts[2:], prefixes,
                                                                       strict=True)):
            raise ValueError(f"not a block config key: {key!r}")
        role, choice, dims, cin, skip, cout, shape, stride, up = parts
        return cls(role=role,
                   choice=None if choice == _NO_CHOICE else BlockChoice.from_key(choice),
                   spatial_dims=int(dims[1:]), in_channels=int(cin[1:]),
                   skip_channels=int(skip[1:]), out_channels=int(cout[1:]),
                   in_shape=_parse_axes(shape[1:]), stride=_parse_axes(stride[1:]),
                   upsample=_parse_axes(up[1:]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "choice": None if self.choice is None else self.choice.to_dict(),
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "skip_channels": self.skip_channels,
            "out_channels": self.out_channels,
            "in_shape": list(self.in_shape),
            "stride": list(self.stride),
            "upsample": list(self.upsample),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BlockConfig:
        choice = d.get("choice")
        return cls(role=str(d["role"]),
                   choice=None if choice is None else BlockChoice.from_dict(choice),
                   spatial_dims=int(d["spatial_dims"]), in_channels=int(d["in_channels"]),
                   skip_channels=int(d["skip_channels"]), out_channels=int(d["out_channels"]),
                   in_shape=tuple(int(s) for s in d["in_shape"]),
                   stride=tuple(int(s) for s in d["stride"]),
                   upsample=tuple(int(s) for s in d["upsample"]))


def _axes(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


def _parse_axes(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split("x"))
