"""The two direct conversions `jobs.prepare`, `dvc.yaml`, the benchmarks and the test fixtures use.

Each is a reader of this package plus `build.prepare_source`, so a COCO file or a YOLO export is read, checked and
written exactly as the console's import does it; only what the caller names differs (a json and its images folder,
or the export said to be YOLO), and the report says so (`source` is that json or data.yaml, COCO adds `images_dir`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.data.formats.build import prepare_source
from backend.data.formats.coco import read_coco
from backend.data.formats.detect import coco_file_layout, find_data_yaml, yolo_layout
from backend.data.formats.prepared import PrepareResult, resolve_split
from backend.data.formats.yolo import read_data_yaml


def prepare_coco(
    coco_json: Path,
    images_dir: Path,
    out_dir: Path,
    *,
    val_fraction: float | None = None,
    seed: int | None = None,
    progress: ProgressFn = null_progress,
) -> PrepareResult:
    """Convert a COCO detection dataset into a YOLO dataset with a deterministic, class-stratified split.

    Class ids: categories sorted by COCO id get 0..n-1, names kept (`coco.number_classes`).

    Args:
        coco_json: The COCO annotations file.
        images_dir: The folder the `file_name`s are relative to (a bare basename is also looked up there).
        out_dir: Where to write the prepared dataset (must be empty, missing or a previous prepared dataset, and
            clear of the json and the images folder).
        val_fraction: Share of images for the val split; default `prepare.val_fraction` of params.yaml.
        seed: Seed of the split; default `prepare.seed`.
        progress: Progress callback.

    Returns:
        A PrepareResult with paths and counts; the details are in `OUT/prepare_report.json`.

    Raises:
        BadInputError: Unreadable or non-COCO JSON, ids of the wrong type, bad or duplicate categories, bad
            arguments.
    """
    coco_json, images_dir = Path(coco_json), Path(images_dir)
    val_fraction, seed = resolve_split(val_fraction, seed)
    if not images_dir.is_dir():
        raise BadInputError(f"The images folder {images_dir} does not exist.")
    if not coco_json.is_file():
        raise BadInputError(f"The COCO annotations file {coco_json} does not exist.")
    progress(0.0, f"Reading {coco_json.name}")
    source = read_coco(coco_file_layout(coco_json, images_dir))
    source.facts["images_dir"] = str(images_dir.resolve())
    return prepare_source(source, Path(out_dir), val_fraction=val_fraction, seed=seed, progress=progress)


def prepare_yolo(
    src: Path,
    out_dir: Path,
    *,
    val_fraction: float | None = None,
    seed: int | None = None,
    progress: ProgressFn = null_progress,
    confine_to: Path | None = None,
) -> PrepareResult:
    """Import a YOLO folder or Roboflow export (a data.yaml with train / valid|val / test image folders or lists).

    Given train and val splits are kept (test is kept as a third split); with only one split the images are
    split like `prepare_coco` does. Labels are checked line by line: malformed lines, unknown classes and
    degenerate boxes are dropped and reported, boxes past the border are clipped, polygon lines become boxes.

    Args:
        src: The export folder (or its data.yaml).
        out_dir: Where to write the prepared dataset.
        val_fraction: Share of images for val when the source has no val split; default `prepare.val_fraction`.
        seed: Seed of that split; default `prepare.seed`.
        progress: Progress callback.
        confine_to: For an extracted archive: every folder the data.yaml names must resolve inside it.

    Returns:
        A PrepareResult.

    Raises:
        BadInputError: No data.yaml, bad names, a YAML alias bomb, no image folders, a folder outside
            `confine_to`, bad arguments.
    """
    src = Path(src)
    val_fraction, seed = resolve_split(val_fraction, seed)
    if not src.exists():
        raise BadInputError(f"The dataset {src} does not exist.")
    yaml_path = find_data_yaml(src)
    layout = dataclasses.replace(yolo_layout(yaml_path), origin=yaml_path)
    source = read_data_yaml(layout, confine_to=confine_to)
    return prepare_source(source, Path(out_dir), val_fraction=val_fraction, seed=seed, progress=progress)
