"""COCO → YOLO conversion (and YOLO / Roboflow re-import) with a pre-flight report.

Output layout (what ultralytics trains on):

    OUT/images/{train,val}/     the images: hard-linked when the workspace owns the source, else copied
    OUT/labels/{train,val}/     one `class cx cy w h` text file per image (empty for background images)
    OUT/data.yaml               path (absolute), train/val (relative), names {id: name}, nc
    OUT/prepare_report.json     class map, counts, per-file outcome, issues

Class ids: COCO categories sorted by their COCO id ascending get the contiguous ids 0..n-1 (names kept). There is
never a 91→80 style remap. The split is deterministic and stratified by class (see `stratified_split`).
Images are streamed one at a time (headers and a cheap decode check); pixels are never held for the whole set.

This module is the entry callers import and holds the COCO path; `prepare_yolo.py` holds the YOLO / Roboflow
re-import, `prepare_common.py` what both share (records, probing, writing the dataset and its report) and
`split.py` the stratified split.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.data.prepare_common import (
    CLIP_TOLERANCE_PX,
    REPORT_NAME,
    PrepareResult,
    _assign_out_names,
    _check_fraction,
    _check_out_dir,
    _counts,
    _Item,
    _probe_and_filter,
    _write_dataset,
    _yolo_line,
)
from backend.data.prepare_yolo import prepare_yolo
from backend.data.quality.checks import Check, IssueCollector
from backend.data.split import stratified_split

# The YOLO path, the shared records and the split live in prepare_yolo.py, prepare_common.py and split.py; this
# module is the one entry callers import.
__all__ = [
    "CLIP_TOLERANCE_PX",
    "REPORT_NAME",
    "PrepareResult",
    "coco_class_map",
    "prepare_coco",
    "prepare_yolo",
    "stratified_split",
]


def _load_coco(coco_json: Path) -> dict[str, Any]:
    if not coco_json.is_file():
        raise BadInputError(f"The COCO annotations file {coco_json} does not exist.")
    try:
        with coco_json.open("rb") as handle:
            data = json.load(handle)
    except ValueError as exc:
        raise BadInputError(f"{coco_json.name} is not valid JSON ({exc}).") from exc
    except OSError as exc:
        raise BadInputError(f"Cannot read {coco_json}: {exc.strerror or exc}.") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise BadInputError(
            f"{coco_json.name} is not COCO detection annotations: it needs 'images' and 'categories' lists."
        )
    if not isinstance(data.get("annotations", []), list):
        raise BadInputError(f"{coco_json.name}: 'annotations' must be a list.")
    return data


def coco_class_map(categories: list[Any]) -> list[dict[str, Any]]:
    """The documented class-id rule: categories sorted by COCO id ascending get ids 0..n-1, names kept.

    Raises:
        BadInputError: A category lacks an integer id or a name, or ids or names repeat.
    """
    seen_ids: set[int] = set()
    seen_names: dict[str, int] = {}
    cats: list[tuple[int, str]] = []
    for cat in categories:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or isinstance(cat.get("id"), bool):
            raise BadInputError(f"Every COCO category needs an integer 'id'; found {cat!r}.")
        name = str(cat.get("name") or "").strip()
        if not name:
            raise BadInputError(f"The COCO category with id {cat['id']} has no name.")
        if cat["id"] in seen_ids:
            raise BadInputError(f"Two COCO categories share the id {cat['id']}; ids must be unique.")
        if name in seen_names:
            raise BadInputError(
                f"Two COCO categories are both called {name!r} (ids {seen_names[name]} and {cat['id']}); "
                "rename or merge them first."
            )
        seen_ids.add(cat["id"])
        seen_names[name] = cat["id"]
        cats.append((cat["id"], name))
    if not cats:
        raise BadInputError("The COCO file defines no categories.")
    cats.sort()
    return [{"coco_id": cid, "class_id": index, "name": name} for index, (cid, name) in enumerate(cats)]


def _polygon_box(segmentation: Any) -> tuple[float, float, float, float] | None:
    """Bounding box [x, y, w, h] of COCO polygon segmentation(s), or None."""
    if not isinstance(segmentation, list):
        return None
    xs: list[float] = []
    ys: list[float] = []
    for poly in segmentation:
        if not isinstance(poly, list):
            continue
        try:
            values = [float(v) for v in poly]
        except (TypeError, ValueError):
            continue
        xs.extend(values[0::2][: len(values) // 2])
        ys.extend(values[1::2][: len(values) // 2])
    if not xs or not ys:
        return None
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _coco_box(ann: dict[str, Any]) -> tuple[tuple[float, float, float, float] | None, Check | None, str | None]:
    """(box, issue check, message) for one annotation; box None means drop it."""
    bbox = ann.get("bbox")
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            return None, Check.DEGENERATE_BBOX, f"annotation {ann.get('id')} has a box with non-numbers: {bbox!r}"
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            return None, Check.DEGENERATE_BBOX, f"annotation {ann.get('id')} has a box with non-finite numbers"
        return (x, y, w, h), None, None
    segmentation = ann.get("segmentation")
    box = _polygon_box(segmentation)
    if box is not None:
        return (
            box,
            Check.BBOX_FROM_SEGMENTATION,
            f"annotation {ann.get('id')} had no box; it was computed from its polygon",
        )
    if isinstance(segmentation, dict):
        return (
            None,
            Check.DEGENERATE_BBOX,
            (f"annotation {ann.get('id')} has only an RLE mask and no box; it was dropped (add a bbox to keep it)"),
        )
    return None, Check.DEGENERATE_BBOX, f"annotation {ann.get('id')} has no box and no polygon; it was dropped"


def _read_coco_images(
    data: dict[str, Any], images_dir: Path
) -> tuple[list[_Item], dict[Any, _Item], dict[int, tuple[Any, Any]]]:
    """The COCO image entries as items (found in `images_dir` or not), by image id, and the sizes they list."""
    items: list[_Item] = []
    by_image_id: dict[Any, _Item] = {}
    coco_size: dict[int, tuple[Any, Any]] = {}
    for entry in data["images"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str) or "id" not in entry:
            raise BadInputError(f"Every COCO image needs an 'id' and a 'file_name'; found {entry!r}.")
        if entry["id"] in by_image_id:
            raise BadInputError(f"Two COCO images share the id {entry['id']}; ids must be unique.")
        file_name = entry["file_name"]
        source = None
        rel = PurePosixPath(file_name.replace("\\", "/"))
        # Lexical check only: a file_name may not climb out of the images folder, but symlinked files (DVC
        # checkouts) inside it are fine.
        if not rel.is_absolute() and ".." not in rel.parts and (images_dir / rel).is_file():
            source = images_dir / rel
        elif (images_dir / rel.name).is_file():
            source = images_dir / rel.name
        item = _Item(source=source, original=file_name)
        items.append(item)
        by_image_id[entry["id"]] = item
        coco_size[id(item)] = (entry.get("width"), entry.get("height"))
    return items, by_image_id, coco_size


def _check_listed_sizes(
    items: list[_Item],
    sizes: dict[str, tuple[int, int]],
    coco_size: dict[int, tuple[Any, Any]],
    issues: IssueCollector,
) -> None:
    """Report usable images whose real size differs from the size the COCO file lists (the real one is used)."""
    for item in items:
        if not item.usable:
            continue
        real = sizes.get(item.out_name)
        listed = coco_size[id(item)]
        if real and listed[0] is not None and listed[1] is not None and (listed[0], listed[1]) != real:
            issues.add(
                item.out_name,
                Check.SIZE_MISMATCH,
                f"the annotations say {listed[0]}x{listed[1]} px but the file is {real[0]}x{real[1]} px "
                "(the real size was used)",
            )


def _add_annotation(
    ann: dict[str, Any],
    owner: _Item,
    *,
    class_of: dict[Any, int],
    size: tuple[int, int],
    issues: IssueCollector,
    extra: Counter[str],
) -> None:
    """Turn one COCO annotation of a usable image into a YOLO label line of `owner` (or report why not)."""
    name = owner.out_name
    if ann.get("iscrowd") in (1, True):
        issues.add(name, Check.CROWD_ANNOTATION, f"crowd annotation {ann.get('id')} was left out")
        extra["crowd_excluded"] += 1
        return
    cls = class_of.get(ann.get("category_id"))
    if cls is None:
        issues.add(
            name,
            Check.UNKNOWN_CLASS,
            f"annotation {ann.get('id')} uses category {ann.get('category_id')!r}, "
            "which is not in the categories; it was dropped",
        )
        extra["annotations_dropped"] += 1
        return
    box, check, message = _coco_box(ann)
    if check is not None and message is not None:
        issues.add(name, check, message)
    if box is None:
        extra["annotations_dropped"] += 1
        return
    width, height = size
    x, y, w, h = box
    if w <= 0 or h <= 0:
        issues.add(
            name,
            Check.DEGENERATE_BBOX,
            f"annotation {ann.get('id')} has width {w:g} and height {h:g}; it was dropped",
        )
        extra["annotations_dropped"] += 1
        return
    x1, y1, x2, y2 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
    if x2 <= x1 or y2 <= y1:
        issues.add(
            name,
            Check.DEGENERATE_BBOX,
            f"annotation {ann.get('id')} lies entirely outside the {width}x{height} image; it was dropped",
        )
        extra["annotations_dropped"] += 1
        return
    tol = CLIP_TOLERANCE_PX
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        issues.add(
            name,
            Check.BBOX_OUT_OF_BOUNDS,
            f"annotation {ann.get('id')} extends past the {width}x{height} image; it was clipped",
        )
        extra["boxes_clipped"] += 1
    owner.lines.append(
        _yolo_line(cls, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)
    )
    owner.classes.add(cls)


def _read_annotations(
    data: dict[str, Any],
    by_image_id: dict[Any, _Item],
    *,
    class_of: dict[Any, int],
    sizes: dict[str, tuple[int, int]],
    issues: IssueCollector,
) -> Counter[str]:
    """Add every annotation's label line to its image; return the annotation counts for the report."""
    extra = Counter[str]()
    for ann in data.get("annotations", []):
        if not isinstance(ann, dict):
            extra["annotations_ignored"] += 1
            continue
        owner = by_image_id.get(ann.get("image_id"))
        if owner is None:
            extra["annotations_without_image"] += 1
            continue
        extra["annotations"] += 1
        if owner.usable:
            _add_annotation(ann, owner, class_of=class_of, size=sizes[owner.out_name], issues=issues, extra=extra)
    return extra


def prepare_coco(
    coco_json: Path,
    images_dir: Path,
    out_dir: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    progress: ProgressFn = null_progress,
) -> PrepareResult:
    """Convert a COCO detection dataset into a YOLO dataset with a deterministic, class-stratified split.

    Args:
        coco_json: The COCO annotations file.
        images_dir: The folder the `file_name`s are relative to (a bare basename is also looked up there).
        out_dir: Where to write the prepared dataset (must be empty, missing or a previous prepared dataset).
        val_fraction: Share of images for the val split.
        seed: Seed of the split.
        progress: Progress callback.

    Returns:
        A PrepareResult with paths and counts; the details are in `OUT/prepare_report.json`.

    Raises:
        BadInputError: Unreadable or non-COCO JSON, bad or duplicate categories, bad arguments.
    """
    coco_json, images_dir, out_dir = Path(coco_json), Path(images_dir), Path(out_dir)
    _check_fraction(val_fraction)
    if not images_dir.is_dir():
        raise BadInputError(f"The images folder {images_dir} does not exist.")
    data = _load_coco(coco_json)
    _check_out_dir(out_dir, [images_dir])
    class_map = coco_class_map(data["categories"])
    class_of = {row["coco_id"]: row["class_id"] for row in class_map}
    names = [row["name"] for row in class_map]
    issues = IssueCollector()
    progress(0.0, f"Reading {coco_json.name}")

    items, by_image_id, coco_size = _read_coco_images(data, images_dir)
    _assign_out_names(items, issues)
    sizes = _probe_and_filter(items, issues, progress)
    _check_listed_sizes(items, sizes, coco_size, issues)
    extra = _read_annotations(data, by_image_id, class_of=class_of, sizes=sizes, issues=issues)

    for item in items:
        if item.usable and not item.lines:
            issues.add(item.out_name, Check.MISSING_LABEL, "has no boxes; kept as a background image")
    usable = [i for i in items if i.usable]
    assignment = stratified_split({i.out_name: i.classes for i in usable}, val_fraction=val_fraction, seed=seed)
    for item in usable:
        item.split = assignment[item.out_name]
    report: dict[str, Any] = {
        "source": str(coco_json.resolve()),
        "format": "coco",
        "images_dir": str(images_dir.resolve()),
        "val_fraction": val_fraction,
        "seed": seed,
        "class_map": class_map,
        "counts": _counts(items, names, dict(extra)),
    }
    return _write_dataset(out_dir, items, names, report, issues, progress)
