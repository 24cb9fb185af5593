"""One entry point for every readable layout: detect it, then read it with the matching reader."""

from __future__ import annotations

from pathlib import Path

from backend.core.errors import BadInputError
from backend.data.formats.coco import read_coco
from backend.data.formats.detect import coco_file_layout, detect_layout
from backend.data.formats.model import CocoPart, DetectedLayout, LayoutKind, SourceDataset
from backend.data.formats.voc import read_voc
from backend.data.formats.yolo import read_classes_txt, read_darknet, read_data_yaml


def find_layout(source: Path, images_dir: Path | None = None) -> DetectedLayout:
    """The layout of a folder, or of a COCO json given directly (with `images_dir` when its images are elsewhere).

    Raises:
        BadInputError: Nothing recognisable, or a file that is not a .json.
    """
    source = Path(source)
    if source.is_file():
        if source.suffix.lower() != ".json":
            raise BadInputError(f"{source.name} is neither a folder nor a COCO .json file.")
        return coco_file_layout(source, images_dir)
    layout = detect_layout(source)
    if images_dir is not None and layout.kind in (LayoutKind.COCO, LayoutKind.COCO_SPLITS):
        parts = tuple(CocoPart(p.json_path, images_dir, p.split) for p in layout.coco_parts)
        layout = DetectedLayout(layout.kind, layout.description, layout.root, coco_parts=parts)
    return layout


def read_layout(layout: DetectedLayout, *, confine_to: Path | None = None) -> SourceDataset:
    """Read a detected layout into a SourceDataset.

    Args:
        layout: From `find_layout`.
        confine_to: For archives: every folder, list entry and image must resolve inside this folder.

    Raises:
        BadInputError: Malformed input of any kind, with a message saying what and where.
    """
    if layout.kind in (LayoutKind.COCO, LayoutKind.COCO_SPLITS):
        return read_coco(layout)
    if layout.kind == LayoutKind.YOLO:
        return read_data_yaml(layout, confine_to=confine_to)
    if layout.kind == LayoutKind.YOLO_CLASSES_TXT:
        return read_classes_txt(layout)
    if layout.kind == LayoutKind.YOLO_DARKNET:
        return read_darknet(layout, confine_to=confine_to)
    return read_voc(layout)


def read_source(source: Path, images_dir: Path | None = None, *, confine_to: Path | None = None) -> SourceDataset:
    """Detect and read a dataset folder or COCO json (see `find_layout` and `read_layout`)."""
    return read_layout(find_layout(source, images_dir), confine_to=confine_to)
