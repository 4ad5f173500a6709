"""Operator selection (paper Fig. 1, "operator selection"): the task decides the space.

From the `TaskSpec` this picks the down-sampling plan and depth range, the widths per
stage, the normalisation and activation, and per layer the candidate blocks: a handful of
templates from the operator dictionary, instantiated at the stage's widths and kept only
where they make sense for the input. Every exclusion is written with its reason, because
the validation report has to explain why the search never considered an option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mias.errors import InputError
from mias.records import TaskSpec
from mias.space.architecture import Architecture, BlockChoice
from mias.space.configs import BlockConfig
from mias.space.cost import block_peak_bytes
from mias.space.geometry import (
    ANISOTROPY_RATIO,
    MIN_FEATURE,
    coarse_axes,
    fits,
    fmt_shape,
    plan_stages,
)
from mias.space.plans import DILATION, list_ops
from mias.space.search_space import Note, SearchSpace, Stage

MAX_DEPTH = 4
DEPTH_SPAN = 3
STEM_WIDTH = {2: 16, 3: 8}
MAX_WIDTH = {2: 256, 3: 128}
BLOCK_MEMORY_BUDGET = 256 * 2**20
DEVICE_MEMORY = "the Raspberry Pi 3's 1 GB"


@dataclass(frozen=True)
class Template:
    """A candidate before its width: `act=None` takes the space's activation; `aniso`
    templates exist only at stages with a coarse axis (their kernel is 1 on it)."""

    label: str
    op: str
    size: int
    expansion: int = 1
    layers: int = 1
    residual: bool = False
    se: bool = False
    act: str | None = None
    aniso: bool = False

    @property
    def dilation(self) -> int:
        return DILATION if self.op == "dilated" else 1


ENCODER_TEMPLATES: tuple[Template, ...] = (
    Template("conv k3 ×2", "conv", 3, layers=2),
    Template("dwsep k5 ×2 residual", "dwsep", 5, layers=2, residual=True),
    Template("mbconv e3 k3", "mbconv", 3, expansion=3, residual=True, act="hardswish"),
    Template("mbconv e6 k5 SE", "mbconv", 5, expansion=6, residual=True, se=True,
             act="hardswish"),
    Template("resblock k3", "resblock", 3),
    Template("dilated k3", "dilated", 3),
    Template("anisotropic conv ×2", "conv", 3, layers=2, aniso=True),
    Template("anisotropic mbconv e3", "mbconv", 3, expansion=3, residual=True,
             act="hardswish", aniso=True),
)
DECODER_TEMPLATES: tuple[Template, ...] = (
    Template("conv k3 ×2", "conv", 3, layers=2),
    Template("dwsep k3 ×2 residual", "dwsep", 3, layers=2, residual=True),
    Template("mbconv e3 k3", "mbconv", 3, expansion=3, residual=True, act="hardswish"),
    Template("resblock k3", "resblock", 3),
    Template("anisotropic conv ×2", "conv", 3, layers=2, aniso=True),
)


def select_search_space(task: TaskSpec) -> SearchSpace:
    """The search space for `task`, with every exclusion and choice explained."""
    dims = task.spatial_dims
    excl: list[Note] = []
    notes: list[Note] = []
    stages = plan_stages(task.input_shape, task.spacing, MAX_DEPTH)
    depths = _depths(task, stages, excl, notes)
    stages = stages[:depths[-1] + 1]
    widths = _stage_widths(dims, stages, excl)
    chooser = _Chooser(task, stages, widths, *_norm_act(task, excl, notes), excl)
    encoder = tuple(chooser.layer("enc", k, ENCODER_TEMPLATES) for k in range(len(stages)))
    decoder: tuple[tuple[BlockChoice, ...], ...] = ()
    if task.kind == "segmentation":
        decoder = tuple(chooser.layer("dec", k, DECODER_TEMPLATES)
                        for k in range(len(stages) - 1))
    else:
        excl.append(Note("decoder (up-sampling path)",
                         f"pruned: {task.kind} needs no dense output (paper: only down blocks "
                         "for classification)"))
    _note_anisotropy(task, stages, excl)
    excl.append(Note(
        f"other variants of the operator dictionary ({', '.join(list_ops())})",
        "not offered as candidates (expansion 1, squeeze-excitation beyond the mbconv e6 "
        "template, more layers per block): a handful of candidates per layer keeps the "
        "latency table to a few hundred blocks and the search within a CPU budget"))
    space = SearchSpace(task=task, stem_width=STEM_WIDTH[dims], depths=depths,
                        stages=tuple(stages), encoder=encoder, decoder=decoder,
                        exclusions=tuple(excl), decisions=tuple(notes))
    member = nnunet_like(space)
    if member is not None:
        notes.append(Note("nnU-Net-like member",
                          f"{member.id}: nnU-Net's topology inside the space — a "
                          "full-resolution first stage, two 3-voxel convolutions per stage "
                          "(1 on a coarse axis), the planned depth of "
                          f"{member.depth} down-samplings, the wider width at every stage"))
    return dataclasses.replace(space, decisions=tuple(notes))


def nnunet_like(space: SearchSpace) -> Architecture | None:
    """The space's member with nnU-Net's topology: the deepest planned depth and, at every
    layer, the plain two-convolution block (anisotropic where the stage has a coarse axis)
    at its widest; None when a layer offers no such block (the memory budget removed it)."""
    depth = space.max_depth
    layers: dict[str, BlockChoice] = {}
    for name in space.layer_names(depth):
        k = int(name[3:])
        coarse = coarse_axes(space.stages[k])
        plain = [c for c in space.candidates(name)
                 if c.op == "conv" and c.layers == 2 and not c.residual and not c.se
                 and all((c.kernel[a] == 1) == (a in coarse) for a in range(len(c.kernel)))]
        if not plain:
            return None
        layers[name] = max(plain, key=lambda c: c.width)
    return Architecture(depth=depth, encoder=tuple(layers[f"enc{k}"] for k in range(depth + 1)),
                        decoder=tuple(layers[f"dec{k}"] for k in range(depth))
                        if space.has_decoder else ())


def _depths(task: TaskSpec, stages: list[Stage], excl: list[Note],
            notes: list[Note]) -> tuple[int, ...]:
    deepest = len(stages) - 1
    last = stages[-1]
    if deepest == 0:
        raise InputError(None, f"the input shape {fmt_shape(task.input_shape)} cannot be "
                         "down-sampled: no axis is even with at least "
                         f"{2 * MIN_FEATURE} voxels",
                         "prepare with a larger --input-shape (a multiple of 8 per axis)")
    if deepest == MAX_DEPTH:
        excl.append(Note(f"depth > {MAX_DEPTH}",
                         f"capped at {MAX_DEPTH} down-samplings to keep the space searchable "
                         "on a CPU and the network small enough for an edge device"))
    else:
        excl.append(Note(f"depth > {deepest}",
                         f"no axis of the {fmt_shape(last.shape)} map at stage {deepest} can "
                         f"be halved exactly (odd, below {2 * MIN_FEATURE} voxels, or "
                         f"≥{ANISOTROPY_RATIO:g}× coarser than the finest axis)"))
    lowest = max(1, deepest - DEPTH_SPAN + 1)
    if lowest > 1:
        excl.append(Note(f"depth < {lowest}",
                         f"the {DEPTH_SPAN} deepest feasible depths are searched; shallower "
                         f"U-Nets stop at a {fmt_shape(stages[lowest - 1].shape)} map and see "
                         "only local context"))
    plan = "; ".join(f"stage {k}: {fmt_shape(s.shape)} at {fmt_shape(s.spacing)} mm"
                     + (f" (stride {fmt_shape(s.stride)})" if k else "")
                     for k, s in enumerate(stages))
    notes.append(Note("down-sampling plan", f"per-axis halving, exact at every stage: {plan}"))
    return tuple(range(lowest, deepest + 1))


def _norm_act(task: TaskSpec, excl: list[Note], notes: list[Note]) -> tuple[str, str]:
    if task.kind == "segmentation":
        excl.append(Note("batch norm", "excluded: segmentation trains on small batches of "
                         "volumes or patches, where batch statistics are unreliable (nnU-Net "
                         "uses instance norm)"))
        notes.append(Note("instance norm, LeakyReLU",
                          "nnU-Net's defaults for dense prediction; hard-swish in the mbconv "
                          "templates (MobileNet v3)"))
        return "instance", "leakyrelu"
    excl.append(Note("instance norm", f"excluded: {task.kind} needs the image's global "
                     "intensity, which per-image normalisation removes at every layer"))
    notes.append(Note("batch norm, ReLU", f"standard for {task.kind} networks; hard-swish in "
                      "the mbconv templates (MobileNet v3)"))
    return "batch", "relu"


def _stage_widths(dims: int, stages: list[Stage], excl: list[Note]) -> list[tuple[int, ...]]:
    """Two widths per stage, doubling with depth from the stem width, capped for the edge."""
    cap = MAX_WIDTH[dims]
    out = []
    for k in range(len(stages)):
        base = STEM_WIDTH[dims] * 2**k
        wanted = (base, 2 * base)
        kept = tuple(sorted({min(w, cap) for w in wanted}))
        dropped = [w for w in wanted if w > cap]
        if dropped:
            excl.append(Note(f"width {', '.join(map(str, dropped))} at stage {k}",
                             f"over the {dims}D cap of {cap} channels for edge devices; "
                             f"{cap} offered instead"))
        out.append(kept)
    return out


def _note_anisotropy(task: TaskSpec, stages: list[Stage], excl: list[Note]) -> None:
    spacing = fmt_shape(task.spacing)
    if not coarse_axes(stages[0]):
        excl.append(Note("anisotropic kernels", f"excluded: spacing {spacing} mm is isotropic "
                         f"(no axis ≥{ANISOTROPY_RATIO:g}× coarser than the finest)"))
        return
    iso = [k for k, s in enumerate(stages) if not coarse_axes(s)]
    if iso:
        excl.append(Note(f"anisotropic kernels at stages {', '.join(map(str, iso))}",
                         "excluded: down-sampling has made the spacing there within "
                         f"{ANISOTROPY_RATIO:g}× across axes"))


class _Chooser:
    """Instantiates templates at one layer and keeps those that fit the input."""

    def __init__(self, task: TaskSpec, stages: list[Stage], widths: list[tuple[int, ...]],
                 norm: str, act: str, excl: list[Note]) -> None:
        self.task, self.stages, self.widths = task, stages, widths
        self.norm, self.act, self.excl = norm, act, excl

    def layer(self, role: str, k: int, templates: tuple[Template, ...]) -> tuple[BlockChoice, ...]:
        stage = self.stages[k]
        coarse = coarse_axes(stage)
        name = f"{role}{k}"
        kept: list[BlockChoice] = []
        for t in templates:
            if t.aniso and not coarse:
                continue
            kernel = tuple(1 if t.aniso and a in coarse else t.size
                           for a in range(self.task.spatial_dims))
            if not fits(kernel, stage.shape, t.dilation):
                span = (t.dilation * (t.size - 1) + 1)
                self.excl.append(Note(f"{t.label} at {name}",
                                      f"excluded: the {fmt_shape(stage.shape)} feature map is "
                                      f"smaller than the kernel's {span}-voxel extent"))
                continue
            for width in self.widths[k]:
                kept.append(BlockChoice(op=t.op, kernel=kernel, width=width,
                                        expansion=t.expansion, layers=t.layers,
                                        residual=t.residual, se=t.se, norm=self.norm,
                                        act=t.act or self.act))
        if not kept:
            raise InputError(None, f"no candidate kernel fits the {fmt_shape(stage.shape)} "
                             f"map of {name}",
                             "prepare with at least 3 voxels on every axis")
        return self._within_memory(role, k, kept)

    def _within_memory(self, role: str, k: int,
                       choices: list[BlockChoice]) -> tuple[BlockChoice, ...]:
        """Drop candidates that exceed the per-block activation budget even with their
        narrowest inputs; if none fits, keep the leanest so the space stays searchable."""
        name, shape = f"{role}{k}", fmt_shape(self.stages[k].shape)
        need = {c: block_peak_bytes(self._narrowest(role, k, c)) for c in choices}
        kept = tuple(c for c in choices if need[c] <= BLOCK_MEMORY_BUDGET)
        budget = f"{BLOCK_MEMORY_BUDGET / 2**20:.0f} MiB per-block budget (a quarter of " \
                 f"{DEVICE_MEMORY})"
        for c in choices:
            if c not in kept:
                self.excl.append(Note(f"{c.key} at {name}",
                                      f"excluded: at least {need[c] / 2**20:.0f} MiB of "
                                      f"activations on the {shape} map, over the {budget}"))
        if kept:
            return kept
        leanest = min(choices, key=lambda c: need[c])
        self.excl.append(Note(f"memory budget at {name}",
                              f"no candidate fits the {budget}; {leanest.key} "
                              f"({need[leanest] / 2**20:.0f} MiB) kept so the space is not "
                              "empty: prepare a smaller input shape for this device"))
        return (leanest,)

    def _narrowest(self, role: str, k: int, choice: BlockChoice) -> BlockConfig:
        """The block with the narrowest inputs it can receive: its least memory."""
        dims = self.task.spatial_dims
        unit = (1,) * dims
        if role == "enc":
            cin = STEM_WIDTH[dims] if k == 0 else min(self.widths[k - 1])
            shape = self.stages[k - 1].shape if k else self.stages[0].shape
            return BlockConfig("enc", choice, dims, cin, 0, choice.width, shape,
                               self.stages[k].stride, unit)
        return BlockConfig("dec", choice, dims, min(self.widths[k + 1]), min(self.widths[k]),
                           choice.width, self.stages[k + 1].shape, unit,
                           self.stages[k + 1].stride)
