"""`RUN/search/result.json` read back: what final training and evaluation start from.

Downstream stages read only the search's records (DESIGN §1): the chosen architecture, the
PREP folder it was searched on, the resolved preset, the target and its latency figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mias.errors import InputError
from mias.presets.models import Preset
from mias.provenance import check_same_prep
from mias.record_schemas import SearchResultRecord
from mias.records import RESULT_SCHEMA_VERSION
from mias.space import Architecture
from mias.validation import read_record

RESULT = Path("search") / "result.json"
SUPERNET = Path("search") / "supernet.pt"


@dataclass(frozen=True)
class SearchRecord:
    run: Path
    arch: Architecture
    prep: Path
    target: str
    seed: int
    preset: Preset
    latency: dict[str, Any] | None
    raw: dict[str, Any]

    @classmethod
    def load(cls, run: str | Path) -> SearchRecord:
        run = Path(run)
        path = run / RESULT
        if not path.is_file():
            raise InputError(path, "no search result in this run folder",
                             "run `mias search PREP --target DEVICE --out RUN` first")
        raw = read_record(path, RESULT_SCHEMA_VERSION, "mias search", SearchResultRecord)
        try:
            preset = Preset.model_validate(raw["config"])
            record = cls(run=run, arch=Architecture.from_dict(raw["arch"]),
                         prep=_prep(run, Path(raw["prep"])), target=str(raw["target"]),
                         seed=int(raw["seed"]), preset=preset, latency=raw.get("latency"),
                         raw=raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"not a valid search result ({exc})",
                             "re-run `mias search` to rewrite it") from exc
        if not (record.prep / "manifest.json").is_file():
            raise InputError(path, f"the prepared dataset it names ({record.prep}) is gone",
                             "restore PREP at that path, or re-run the search") from None
        return record

    def check_prep(self, fingerprint: str) -> None:
        """Refuse PREP when it no longer holds the data this search ran on."""
        check_same_prep(fingerprint, self.raw.get("data_fingerprint"), prep=self.prep,
                        record=self.run / RESULT,
                        rerun=f"search again: `mias search {self.prep} --out {self.run} "
                              "--overwrite`")

    @property
    def supernet_path(self) -> Path:
        return self.run / SUPERNET


def _prep(run: Path, named: Path) -> Path:
    """PREP inside the run first (`mias run` keeps it there, and a moved or copied run takes
    it along), else the path the search recorded (a relative one from the run)."""
    inside = run / "prep"
    if (inside / "manifest.json").is_file():
        return inside
    return named if named.is_absolute() else run / named
