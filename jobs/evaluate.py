"""Evaluate trained weights on a dataset's validation split.

    python -m jobs.evaluate --weights W --data OUT/data.yaml --out M.json [--imgsz I] [--conf C] [--iou U]
                            [--device auto]

Writes M.json: {"map50", "map50_95", "precision", "recall", "per_class": {name: {"ap50", "ap50_95"}},
"latency_ms", ...} (see backend.training.evaluation for the extra keys).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs._cli import cli_parser, run_cli


def run(args: argparse.Namespace) -> str:
    """Do the work; return the summary line."""
    from backend.core.params import get_params
    from backend.core.progress import TerminalProgress
    from backend.training.evaluation import evaluate, write_eval_json

    defaults = get_params(Path(args.params) if args.params else None).evaluate
    result = evaluate(
        Path(args.weights),
        Path(args.data),
        imgsz=args.imgsz or defaults.imgsz,
        device=args.device,
        conf=defaults.conf if args.conf is None else args.conf,
        iou=defaults.iou if args.iou is None else args.iou,
        progress=TerminalProgress("evaluate"),
    )
    out = write_eval_json(result, Path(args.out))
    latency = f"{result.latency_ms:.1f} ms/image" if result.latency_ms is not None else "no latency"
    return (
        f"Evaluated {Path(args.weights).name} on {result.images} val images: mAP50 {result.map50:.2f}, "
        f"mAP50-95 {result.map50_95:.2f}, {latency} → {out}"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.evaluate", "Evaluate weights on the validation split; writes mAP, per-class AP and latency as JSON."
    )
    parser.add_argument("--weights", metavar="W", required=True, help="trained weights (.pt)")
    parser.add_argument("--data", metavar="DATA_YAML", required=True, help="data.yaml written by jobs.prepare")
    parser.add_argument("--out", metavar="M.json", required=True, help="metrics JSON to write")
    parser.add_argument("--imgsz", type=int, help="image size (default: evaluate.imgsz in params.yaml)")
    parser.add_argument("--conf", type=float, help="lowest confidence kept (default 0.001)")
    parser.add_argument("--iou", type=float, help="NMS IoU threshold (default 0.6)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, or a CUDA index such as 0")
    parser.add_argument("--params", metavar="YAML", help="params file (default: params.yaml / PLATEOPS_PARAMS_FILE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), quiet_stdout=True)  # ultralytics logs to stdout


if __name__ == "__main__":
    sys.exit(main())
