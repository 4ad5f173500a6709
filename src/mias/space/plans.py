"""Operator dictionary as torch-free layer plans: one source for modules and for costs.

An operator is registered by name (`register_op`) as a function from `OpArgs` to a plan:
a tree of primitive specs (convolution, norm, activation, squeeze-excitation, pooling,
linear) joined by `Seq` and `Residual`. `mias.space.modules` turns a plan into an
`nn.Module`; `mias.space.cost` counts its FLOPs, parameters and activation memory. Because
both read the same plan, the analytic counts cannot drift from what actually runs.

Elastic plans serve the supernet: a candidate is built once for the widest input it can
receive and run on narrower ones by slicing input channels, so a residual shortcut that
would be an identity at equal widths also gets a projection for the narrower inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from mias.registry import Registry
from mias.space.architecture import BlockChoice
from mias.space.configs import BlockConfig

NORMS: tuple[str, ...] = ("batch", "instance")
ACTS: tuple[str, ...] = ("relu", "leakyrelu", "hardswish")
SE_REDUCTION = 4
STEM_ACT = "leakyrelu"
DILATION = 2


@dataclass(frozen=True)
class ConvSpec:
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    bias: bool = False

    @property
    def padding(self) -> tuple[int, ...]:
        """'Same' padding: a stride-s convolution maps an even axis n to n / s exactly."""
        return tuple(d * (k // 2) for k, d in zip(self.kernel, self.dilation, strict=True))


@dataclass(frozen=True)
class NormSpec:
    kind: str
    channels: int


@dataclass(frozen=True)
class ActSpec:
    kind: str


@dataclass(frozen=True)
class SESpec:
    channels: int
    reduction: int = SE_REDUCTION


@dataclass(frozen=True)
class PoolSpec:
    """Global average pooling to a flat (batch, channels) tensor."""


@dataclass(frozen=True)
class LinearSpec:
    in_features: int
    out_features: int


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Residual:
    """`body(x) + shortcut(x)`; the shortcut is `projection`, or the identity when it is None.

    `elastic_identity` (supernet only): the projection is skipped whenever the runtime input
    is as wide as the output, so the path computes what the standalone block computes.
    """

    body: Node
    projection: Node | None
    out_channels: int
    elastic_identity: bool = False


Node: TypeAlias = ConvSpec | NormSpec | ActSpec | SESpec | PoolSpec | LinearSpec | Seq | Residual


@dataclass(frozen=True)
class OpArgs:
    """What every operator receives; `stride` applies to the first spatial convolution."""

    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    expansion: int = 1
    norm: str = "instance"
    act: str = "relu"
    elastic: bool = False

    @property
    def unit(self) -> tuple[int, ...]:
        return (1,) * len(self.kernel)

    @property
    def strided(self) -> bool:
        return any(s > 1 for s in self.stride)


OpPlanFn = Callable[[OpArgs], Node]
OPS: Registry[OpPlanFn] = Registry("operator")


def register_op(name: str) -> Callable[[OpPlanFn], OpPlanFn]:
    """Register an operator plan under `name` (lower-case letters and digits)."""
    if not name.isalnum() or not name.islower():
        raise ValueError(f"operator names are lower-case letters and digits, got {name!r}")
    return OPS.register(name)


def list_ops() -> tuple[str, ...]:
    return tuple(sorted(OPS))


def op_plan(name: str, args: OpArgs) -> Node:
    """The plan of operator `name` for `args`."""
    plan = OPS.get(name)
    if args.norm not in NORMS or args.act not in ACTS:
        raise ValueError(f"norm must be one of {NORMS} and act one of {ACTS}")
    return plan(args)


def _conv(cin: int, cout: int, kernel: tuple[int, ...], stride: tuple[int, ...] | None = None,
          *, dilation: tuple[int, ...] | None = None, groups: int = 1,
          bias: bool = False) -> ConvSpec:
    unit = (1,) * len(kernel)
    return ConvSpec(cin, cout, kernel, stride or unit, dilation or unit, groups, bias)


def _cna(conv: ConvSpec, a: OpArgs, act: bool = True) -> list[Node]:
    items: list[Node] = [conv, NormSpec(a.norm, conv.out_channels)]
    return [*items, ActSpec(a.act)] if act else items


def _projection(a: OpArgs) -> Node | None:
    """1×1 (strided) projection shortcut, or None where the identity fits."""
    if not a.elastic and a.in_channels == a.out_channels and not a.strided:
        return None
    return Seq((_conv(a.in_channels, a.out_channels, a.unit, a.stride),
                NormSpec(a.norm, a.out_channels)))


@register_op("conv")
def conv_op(a: OpArgs) -> Node:
    """Standard convolution → norm → activation."""
    return Seq(tuple(_cna(_conv(a.in_channels, a.out_channels, a.kernel, a.stride), a)))


@register_op("dilated")
def dilated_op(a: OpArgs) -> Node:
    """Dilated convolution (dilation 2 on every axis the kernel spans): a k3 sees 5 voxels."""
    dilation = tuple(DILATION if k > 1 else 1 for k in a.kernel)
    conv = _conv(a.in_channels, a.out_channels, a.kernel, a.stride, dilation=dilation)
    return Seq(tuple(_cna(conv, a)))


@register_op("dwsep")
def dwsep_op(a: OpArgs) -> Node:
    """Depthwise-separable convolution (MobileNet v1): depthwise k, then pointwise."""
    dw = _conv(a.in_channels, a.in_channels, a.kernel, a.stride, groups=a.in_channels)
    pw = _conv(a.in_channels, a.out_channels, a.unit)
    return Seq((*_cna(dw, a), *_cna(pw, a)))


@register_op("mbconv")
def mbconv_op(a: OpArgs) -> Node:
    """Inverted residual (MobileNet v2): expand to `expansion × out` 1×1, depthwise k,
    linear 1×1 projection. The hidden width follows the output so it is fixed per
    candidate whatever the input width."""
    hidden = a.out_channels * a.expansion
    return Seq((*_cna(_conv(a.in_channels, hidden, a.unit), a),
                *_cna(_conv(hidden, hidden, a.kernel, a.stride, groups=hidden), a),
                *_cna(_conv(hidden, a.out_channels, a.unit), a, act=False)))


@register_op("resblock")
def resblock_op(a: OpArgs) -> Node:
    """Residual basic block (ResNet): two k convolutions with a shortcut, then activation."""
    body = Seq((*_cna(_conv(a.in_channels, a.out_channels, a.kernel, a.stride), a),
                *_cna(_conv(a.out_channels, a.out_channels, a.kernel), a, act=False)))
    shortcut = Residual(body, _projection(a), a.out_channels,
                        elastic_identity=a.elastic and not a.strided)
    return Seq((shortcut, ActSpec(a.act)))


def block_plan(config: BlockConfig, *, elastic: bool = False) -> Node:
    """The plan of a whole block (paper Fig. 2), stem or head included.

    A decoder's plan starts at the concatenation [up-sampled main, skip]; the up-sampling
    itself has no parameters and is added by the module builder.
    """
    dims = config.spatial_dims
    if config.role == "stem":
        kernel = tuple(3 if s >= 3 else 1 for s in config.in_shape)
        return Seq((_conv(config.in_channels, config.out_channels, kernel, bias=True),
                    ActSpec(STEM_ACT)))
    if config.role == "head":
        if config.pooled:
            return Seq((PoolSpec(), LinearSpec(config.in_channels, config.out_channels)))
        return Seq((_conv(config.in_channels, config.out_channels, (1,) * dims, bias=True),))
    assert config.choice is not None
    cin = config.in_channels + config.skip_channels
    return choice_plan(config.choice, cin, config.stride, elastic=elastic)


def choice_plan(choice: BlockChoice, in_channels: int, stride: tuple[int, ...], *,
                elastic: bool = False) -> Node:
    """`choice.layers` repeats of the operator (the first one strided), optional
    squeeze-excitation, optional residual shortcut around the whole block."""
    width = choice.width
    layers: list[Node] = []
    for i in range(choice.layers):
        args = OpArgs(in_channels if i == 0 else width, width, choice.kernel,
                      stride if i == 0 else (1,) * len(stride), choice.expansion,
                      choice.norm, choice.act, elastic=elastic and i == 0)
        layers.append(op_plan(choice.op, args))
    if choice.se:
        layers.append(SESpec(width))
    body = Seq(tuple(layers))
    if not choice.residual:
        return body
    block_args = OpArgs(in_channels, width, choice.kernel, stride, norm=choice.norm,
                        act=choice.act, elastic=elastic)
    return Residual(body, _projection(block_args), width,
                    elastic_identity=elastic and not block_args.strided)
