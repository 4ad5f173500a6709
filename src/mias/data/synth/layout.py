"""What a dataset layout writer does: receive cases one by one, then finish the dataset."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from mias.data.synth.base import Scan, SyntheticCase, TaskInfo


class LayoutWriter(ABC):
    """Writes one layout under `root`; the caller writes the tables every layout shares."""

    # Whether demographics go to participants.tsv (DICOM carries them in its own headers).
    writes_participants: ClassVar[bool] = True

    def __init__(self, root: Path, info: TaskInfo, scans: Sequence[Scan], seed: int) -> None:
        self.root = root
        self.info = info
        self.scans = scans
        self.seed = seed

    @abstractmethod
    def add(self, scan: Scan, case: SyntheticCase) -> None:
        """Write one case."""

    @abstractmethod
    def close(self) -> None:
        """Write the dataset-level files once every case is written."""
