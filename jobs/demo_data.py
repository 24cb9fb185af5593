"""Generate the procedural demo food dataset (COCO), optionally with planted data-quality defects.

python -m jobs.demo_data --out data/demo [--images 400] [--seed 0] [--defects] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.core.progress import TerminalProgress
from backend.data.demo import MAX_IMAGES, generate_demo_dataset
from jobs._cli import cli_parser, run_cli


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1 or value > MAX_IMAGES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_IMAGES:,}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.demo_data", "Draw a COCO-format food dataset (12 classes on plates and tables), deterministic by seed."
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write (images/, annotations.json)")
    parser.add_argument("--images", type=_count, default=400, help="number of clean images (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument(
        "--defects",
        action="store_true",
        help="also add demo_defect_* images with one or more case of every data-quality check, listed in defects.json",
    )
    parser.add_argument("--workers", type=_count, default=None, help="worker processes (default: CPU count)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)

    def run() -> str:
        summary = generate_demo_dataset(
            args.out,
            images=args.images,
            seed=args.seed,
            defects=args.defects,
            workers=args.workers,
            progress=TerminalProgress("demo_data"),
        )
        return summary.describe()

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
