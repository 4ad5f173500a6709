from __future__ import annotations

import numpy as np
import pytest

from mias.data.synth import (
    CaseGenerator,
    Scan,
    SyntheticCase,
    TaskInfo,
    available_generators,
    create_generator,
    register_generator,
)
from mias.data.synth import registry as registry_module
from mias.data.synth.cohort import build_cohort
from mias.errors import InputError


def test_builtin_generators_are_registered() -> None:
    assert {"braintumour", "hippocampus", "xray"} <= set(available_generators())


def test_create_generator_passes_config_and_ignores_case() -> None:
    generator = create_generator("BrainTumour", healthy_fraction=1.0)
    scans = build_cohort(generator, 3, seed=1)
    assert all(generator.generate(s).target == 0 for s in scans)


def test_unknown_generator_is_an_input_error_listing_the_choices() -> None:
    with pytest.raises(InputError) as info:
        create_generator("lungs")
    assert "lungs" in info.value.message
    for name in available_generators():
        assert name in info.value.message


def test_register_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module.GENERATORS, "_entries",
                        dict(registry_module.GENERATORS._entries))

    @register_generator("cube")
    class Cube(CaseGenerator):
        info = TaskInfo(name="Cube", prefix="cube", description="a cube", channels=("CT",),
                        labels=("background", "cube"), target_file="labels.csv",
                        spatial_dims=3, dicom_modality="MR", body_part="HEAD")

        def generate(self, scan: Scan) -> SyntheticCase:
            label = np.zeros((4, 4, 4), dtype=np.uint8)
            return SyntheticCase(image=label[None].astype(np.int16), label=label,
                                 affine=np.eye(4), target=0)

    assert "cube" in available_generators()
    assert isinstance(create_generator("cube"), Cube)
    with pytest.raises(ValueError, match="already registered"):
        register_generator("cube")(Cube)
