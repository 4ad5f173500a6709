"""MIAS: hardware-aware neural architecture search for medical imaging on edge devices."""

__version__ = "0.1.0"
