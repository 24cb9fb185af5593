"""COCO reader: one annotations file, or one per split (Roboflow, CVAT, COCO 2017 style, FiftyOne), merged.

Classes are merged by name across the files and numbered in ascending COCO id order (the documented class-id
rule, `number_classes`: categories sorted by COCO id get the contiguous ids 0..n-1, names kept; there is never a
91→80 style remap). A category that has no boxes anywhere and only names the project (Roboflow's
placeholder: supercategory "none", and its name is the other categories' supercategory or its id is 0) is dropped
and reported; any other category without boxes is kept as a class.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from backend.core.errors import BadInputError
from backend.data.formats.model import (
    MAX_NAME_CHARS,
    CocoPart,
    DetectedLayout,
    SourceBox,
    SourceDataset,
    SourceImage,
    check_class_name,
    check_file_name,
    file_name_too_long,
    is_scalar_id,
    quote,
    short_file_name,
)
from backend.data.quality.checks import Check

Box = tuple[float, float, float, float]


def load_coco_json(path: Path) -> dict[str, Any]:
    """Parse a COCO file, refusing anything that is not detection annotations (never a traceback)."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except RecursionError as exc:
        raise BadInputError(f"{path.name} is nested too deeply to be COCO annotations; refusing it.") from exc
    except ValueError as exc:
        raise BadInputError(f"{path.name} is not valid JSON ({str(exc)[:120]}).") from exc
    except OSError as exc:
        raise BadInputError(f"Cannot read {path.name}: {exc.strerror or exc}.") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise BadInputError(f"{path.name} is not COCO detection annotations: it needs 'images' and 'categories' lists.")
    if not isinstance(data.get("annotations", []), list):
        raise BadInputError(f"{path.name}: 'annotations' must be a list.")
    return data


def number_classes(categories: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """The class-id rule: (COCO id, name) pairs sorted by COCO id get the class ids 0..n-1, names kept.

    Returns:
        One {"coco_id", "class_id", "name"} per category, in class-id order (the report's `class_map`).
    """
    ordered = sorted(categories)
    return [{"coco_id": cid, "class_id": index, "name": name} for index, (cid, name) in enumerate(ordered)]


def check_categories(categories: list[Any], where: str) -> list[dict[str, Any]]:
    """COCO categories as {"id", "name", "supercategory"}, checked.

    Raises:
        BadInputError: A category lacks an integer id or a usable name, or two share an id or a name.
    """
    cats = []
    seen: set[int] = set()
    names: dict[str, int] = {}
    for cat in categories:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or isinstance(cat.get("id"), bool):
            raise BadInputError(f"{where}: every category needs an integer 'id'; found {quote(cat)}.")
        if cat["id"] in seen:
            raise BadInputError(f"{where}: two categories share the id {cat['id']}; ids must be unique.")
        seen.add(cat["id"])
        name = check_class_name(cat.get("name"), f"{where}, category {cat['id']}")
        if name in names:
            raise BadInputError(
                f"{where}: two categories are both called {quote(name)} (ids {names[name]} and {cat['id']}); "
                "rename or merge them first."
            )
        names[name] = cat["id"]
        supercategory = cat.get("supercategory")
        cats.append(
            {"id": cat["id"], "name": name, "supercategory": supercategory if isinstance(supercategory, str) else ""}
        )
    return cats


def _is_placeholder(cat: dict[str, Any], boxes: int, others: list[dict[str, Any]]) -> bool:
    """Roboflow's project-name category: no boxes, supercategory "none", names the others' supercategory or id 0."""
    if boxes or cat["supercategory"].lower() != "none":
        return False
    other_supers = {o["supercategory"] for o in others if o is not cat}
    return cat["id"] == 0 or (bool(other_supers) and other_supers == {cat["name"]})


def _locate(images_dir: Path, file_name: str) -> Path | None:
    """The image file for a COCO `file_name` (relative path, else basename), never climbing out of the folder."""
    rel = PurePosixPath(file_name.replace("\\", "/"))
    if not rel.is_absolute() and ".." not in rel.parts and _is_file(images_dir / rel):
        return images_dir / rel
    if rel.name and _is_file(images_dir / rel.name):
        return images_dir / rel.name
    return None


def _is_file(path: Path) -> bool:
    """`path.is_file()`, False where the name cannot exist (a part longer than the file system allows)."""
    try:
        return path.is_file()
    except OSError:
        return False


def find_images_dir(part: CocoPart, data: dict[str, Any], root: Path) -> Path:
    """The folder a COCO file's images are in: given, or where its first file names exist.

    Looked for beside the json, in images/ or data/ (FiftyOne) beside it, in a folder named after the json's
    split or stem (COCO 2017: annotations/instances_train2017.json → train2017/), and in the root's images/.
    """
    if part.images_dir is not None:
        return part.images_dir
    folder = part.json_path.parent
    stem_tail = part.json_path.stem.removeprefix("instances_")
    candidates = [folder, folder / "images", folder / "data"]
    for base in (folder.parent, root):
        candidates += [base / stem_tail, base / "images" / stem_tail, base / "images", base / "data", base]
        if part.split:
            candidates += [base / part.split, base / "images" / part.split]
    names = [e.get("file_name") for e in data["images"][:20] if isinstance(e, dict)]
    sample: list[str] = [n for n in names if isinstance(n, str) and n and len(n) < 1000]
    for candidate in candidates:
        if candidate.is_dir() and any(_locate(candidate, name) is not None for name in sample):
            return candidate
    return folder


def read_coco(layout: DetectedLayout) -> SourceDataset:
    """Read every COCO part of a layout into one SourceDataset (splits kept as the parts give them).

    Raises:
        BadInputError: Unreadable or malformed COCO (bad ids of any type, duplicate ids, names too long).
    """
    parts = [(part, load_coco_json(part.json_path)) for part in layout.coco_parts]
    box_count: Counter[str] = Counter()
    per_part_cats: list[list[dict[str, Any]]] = []
    for part, data in parts:
        cats = check_categories(data["categories"], part.json_path.name)
        per_part_cats.append(cats)
        by_id = {c["id"]: c["name"] for c in cats}
        for ann in data.get("annotations", []):
            if isinstance(ann, dict) and is_scalar_id(ann.get("category_id")) and ann["category_id"] in by_id:
                box_count[by_id[ann["category_id"]]] += 1
    dropped: dict[str, dict[str, Any]] = {}
    order: dict[str, int] = {}
    for cats in per_part_cats:
        for cat in cats:
            if _is_placeholder(cat, box_count[cat["name"]], cats):
                dropped[cat["name"]] = {
                    "source_id": cat["id"],
                    "name": cat["name"],
                    "reason": "Roboflow-style placeholder: it only names the project (supercategory 'none') and "
                    "has no boxes",
                }
            else:
                order.setdefault(cat["name"], cat["id"])
    class_map = number_classes([(cid, n) for n, cid in order.items() if n not in dropped])
    if not class_map:
        raise BadInputError("The COCO files define no categories with a name.")
    names = [row["name"] for row in class_map]
    class_of_name = {n: i for i, n in enumerate(names)}
    source = SourceDataset(
        layout=layout, names=names, images=[], class_map=class_map, dropped_categories=list(dropped.values())
    )
    for name in dropped:
        source.notes.append(
            ("dataset", Check.PLACEHOLDER_CATEGORY, f"category {quote(name)} only names the project; dropped")
        )
    for (part, data), cats in zip(parts, per_part_cats, strict=True):
        part = CocoPart(part.json_path, find_images_dir(part, data, layout.root), part.split)
        class_of = {c["id"]: class_of_name.get(c["name"]) for c in cats}
        _read_part(part, data, class_of, source)
    source.facts["annotation_files"] = [
        {"file": str(p.json_path.relative_to(layout.root)), "split": p.split, "images": len(d["images"])}
        for p, d in parts
    ]
    return source


def _refuse_structured_ids(ann: dict[str, Any], where: str) -> None:
    """Refuse a file whose annotation ids are lists or objects: it is not COCO (a broken export), so nothing of it is
    trusted, and `jobs.prepare` and `jobs.import` say so in the same one line."""
    for key in ("image_id", "category_id"):
        value = ann.get(key)
        if isinstance(value, list | dict):
            kind = "a list" if isinstance(value, list) else "an object"
            article = "an" if key == "image_id" else "a"
            raise BadInputError(
                f"{where}: annotation {quote(ann.get('id'))} has {article} {key} that is {kind}; "
                "COCO ids are whole numbers. Fix the export and import it again."
            )


def _read_part(part: CocoPart, data: dict[str, Any], class_of: dict[int, int | None], source: SourceDataset) -> None:
    """Add one COCO file's images and boxes to `source`."""
    where = part.json_path.name
    by_id: dict[Any, SourceImage] = {}
    for number, entry in enumerate(data["images"], start=1):
        if not isinstance(entry, dict):
            raise BadInputError(f"{where}: image entry {number} must be an object; found {quote(entry)}.")
        if not is_scalar_id(entry.get("id")):
            raise BadInputError(
                f"{where}: image entry {number} needs an 'id' that is a number or short text; "
                f"found {quote(entry.get('id'))}."
            )
        too_long = file_name_too_long(entry.get("file_name")) and "\x00" not in entry["file_name"]
        file_name = short_file_name(entry["file_name"]) if too_long else check_file_name(entry.get("file_name"), where)
        if entry["id"] in by_id:
            raise BadInputError(f"{where}: two images share the id {quote(entry['id'])}; ids must be unique.")
        width, height = entry.get("width"), entry.get("height")
        listed: tuple[int, int] | None = None
        if (
            isinstance(width, int)
            and isinstance(height, int)
            and not isinstance(width, bool) | isinstance(height, bool)
        ):
            listed = (width, height)
        located = _locate(part.images_dir, file_name) if part.images_dir is not None and not too_long else None
        image = SourceImage(path=located, original=file_name, split=part.split, listed_size=listed)
        if too_long:  # no file system holds it: leave this image out, import the others
            image.notes.append(
                (Check.MISSING_IMAGE, f"its file name is longer than {MAX_NAME_CHARS} characters; left out")
            )
        by_id[entry["id"]] = image
        source.images.append(image)
    for ann in data.get("annotations", []):
        if not isinstance(ann, dict):
            source.counts["annotations_ignored"] += 1
            continue
        _refuse_structured_ids(ann, where)
        image_id = ann.get("image_id")
        found = by_id.get(image_id) if is_scalar_id(image_id) else None
        if found is None:
            source.counts["annotations_without_image"] += 1
            source.notes.append(
                (
                    where,
                    Check.ANNOTATION_WITHOUT_IMAGE,
                    f"annotation {quote(ann.get('id'))} names no listed image; left out",
                )
            )
            continue
        image = found
        source.counts["annotations"] += 1
        ref = f"annotation {quote(ann.get('id'))}"
        if ann.get("iscrowd") in (1, True):
            image.notes.append((Check.CROWD_ANNOTATION, f"crowd {ref} was left out"))
            source.counts["crowd_excluded"] += 1
            continue
        category = ann.get("category_id")
        cls = class_of.get(category) if isinstance(category, int) and not isinstance(category, bool) else None
        if cls is None:
            image.notes.append(
                (Check.UNKNOWN_CLASS, f"{ref} uses category {quote(category)}, which is not a class; dropped")
            )
            source.counts["annotations_dropped"] += 1
            continue
        box, check, message = coco_box(ann)
        if check is not None and message is not None:
            image.notes.append((check, message[:300]))
        if box is None:
            source.counts["annotations_dropped"] += 1
            continue
        x, y, w, h = box
        image.boxes.append(SourceBox(cls, x, y, x + w, y + h, normalized=False, ref=ref))


def _polygon_box(segmentation: Any) -> Box | None:
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


def coco_box(ann: dict[str, Any]) -> tuple[Box | None, Check | None, str | None]:
    """The pixel box [x, y, w, h] of one COCO annotation: its `bbox`, else the box around its polygon.

    Returns:
        (box, check, message): box None means the annotation is dropped; check and message, when set, are the
        finding to report (a box from the polygon, an RLE-only mask, no box, non-numbers).
    """
    bbox = ann.get("bbox")
    ref = f"annotation {quote(ann.get('id'))}"
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            shown = ", ".join(quote(v) for v in bbox)
            return None, Check.DEGENERATE_BBOX, f"{ref} has a box with non-numbers: [{shown}]"
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            return None, Check.DEGENERATE_BBOX, f"{ref} has a box with non-finite numbers"
        return (x, y, w, h), None, None
    segmentation = ann.get("segmentation")
    box = _polygon_box(segmentation)
    if box is not None:
        return box, Check.BBOX_FROM_SEGMENTATION, f"{ref} had no box; it was computed from its polygon"
    if isinstance(segmentation, dict):
        message = f"{ref} has only an RLE mask and no box; it was dropped (add a bbox to keep it)"
        return None, Check.DEGENERATE_BBOX, message
    return None, Check.DEGENERATE_BBOX, f"{ref} has no box and no polygon; it was dropped"
