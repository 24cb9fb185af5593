"""Import a dataset in any layout other tools write as a new validated version (the Datasets page's import).

    python -m jobs.import --source PATH --name NAME [--images DIR] [--fresh-split] [--val-fraction F] [--seed S]

PATH is a folder, a .zip or a COCO .json (with --images DIR when its images live elsewhere). Layouts read:
COCO (one json, or one per split as Roboflow and CVAT write them), YOLO with data.yaml (Roboflow, ultralytics,
FiftyOne YOLOv5), Label Studio YOLO (classes.txt), CVAT YOLO 1.1 (obj.names, obj.data, train.txt), Pascal VOC
(LabelImg, CVAT) and FiftyOne's COCO export. Splits are kept as given unless --fresh-split.

Prints `{"dataset": NAME, "version": N}`. The layout found and everything left out (with its reason) are in
the version's prepare_report.json. Exit status: 0 imported; 2 bad input (nothing imported).
"""

# ruff: noqa: N999  (the module name is the documented command `python -m jobs.import`)
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jobs._cli import cli_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.import",
        "Import a dataset (COCO, YOLO, Label Studio, CVAT, Pascal VOC, FiftyOne, Roboflow; a folder, a .zip or a "
        'COCO .json) as a new validated version and print {"dataset": NAME, "version": N}. Nothing is imported on '
        "bad input (unknown layout, malformed files).",
    )
    parser.add_argument("--source", metavar="PATH", required=True, help="dataset folder, .zip or COCO .json")
    parser.add_argument("--name", metavar="NAME", required=True, help="dataset name (an existing one gets a version)")
    parser.add_argument("--images", metavar="DIR", help="images folder of a COCO .json whose images live elsewhere")
    parser.add_argument(
        "--fresh-split", action="store_true", help="ignore the source's train/val/test split and split anew"
    )
    parser.add_argument(
        "--val-fraction", type=float, help="share of val when a split is made (default: prepare.val_fraction)"
    )
    parser.add_argument("--seed", type=int, help="seed of a split that is made (default: prepare.seed)")
    parser.add_argument("--author", default="", help="who imported it (version history)")
    parser.add_argument("--message", default="", help="version note (default: 'Imported from <source>')")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)

    def run() -> str:
        from backend.core.progress import TerminalProgress
        from backend.core.settings import init_workspace
        from backend.data.datasets import check_dataset_name, import_dataset
        from backend.data.import_request import ImportRequest
        from backend.store.engine import init_db

        request = ImportRequest(
            source=Path(args.source),
            name=check_dataset_name(args.name),
            images_dir=Path(args.images) if args.images else None,
            **{k: v for k, v in (("val_fraction", args.val_fraction), ("seed", args.seed)) if v is not None},
            author=args.author,
            message=args.message,
            fresh_split=args.fresh_split,
        )
        init_workspace()
        init_db()
        version = import_dataset(request, progress=TerminalProgress("import"))
        return json.dumps({"dataset": request.name, "version": version.number})

    return run_cli(run, quiet_stdout=True)


if __name__ == "__main__":
    sys.exit(main())
