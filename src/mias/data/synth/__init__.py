"""Synthetic stand-ins for the Decathlon tasks (and chest X-ray), in their native layouts.

`synthesize("hippocampus", out, cases=40)` writes a dataset that the readers treat like
the real one; generators are registered by name (`available_generators()`), and each
case is a pure function of the seed.
"""

# The generator modules register themselves on import.
from mias.data.synth import braintumour, hippocampus, organs, scaled, xray  # noqa: F401
from mias.data.synth.api import LAYOUTS, synthesize
from mias.data.synth.base import CaseGenerator, Scan, Subject, SyntheticCase, TaskInfo
from mias.data.synth.dicom import planted_identifiers
from mias.data.synth.registry import available_generators, create_generator, register_generator

__all__ = [
    "LAYOUTS",
    "CaseGenerator",
    "Scan",
    "Subject",
    "SyntheticCase",
    "TaskInfo",
    "available_generators",
    "create_generator",
    "planted_identifiers",
    "register_generator",
    "synthesize",
]
