"""COCO → YOLO conversion (and YOLO / Roboflow re-import) with a pre-flight report.

Output layout (what ultralytics trains on):

    OUT/images/{train,val}/     the images: hard-linked when the workspace owns the source, else copied
    OUT/labels/{train,val}/     one `class cx cy w h` text file per image (empty for background images)
    OUT/data.yaml               path (absolute), train/val (relative), names {id: name}, nc
    OUT/prepare_report.json     class map, counts, per-file outcome, issues

Class ids: COCO categories sorted by their COCO id ascending get the contiguous ids 0..n-1 (names kept). There is
never a 91→80 style remap. The split is deterministic and stratified by class (see `stratified_split`).
Images are streamed one at a time (headers and a cheap decode check); pixels are never held for the whole set.
"""

# Over the 600-line and 80-statement limits in pyproject.toml; moving the YOLO re-import into its own module and
# splitting `prepare_coco` into reading and writing steps is follow-up work to the package split.
# pylint: disable=too-many-lines

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.data.quality.checks import Check, IssueCollector, Severity
from backend.data.quality.measurements import probe_images
from backend.data.quality.reader import (
    label_path_for,
    list_images,
    parse_names,
    parse_yolo_line,
    resolve_split_dirs,
)

# A box may overshoot the border by this many pixels (float rounding) before it counts as out of bounds.
CLIP_TOLERANCE_PX = 0.5
REPORT_NAME = "prepare_report.json"


@dataclass
class PrepareResult:
    """What `prepare_coco` / `prepare_yolo` wrote.

    Attributes:
        out_dir: The prepared dataset folder.
        data_yaml: Its data.yaml.
        report_path: Its prepare_report.json.
        counts: The report's counts (images, train, val, test, boxes, classes, ...).
        issues_by_severity: Number of issues per severity.
    """

    out_dir: Path
    data_yaml: Path
    report_path: Path
    counts: dict[str, int] = field(default_factory=dict)
    issues_by_severity: dict[str, int] = field(default_factory=dict)

    def summary_line(self) -> str:
        """One human line: images per split, boxes, classes, issues, where."""
        c = self.counts
        splits = f"{c.get('train', 0)} train, {c.get('val', 0)} val"
        if c.get("test"):
            splits += f", {c['test']} test"
        sev = self.issues_by_severity
        return (
            f"Prepared {c.get('images', 0)} images ({splits}) with {c.get('boxes', 0)} boxes in "
            f"{c.get('classes', 0)} classes: {sev.get('error', 0)} errors, {sev.get('warning', 0)} warnings, "
            f"{sev.get('info', 0)} notes -> {self.out_dir}"
        )


@dataclass
class _Item:
    """One source image on its way into the prepared dataset."""

    source: Path | None
    original: str  # the name as the source lists it (COCO file_name or path relative to the source)
    out_name: str = ""
    lines: list[str] = field(default_factory=list)
    classes: set[int] = field(default_factory=set)
    split: str | None = None
    usable: bool = True
    size: tuple[int, int] | None = None  # (width, height) the probe read, upright; the version index reuses it


# --------------------------------------------------------------------------------------------------------------
# Shared helpers


def _basename(file_name: str) -> str:
    return PurePosixPath(file_name.replace("\\", "/")).name


def _assign_out_names(items: list[_Item], issues: IssueCollector) -> None:
    """Give every item a unique output name (unique by stem, case-insensitive, so label files cannot collide).

    Items keep their basename; later ones (in source-listing order) that collide get `stem__N.ext`.
    """
    taken: set[str] = set()
    for item in items:
        base = _basename(item.original) or "image.jpg"
        stem, suffix = os.path.splitext(base)
        name, n = base, 1
        while os.path.splitext(name)[0].casefold() in taken:
            n += 1
            name = f"{stem}__{n}{suffix}"
        taken.add(os.path.splitext(name)[0].casefold())
        item.out_name = name
        if name != base:
            issues.add(name, Check.NAME_COLLISION, f"another image is also called {base}; this one was renamed {name}")


def _yolo_line(cls: int, cx: float, cy: float, w: float, h: float) -> str:
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _donor_rank(name: str, *, left: Counter[int], images: dict[str, set[int]]) -> tuple[bool, int, str]:
    """Sort key for an image to move to the other side: one that leaves its other classes 2+ there first, then few."""
    return (not all(left[c] >= 2 for c in images[name]), len(images[name]), name)


def stratified_split(images: dict[str, set[int]], *, val_fraction: float, seed: int) -> dict[str, str]:
    """Split images into train and val, deterministically and stratified by class.

    Each image is grouped by its rarest class (fewest images; background images form their own group); every
    group is shuffled with `random.Random(seed)` (groups in sorted order, members sorted first) and its first
    round(val_fraction × size) members go to val. With two or more images at least one goes to val. Then every
    class with two or more images that is missing from val (or from train) gets one image moved over, choosing an
    image whose move keeps all its other classes on the side it leaves.

    Args:
        images: {image name: set of class ids in it}.
        val_fraction: Share of each group for val (0 < f < 1).
        seed: Seed of the shuffle.

    Returns:
        {image name: "train" or "val"}.
    """
    if not images:
        return {}
    class_count: Counter[int] = Counter(c for classes in images.values() for c in classes)
    groups: dict[int, list[str]] = defaultdict(list)
    for name in sorted(images):
        classes = images[name]
        key = min(classes, key=lambda c: (class_count[c], c)) if classes else -1
        groups[key].append(name)
    rng = random.Random(seed)
    split: dict[str, str] = {}
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        n_val = _half_up(val_fraction * len(members))
        for index, name in enumerate(members):
            split[name] = "val" if index < n_val else "train"
    if len(images) >= 2 and "val" not in split.values():
        largest = max(sorted(groups), key=lambda k: len(groups[k]))
        split[groups[largest][0]] = "val"
    if len(images) >= 2 and "train" not in split.values():
        largest = max(sorted(groups), key=lambda k: len(groups[k]))
        split[groups[largest][-1]] = "train"
    for side, other in (("val", "train"), ("train", "val")):
        present: Counter[int] = Counter(c for n, s in split.items() if s == side for c in images[n])
        left: Counter[int] = Counter(c for n, s in split.items() if s == other for c in images[n])
        for cls in sorted(class_count):
            if class_count[cls] < 2 or present[cls] > 0:
                continue
            candidates = sorted(
                (n for n, s in split.items() if s == other and cls in images[n]),
                key=partial(_donor_rank, left=left, images=images),
            )
            if not candidates:
                continue
            chosen = candidates[0]
            split[chosen] = side
            for c in images[chosen]:
                present[c] += 1
                left[c] -= 1
    return split


def _link_or_copy(src: Path, dst: Path, workspace: Path) -> None:
    """Hard-link a file the workspace owns (an extracted upload, generated demo images); copy anything else.

    A user's own files never share an inode with a version: DVC would make them read-only, and editing the
    source later would change the "immutable" version.
    """
    if src.resolve().is_relative_to(workspace):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another device or a file system without hard links: copy instead
    shutil.copyfile(src, dst)


def _check_out_dir(out_dir: Path, sources: list[Path]) -> None:
    out = out_dir.resolve()
    for src in sources:
        s = src.resolve()
        if out == s or s.is_relative_to(out) or out.is_relative_to(s):
            raise BadInputError(
                f"The output folder {out_dir} overlaps the source {src}; choose an output folder elsewhere."
            )
    if out.exists():
        if not out.is_dir():
            raise BadInputError(f"The output path {out_dir} is a file; choose a folder.")
        if any(out.iterdir()) and not (out / REPORT_NAME).is_file():
            raise BadInputError(
                f"The output folder {out_dir} is not empty and is not a prepared dataset; choose an empty folder."
            )


def _write_dataset(
    out_dir: Path,
    items: list[_Item],
    names: list[str],
    report: dict[str, Any],
    issues: IssueCollector,
    progress: ProgressFn,
) -> PrepareResult:
    """Write images, labels, data.yaml and the report into a staging folder, then move it into place."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    splits = sorted({i.split for i in items if i.usable and i.split}, key=("train", "val", "test").index)
    for split in {"train", "val", *splits}:
        (staging / "images" / split).mkdir(parents=True, exist_ok=True)
        (staging / "labels" / split).mkdir(parents=True, exist_ok=True)
    from backend.core.settings import get_settings

    workspace = get_settings().home.resolve()
    try:
        usable = [i for i in items if i.usable]
        for index, item in enumerate(usable):
            assert item.source is not None and item.split is not None
            _link_or_copy(item.source, staging / "images" / item.split / item.out_name, workspace)
            label = staging / "labels" / item.split / (os.path.splitext(item.out_name)[0] + ".txt")
            label.write_text("".join(line + "\n" for line in item.lines), encoding="utf-8")
            if index % 100 == 0:
                progress(0.6 + 0.35 * index / max(1, len(usable)), f"Writing {item.out_name}")
        data = {
            "path": str(out_dir),
            "train": "images/train",
            "val": "images/val",
            **({"test": "images/test"} if "test" in splits else {}),
            "nc": len(names),
            "names": dict(enumerate(names)),
        }
        (staging / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
        issue_list = issues.issues()
        per_file: dict[str, list[str]] = defaultdict(list)
        for issue in issue_list:
            per_file[issue.file].append(str(issue.check))
        report["files"] = [
            {
                "file": item.out_name,
                "source": item.original,
                "split": item.split if item.usable else None,
                "boxes": len(item.lines) if item.usable else 0,
                "issues": per_file.get(item.out_name, []),
                **({"width": item.size[0], "height": item.size[1]} if item.usable and item.size else {}),
            }
            for item in items
        ]
        report["issues"] = [i.to_dict() for i in issue_list]
        (staging / REPORT_NAME).write_text(json.dumps(report, indent=2), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    severities = Counter(i.severity for i in issue_list)
    progress(1.0, f"Prepared {report['counts']['images']} images")
    return PrepareResult(
        out_dir=out_dir,
        data_yaml=out_dir / "data.yaml",
        report_path=out_dir / REPORT_NAME,
        counts=dict(report["counts"]),
        issues_by_severity={str(s): severities.get(s, 0) for s in Severity},
    )


def _probe_and_filter(items: list[_Item], issues: IssueCollector, progress: ProgressFn) -> dict[str, tuple[int, int]]:
    """Check each listed image exists and decodes; returns the real (width, height) by output name."""
    from backend.core.settings import get_settings

    max_pixels = get_settings().max_image_pixels
    present = [i for i in items if i.source is not None and i.source.is_file()]
    for item in items:
        if item.source is None or not item.source.is_file():
            item.usable = False
            message = f"is listed as {item.original!r} but is not in the images folder; left out"
            issues.add(item.out_name, Check.MISSING_IMAGE, message)
    sizes: dict[str, tuple[int, int]] = {}
    paths = [i.source for i in present if i.source is not None]  # all of them: `present` has a source
    for index, (item, probe) in enumerate(zip(present, probe_images(paths, max_pixels=max_pixels), strict=True)):
        if probe.error:
            item.usable = False
            issues.add(item.out_name, Check.CORRUPT_IMAGE, f"does not decode ({probe.error}); left out")
        elif probe.width and probe.height:
            sizes[item.out_name] = item.size = (probe.width, probe.height)
        if index % 100 == 0:
            progress(0.6 * index / max(1, len(present)), f"Checking {item.out_name}")
    return sizes


def _counts(items: list[_Item], names: list[str], extra: dict[str, int]) -> dict[str, int]:
    usable = [i for i in items if i.usable]
    return {
        "images_listed": len(items),
        "images": len(usable),
        "train": sum(1 for i in usable if i.split == "train"),
        "val": sum(1 for i in usable if i.split == "val"),
        "test": sum(1 for i in usable if i.split == "test"),
        "boxes": sum(len(i.lines) for i in usable),
        "classes": len(names),
        "background_images": sum(1 for i in usable if not i.lines),
        "left_out_images": len(items) - len(usable),
        **extra,
    }


def _check_fraction(val_fraction: float) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise BadInputError(f"The validation fraction must be between 0 and 1 (got {val_fraction}).")


# --------------------------------------------------------------------------------------------------------------
# COCO


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


def prepare_coco(  # pylint: disable=too-many-statements  # see the note at the top
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
    _assign_out_names(items, issues)
    sizes = _probe_and_filter(items, issues, progress)
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
        if not owner.usable:
            continue
        name = owner.out_name
        if ann.get("iscrowd") in (1, True):
            issues.add(name, Check.CROWD_ANNOTATION, f"crowd annotation {ann.get('id')} was left out")
            extra["crowd_excluded"] += 1
            continue
        cls = class_of.get(ann.get("category_id"))
        if cls is None:
            issues.add(
                name,
                Check.UNKNOWN_CLASS,
                f"annotation {ann.get('id')} uses category {ann.get('category_id')!r}, "
                "which is not in the categories; it was dropped",
            )
            extra["annotations_dropped"] += 1
            continue
        box, check, message = _coco_box(ann)
        if check is not None and message is not None:
            issues.add(name, check, message)
        if box is None:
            extra["annotations_dropped"] += 1
            continue
        width, height = sizes[name]
        x, y, w, h = box
        if w <= 0 or h <= 0:
            issues.add(
                name,
                Check.DEGENERATE_BBOX,
                f"annotation {ann.get('id')} has width {w:g} and height {h:g}; it was dropped",
            )
            extra["annotations_dropped"] += 1
            continue
        x1, y1, x2, y2 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
        if x2 <= x1 or y2 <= y1:
            issues.add(
                name,
                Check.DEGENERATE_BBOX,
                f"annotation {ann.get('id')} lies entirely outside the {width}x{height} image; it was dropped",
            )
            extra["annotations_dropped"] += 1
            continue
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


# --------------------------------------------------------------------------------------------------------------
# YOLO / Roboflow


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
