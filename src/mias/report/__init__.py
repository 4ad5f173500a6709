"""The validation plan: HTML and PDF (FDA-style, seven sections) and a model card, built
from a run's records alone."""

from mias.report.build import build_report

__all__ = ["build_report"]
