"""`mias predict MODEL DATA --out DIR`: run an exported model on new scans (no torch needed).

DATA is any layout `mias prepare` reads. Writes DIR/<case>.nii.gz (the mask on the input's
grid), DIR/<case>.seg.dcm for DICOM input, and DIR/predictions.json (volumes, classes,
out-of-range warnings). The DICOM SEG references the source study, series and instances
by their UIDs so the PACS the scans came from can display it over them — send it back
there and nowhere else; pass --no-seg to write none.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict new scans with an exported model",
                       description=__doc__)
    p.add_argument("model", type=Path, help="RUN/export/model.onnx (or model.int8.onnx)")
    p.add_argument("data", type=Path, help="DICOM folder, NIfTI folder or Decathlon/nnU-Net "
                   "folder")
    p.add_argument("--out", type=Path, required=True, help="output folder DIR")
    p.add_argument("--no-seg", dest="seg", action="store_false",
                   help="write no DICOM SEG (it carries the source series' UIDs)")
    p.add_argument("--threads", type=int, help="ONNX Runtime threads; default: all cores")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier output at --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.atomic import read_json
    from mias.cli.progress import console, stage_progress
    from mias.export.predict import predict

    with stage_progress() as update:
        out = predict(args.model, args.data, args.out, seg=args.seg, threads=args.threads,
                      overwrite=args.overwrite, progress=update)
    result = read_json(out / "predictions.json")
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"predicted {len(result['cases'])} case(s) into [bold]{out}[/]")
    return 0
