"""Scanner models the synthetic sites use: what DICOM Manufacturer/Model tags will say."""

from __future__ import annotations

from typing import Any

import numpy as np

MR_SCANNERS: tuple[tuple[str, str, float], ...] = (
    ("SIEMENS", "Skyra", 3.0),
    ("SIEMENS", "Avanto", 1.5),
    ("GE MEDICAL SYSTEMS", "DISCOVERY MR750", 3.0),
    ("GE MEDICAL SYSTEMS", "SIGNA HDxt", 1.5),
    ("Philips Medical Systems", "Ingenia", 3.0),
    ("Philips Medical Systems", "Achieva", 1.5),
)
XRAY_SCANNERS: tuple[tuple[str, str, str], ...] = (
    ("Carestream Health", "DRX-Evolution", "DX"),
    ("Philips Medical Systems", "DigitalDiagnost", "DX"),
    ("FUJIFILM Corporation", "FCR PROFECT CS", "CR"),
    ("Agfa", "CR 85-X", "CR"),
)


def mr_scanner(rng: np.random.Generator) -> dict[str, Any]:
    manufacturer, model, tesla = MR_SCANNERS[rng.integers(len(MR_SCANNERS))]
    return {"manufacturer": manufacturer, "manufacturer_model": model, "field_strength": tesla}


def xray_scanner(rng: np.random.Generator) -> dict[str, Any]:
    manufacturer, model, modality = XRAY_SCANNERS[rng.integers(len(XRAY_SCANNERS))]
    return {"manufacturer": manufacturer, "manufacturer_model": model, "modality": modality}


def mr_noise(field_strength: float) -> float:
    """Relative noise level: SNR grows roughly linearly with field strength."""
    return 0.05 * 1.5 / field_strength
