from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mias.data.synth import available_generators, create_generator, synthesize
from mias.data.synth.cohort import build_cohort


def _arrays(task: str, seed: int) -> list[np.ndarray]:
    generator = create_generator(task)
    scans = build_cohort(generator, 3, seed)
    return [a for s in scans for c in [generator.generate(s)] for a in (c.image, c.label)]


@pytest.mark.parametrize("task", available_generators())
def test_same_seed_same_arrays_different_seed_different(task: str) -> None:
    first, again, other = _arrays(task, 0), _arrays(task, 0), _arrays(task, 1)
    assert all(a.tobytes() == b.tobytes() and a.dtype == b.dtype
               for a, b in zip(first, again, strict=True))
    assert any(a.shape != b.shape or not np.array_equal(a, b)
               for a, b in zip(first, other, strict=True))


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["nifti", "dicom"])
def test_whole_dataset_is_byte_identical_for_a_seed(tmp_path: Path, fmt: str) -> None:
    a = synthesize("hippocampus", tmp_path / "a", cases=3, seed=7, fmt=fmt)
    b = synthesize("hippocampus", tmp_path / "b", cases=3, seed=7, fmt=fmt)
    c = synthesize("hippocampus", tmp_path / "c", cases=3, seed=8, fmt=fmt)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
