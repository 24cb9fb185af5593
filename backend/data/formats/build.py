"""Write a `SourceDataset` as the prepared YOLO layout with its pre-flight report.

Splits: with `fresh_split` every image is split anew into train / val (deterministic, stratified by class).
Otherwise every split the source gives is kept as given; images without a split, and the images of a lone
train (or lone val) split, are split into train / val like `prepare_coco` does, and the report says so; a
given test split is always kept.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from backend.core.progress import ProgressFn, null_progress
from backend.data.formats.model import SPLITS, SourceBox, SourceDataset, SourceImage
from backend.data.prepare_common import (
    CLIP_TOLERANCE_PX,
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
from backend.data.quality.checks import Check, IssueCollector
from backend.data.split import stratified_split

_NORMALIZED_TOLERANCE = 1e-4
_MESSAGE_CHARS = 300


def _add(issues: IssueCollector, file: str, check: Check, message: str) -> None:
    issues.add(file, check, message[:_MESSAGE_CHARS])


def _box_line(
    box: SourceBox, size: tuple[int, int] | None, file: str, issues: IssueCollector, counts: Counter[str]
) -> str | None:
    """The YOLO label line for one box (clipped to the image), or None when it has to be dropped (reported)."""
    if box.normalized:
        scale_w, scale_h, tol = 1.0, 1.0, _NORMALIZED_TOLERANCE
    elif size is None:
        return None
    else:
        scale_w, scale_h, tol = float(size[0]), float(size[1]), CLIP_TOLERANCE_PX
    width, height = box.x2 - box.x1, box.y2 - box.y1
    if width <= 0 or height <= 0:
        _add(issues, file, Check.DEGENERATE_BBOX, f"{box.ref} has width {width:g} and height {height:g}; dropped")
        counts["annotations_dropped"] += 1
        return None
    x1, y1 = max(0.0, box.x1), max(0.0, box.y1)
    x2, y2 = min(scale_w, box.x2), min(scale_h, box.y2)
    if x2 <= x1 or y2 <= y1:
        _add(issues, file, Check.DEGENERATE_BBOX, f"{box.ref} lies entirely outside the image; dropped")
        counts["annotations_dropped"] += 1
        return None
    if box.x1 < -tol or box.y1 < -tol or box.x2 > scale_w + tol or box.y2 > scale_h + tol:
        _add(issues, file, Check.BBOX_OUT_OF_BOUNDS, f"{box.ref} extends past the image border; it was clipped")
        counts["boxes_clipped"] += 1
    return _yolo_line(
        box.cls, (x1 + x2) / 2 / scale_w, (y1 + y2) / 2 / scale_h, (x2 - x1) / scale_w, (y2 - y1) / scale_h
    )


def _assign_splits(items: list[_Item], *, fresh_split: bool, val_fraction: float, seed: int) -> dict[str, Any]:
    """Decide every usable item's split (see the module docstring); returns what the report says about it."""
    usable = [i for i in items if i.usable]
    given = sorted({i.split for i in usable if i.split}, key=SPLITS.index)
    if fresh_split:
        for item in usable:
            item.split = None
    else:
        for item in usable:
            if (item.split == "train" and "val" not in given) or (item.split == "val" and "train" not in given):
                item.split = None
    pool = [i for i in usable if i.split is None]
    if pool:
        assignment = stratified_split({i.out_name: i.classes for i in pool}, val_fraction=val_fraction, seed=seed)
        for item in pool:
            item.split = assignment[item.out_name]
    return {
        "splits_given": given,
        "splits_kept": not fresh_split and "train" in given and "val" in given,
        "fresh_split": fresh_split,
        "images_split_here": len(pool),
    }


def _note_image(item: _Item, image: SourceImage, issues: IssueCollector) -> None:
    for check, message in image.notes:
        _add(issues, item.out_name, check, message)


def prepare_source(
    source: SourceDataset,
    out_dir: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    fresh_split: bool = False,
    progress: ProgressFn = null_progress,
) -> PrepareResult:
    """Check every image and box of a read source and write the prepared YOLO dataset with its report.

    Args:
        source: What a reader produced.
        out_dir: Where to write (empty, missing or a previous prepared dataset).
        val_fraction: Share of val when a split has to be made.
        seed: Seed of that split.
        fresh_split: Ignore the source's splits and split every image anew.
        progress: Progress callback.

    Returns:
        A PrepareResult; `OUT/prepare_report.json` names the layout and every image or box left out.
    """
    _check_fraction(val_fraction)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, [source.layout.root])
    issues = IssueCollector()
    for file, check, message in source.notes:
        _add(issues, file, check, message)
    items = [_Item(source=img.path, original=img.original, split=img.split) for img in source.images]
    _assign_out_names(items, issues)
    for item, image in zip(items, source.images, strict=True):
        _note_image(item, image, issues)
    sizes = _probe_and_filter(items, issues, progress)
    counts = Counter(source.counts)
    for item, image in zip(items, source.images, strict=True):
        if not item.usable:
            counts["boxes_of_left_out_images"] += len(image.boxes)
            continue
        real = sizes.get(item.out_name)
        if real and image.listed_size and image.listed_size != real:
            listed = image.listed_size
            _add(
                issues,
                item.out_name,
                Check.SIZE_MISMATCH,
                f"the annotations say {listed[0]}x{listed[1]} px but the file is {real[0]}x{real[1]} px "
                "(the real size was used)",
            )
        for box in image.boxes:
            line = _box_line(box, real, item.out_name, issues, counts)
            if line is not None:
                item.lines.append(line)
                item.classes.add(box.cls)
        if not item.lines:
            _add(issues, item.out_name, Check.MISSING_LABEL, "has no boxes; kept as a background image")
    split_facts = _assign_splits(items, fresh_split=fresh_split, val_fraction=val_fraction, seed=seed)
    report: dict[str, Any] = {
        "source": str(source.layout.root.resolve()),
        "format": str(source.layout.kind),
        "layout": source.layout.description,
        **split_facts,
        "val_fraction": val_fraction,
        "seed": seed,
        "class_map": source.class_map,
        "dropped_categories": source.dropped_categories,
        **source.facts,
        "counts": _counts(items, source.names, dict(counts)),
    }
    return _write_dataset(out_dir, items, source.names, report, issues, progress)
