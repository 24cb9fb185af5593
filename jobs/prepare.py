"""Convert a COCO or YOLO / Roboflow dataset into a prepared YOLO dataset with a pre-flight report.

    python -m jobs.prepare --coco annotations.json --images images/ --out OUT [--val-fraction F] [--seed S]
    python -m jobs.prepare --yolo export/ --out OUT

`--images` and `--yolo` also take a .zip (extracted safely first); `--coco` takes a .zip holding the whole
COCO dataset (annotations and images), in which case `--images` may be left out.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from backend.core.errors import BadInputError
from jobs._cli import bad_arguments, cli_parser, run_cli


def _extract(archive: Path, out: Path) -> Path:
    """Extract a zip next to the output folder (same disk, so images can be hard-linked)."""
    from backend.core.progress import TerminalProgress
    from backend.core.settings import get_settings
    from backend.data.archive import safe_extract_zip

    settings = get_settings()
    out.parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=f".{out.name}.extract-", dir=out.parent))
    try:
        safe_extract_zip(
            archive,
            target / "x",
            max_bytes=settings.archive_max_bytes,
            max_members=settings.archive_max_members,
            progress=TerminalProgress("extract"),
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # a refused archive leaves no folder beside the output
        raise
    return target


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.is_file()


def run(args: argparse.Namespace) -> str:
    """Do the work; return the summary line."""
    from backend.core.progress import TerminalProgress
    from backend.data.archive import detect_dataset_layout, find_coco_images_dir
    from backend.data.formats.coco import load_coco_json
    from backend.data.formats.convert import prepare_coco, prepare_yolo

    out = Path(args.out)
    progress = TerminalProgress("prepare")
    temporary: list[Path] = []
    try:
        if args.yolo:
            src = Path(args.yolo)
            confine_to = None
            if _is_zip(src):
                temporary.append(_extract(src, out))
                src = confine_to = temporary[-1] / "x"
            result = prepare_yolo(
                src, out, val_fraction=args.val_fraction, seed=args.seed, progress=progress, confine_to=confine_to
            )
            return result.summary_line()
        coco = Path(args.coco)
        images = Path(args.images) if args.images else None
        if _is_zip(coco):
            temporary.append(_extract(coco, out))
            layout = detect_dataset_layout(temporary[-1] / "x")
            if layout.kind != "coco" or layout.coco_json is None:
                raise BadInputError(f"{coco.name}: {layout.message}")
            coco = layout.coco_json
            images = images or layout.images_dir
        if images is not None and _is_zip(images):
            temporary.append(_extract(images, out))
            extracted = temporary[-1] / "x"
            images = _images_root(extracted)
        if images is None:
            if not coco.is_file():
                raise BadInputError(f"The COCO annotations file {coco} does not exist.")
            entries = load_coco_json(coco)["images"]
            names = [e.get("file_name") for e in entries[:20] if isinstance(e, dict)]
            images = find_coco_images_dir(coco, [n for n in names if isinstance(n, str)])
            if images is None:
                raise BadInputError("No images folder found next to the annotations; pass --images DIR.")
        result = prepare_coco(coco, images, out, val_fraction=args.val_fraction, seed=args.seed, progress=progress)
        return result.summary_line()
    finally:
        for folder in temporary:
            shutil.rmtree(folder, ignore_errors=True)


def _images_root(extracted: Path) -> Path:
    """An images zip often wraps everything in one folder: descend through single-folder levels."""
    current = extracted
    while True:
        entries = [p for p in current.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir():
            current = entries[0]
            continue
        return current


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.prepare", "Convert a COCO or YOLO/Roboflow dataset into a YOLO dataset with a deterministic split."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--coco", metavar="JSON", help="COCO annotations .json (or a .zip of the whole dataset)")
    source.add_argument("--yolo", metavar="SRC", help="YOLO / Roboflow export folder with data.yaml (or a .zip)")
    parser.add_argument("--images", metavar="DIR", help="folder (or .zip) of the COCO images")
    parser.add_argument("--out", metavar="OUT", required=True, help="output folder for the prepared dataset")
    parser.add_argument(
        "--val-fraction", type=float, help="share of images for val (default: prepare.val_fraction in params.yaml)"
    )
    parser.add_argument("--seed", type=int, help="seed of the split (default: prepare.seed in params.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.images and args.yolo:
        return bad_arguments("--images goes with --coco, not --yolo.")
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
