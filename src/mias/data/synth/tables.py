"""The tables every layout shares: `participants.tsv` (BIDS-style) and the `case,label` table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mias.data.synth.base import Scan
from mias.data.synth.fields import exact_mask

MISSING_AGE = 0.10
MISSING_SEX = 0.05


def write_participants(path: Path, scans: Sequence[Scan], seed: int) -> None:
    """One row per case; age and sex are left out ("n/a") for a seeded fraction of rows."""
    rng = np.random.default_rng([seed, 3])
    no_age, no_sex = exact_mask(len(scans), MISSING_AGE, rng), exact_mask(len(scans),
                                                                          MISSING_SEX, rng)
    table = pd.DataFrame({
        "participant_id": [s.case_id for s in scans],
        "subject": [s.subject.subject_id for s in scans],
        "age": pd.array([None if no_age[s.index] else s.age_years for s in scans],
                        dtype="Int64"),
        "sex": [None if no_sex[s.index] else s.subject.sex for s in scans],
    })
    table.to_csv(path, sep="\t", index=False, na_rep="n/a")


def write_targets(path: Path, targets: Mapping[str, float | int]) -> None:
    """The `case,label` table that classification and regression tasks read."""
    pd.DataFrame({"case": list(targets), "label": list(targets.values())}).to_csv(
        path, index=False)
