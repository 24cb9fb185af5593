"""Export trained weights for CPU serving: ONNX (onnxruntime) or OpenVINO, in float or int8.

    python -m jobs.export --weights W.pt --out PATH [--imgsz N] [--format onnx|openvino] [--int8]

Writes `PATH`: an `.onnx` file (`--format onnx`, the default) or an OpenVINO model folder (`--format openvino`:
`model.xml`, `model.bin`, `metadata.json`), with a fixed square input of N pixels (default: the size the weights
were trained at, else evaluate.imgsz in params.yaml). `--int8` quantises weights and activations to int8, the
activation ranges calibrated on the training pictures of the weights' dataset (`backend.training.runtimes`).
`jobs.detect --weights PATH` reads every form. Exit 0 written, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from jobs._cli import cli_parser, run_cli


def run(args: argparse.Namespace) -> str:
    """Do the work; return the summary line."""
    from backend.core.params import get_params
    from backend.training.export import export_onnx, trained_imgsz
    from backend.training.runtimes import calibration_pictures, export_openvino, quantize_int8, served_size_mb

    weights = Path(args.weights)
    out = Path(args.out)
    imgsz = args.imgsz or trained_imgsz(weights) or get_params().evaluate.imgsz
    with tempfile.TemporaryDirectory(prefix="plateops-export-") as scratch:
        onnx_out = out if args.format == "onnx" and not args.int8 else Path(scratch) / f"{weights.stem}.onnx"
        written = export_onnx(weights, imgsz=imgsz, out=onnx_out)
        if args.int8:
            target = out if args.format == "onnx" else Path(scratch) / f"{weights.stem}.int8.onnx"
            written = quantize_int8(written, target, calibration_pictures(weights))
        if args.format == "openvino":
            written = export_openvino(written, out)
    form = ("int8 " if args.int8 else "") + ("OpenVINO" if args.format == "openvino" else "ONNX")
    return f"Exported {weights.name} to {written} ({form}, {imgsz}x{imgsz} input, {served_size_mb(written):.1f} MB)"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser("jobs.export", "Export YOLO .pt weights for CPU serving (ONNX or OpenVINO, float or int8).")
    parser.add_argument("--weights", metavar="W.pt", required=True, help="trained weights from a PlateOps run")
    parser.add_argument("--out", metavar="PATH", required=True, help="the .onnx file or OpenVINO folder to write")
    parser.add_argument("--imgsz", type=int, metavar="N", help="input size (default: the training size)")
    parser.add_argument(
        "--format", choices=("onnx", "openvino"), default="onnx", help="onnx (default) or an OpenVINO folder"
    )
    parser.add_argument(
        "--int8", action="store_true", help="int8 weights and activations, calibrated on the training pictures"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), quiet_stdout=True)  # ultralytics logs to stdout


if __name__ == "__main__":
    sys.exit(main())
