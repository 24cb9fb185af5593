"""Write a `SourceDataset` as the prepared YOLO layout with its pre-flight report (`prepare_source`).

Every box is checked against its image's real size: boxes past the border (beyond `CLIP_TOLERANCE_PX`, or 1e-4 of
the image for normalised boxes) are clipped, empty ones and ones wholly outside are dropped; each is reported.

Splits: with `fresh_split` every image is split anew into train / val (deterministic, stratified by class, see
`backend.data.split.stratified_split`). Otherwise every split the source gives is kept as given; images without a
split, and the images of a lone train (or lone val) split, are split into train / val, and the report says so; a
given test split is kept, unless it is the only split given (then its images are split into train / val too, as
a dataset needs train images).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.data.formats.model import SPLITS, SourceBox, SourceDataset, SourceImage, quote
from backend.data.formats.prepared import (
    CLIP_TOLERANCE_PX,
    PreparedItem,
    PrepareResult,
    assign_out_names,
    check_out_dir,
    probe_items,
    report_counts,
    resolve_split,
    write_prepared,
    yolo_line,
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
    image = f"the {size[0]}x{size[1]} image" if size else "the image"
    width, height = box.x2 - box.x1, box.y2 - box.y1
    if width <= 0 or height <= 0:
        _add(issues, file, Check.DEGENERATE_BBOX, f"{box.ref} has width {width:g} and height {height:g}; dropped")
        counts["annotations_dropped"] += 1
        return None
    x1, y1 = max(0.0, box.x1), max(0.0, box.y1)
    x2, y2 = min(scale_w, box.x2), min(scale_h, box.y2)
    if x2 <= x1 or y2 <= y1:
        _add(issues, file, Check.DEGENERATE_BBOX, f"{box.ref} lies entirely outside {image}; dropped")
        counts["annotations_dropped"] += 1
        return None
    if box.x1 < -tol or box.y1 < -tol or box.x2 > scale_w + tol or box.y2 > scale_h + tol:
        _add(issues, file, Check.BBOX_OUT_OF_BOUNDS, f"{box.ref} extends past {image}; it was clipped")
        counts["boxes_clipped"] += 1
    return yolo_line(
        box.cls, (x1 + x2) / 2 / scale_w, (y1 + y2) / 2 / scale_h, (x2 - x1) / scale_w, (y2 - y1) / scale_h
    )


def _assign_splits(items: list[PreparedItem], *, fresh_split: bool, val_fraction: float, seed: int) -> dict[str, Any]:
    """Decide every usable item's split (see the module docstring); returns what the report says about it."""
    usable = [i for i in items if i.usable]
    given = sorted({i.split for i in usable if i.split}, key=SPLITS.index)
    only_test = given == ["test"]
    for item in usable:
        lone = (item.split == "train" and "val" not in given) or (item.split == "val" and "train" not in given)
        if fresh_split or lone or only_test:
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


def _refuse_without_usable_images(items: list[PreparedItem]) -> None:
    """A dataset with no image to train on is bad input: say what became of the listed ones, write nothing."""
    if any(item.usable for item in items):
        return
    if not items:
        raise BadInputError("The source lists no images; nothing was prepared.")
    found = [item.source is not None and item.source.is_file() for item in items]
    missing = [item for item, there in zip(items, found, strict=True) if not there]
    broken = [item for item, there in zip(items, found, strict=True) if there]
    why = [
        f"{len(group)} {what} (first: {quote(group[0].original)})"
        for group, what in ((missing, "not found in the images folder"), (broken, "do not decode"))
        if group
    ]
    raise BadInputError(f"None of the {len(items)} listed images can be used: {' and '.join(why)}; nothing written.")


def _note_image(item: PreparedItem, image: SourceImage, issues: IssueCollector) -> None:
    for check, message in image.notes:
        _add(issues, item.out_name, check, message)


def confine_items(items: list[PreparedItem], roots: tuple[Path, ...]) -> None:
    """Point every item at its resolved file, refusing one that resolves (through a link) outside all `roots`.

    Checked when the files are about to be read, after the layout was read: what is probed and copied is the
    resolved file, so no link is followed out of the roots afterwards.

    Raises:
        BadInputError: An image lies outside every root (the message does not say where it points).
    """
    resolved_roots = [root.resolve() for root in roots]
    for item in items:
        if item.source is None:
            continue
        real = item.source.resolve()
        if not any(real.is_relative_to(root) for root in resolved_roots):
            raise BadInputError(
                f"The image {quote(item.original[:120])} points outside the folders that may be imported (a link); "
                "refusing the import."
            )
        item.source = real


def prepare_source(
    source: SourceDataset,
    out_dir: Path,
    *,
    val_fraction: float | None = None,
    seed: int | None = None,
    fresh_split: bool = False,
    progress: ProgressFn = null_progress,
    confine_to: tuple[Path, ...] = (),
) -> PrepareResult:
    """Check every image and box of a read source and write the prepared YOLO dataset with its report.

    Args:
        source: What a reader produced.
        out_dir: Where to write (empty, missing or a previous prepared dataset).
        val_fraction: Share of val when a split has to be made; default `prepare.val_fraction` of params.yaml.
        seed: Seed of that split; default `prepare.seed`.
        fresh_split: Ignore the source's splits and split every image anew.
        progress: Progress callback.
        confine_to: When given, every image must resolve inside one of these folders (`confine_items`).

    Returns:
        A PrepareResult; `OUT/prepare_report.json` names the layout and every image or box left out.

    Raises:
        BadInputError: No usable image, or an image outside `confine_to`.
    """
    val_fraction, seed = resolve_split(val_fraction, seed)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, list(source.layout.read_paths) or [source.layout.root])
    issues = IssueCollector()
    for file, check, message in source.notes:
        _add(issues, file, check, message)
    items = [PreparedItem(source=img.path, original=img.original, split=img.split) for img in source.images]
    if confine_to:
        confine_items(items, confine_to)
    assign_out_names(items, issues)
    for item, image in zip(items, source.images, strict=True):
        _note_image(item, image, issues)
    sizes = probe_items(items, issues, progress)
    _refuse_without_usable_images(items)
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
        "source": str((source.layout.origin or source.layout.root).resolve()),
        "format": str(source.layout.kind),
        "layout": source.layout.description,
        **split_facts,
        "val_fraction": val_fraction,
        "seed": seed,
        "class_map": source.class_map,
        "dropped_categories": source.dropped_categories,
        **source.facts,
        "counts": report_counts(items, source.names, dict(counts)),
    }
    return write_prepared(out_dir, items, source.names, report, issues, progress)
