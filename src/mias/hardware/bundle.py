"""The block bundle: every block of a search space as ONNX, plus `blocks.json`, its index.

It is the hand-over between the machine that has torch (which exports) and the board that
has only numpy + onnxruntime (which times): `mias profile --export-blocks DIR` writes it,
`mias profile --import DIR` reads it. Calibration networks and short block chains travel
with their block keys, so the board can fit the table's correction without knowing the
search space; the reference network travels too, since the board cannot build it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mias.atomic import read_json, write_json
from mias.errors import InputError
from mias.validation import validate_file

BUNDLE_SCHEMA_VERSION = 3
INDEX_NAME = "blocks.json"


class BundleBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    file: str
    flops: int | None = None
    params: int | None = None


class BundleNetwork(BaseModel):
    """A whole network for calibration: its ONNX file and the keys of its blocks, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch_id: str
    arch: dict[str, Any]
    file: str
    keys: tuple[str, ...]


class BundleChain(BaseModel):
    """Consecutive blocks of a network exported as one graph: what the boundaries between
    them cost (or save) inside a network, against the blocks timed alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    keys: tuple[str, ...]


class BundleReference(BaseModel):
    """The fixed reference network every timing is a ratio to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    arch_id: str
    arch: dict[str, Any]
    flops: int
    chosen: str


class BlockBundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = BUNDLE_SCHEMA_VERSION
    kind: Literal["mias-block-bundle"] = "mias-block-bundle"
    space_id: str
    dtype: str = "float32"
    batch: int = 1
    opset: int
    libraries: dict[str, str]
    probe: str
    reference: BundleReference
    blocks: tuple[BundleBlock, ...]
    chains: tuple[BundleChain, ...] = ()
    networks: tuple[BundleNetwork, ...] = ()

    def save(self, directory: Path) -> Path:
        path = Path(directory) / INDEX_NAME
        write_json(path, self.model_dump(mode="json"))
        return path

    @classmethod
    def load(cls, directory: Path) -> BlockBundle:
        """Read `DIR/blocks.json` and check that every file it names is there."""
        directory = Path(directory)
        index = directory / INDEX_NAME
        if not index.is_file():
            raise InputError(index, "no block bundle index here",
                             "create the bundle with `mias profile --space PREP "
                             "--export-blocks DIR` on a machine with torch, then copy DIR")
        data = read_json(index)
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != BUNDLE_SCHEMA_VERSION:
            raise InputError(index, f"this bundle was exported for timing protocol version "
                             f"{version!r}, not {BUNDLE_SCHEMA_VERSION} (a reference network "
                             "and block chains are needed)",
                             "re-export it with `mias profile --space PREP --export-blocks DIR`")
        bundle = validate_file(cls, data, index, "block bundle",
                               "re-export the bundle with `mias profile --export-blocks`")
        files = [bundle.probe, bundle.reference.file, *(b.file for b in bundle.blocks),
                 *(c.file for c in bundle.chains), *(n.file for n in bundle.networks)]
        missing = [f for f in files if not (directory / f).is_file()]
        if missing:
            raise InputError(directory / missing[0], f"{len(missing)} ONNX file(s) of the "
                             "bundle are missing", "copy the whole bundle folder again")
        return bundle
