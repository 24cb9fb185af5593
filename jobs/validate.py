"""Run every data-quality check on a prepared YOLO dataset and write a JSON report.

    python -m jobs.validate --dataset OUT --report R.json [--fail-on error|warning|never]

Exits 1 when an issue at or above `--fail-on` (default: error) exists, 2 on bad input, else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs._cli import EXIT_DONE, EXIT_FINDINGS, Outcome, bad_arguments, cli_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.validate",
        "Run every data-quality check on a prepared YOLO dataset (including prepare's findings).",
        findings="an issue at or above --fail-on exists",
    )
    parser.add_argument("--dataset", metavar="OUT", required=True, help="prepared dataset folder (with data.yaml)")
    parser.add_argument("--report", metavar="R.json", required=True, help="where to write the JSON report")
    parser.add_argument(
        "--fail-on",
        choices=("error", "warning", "never"),
        default="error",
        help="exit 1 when an issue this severe or worse exists (default: error)",
    )
    parser.add_argument("--cache-dir", metavar="DIR", help="measurement cache folder (default: the workspace cache)")
    parser.add_argument("--no-cache", action="store_true", help="decode every image, do not use or fill the cache")
    parser.add_argument(
        "--rehash", action="store_true", help="read and hash every file even when its size and times are unchanged"
    )
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    from backend.core.progress import TerminalProgress
    from backend.core.settings import get_settings
    from backend.data.quality.validate import validate_dataset

    if args.workers is not None and args.workers < 1:
        return bad_arguments("--workers must be 1 or more.")
    cache_dir = None if args.no_cache else Path(args.cache_dir) if args.cache_dir else get_settings().cache_dir

    def run() -> Outcome:
        report = validate_dataset(
            Path(args.dataset),
            cache_dir=cache_dir,
            workers=args.workers,
            rehash=args.rehash,
            progress=TerminalProgress("validate"),
        )
        report.write(Path(args.report))
        findings = report.has_issues_at_or_above(args.fail_on)
        return Outcome(report.summary_line(), EXIT_FINDINGS if findings else EXIT_DONE)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
