"""Drift report for a folder of new images against a prepared dataset: "is this new batch like what we trained on?"

python -m jobs.drift --reference DATASET_DIR --current IMAGES_DIR --weights W --out DIR

Writes DIR/report.html (Evidently, self-contained), DIR/snapshot.json (Evidently snapshot) and DIR/summary.json:
{"drift_detected": bool, "drifted_features": [names], "share": float, "reference_images": n, "current_images": m,
"estimated_map50": float, "estimated_map50_low": float, "estimated_map50_high": float, "embedding_drift": bool}:
the current images' mAP50 estimated from the model's own outputs (no labels; calibrated once per weights on the
reference dataset's labelled held-out split, `images/val` + `labels/val`; without one the interval is 0-1), and a
kernel two-sample test (MMD) on the model's image embeddings. Thresholds come from the `monitor` section of
params.yaml (--params to use another file).

Exit status: 0 the report was written (whether or not drift was found), 2 bad input (the reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.core.params import get_params
from backend.core.progress import TerminalProgress
from jobs._cli import run_cli


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.drift",
        description=(
            "Compare a folder of new images with a prepared dataset: image properties (brightness, contrast, "
            "sharpness, saturation, size, aspect ratio, file size) and the model's predictions (class share, "
            "confidence, boxes per image, box area), with Evidently."
        ),
        epilog="Exit status: 0 report written (drift or not), 2 bad input.",
    )
    parser.add_argument("--reference", type=Path, required=True, help="prepared dataset folder (its images/ is used)")
    parser.add_argument("--current", type=Path, required=True, help="folder of new images")
    parser.add_argument("--weights", type=Path, required=True, help="model weights (.pt or .onnx)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder for report.html, snapshot.json, summary.json"
    )
    parser.add_argument(
        "--params", type=Path, default=None, help="params file (default: params.yaml / PLATEOPS_PARAMS_FILE)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)

    def run() -> str:
        from backend.monitoring.service import drift_between_folders

        params = get_params(args.params).monitor
        built = drift_between_folders(
            args.reference,
            args.current,
            weights=args.weights,
            out_dir=args.out,
            params=params,
            progress=TerminalProgress("drift"),
        )
        return f"{built.result.summary_line()}. Report: {args.out / 'report.html'}"

    return run_cli(run, quiet_stdout=True)


if __name__ == "__main__":
    sys.exit(main())
