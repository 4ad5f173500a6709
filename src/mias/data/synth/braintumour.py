"""Task01-like brain tumour MRI: four co-registered channels, glioma sub-regions, healthy cases.

Tissue classes are drawn once (brain, cortex, sulci, deep grey matter, ventricles and, when
present, edema / non-enhancing core / enhancing rim), and each channel renders them with its
own contrast: edema is bright on FLAIR and T2w, the enhancing rim bright on T1gd only, CSF
dark on FLAIR but bright on T2w. Images are skull-stripped as in the Decathlon unless
`skull_stripped=False`, and kept small (64×64×40 at ~3.8 mm) for edge experiments.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mias.data.synth.base import CaseGenerator, Scan, SyntheticCase, TaskInfo
from mias.data.synth.fields import (
    bias_field,
    centred_grid,
    ellipsoid,
    quantise,
    rician,
    smooth_noise,
)
from mias.data.synth.registry import register_generator
from mias.data.synth.scanners import mr_noise, mr_scanner

SHAPE = (64, 64, 40)
SPACING = (3.75, 3.75, 3.9)
CHANNELS = ("FLAIR", "T1w", "t1gd", "T2w")   # as spelled in Task01's dataset.json
# Tissue class → relative intensity per channel (FLAIR, T1w, T1gd, T2w).
BACKGROUND, CSF, GM, WM, EDEMA, CORE, ENHANCING, SKULL, SCALP = range(9)
CONTRAST = np.array([
    [0.00, 0.00, 0.00, 0.00],   # background (air)
    [0.15, 0.30, 0.32, 1.60],   # CSF
    [0.80, 0.62, 0.64, 0.85],   # grey matter
    [0.62, 0.95, 0.96, 0.55],   # white matter
    [1.35, 0.55, 0.57, 1.25],   # edema
    [0.90, 0.40, 0.42, 1.40],   # non-enhancing / necrotic core
    [1.05, 0.60, 1.45, 0.95],   # enhancing tumour
    [0.08, 0.10, 0.10, 0.08],   # skull
    [0.90, 1.10, 1.10, 0.90],   # scalp fat
], dtype=np.float32)
TISSUE_TO_LABEL = np.array([0, 0, 0, 0, 1, 2, 3, 0, 0], dtype=np.uint8)


@register_generator("braintumour")
class BrainTumourGenerator(CaseGenerator):
    """Task01 stand-in: labels edema (1), non-enhancing tumour (2), enhancing tumour (3)."""

    info = TaskInfo(
        name="BrainTumour", prefix="braintumour",
        description="Synthetic stand-in for MSD Task01 (gliomas, multi-parametric MRI); "
                    "about 30% of cases are healthy",
        channels=CHANNELS,
        labels=("background", "edema", "non-enhancing tumor", "enhancing tumour"),
        target_file="labels_detection.csv", spatial_dims=3, dicom_modality="MR",
        body_part="BRAIN",
        channel_timing=((9000.0, 120.0), (500.0, 10.0), (500.0, 10.0), (4000.0, 100.0)))
    male_fraction = 0.58

    def __init__(self, *, healthy_fraction: float = 0.3, skull_stripped: bool = True) -> None:
        self.healthy_fraction = healthy_fraction
        self.skull_stripped = skull_stripped

    def sample_age(self, rng: np.random.Generator) -> float:
        """Gliomas peak in the sixth decade."""
        return float(np.clip(rng.normal(55.0, 15.0), 18.0, 88.0))

    def generate(self, scan: Scan) -> SyntheticCase:
        anatomy, acq = scan.subject_rng(), scan.scan_rng()
        grid = centred_grid(SHAPE, SPACING)
        tissue, brain = _healthy_brain(grid, scan.age, anatomy)
        if scan.subject.stratum >= self.healthy_fraction:
            _add_tumour(tissue, brain, grid, anatomy)
        head = brain if self.skull_stripped else _add_skull(tissue, grid, anatomy)
        scanner = mr_scanner(acq)
        channels = [_render(tissue, head, CONTRAST[:, c], mr_noise(scanner["field_strength"]),
                            acq) for c in range(len(CHANNELS))]
        label = TISSUE_TO_LABEL[tissue]
        affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
        affine[:3, 3] = [(SHAPE[0] - 1) / 2 * SPACING[0], (SHAPE[1] - 1) / 2 * SPACING[1] + 18.0,
                         -(SHAPE[2] - 1) / 2 * SPACING[2] + 10.0]
        return SyntheticCase(image=np.stack(channels), label=label, affine=affine,
                             target=int(label.any()), acquisition=scanner)


def _healthy_brain(grid: list[np.ndarray], age: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tissue classes of a healthy brain; ventricles and sulci widen with age."""
    radii = np.array([68.0, 86.0, 62.0]) * np.exp(rng.normal(0.0, 0.04))
    surface = ellipsoid(grid, (0.0, 0.0, -4.0), radii) + 0.035 * smooth_noise(SHAPE, 3.0, rng)
    brain = surface < 1.0
    widening = 1.0 + 0.012 * max(0.0, age - 30.0)
    gyri = smooth_noise(SHAPE, 1.0, rng)
    tissue = np.full(SHAPE, WM, dtype=np.uint8)
    tissue[surface > 0.88 + 0.04 * gyri] = GM
    tissue[(surface > 0.9) & (gyri > 1.3 - 0.02 * max(0.0, age - 30.0))] = CSF
    for side in (-1.0, 1.0):
        tissue[ellipsoid(grid, (side * 20.0, -4.0, 0.0), (11.0, 14.0, 11.0)) < 1.0] = GM
        tissue[ellipsoid(grid, (side * 8.0, 2.0, 10.0),
                         np.array([5.0, 26.0, 9.0]) * widening) < 1.0] = CSF
    tissue[~brain] = BACKGROUND
    return tissue, brain


def _add_tumour(tissue: np.ndarray, brain: np.ndarray, grid: list[np.ndarray],
                rng: np.random.Generator) -> None:
    """A lobulated tumour core in one hemisphere, its enhancing rim, and infiltrative edema."""
    radius = rng.uniform(8.0, 22.0)
    centre = np.array([rng.choice([-1.0, 1.0]) * rng.uniform(22.0, 42.0),
                       rng.uniform(-45.0, 45.0), rng.uniform(-15.0, 25.0)])
    core = ellipsoid(grid, centre, radius * rng.uniform(0.8, 1.2, 3)) \
        + 0.12 * smooth_noise(SHAPE, 1.5, rng)
    edema = ellipsoid(grid, centre, radius * rng.uniform(1.6, 2.6, 3)) \
        + 0.25 * smooth_noise(SHAPE, 2.0, rng)
    spread = brain & (edema < 1.0) & (tissue != CSF)
    tissue[spread & ((tissue == WM) | (rng.random(SHAPE) < 0.3))] = EDEMA
    inside = brain & (core < 1.0)
    tissue[inside] = CORE
    if rng.random() < 0.85:
        rim = 1.0 - rng.uniform(4.0, 7.0) / radius
        tissue[inside & (core > rim)] = ENHANCING


def _add_skull(tissue: np.ndarray, grid: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """CSF, skull and scalp shells outside the brain; returns the head mask."""
    shell = ellipsoid(grid, (0.0, 0.0, -4.0), np.array([68.0, 86.0, 62.0]) * 1.05) \
        + 0.02 * smooth_noise(SHAPE, 2.0, rng)
    outside = tissue == BACKGROUND
    for limit, cls in ((1.06, CSF), (1.16, SKULL), (1.26, SCALP)):
        layer = outside & (shell < limit)
        tissue[layer] = cls
        outside &= ~layer
    return tissue != BACKGROUND


def _render(tissue: np.ndarray, head: np.ndarray, contrast: np.ndarray, noise: float,
            rng: np.random.Generator) -> np.ndarray:
    """One channel: contrast lookup, texture, partial volume, bias field, Rician noise."""
    image = contrast[tissue] * (1.0 + 0.04 * smooth_noise(SHAPE, 1.0, rng))
    image = ndimage.gaussian_filter(image, 0.6)
    image = rician(image * bias_field(SHAPE, 0.2, rng), noise, rng)
    return quantise(np.where(head, image, 0.0), rng.uniform(500.0, 900.0), np.int16, 32767)
