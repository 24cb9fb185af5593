"""Export trained weights to ONNX for CPU serving.

    python -m jobs.export --weights W.pt --out M.onnx [--imgsz N]

Writes M.onnx with a fixed square input of N pixels (default: the size the weights were trained at, else
evaluate.imgsz in params.yaml); class names, stride and imgsz are in its metadata, and the detector's embedding
(feature maps of its blocks) comes out beside the detections. The familiarity reference beside W.pt
(W.familiarity.npz/.json) is copied beside M.onnx as M.familiarity.npz/.json. `jobs.detect --weights M.onnx` reads
both. Exit 0 written, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs._cli import cli_parser, run_cli


def run(args: argparse.Namespace) -> str:
    """Do the work; return the summary line."""
    from backend.core.params import get_params
    from backend.training.export import export_onnx, trained_imgsz

    weights = Path(args.weights)
    imgsz = args.imgsz or trained_imgsz(weights) or get_params().evaluate.imgsz
    out = export_onnx(weights, imgsz=imgsz, out=Path(args.out))
    return f"Exported {weights.name} to {out} ({imgsz}x{imgsz} input, {out.stat().st_size / 1e6:.1f} MB)"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser("jobs.export", "Export YOLO .pt weights to an ONNX model for CPU serving.")
    parser.add_argument("--weights", metavar="W.pt", required=True, help="trained weights from a PlateOps run")
    parser.add_argument("--out", metavar="M.onnx", required=True, help="ONNX file to write")
    parser.add_argument("--imgsz", type=int, metavar="N", help="input size (default: the training size)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), quiet_stdout=True)  # ultralytics logs to stdout


if __name__ == "__main__":
    sys.exit(main())
