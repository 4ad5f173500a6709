"""Small hand-built records and arrays for the preprocessing tests (no readers, no files)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mias.records import CaseRecord


@pytest.fixture
def make_record() -> Callable[..., CaseRecord]:
    """Build a `CaseRecord` with defaults for everything the test does not care about."""

    def make(case_id: str = "case000", **kw: Any) -> CaseRecord:
        defaults: dict[str, Any] = {
            "subject_id": f"sub-{case_id}",
            "image_files": (f"{case_id}.nii.gz",),
            "modality": "MR",
            "spacing": (1.0, 1.0, 1.0),
            "shape": (32, 32, 32),
        }
        return CaseRecord(case_id=case_id, **(defaults | kw))

    return make
