"""YOLO / Roboflow re-import: read a YOLO export (its data.yaml, image folders and label files) into the prepared
layout of `backend.data.prepare`, checking every label line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.data.prepare_common import (
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
from backend.data.quality.reader import (
    label_path_for,
    list_images,
    parse_names,
    parse_yolo_line,
    resolve_split_dirs,
)
from backend.data.split import stratified_split


def _find_data_yaml(src: Path) -> Path:
    if src.is_file():
        return src
    for name in ("data.yaml", "data.yml"):
        if (src / name).is_file():
            return src / name
    from backend.data.archive import detect_dataset_layout

    layout = detect_dataset_layout(src)
    if layout.kind == "yolo" and layout.data_yaml is not None:
        return layout.data_yaml
    raise BadInputError(
        f"{src} is not a YOLO / Roboflow export: expected a data.yaml listing the train/val image folders and names."
    )


def prepare_yolo(
    src: Path,
    out_dir: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    progress: ProgressFn = null_progress,
    confine_to: Path | None = None,
) -> PrepareResult:
    """Import a YOLO folder or Roboflow export (a data.yaml with train / valid|val / test image folders).

    Existing train and val splits are kept (test is kept as a third split); with only one split the images are
    split like `prepare_coco` does. Labels are checked line by line: malformed lines, unknown classes and
    degenerate boxes are dropped and reported, boxes past the border are clipped, polygon lines become boxes.

    Args:
        src: The export folder (or its data.yaml).
        out_dir: Where to write the prepared dataset.
        val_fraction: Share of images for val when the source has no val split.
        seed: Seed of that split.
        progress: Progress callback.
        confine_to: For an extracted archive: every folder the data.yaml names must resolve inside it.

    Returns:
        A PrepareResult.

    Raises:
        BadInputError: No data.yaml, bad names, a YAML alias bomb, no image folders, a folder outside
            `confine_to`, bad arguments.
    """
    src, out_dir = Path(src), Path(out_dir)
    _check_fraction(val_fraction)
    if not src.exists():
        raise BadInputError(f"The dataset {src} does not exist.")
    yaml_path = _find_data_yaml(src)
    from backend.data.formats.model import confine
    from backend.data.formats.yolo import load_yaml_safely

    data = load_yaml_safely(yaml_path)
    names = parse_names(data.get("names"))
    if not names:
        raise BadInputError(f"{yaml_path.name} defines no class names.")
    nc = len(names)
    split_dirs = resolve_split_dirs(data, yaml_path)
    if not split_dirs:
        raise BadInputError(f"{yaml_path.name} lists no train / val image folders.")
    missing = [str(folder) for folders in split_dirs.values() for folder in folders if not folder.is_dir()]
    found = {split: [f for f in folders if f.is_dir()] for split, folders in split_dirs.items()}
    if not any(found.values()):
        raise BadInputError(f"None of the image folders in {yaml_path.name} exist: {', '.join(missing)}.")
    for folder in (f for folders in found.values() for f in folders):
        confine(folder, confine_to, f"{yaml_path.name} names the folder {folder.name}/, which")
    _check_out_dir(out_dir, [yaml_path.parent])
    issues = IssueCollector()
    items: list[_Item] = []
    for split in ("train", "val", "test"):
        for folder in found.get(split, []):
            for path in list_images(folder):
                try:
                    original = str(path.relative_to(yaml_path.parent))
                except ValueError:
                    original = str(path)
                items.append(_Item(source=path, original=original, split=split))
    _assign_out_names(items, issues)
    _probe_and_filter(items, issues, progress)
    extra = Counter[str]()
    for item in items:
        if not item.usable or item.source is None:
            continue
        _read_yolo_labels(item, nc, issues, extra)
        if not item.lines:
            issues.add(item.out_name, Check.MISSING_LABEL, "has no boxes; kept as a background image")
    present = {i.split for i in items if i.usable}
    keep = "train" in present and "val" in present
    if not keep:
        for item in items:
            if item.split == "test" and "train" in present:
                continue
            item.split = None
        pool = [i for i in items if i.usable and i.split is None]
        assignment = stratified_split({i.out_name: i.classes for i in pool}, val_fraction=val_fraction, seed=seed)
        for item in pool:
            item.split = assignment[item.out_name]
    report: dict[str, Any] = {
        "source": str(yaml_path.resolve()),
        "format": "yolo",
        "splits_kept": keep,
        "missing_folders": missing,
        "val_fraction": val_fraction,
        "seed": seed,
        "class_map": [{"coco_id": None, "class_id": i, "name": n} for i, n in enumerate(names)],
        "counts": _counts(items, names, dict(extra)),
    }
    return _write_dataset(out_dir, items, names, report, issues, progress)


def _read_yolo_labels(item: _Item, nc: int, issues: IssueCollector, extra: Counter[str]) -> None:
    assert item.source is not None
    label = label_path_for(item.source)
    try:
        text = label.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        issues.add(item.out_name, Check.LABEL_FORMAT, f"label file {label.name} cannot be read ({exc}); no boxes kept")
        return
    name = item.out_name
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_yolo_line(line)
        if isinstance(parsed, str):
            issues.add(name, Check.LABEL_FORMAT, f"label line {number} {parsed}; it was dropped")
            extra["annotations_dropped"] += 1
            continue
        cls, cx, cy, w, h, from_polygon = parsed
        extra["annotations"] += 1
        if cls >= nc:
            issues.add(name, Check.UNKNOWN_CLASS, f"label line {number} uses class {cls} but there are {nc}; dropped")
            extra["annotations_dropped"] += 1
            continue
        if from_polygon:
            issues.add(name, Check.BBOX_FROM_SEGMENTATION, f"label line {number} is a polygon; its box was used")
        if w <= 0 or h <= 0:
            issues.add(name, Check.DEGENERATE_BBOX, f"label line {number} has width {w:g} and height {h:g}; dropped")
            extra["annotations_dropped"] += 1
            continue
        x1, y1, x2, y2 = max(0.0, cx - w / 2), max(0.0, cy - h / 2), min(1.0, cx + w / 2), min(1.0, cy + h / 2)
        if x2 <= x1 or y2 <= y1:
            issues.add(name, Check.DEGENERATE_BBOX, f"label line {number} lies entirely outside the image; dropped")
            extra["annotations_dropped"] += 1
            continue
        tol = 1e-4
        if cx - w / 2 < -tol or cy - h / 2 < -tol or cx + w / 2 > 1 + tol or cy + h / 2 > 1 + tol:
            issues.add(name, Check.BBOX_OUT_OF_BOUNDS, f"label line {number} extends past the image; it was clipped")
            extra["boxes_clipped"] += 1
        item.lines.append(_yolo_line(cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
        item.classes.add(cls)
