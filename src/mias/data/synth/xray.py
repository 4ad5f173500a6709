"""Chest-radiograph-like 2D projections with a nodule-like finding.

Drawn in the standard display orientation (patient's right on the image left, head up),
then some cases are stored mirrored or upside down, as real archives hold them; the
acquisition records the DICOM PatientOrientation that says so, and the affine encodes it.
The chance of a finding rises with age, so the demographic report has a signal to show.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mias.data.synth.base import CaseGenerator, Scan, SyntheticCase, TaskInfo
from mias.data.synth.fields import ellipsoid, quantise, smooth_noise
from mias.data.synth.registry import register_generator
from mias.data.synth.scanners import xray_scanner

SIZE = 128
DETECTOR_PIXEL_MM = 0.7      # native detector pitch; the stored image is down-sampled
# Stored orientation → (DICOM PatientOrientation, draws out of 100).
ORIENTATIONS = ((("L", "F"), 75), (("R", "F"), 20), (("L", "H"), 5))
# World directions of a 2D projection: x = patient right, y = patient head.
DIRECTIONS = {"R": (1.0, 0.0), "L": (-1.0, 0.0), "H": (0.0, 1.0), "F": (0.0, -1.0)}


@register_generator("xray")
class ChestXrayGenerator(CaseGenerator):
    """Frontal chest radiographs (CR or DX, PA or AP); label 1 = nodule present."""

    info = TaskInfo(
        name="ChestXray", prefix="xray",
        description="Synthetic frontal chest radiographs (CR/DX, PA/AP) with a nodule-like "
                    "finding; some images are stored mirrored",
        channels=("X-ray",), labels=("background", "nodule"),
        target_file="labels_finding.csv", spatial_dims=2, dicom_modality="CR/DX",
        body_part="CHEST")

    def __init__(self, *, base_prevalence: float = 0.15, prevalence_per_year: float = 0.006,
                 flipped: bool = True) -> None:
        self.base_prevalence = base_prevalence
        self.prevalence_per_year = prevalence_per_year
        self.flipped = flipped

    def generate(self, scan: Scan) -> SyntheticCase:
        anatomy, acq = scan.subject_rng(), scan.scan_rng()
        acquisition = xray_scanner(acq)
        view = "AP" if acq.random() < 0.3 else "PA"
        image, lungs = _chest(anatomy, acq, magnification=1.12 if view == "AP" else 1.0)
        label = np.zeros(image.shape, dtype=np.uint8)
        prevalence = self.base_prevalence + self.prevalence_per_year * (scan.age - 18.0)
        if scan.subject.stratum < prevalence:
            image = image + _nodule(lungs, label, anatomy)
        image = ndimage.gaussian_filter(image, 0.7) + acq.normal(0.06, 0.012, image.shape)
        image = quantise(image, 3500.0, np.uint16, 4095)
        orientation = _orientation(acq) if self.flipped else ("L", "F")
        image, label = _store(image, orientation), _store(label, orientation)
        spacing = DETECTOR_PIXEL_MM * 4 * acq.uniform(0.95, 1.05)
        affine = np.eye(4)
        for axis, direction in enumerate(orientation):
            affine[:2, axis] = np.array(DIRECTIONS[direction]) * round(spacing, 4)
        acquisition |= {"view_position": view, "patient_orientation": orientation,
                        "imager_pixel_spacing": DETECTOR_PIXEL_MM}
        # Arrays are (column, row): axis 0 runs along PatientOrientation[0], like NIfTI's i.
        return SyntheticCase(image=image.T[None], label=label.T, affine=affine,
                             target=int(label.any()), acquisition=acquisition)


def _chest(anatomy: np.random.Generator, acq: np.random.Generator,
           magnification: float) -> tuple[np.ndarray, np.ndarray]:
    """Attenuation image (rows, columns) in display orientation and the lung mask."""
    v, u = np.mgrid[-1:1:SIZE * 1j, -1:1:SIZE * 1j].astype(np.float32)
    grid = [u + acq.normal(0.0, 0.03), v + acq.normal(0.0, 0.03)]
    scale = np.exp(anatomy.normal(0.0, 0.05))
    body = ellipsoid(grid, (0.0, 0.2), (0.88 * scale, 1.15 * scale)) < 1.0
    image = np.where(body, 0.50, 0.04).astype(np.float32)
    lungs = np.zeros(image.shape, dtype=bool)
    for side in (-1.0, 1.0):
        lung = ellipsoid(grid, (side * 0.37 * scale, -0.08), (0.28 * scale, 0.56 * scale)) \
            + 0.05 * smooth_noise(image.shape, 6.0, anatomy)
        lungs |= (lung < 1.0) & (grid[1] < 0.42 - 0.12 * np.abs(grid[0] - side * 0.35))
    heart_size = 0.26 * scale * magnification * np.exp(anatomy.normal(0.0, 0.06))
    heart = ellipsoid(grid, (0.14, 0.28), (heart_size * 1.15, heart_size)) < 1.0
    lungs &= ~heart
    image[lungs] = 0.18
    image[heart] = 0.58
    image += 0.035 * smooth_noise(image.shape, 2.0, anatomy) * lungs
    spine = np.abs(grid[0]) < 0.09
    image += np.where(spine & body, 0.2 + 0.05 * np.sin(grid[1] * 40.0), 0.0)
    for k in range(9):
        for side in (-1.0, 1.0):
            curve = -0.78 + 0.13 * k + 0.45 * (side * grid[0] - 0.1) ** 2
            rib = (np.abs(grid[1] - curve) < 0.022) & (side * grid[0] > 0.08) \
                & (side * grid[0] < 0.78) & body
            image += 0.11 * rib
    for side in (-1.0, 1.0):
        clavicle = np.abs(grid[1] + 0.72 + 0.25 * (side * grid[0] - 0.1)) < 0.03
        image += 0.14 * (clavicle & (side * grid[0] > 0.05) & (side * grid[0] < 0.6))
    return image, lungs


def _nodule(lungs: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A round opacity inside a lung; marks its extent in `label`, returns the added signal."""
    candidates = np.argwhere(ndimage.binary_erosion(lungs, iterations=6))
    row, col = candidates[rng.integers(len(candidates))]
    radius = rng.uniform(3.0, 7.0)
    r, c = np.ogrid[: lungs.shape[0], : lungs.shape[1]]
    distance2 = ((r - row) ** 2 + (c - col) ** 2) / radius**2
    label[distance2 < 1.2] = 1
    return (rng.uniform(0.15, 0.3) * np.exp(-distance2)).astype(np.float32)


def _orientation(rng: np.random.Generator) -> tuple[str, str]:
    draw = rng.integers(100)
    for orientation, weight in ORIENTATIONS:
        if draw < weight:
            return orientation
        draw -= weight
    return ORIENTATIONS[0][0]


def _store(image: np.ndarray, orientation: tuple[str, str]) -> np.ndarray:
    """Display orientation (L, F) → the stored orientation: flip what differs."""
    if orientation[0] == "R":
        image = image[:, ::-1]
    if orientation[1] == "H":
        image = image[::-1, :]
    return np.ascontiguousarray(image)
