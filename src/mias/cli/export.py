"""`mias export RUN [--int8]`: the trained model as ONNX (opset 17) carrying its preprocessing.

Writes RUN/export/model.onnx, with --int8 also model.int8.onnx (ONNX Runtime static
quantisation, calibrated on the training cases), and RUN/export/parity.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the trained model to ONNX for the device",
                       description=__doc__)
    p.add_argument("run", type=Path, help="run folder RUN (with RUN/final/model.pt)")
    p.add_argument("--int8", action="store_true",
                   help="also write a static int8 model; its metric change on the validation "
                   "split and its host latency beside fp32 go into parity.json")
    p.add_argument("--prep", type=Path, help="the prepared data PREP; default: the one named "
                   "by RUN/search/result.json")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier RUN/export")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mias.cli.progress import console, stage_progress
    from mias.export.exporter import export_run
    from mias.output_guard import check_output

    check_output(args.run / "export", overwrite=args.overwrite)   # before any work
    with stage_progress() as update:
        record = export_run(args.run, int8=args.int8, prep=args.prep,
                            overwrite=args.overwrite, progress=update)
    fp32 = record["fp32"]
    console.print(f"wrote [bold]{args.run / 'export'}[/]: model.onnx"
                  f"{', model.int8.onnx' if 'int8' in record else ''}, parity.json")
    console.print(f"fp32 max |ONNX − PyTorch| = {fp32['max_abs_diff']:.2e} on "
                  f"{fp32.get('compared', 'raw outputs')} (limit {fp32['atol']:g})")
    if "int8" in record:
        q = record["int8"]
        console.print(f"int8: {q['metric_label']} change {q['metric_change']:+.4f} on "
                      f"{q['cases']} validation cases; latency int8/fp32 "
                      f"{q['latency_ratio_int8_over_fp32']:.2f} (measured on host); "
                      f"{'recommended' if q['verdict']['recommended'] else 'not recommended'}")
    if not fp32["passed"]:
        console.print("[red]error:[/] the ONNX model differs from PyTorch beyond the limit; "
                      "do not deploy it")
        return 1
    return 0
