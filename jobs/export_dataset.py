"""Export a dataset version as a COCO, YOLO or Pascal VOC zip that other tools open directly.

    python -m jobs.export_dataset --dataset NAME --version N --format coco|yolo|voc --out PATH.zip

COCO: annotations/instances_<split>.json + <split>/ images; YOLO: data.yaml + images/<split>/ + labels/<split>/;
VOC: Annotations/*.xml + JPEGImages/ + ImageSets/Main/<split>.txt + labelmap.txt. Importing the zip again
(`python -m jobs.import`) gives the same images, classes, splits and boxes.

Exit status: 0 written; 2 bad input (unknown dataset, version or format, an output that is not a .zip, lies in the
workspace outside its exports folder, or is an existing folder or non-zip file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs._cli import cli_actor, cli_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.export_dataset",
        "Export a dataset version as a COCO, YOLO or Pascal VOC zip (bad input: unknown dataset, version or format, "
        "an output that is not a .zip).",
    )
    parser.add_argument("--dataset", metavar="NAME", required=True, help="dataset name")
    parser.add_argument("--version", metavar="N", type=int, required=True, help="version number")
    parser.add_argument("--format", choices=["coco", "yolo", "voc"], required=True, help="export format")
    parser.add_argument("--out", metavar="PATH.zip", required=True, help="zip file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)

    def run() -> str:
        from backend.core.progress import TerminalProgress
        from backend.core.settings import init_workspace
        from backend.data.datasets import export_version, find_version
        from backend.store.engine import init_db

        init_workspace()
        init_db()
        version = find_version(args.dataset, args.version)
        result = export_version(
            version.id, args.format, Path(args.out), actor=cli_actor(), progress=TerminalProgress("export")
        )
        return result.summary_line()

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
