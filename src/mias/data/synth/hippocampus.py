"""Task04-like hippocampus crops: a curved head-body-tail tube in T1-like tissue.

The structure's volume shrinks with age (atrophy) and is larger in men, so demographic
analysis and volume regression have a real signal. The anatomy (shape, surrounding tissue)
lives in a fixed subject space drawn from the subject's seed; each scan crops a window of
its own size from it, so a follow-up shows the same person, slightly atrophied.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from mias.data.synth.base import CaseGenerator, Scan, SyntheticCase, TaskInfo
from mias.data.synth.fields import bias_field, quantise, rician, smooth_noise
from mias.data.synth.registry import register_generator
from mias.data.synth.scanners import mr_noise, mr_scanner

MIN_SHAPE = np.array([31, 40, 24])      # Task04 extremes (voxels at 1 mm)
MAX_SHAPE = np.array([43, 59, 47])
CURVE_POINTS = 96
UNIT_VOLUME_ML = 1.78                   # mean volume of the structure at scale 1 (measured)
# Tissue intensities of a T1-weighted image, relative to white matter.
WM, GM, CSF, HIPPOCAMPUS = 1.0, 0.66, 0.22, 0.71


@register_generator("hippocampus")
class HippocampusGenerator(CaseGenerator):
    """Task04 stand-in: 1 mm crops, labels anterior (head) and posterior (body and tail)."""

    info = TaskInfo(
        name="Hippocampus", prefix="hippocampus",
        description="Synthetic stand-in for MSD Task04 (left and right hippocampus crops of "
                    "T1-weighted MRI); volume depends on age and sex",
        channels=("MRI",), labels=("background", "Anterior", "Posterior"),
        target_file="labels_volume.csv", spatial_dims=3, dicom_modality="MR",
        body_part="HEAD", channel_timing=((2300.0, 2.98),))

    def __init__(self, *, volume_ml: float = 3.0, atrophy_per_year: float = 0.005,
                 male_factor: float = 1.08, subject_sd: float = 0.07) -> None:
        self.volume_ml = volume_ml
        self.atrophy_per_year = atrophy_per_year
        self.male_factor = male_factor
        self.subject_sd = subject_sd

    def generate(self, scan: Scan) -> SyntheticCase:
        anatomy, acq = scan.subject_rng(), scan.scan_rng()
        space = tuple(int(n) for n in MAX_SHAPE)
        size = np.exp(anatomy.normal(0.0, self.subject_sd)) * self.volume_factor(scan)
        label, rim = _structure(space, size ** (1.0 / 3.0), anatomy)
        tissue = np.where(rim > 0, rim, _tissue(space, anatomy))
        window = _window(label > 0, acq)
        label, tissue = label[window], tissue[window]
        scanner = mr_scanner(acq)
        image = ndimage.gaussian_filter(np.where(label > 0, HIPPOCAMPUS, tissue), 0.5)
        image = rician(image * bias_field(image.shape, 0.25, acq),
                       mr_noise(scanner["field_strength"]), acq)
        image = quantise(image, acq.uniform(700.0, 1100.0), np.int16, 32767)
        affine = np.diag([1.0, 1.0, 1.0, 1.0])
        affine[:3, 3] = -np.floor(np.array(label.shape) / 2.0)
        return SyntheticCase(image=image[None], label=label, affine=affine,
                             target=round(float((label > 0).sum()) / 1000.0, 4),
                             acquisition=scanner)

    def volume_factor(self, scan: Scan) -> float:
        """Volume relative to the unit structure: `volume_ml` at 18 in women, atrophy after."""
        factor = max(0.3, 1.0 - self.atrophy_per_year * (scan.age - 18.0))
        return factor * (self.male_factor if scan.subject.sex == "M" else 1.0) \
            * self.volume_ml / UNIT_VOLUME_ML


def _structure(space: tuple[int, ...], scale: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Label map of a curved tube (head to tail) centred in `space`, plus its rim tissue.

    The rim (0 elsewhere) is the temporal horn (CSF) above the structure and white matter
    below it, which makes the boundary visible as it is in T1-weighted images.
    """
    t = np.linspace(0.0, 1.0, CURVE_POINTS)
    length, bend, lift = rng.uniform(30, 34), rng.uniform(2.0, 5.0), rng.uniform(3.0, 7.0)
    r_tail, r_head = rng.uniform(2.4, 3.0), rng.uniform(5.2, 6.2)
    flat, split = rng.uniform(0.65, 0.8), rng.uniform(0.5, 0.6)
    side = 1.0 if rng.random() < 0.5 else -1.0
    curve = np.stack([side * bend * np.sin(np.pi * t), (t - 0.5) * length,
                      lift * (1.0 - t) ** 2 - lift / 3.0], axis=1) * scale
    radius = scale * (r_tail + (r_head - r_tail) * t * t * (3.0 - 2.0 * t))
    rotation = _rotation(rng.uniform(-0.2, 0.2), rng.uniform(-0.14, 0.14))
    waves, phases = rng.normal(0.0, 0.45, (6, 3)), rng.uniform(0, 2 * np.pi, 6)
    box = _box(space, curve @ rotation.T, 1.5 * radius.max() / flat + 1.0)
    local = _local_coordinates(space, box, rotation)
    squash = np.array([1.0, 1.0, 1.0 / flat], dtype=np.float32)
    points = np.stack([c.ravel() for c in local], axis=1) * squash
    dist, nearest = cKDTree(curve * squash).query(points, workers=1)
    dist = (dist / radius[nearest]).reshape(local[0].shape).astype(np.float32)
    nearest = t[nearest].reshape(dist.shape)
    bumps = sum(np.sin(sum(w * c for w, c in zip(wave, local, strict=True)) + p)
                for wave, p in zip(waves, phases, strict=True))
    dist += 0.05 * bumps.astype(np.float32)
    above = local[2] - np.interp(nearest, t, curve[:, 2]) > 0.0
    label = np.zeros(space, dtype=np.uint8)
    rim = np.zeros(space, dtype=np.float32)
    label[box] = np.where(dist < 1.0, np.where(nearest >= split, 1, 2), 0)
    rim[box] = np.where((dist < 1.45) & (dist >= 1.0), np.where(above, CSF, WM), 0.0)
    return label, rim


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cz, sz, cx, sx = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    return np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ \
        np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])


def _box(space: tuple[int, ...], points: np.ndarray, margin: float) -> tuple[slice, ...]:
    """The voxel box (of `space`, centred coordinates) holding `points` plus a margin."""
    centre = (np.array(space) - 1) / 2.0
    lo = np.floor(points.min(axis=0) - margin + centre).astype(int)
    hi = np.ceil(points.max(axis=0) + margin + centre).astype(int) + 1
    return tuple(slice(max(0, a), min(n, b)) for a, b, n in zip(lo, hi, space, strict=True))


def _local_coordinates(space: tuple[int, ...], box: tuple[slice, ...],
                       rotation: np.ndarray) -> list[np.ndarray]:
    """Centres of the voxels in `box` (mm from the centre of `space`) in the structure's frame."""
    axes = [np.arange(b.start, b.stop, dtype=np.float32) - (n - 1) / 2
            for b, n in zip(box, space, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))
    return list(np.tensordot(rotation.T.astype(np.float32), grid, axes=1))


def _tissue(space: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Grey/white matter and CSF classes from a smooth field, with a fine texture."""
    field = smooth_noise(space, 3.0, rng)
    tissue = np.where(field > 0.35, WM, np.where(field < -1.2, CSF, GM)).astype(np.float32)
    return tissue + 0.04 * smooth_noise(space, 1.0, rng)


def _window(mask: np.ndarray, rng: np.random.Generator) -> tuple[slice, ...]:
    """A crop around the structure with random margins, within Task04's size range."""
    coords = np.argwhere(mask)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    shape = np.clip(hi - lo + rng.integers([12, 2, 10], [26, 10, 34]), MIN_SHAPE, MAX_SHAPE)
    start_lo = np.clip(hi - shape, 0, None)
    start_hi = np.clip(lo, None, MAX_SHAPE - shape)
    start = np.array([rng.integers(a, max(a, b) + 1) for a, b in zip(start_lo, start_hi,
                                                                      strict=True)])
    start = np.clip(start, 0, MAX_SHAPE - shape)
    return tuple(slice(int(s), int(s + n)) for s, n in zip(start, shape, strict=True))

