"""Medical Segmentation Decathlon layouts: the original and nnU-Net v2, via dataset.json.

Original: `modality` {"0": "FLAIR"…}, `labels` {"0": "background"…}, a `training` list,
multi-channel cases as one 4D file. nnU-Net v2: `channel_names`, `labels`
{"background": 0…}, `file_ending`, one `imagesTr/CASE_XXXX<ending>` file per channel.
dataset.json is checked before any image is opened, and every error names it with the fix.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mias.atomic import read_json
from mias.data.imputation import MODALITY_FROM_DATASET_JSON
from mias.data.readers.detect import FormatReader, register_reader
from mias.data.readers.nifti import NIFTI_SUFFIXES, nifti_case, nifti_stem
from mias.data.readers.source import Scan
from mias.errors import InputError

DATASET_JSON = "dataset.json"
_MR_NAMES = re.compile(r"^(MRI?|T1\w*|T2\w*|FLAIR|ADC|DWI|PD\w*|SWI|DCE|PERF\w*|B0|B\d+)$")
_MODALITY_CODES = {"CT": "CT", "PET": "PT", "PT": "PT", "US": "US", "ULTRASOUND": "US",
                   "XRAY": "DX", "X-RAY": "DX", "CR": "CR", "DX": "DX"}


def modality_code(channel_names: tuple[str, ...]) -> str:
    """The DICOM modality code for dataset.json channel names ("T2", "ADC" → "MR")."""
    name = re.sub(r"[\s_]", "", channel_names[0]).upper() if channel_names else ""
    if name in _MODALITY_CODES:
        return _MODALITY_CODES[name]
    return "MR" if _MR_NAMES.match(name) else "OT"


def read_dataset_json(root: Path, required: tuple[str, ...]) -> dict[str, Any]:
    path = root / DATASET_JSON
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise InputError(path, "not a JSON object", "write dataset.json as in the Decathlon")
    missing = [k for k in required if k not in meta]
    if missing:
        raise InputError(path, f"missing field(s) {missing}",
                         f"add {', '.join(repr(k) for k in missing)} (see the Medical "
                         "Segmentation Decathlon / nnU-Net v2 dataset.json format)")
    return meta


def _indexed_names(path: Path, field: str, mapping: Any) -> tuple[str, ...]:
    """{"0": "a", "1": "b"} → ("a", "b"); keys must be 0..n-1."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise InputError(path, f"{field!r} must be a non-empty object like "
                               '{"0": "name", ...}', f"fix {field!r} in dataset.json")
    try:
        indexed = {int(k): str(v) for k, v in mapping.items()}
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"{field!r} has a non-integer key", '{"0": "name", ...}: keys '
                         "are the integer values as strings") from exc
    return _consecutive(path, field, indexed)


def _consecutive(path: Path, field: str, indexed: dict[int, str]) -> tuple[str, ...]:
    values = sorted(indexed)
    if values != list(range(len(values))):
        raise InputError(path, f"{field!r} values {values} are not consecutive from 0",
                         f"renumber {field!r} to 0..{len(values) - 1} in dataset.json "
                         "(and the masks to match)")
    return tuple(indexed[v] for v in values)


def _nnunet_labels(path: Path, mapping: Any) -> tuple[str, ...]:
    """{"background": 0, "a": 1} → ("background", "a"); region lists are not supported."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise InputError(path, "'labels' must be a non-empty object like "
                               '{"background": 0, ...}', "fix 'labels' in dataset.json")
    indexed: dict[int, str] = {}
    for name, value in mapping.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, f"label {name!r} has value {value!r}: region-based or "
                                   "non-integer labels are not supported",
                             "give each label one integer value")
        if value in indexed:
            raise InputError(path, f"labels {indexed[value]!r} and {name!r} share value "
                                   f"{value}", "give each label its own value")
        indexed[value] = str(name)
    return _consecutive(path, "labels", indexed)


def _count_warning(meta: dict[str, Any], found: int) -> list[str]:
    declared = meta.get("numTraining")
    if declared is None or declared == found:
        return []
    return [f"{DATASET_JSON}: numTraining says {declared} but {found} training cases were "
            f"found; using the {found} found"]


@register_reader("nnunet", priority=0)
class NnUNetReader(FormatReader):
    """nnU-Net v2: `imagesTr/CASE_XXXX<ending>` per channel, `labelsTr/CASE<ending>`.

    Without a labelsTr/ folder the cases are unlabeled (images to predict on).
    """

    def matches(self, root: Path) -> bool:
        path = root / DATASET_JSON
        if not path.is_file():
            return False
        meta = read_json(path)
        return isinstance(meta, dict) and ("channel_names" in meta or "file_ending" in meta)

    def scan(self, root: Path) -> Scan:
        path = root / DATASET_JSON
        meta = read_dataset_json(root, ("channel_names", "labels", "file_ending"))
        channels = _indexed_names(path, "channel_names", meta["channel_names"])
        labels = _nnunet_labels(path, meta["labels"])
        ending = str(meta["file_ending"])
        if ending not in NIFTI_SUFFIXES:
            raise InputError(path, f"file_ending {ending!r} is not supported",
                             "convert the images to NIfTI (.nii.gz) and set file_ending")
        images = root / "imagesTr"
        if not images.is_dir():
            raise InputError(images, "folder not found (nnU-Net v2 keeps training images "
                                     "in imagesTr/)", "restore imagesTr/")
        by_case: dict[str, dict[int, Path]] = defaultdict(dict)
        for file in sorted(images.iterdir()):
            if file.name.startswith(".") or not file.name.endswith(ending):
                continue
            match = re.fullmatch(r"(.+)_(\d{4})", file.name[: -len(ending)])
            if match is None:
                raise InputError(file, f"not named CASE_XXXX{ending}",
                                 f"name channel files CASE_0000{ending}, CASE_0001{ending}…")
            by_case[match.group(1)][int(match.group(2))] = file
        if not by_case:
            raise InputError(images, f"no *{ending} images", "add the training images")
        modality = modality_code(channels)
        labels_dir = root / "labelsTr"
        cases = []
        for key, files in sorted(by_case.items()):
            for index in range(len(channels)):
                if index not in files:
                    raise InputError(images / f"{key}_{index:04d}{ending}",
                                     f"channel {index} ({channels[index]}) of case {key!r} "
                                     "is missing", "add the file, or fix channel_names")
            extra = sorted(set(files) - set(range(len(channels))))
            if extra:
                raise InputError(files[extra[0]], f"channel {extra[0]} is not declared in "
                                                  "channel_names", "fix channel_names")
            paths = tuple(files[i] for i in range(len(channels)))
            case = nifti_case(root, key, paths, channels, modality, MODALITY_FROM_DATASET_JSON)
            if labels_dir.is_dir():
                case.label_path = labels_dir / f"{key}{ending}"
            cases.append(case)
        return Scan("nnunet", cases, channels, labels, path,
                    _count_warning(meta, len(cases)))


@register_reader("msd", priority=10)
class MsdReader(FormatReader):
    """The original Decathlon layout: the `training` list names each image and label."""

    def matches(self, root: Path) -> bool:
        return (root / DATASET_JSON).is_file()

    def scan(self, root: Path) -> Scan:
        path = root / DATASET_JSON
        meta = read_dataset_json(root, ("modality", "labels", "training"))
        channels = _indexed_names(path, "modality", meta["modality"])
        labels = _indexed_names(path, "labels", meta["labels"])
        training = meta["training"]
        if not isinstance(training, list) or not training:
            raise InputError(path, "'training' must be a non-empty list of "
                                   '{"image": ..., "label": ...}', "fix 'training'")
        modality = modality_code(channels)
        cases = []
        for entry in training:
            if not isinstance(entry, Mapping) or "image" not in entry:
                raise InputError(path, f"training entry {entry!r} has no 'image'",
                                 'write entries as {"image": "./imagesTr/X.nii.gz", '
                                 '"label": "./labelsTr/X.nii.gz"}')
            image = Path(os.path.normpath(root / str(entry["image"])))
            if not image.is_file():
                raise InputError(image, "listed in dataset.json 'training' but missing",
                                 "restore the file, or remove its entry from dataset.json")
            case = nifti_case(root, nifti_stem(image), (image,), channels, modality,
                              MODALITY_FROM_DATASET_JSON)
            if entry.get("label"):
                case.label_path = Path(os.path.normpath(root / str(entry["label"])))
            cases.append(case)
        return Scan("msd", cases, channels, labels, path,
                    _count_warning(meta, len(cases)))
