"""The prepared dataset in memory, and seeded patch batches for training and validation.

Every training stage (supernet search, final training, baselines, ranking, the benchmark
builder) reads `PREP/` through `PreparedData` and draws batches from a `PatchSampler`, so
they all see the same data the same way. A sampler owns a `numpy.random.Generator`; its
`state` round-trips through a checkpoint, so a resumed run draws exactly the batches an
uninterrupted one would have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mias.data.augment import NnUNetAugment
from mias.errors import InputError
from mias.provenance import prep_fingerprint
from mias.records import SCHEMA_VERSION, CaseRecord, TaskSpec
from mias.space import SearchSpace
from mias.validation import read_record

FOREGROUND_OVERSAMPLE = 1 / 3


@dataclass(frozen=True)
class Case:
    """One preprocessed case: image (C, *spatial) float32, and a mask or a target."""

    case_id: str
    image: np.ndarray
    mask: np.ndarray | None
    target: float | int | None


@dataclass(frozen=True)
class PreparedData:
    """`PREP/` loaded: task, search space, records, splits and every case's arrays."""

    root: Path
    task: TaskSpec
    space: SearchSpace
    records: dict[str, CaseRecord]
    splits: dict[str, tuple[str, ...]]
    cases: dict[str, Case]
    fingerprint: str

    @classmethod
    def load(cls, prep: str | Path, *, space: SearchSpace | None = None) -> PreparedData:
        root = Path(prep)
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise InputError(root, "not a prepared dataset (no manifest.json)",
                             "run `mias prepare DATA --out PREP` first and pass PREP")
        rerun = f"mias prepare DATA --out {root} --overwrite"
        manifest = read_record(manifest_path, SCHEMA_VERSION, rerun)
        splits_raw = read_record(root / "splits.json", SCHEMA_VERSION, rerun)
        try:
            task = TaskSpec.from_dict(manifest["task"])
            records = {r["case_id"]: CaseRecord.from_dict(r) for r in manifest["cases"]}
            arrays = {r["case_id"]: r["array"] for r in manifest["cases"]}
            splits = {k: tuple(splits_raw[k]) for k in ("train", "val", "test")
                      if k in splits_raw}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(manifest_path, f"not a valid manifest ({exc})",
                             "re-run `mias prepare`") from exc
        if not splits.get("train") or not splits.get("val"):
            raise InputError(root / "splits.json", "needs non-empty train and val splits",
                             "re-run `mias prepare` with more cases")
        space = space or SearchSpace.load(root / "search_space.json")
        cases = {cid: _load_case(root / arrays[cid], records[cid], task)
                 for ids in splits.values() for cid in ids}
        return cls(root=root, task=task, space=space, records=records, splits=splits,
                   cases=cases, fingerprint=prep_fingerprint(root, splits_raw))

    def split(self, name: str) -> list[Case]:
        return [self.cases[c] for c in self.splits.get(name, ())]


def _load_case(path: Path, record: CaseRecord, task: TaskSpec) -> Case:
    try:
        with np.load(path) as z:
            image = np.ascontiguousarray(z["image"], dtype=np.float32)
            mask = np.ascontiguousarray(z["label"]) if "label" in z else None
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, f"cannot read the prepared case ({exc})",
                         "re-run `mias prepare`") from exc
    if task.kind == "segmentation" and mask is None:
        raise InputError(path, "a segmentation case without a label mask",
                         "re-run `mias prepare` with the label files present")
    target = None if task.kind == "segmentation" else record.label
    if task.kind == "classification" and target is not None:
        target = int(target)
    return Case(record.case_id, image, mask, target)


def fit_patch(patch: Sequence[int] | None, shape: Sequence[int], divisor: Sequence[int],
              max_voxels: int | None = None) -> tuple[int, ...]:
    """The training patch: the requested size (or the input scaled down evenly to about
    `max_voxels`, which serves 2D and 3D tasks alike), capped by the input and made a
    multiple of the network's total stride per axis (MONAI's UNet fails otherwise), with
    more than one voxel at the deepest stage where the input allows it."""
    if patch is not None and len(patch) != len(shape):
        raise InputError(None, f"patch {list(patch)} has {len(patch)} axes, the input has "
                         f"{len(shape)}", "give one patch size per spatial axis, or use "
                         "patch_voxels")
    want = [float(s) for s in shape] if patch is None else [float(p) for p in patch]
    if patch is None and max_voxels is not None and np.prod(want) > max_voxels:
        scale = (max_voxels / float(np.prod(want))) ** (1.0 / len(want))
        want = [w * scale for w in want]
    cells = [max(1, min(round(p / d), s // d)) for p, s, d in zip(want, shape, divisor,
                                                                  strict=True)]
    if math.prod(cells) == 1:
        # a one-voxel bottleneck cannot be instance-normalised in training: widen the axis
        # with the most room, where the input has any
        room = [s // d / c for s, d, c in zip(shape, divisor, cells, strict=True)]
        axis = int(np.argmax(room))
        if room[axis] >= 2:
            cells[axis] = 2
    return tuple(c * d for c, d in zip(cells, divisor, strict=True))


def total_stride(space: SearchSpace) -> tuple[int, ...]:
    """Product of the per-axis strides of every stage of the deepest architecture."""
    out = np.ones(space.spatial_dims, dtype=int)
    for stage in space.stages:
        out *= np.asarray(stage.stride)
    return tuple(int(v) for v in out)


class PatchSampler:
    """Seeded batches of (augmented) patches, sampled as nnU-Net samples them.

    Segmentation draws a share `foreground` of the patches (default a third, nnU-Net's
    oversampling) centred on a voxel of one foreground class picked uniformly among the
    classes present (a small structure is seen as often as a large one), the rest
    uniformly and pad-aware: a patch centre may fall anywhere in the volume, the part of
    the patch outside it is zero image and background label, so border voxels are seen
    about as often as central ones and the class prior of the patches stays close to the
    volumes'. A patch equal to the input is the whole case. Classification and regression
    use the whole input (`patch` is ignored: a global label needs the whole image).
    `last_draws` holds, for the latest batch, each sample's case, patch start and the
    augmentation parameters applied (`NnUNetParams.to_dict()`).
    """

    def __init__(self, cases: Sequence[Case], task: TaskSpec, patch: Sequence[int],
                 *, augment: bool, seed: int,
                 foreground: float = FOREGROUND_OVERSAMPLE) -> None:
        if not cases:
            raise InputError(None, "no cases to sample from", "check the split")
        self.cases = list(cases)
        self.task = task
        self.patch = tuple(patch) if task.kind == "segmentation" else tuple(task.input_shape)
        self.augment = NnUNetAugment(len(self.patch)) if augment else None
        self.rng = np.random.default_rng(seed)
        self.foreground = foreground
        self._fg = [None if c.mask is None else _class_voxels(c.mask) for c in self.cases]
        self.last_draws: list[dict[str, Any]] = []

    @property
    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self.rng.bit_generator.state = value

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets, draws = [], [], []
        for _ in range(size):
            i = int(self.rng.integers(len(self.cases)))
            image, target, start = self._crop(i)
            draw: dict[str, Any] = {"case": self.cases[i].case_id, "start": start}
            if self.augment is not None:
                image, mask, params = self.augment(image, target if self.task.kind ==
                                                   "segmentation" else None, self.rng)
                if mask is not None:
                    target = mask
                draw["augment"] = params.to_dict()
            images.append(image)
            targets.append(target)
            draws.append(draw)
        self.last_draws = draws
        return torch.from_numpy(np.stack(images)), _targets(self.task, targets)

    def _start(self, i: int, shape: tuple[int, ...]) -> list[int]:
        fg = self._fg[i]
        if fg and self.rng.random() < self.foreground:
            voxels = fg[int(self.rng.integers(len(fg)))]
            centre = voxels[int(self.rng.integers(len(voxels)))]
        else:
            centre = [int(self.rng.integers(0, s)) for s in shape]
        return [int(np.clip(c - p // 2, min(0, s - p), max(0, s - p)) if p >= s else
                    np.clip(c - p // 2, -(p // 2), s - p + p // 2))
                for c, p, s in zip(centre, self.patch, shape, strict=True)]

    def _crop(self, i: int) -> tuple[np.ndarray, Any, list[int] | None]:
        case = self.cases[i]
        if self.task.kind != "segmentation":
            return case.image, case.target, None
        shape = tuple(case.image.shape[1:])
        if self.patch == shape:
            return case.image, case.mask, [0] * len(shape)
        start = self._start(i, shape)
        image = _padded_crop(case.image, start, self.patch, channel_axis=True)
        return image, _padded_crop(case.mask, start, self.patch, channel_axis=False), start


def _class_voxels(mask: np.ndarray) -> list[np.ndarray]:
    """Per foreground class present, the coordinates of its voxels."""
    return [np.argwhere(mask == c) for c in np.unique(mask) if c > 0]


def _padded_crop(array: np.ndarray, start: Sequence[int], patch: Sequence[int], *,
                 channel_axis: bool) -> np.ndarray:
    """`array[start:start+patch]` on the spatial axes, zero where it leaves the array."""
    spatial = array.shape[1:] if channel_axis else array.shape
    lo = [max(0, a) for a in start]
    hi = [min(s, a + p) for a, p, s in zip(start, patch, spatial, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    pad = [(a - s0, s0 + p - b) for s0, a, b, p in zip(start, lo, hi, patch, strict=True)]
    if channel_axis:
        box, pad = (slice(None), *box), [(0, 0), *pad]
    out = array[box]
    if any(before or after for before, after in pad):
        out = np.pad(out, pad)
    return np.ascontiguousarray(out)


def _targets(task: TaskSpec, targets: list[Any]) -> torch.Tensor:
    if task.kind == "segmentation":
        return torch.from_numpy(np.stack(targets).astype(np.int64))
    if task.kind == "classification":
        return torch.tensor(targets, dtype=torch.int64)
    return torch.tensor(targets, dtype=torch.float32)


def whole_cases(cases: Sequence[Case], task: TaskSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Every case at the full prepared input shape, as one batch (validation)."""
    images = torch.from_numpy(np.stack([c.image for c in cases]))
    raw = [c.mask if task.kind == "segmentation" else c.target for c in cases]
    return images, _targets(task, raw)
