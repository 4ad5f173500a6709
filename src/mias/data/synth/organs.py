"""Decathlon-like organ phantoms for the tasks the other generators do not cover.

Heart (MRI), Liver, Lung, Pancreas, HepaticVessel, Spleen and Colon (CT) and Prostate
(two-channel T2/ADC MRI) are each described as data: a grid with the task's anisotropy
(the coarse axis of Spleen or Colon is ~6× the in-plane spacing, as in the Decathlon), and
a few structures — smooth-bounded ellipsoids or z-running tubes — with an intensity per
channel and, for labelled ones, the Decathlon label. Lesions appear in a fixed share of
subjects so detection metrics have negatives. CT is stored in Hounsfield units (int16),
MRI as scanner magnitudes. Volumes are small (stand-ins for benchmarks, not anatomy).
"""

from __future__ import annotations

from dataclasses import dataclass

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

CT_SCANNERS: tuple[tuple[str, str], ...] = (
    ("SIEMENS", "SOMATOM Definition AS"), ("GE MEDICAL SYSTEMS", "Revolution CT"),
    ("Philips", "Brilliance 64"), ("TOSHIBA", "Aquilion ONE"))
AIR_HU, CT_NOISE_HU = -1000.0, 12.0


@dataclass(frozen=True)
class Structure:
    """One object of the phantom; `centre` and `radii` are in mm from the grid centre.

    `kind` "ellipsoid" or "tube" (a tube runs along the last axis with a sinusoidal
    course). `label` 0 is unlabelled anatomy. `inside` names a structure whose mask clips
    this one (a lesion stays in its organ). `present` is the share of subjects that have it.
    """

    name: str
    kind: str
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    intensity: tuple[float, ...]
    label: int = 0
    inside: str | None = None
    present: float = 1.0
    jitter: float = 0.1


@dataclass(frozen=True)
class Phantom:
    """A task's grid, modality and structures, painted in order: a later structure owns its
    voxels (image and label), so lesions come after their organ."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    ct: bool
    background: tuple[float, ...]
    structures: tuple[Structure, ...]


class OrganGenerator(CaseGenerator):
    """Renders a `Phantom` per subject: positions, sizes and boundaries vary per seed."""

    phantom: Phantom

    def generate(self, scan: Scan) -> SyntheticCase:
        anatomy, acq = scan.subject_rng(), scan.scan_rng()
        ph = self.phantom
        grid = centred_grid(ph.shape, ph.spacing)
        channels = len(ph.background)
        image = np.empty((channels, *ph.shape), dtype=np.float32)
        image[:] = np.asarray(ph.background, dtype=np.float32).reshape(-1, 1, 1, 1)
        label = np.zeros(ph.shape, dtype=np.uint8)
        masks: dict[str, np.ndarray] = {}
        for s in ph.structures:
            mask = _mask(s, grid, ph, anatomy)
            if s.inside is not None:
                mask &= masks.get(s.inside, np.zeros_like(mask))
            if anatomy.random() >= s.present:
                mask[:] = False
            masks[s.name] = mask
            image[:, mask] = np.asarray(s.intensity, dtype=np.float32)[:, None]
            label[mask] = s.label
        sigma = [0.6 * min(ph.spacing) / sp for sp in ph.spacing]
        image = np.stack([ndimage.gaussian_filter(c, sigma) for c in image])
        stored, acquisition = (_ct(image, acq) if ph.ct else _mr(image, acq))
        affine = np.diag([*ph.spacing, 1.0])
        affine[:3, 3] = [-(n - 1) / 2 * s for n, s in zip(ph.shape, ph.spacing, strict=True)]
        lesions = [masks[s.name].any() for s in ph.structures if s.present < 1.0]
        return SyntheticCase(image=stored, label=label, affine=affine,
                             target=int(any(lesions) if lesions else label.any()),
                             acquisition=acquisition)


def _mask(s: Structure, grid: list[np.ndarray], ph: Phantom,
          rng: np.random.Generator) -> np.ndarray:
    centre = np.asarray(s.centre) + rng.normal(0.0, s.jitter, 3) * np.asarray(s.radii)
    radii = np.asarray(s.radii) * np.exp(rng.normal(0.0, s.jitter, 3))
    wobble = 0.08 * smooth_noise(ph.shape, [2.0 * min(ph.spacing) / sp for sp in ph.spacing],
                                 rng)
    if s.kind == "ellipsoid":
        return ellipsoid(grid, centre, radii) + wobble < 1.0
    phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5) * radii[0]
    z = grid[2] / max(float(np.abs(grid[2]).max()), 1e-6)
    cx = centre[0] + amp * np.sin(np.pi * z + phase)
    cy = centre[1] + amp * np.cos(np.pi * z + phase)
    dist = np.sqrt(((grid[0] - cx) / radii[0]) ** 2 + ((grid[1] - cy) / radii[1]) ** 2)
    return np.broadcast_to(dist + wobble < 1.0, ph.shape).copy()


def _ct(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, object]]:
    hu = image + rng.normal(0.0, CT_NOISE_HU, image.shape).astype(np.float32)
    manufacturer, model = CT_SCANNERS[rng.integers(len(CT_SCANNERS))]
    stored = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return stored, {"manufacturer": manufacturer, "manufacturer_model": model,
                    "modality": "CT", "kvp": float(rng.choice([100.0, 120.0]))}


def _mr(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, object]]:
    scanner = mr_scanner(rng)
    noise = mr_noise(scanner["field_strength"])
    out = [quantise(rician(c * bias_field(c.shape, 0.2, rng), noise, rng),
                    rng.uniform(500.0, 900.0), np.int16, 32767) for c in image]
    return np.stack(out), scanner


def _ct_info(name: str, description: str, labels: tuple[str, ...], body: str) -> TaskInfo:
    return TaskInfo(name=name, prefix=name.lower(), description=description, channels=("CT",),
                    labels=("background", *labels), target_file="labels_detection.csv",
                    spatial_dims=3, dicom_modality="CT", body_part=body)


def _abdomen(*organs: Structure) -> tuple[Structure, ...]:
    """Body outline, subcutaneous fat and spine, then the task's organs."""
    return (Structure("fat", "ellipsoid", (0, 0, 0), (150, 115, 400), (-100.0,), jitter=0.05),
            Structure("body", "ellipsoid", (0, 0, 0), (135, 100, 400), (45.0,), jitter=0.05),
            Structure("spine", "tube", (0, 75, 0), (14, 14, 1), (650.0,), jitter=0.05),
            *organs)


@register_generator("heart")
class HeartGenerator(OrganGenerator):
    """Task02 stand-in: mono-modal MRI, label left atrium; near-isotropic 1.25×1.25×1.37."""

    info = TaskInfo(name="Heart", prefix="la", description="Synthetic stand-in for MSD Task02 "
                    "(left atrium, mono-modal MRI)", channels=("MRI",),
                    labels=("background", "left atrium"), target_file="labels_detection.csv",
                    spatial_dims=3, dicom_modality="MR", body_part="HEART",
                    channel_timing=((3.4, 1.7),))
    phantom = Phantom(
        shape=(32, 32, 28), spacing=(5.0, 5.0, 5.5), ct=False, background=(0.15,),
        structures=(Structure("thorax", "ellipsoid", (0, 0, 0), (75, 65, 70), (0.45,)),
                    Structure("ventricle", "ellipsoid", (-18, -10, -12), (30, 26, 32), (0.9,)),
                    Structure("aorta", "tube", (10, 22, 0), (9, 9, 1), (1.0,)),
                    Structure("atrium", "ellipsoid", (14, 8, 14), (28, 22, 26), (1.1,),
                              label=1)))


@register_generator("liver")
class LiverGenerator(OrganGenerator):
    """Task03 stand-in: portal-venous CT, labels liver and cancer (~70% with a lesion)."""

    info = _ct_info("Liver", "Synthetic stand-in for MSD Task03 (liver and tumour, CT)",
                    ("liver", "cancer"), "ABDOMEN")
    phantom = Phantom(
        shape=(32, 32, 24), spacing=(10.0, 10.0, 12.5), ct=True, background=(AIR_HU,),
        structures=_abdomen(
            Structure("liver", "ellipsoid", (-55, -5, 30), (75, 60, 90), (105.0,), label=1),
            Structure("lesion", "ellipsoid", (-60, -5, 35), (32, 30, 36), (40.0,), label=2,
                      inside="liver", present=0.7, jitter=0.3)))


@register_generator("lung")
class LungGenerator(OrganGenerator):
    """Task06 stand-in: chest CT, label cancer (a nodule in one lung, ~70% of subjects)."""

    info = _ct_info("Lung", "Synthetic stand-in for MSD Task06 (lung cancer, CT)", ("cancer",),
                    "CHEST")
    phantom = Phantom(
        shape=(32, 32, 24), spacing=(10.0, 10.0, 15.0), ct=True, background=(AIR_HU,),
        structures=(
            Structure("body", "ellipsoid", (0, 0, 0), (150, 110, 400), (30.0,), jitter=0.05),
            Structure("right", "ellipsoid", (-62, -5, 0), (52, 70, 130), (-850.0,)),
            Structure("left", "ellipsoid", (62, -5, 0), (48, 70, 130), (-850.0,)),
            Structure("mediastinum", "tube", (0, 10, 0), (22, 30, 1), (40.0,)),
            Structure("nodule", "ellipsoid", (-62, -5, 0), (24, 24, 30), (20.0,), label=1,
                      inside="right", present=0.7, jitter=0.25)))


@register_generator("pancreas")
class PancreasGenerator(OrganGenerator):
    """Task07 stand-in: CT at 0.8×0.8×2.5-like anisotropy, labels pancreas and cancer."""

    info = _ct_info("Pancreas", "Synthetic stand-in for MSD Task07 (pancreas and tumour, CT)",
                    ("pancreas", "cancer"), "ABDOMEN")
    phantom = Phantom(
        shape=(32, 32, 16), spacing=(6.0, 6.0, 19.0), ct=True, background=(AIR_HU,),
        structures=_abdomen(
            Structure("pancreas", "ellipsoid", (10, 10, 0), (55, 16, 40), (95.0,), label=1),
            Structure("lesion", "ellipsoid", (-10, 10, 0), (18, 15, 25), (45.0,), label=2,
                      inside="pancreas", present=0.7, jitter=0.3)))


@register_generator("hepaticvessel")
class HepaticVesselGenerator(OrganGenerator):
    """Task08 stand-in: CT at ~6:1 anisotropy, labels vessel and tumour inside the liver."""

    info = _ct_info("HepaticVessel", "Synthetic stand-in for MSD Task08 (hepatic vessels and "
                    "tumour, CT)", ("Vessel", "Tumour"), "ABDOMEN")
    phantom = Phantom(
        shape=(32, 32, 12), spacing=(6.0, 6.0, 37.0), ct=True, background=(AIR_HU,),
        structures=_abdomen(
            Structure("liver", "ellipsoid", (-50, 0, 0), (70, 60, 300), (100.0,)),
            Structure("vessel", "tube", (-45, -10, 0), (7, 7, 1), (190.0,), label=1,
                      inside="liver"),
            Structure("vessel2", "tube", (-70, 15, 0), (5, 5, 1), (180.0,), label=1,
                      inside="liver"),
            Structure("tumour", "ellipsoid", (-55, 20, 30), (20, 20, 60), (45.0,), label=2,
                      inside="liver", present=0.7, jitter=0.3)))


@register_generator("spleen")
class SpleenGenerator(OrganGenerator):
    """Task09 stand-in: CT at ~6:1 anisotropy (0.8×0.8×5 mm in the Decathlon), label spleen."""

    info = _ct_info("Spleen", "Synthetic stand-in for MSD Task09 (spleen, CT)", ("spleen",),
                    "ABDOMEN")
    phantom = Phantom(
        shape=(32, 32, 12), spacing=(6.0, 6.0, 37.0), ct=True, background=(AIR_HU,),
        structures=_abdomen(
            Structure("liver", "ellipsoid", (-55, 0, 0), (70, 60, 300), (60.0,)),
            Structure("spleen", "ellipsoid", (70, 25, 0), (30, 22, 110), (105.0,), label=1,
                      jitter=0.15)))


@register_generator("colon")
class ColonGenerator(OrganGenerator):
    """Task10 stand-in: CT at ~6:1 anisotropy, label colon cancer primaries (a wall mass)."""

    info = _ct_info("Colon", "Synthetic stand-in for MSD Task10 (colon cancer, CT)",
                    ("colon cancer primaries",), "ABDOMEN")
    phantom = Phantom(
        shape=(32, 32, 12), spacing=(6.0, 6.0, 37.0), ct=True, background=(AIR_HU,),
        structures=_abdomen(
            Structure("wall", "tube", (30, -20, 0), (20, 20, 1), (45.0,)),
            Structure("lumen", "tube", (30, -20, 0), (13, 13, 1), (-900.0,), inside="wall"),
            Structure("mass", "ellipsoid", (40, -20, 0), (22, 22, 90), (60.0,), label=1,
                      present=0.7, jitter=0.3)))


@register_generator("prostate")
class ProstateGenerator(OrganGenerator):
    """Task05 stand-in: two channels (T2, ADC) at ~6:1 anisotropy, labels PZ and TZ."""

    info = TaskInfo(name="Prostate", prefix="prostate", description="Synthetic stand-in for "
                    "MSD Task05 (prostate zones, T2 and ADC MRI)", channels=("T2", "ADC"),
                    labels=("background", "PZ", "TZ"), target_file="labels_detection.csv",
                    spatial_dims=3, dicom_modality="MR", body_part="PROSTATE",
                    channel_timing=((4000.0, 100.0), (3500.0, 80.0)))
    male_fraction = 1.0
    phantom = Phantom(
        shape=(32, 32, 12), spacing=(2.5, 2.5, 15.0), ct=False, background=(0.2, 0.5),
        structures=(Structure("pelvis", "ellipsoid", (0, 0, 0), (36, 34, 200), (0.55, 0.8)),
                    Structure("gland", "ellipsoid", (0, 2, 0), (22, 18, 40), (1.1, 0.7),
                              label=1),
                    Structure("tz", "ellipsoid", (0, -4, 0), (14, 11, 30), (0.6, 0.9),
                              label=2, inside="gland")))
