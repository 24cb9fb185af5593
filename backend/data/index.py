"""The index of a dataset version: every image (split, size, file stamp, box count, classes present) and every box
(class, place, size) read once from the version folder into the store, plus a small summary for the charts.

Written when a version is made (import, demo, annotation edit) and, for versions made before the index existed, by
the `index_version` job the first time a page opens one. Pages read it through `backend.store.dataset_index`; no
page lists a version folder or reads a label file.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from backend.core.errors import PlateOpsError
from backend.core.progress import ProgressFn, null_progress
from backend.data.formats.prepared import REPORT_NAME
from backend.data.quality.reader import parse_yolo_line, read_text_fast, read_yolo_dataset
from backend.store import dataset_index as index_store
from backend.store import datasets as dataset_store
from backend.store.dataset_index import ImageQuery, IndexedImage, IndexRows, IndexState, IssueLine, IssueQuery
from backend.store.engine import session_scope

AREA_EDGES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.10, 0.20, 1.0)  # box area as a fraction of the image
AREA_LABELS = ("< 0.5%", "0.5–1%", "1–2%", "2–5%", "5–10%", "10–20%", "> 20%")
log = logging.getLogger(__name__)
MAX_SIZES = 400  # distinct (split, width, height) kept in the summary for the size chart
MAX_PREFLIGHT_FILES = 1000  # pre-flight file records kept in the summary (those with notes)


def _header_size(path: str) -> tuple[int, int] | None:
    """Upright (width, height) from the file header (EXIF orientation applied), or None when unreadable."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1) if img.format in ("JPEG", "MPO", "TIFF", "WEBP", "PNG") else 1
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _probe(args: tuple[str, str, bool]) -> tuple[tuple[int, int] | None, os.stat_result | None, str | None]:
    """Header size (unless already known), file stamp and label text of one image (on a small thread pool)."""
    path, label, need_size = args
    try:
        stat = os.stat(path)
    except OSError:
        stat = None
    return _header_size(path) if need_size else None, stat, read_text_fast(label)


def _area_bin(area: float) -> int:
    for index, upper in enumerate(AREA_EDGES[1:]):
        if area <= upper:
            return index
    return len(AREA_LABELS) - 1


def _read_report(folder: Path) -> dict[str, Any]:
    """The pre-flight report prepare wrote into the folder ({} when there is none or it is unreadable)."""
    path = folder / REPORT_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        raw = {}
    return raw if isinstance(raw, dict) else {}


def _preflight_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """The pre-flight report, small: every field, and only the files it noted something about."""
    files = [f for f in raw.get("files") or [] if isinstance(f, dict)]
    noted = [{k: v for k, v in f.items() if k not in ("width", "height")} for f in files if f.get("issues")]
    kept = {k: v for k, v in raw.items() if k not in ("files", "issues")}  # the issues live in the store
    return {"preflight": {**kept, "files": noted[:MAX_PREFLIGHT_FILES]}, "preflight_files": len(files)}


def _known_sizes(raw: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
    """(split, file) → (width, height) that prepare's probe already read (so the index opens no image header)."""
    known = {}
    for f in raw.get("files") or []:
        if isinstance(f, dict) and isinstance(f.get("width"), int) and isinstance(f.get("height"), int):
            known[(str(f.get("split")), str(f.get("file")))] = (int(f["width"]), int(f["height"]))
    return known


def read_version_rows(folder: Path, *, progress: ProgressFn = null_progress) -> IndexRows:
    """Read a prepared YOLO folder into index rows and the chart summary (nothing is written).

    Raises:
        BadInputError: The folder is not a prepared dataset.
    """
    dataset = read_yolo_dataset(folder)
    names = dataset.names
    root = str(Path(folder).resolve()) + os.sep
    base = str(Path(folder)) + os.sep
    images: list[dict[str, Any]] = []
    boxes: list[dict[str, Any]] = []
    class_split: Counter[tuple[int, str]] = Counter()
    per_image: Counter[int] = Counter()
    areas = [0] * len(AREA_LABELS)
    sizes: Counter[tuple[str, int, int]] = Counter()
    splits: Counter[str] = Counter()
    total = len(dataset.images)
    report = _read_report(Path(folder))
    known = _known_sizes(report)
    jobs = [(img.path_str, img.label_str, (img.split, img.name) not in known) for img in dataset.images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for position, (img, probed) in enumerate(
            zip(dataset.images, pool.map(_probe, jobs, chunksize=64), strict=True)
        ):
            probed_size, stat, text = probed
            size = known.get((img.split, img.name)) or probed_size
            path = img.path_str
            rel = path[len(root) :] if path.startswith(root) else path[len(base) :] if path.startswith(base) else path
            present: set[int] = set()
            count = 0
            for line in (text or "").splitlines():
                if not line.strip():
                    continue
                parsed = parse_yolo_line(line)
                if isinstance(parsed, str):
                    continue
                cid, cx, cy, w, h, _ = parsed
                area = max(w, 0.0) * max(h, 0.0)
                boxes.append(
                    {"image_position": position, "class_id": cid, "cx": cx, "cy": cy, "w": w, "h": h, "area": area}
                )
                present.add(cid)
                class_split[(cid, img.split)] += 1
                areas[_area_bin(area)] += 1
                count += 1
            images.append(
                {
                    "position": position,
                    "file": img.name,
                    "rel_path": rel,
                    "split": img.split,
                    "width": size[0] if size else None,
                    "height": size[1] if size else None,
                    "bytes": stat.st_size if stat else 0,
                    "mtime_ns": stat.st_mtime_ns if stat else 0,
                    "boxes": count,
                    "classes": "," + ",".join(str(c) for c in sorted(present)) + "," if present else "",
                }
            )
            per_image[count] += 1
            splits[img.split] += 1
            if size:
                sizes[(img.split, size[0], size[1])] += 1
            if position % 2000 == 0:
                progress(position / max(total, 1), f"Indexing images: {position:,} of {total:,}")
    summary = {
        **_preflight_summary(report),
        "splits": dict(splits),
        "class_split": [[c, s, n] for (c, s), n in sorted(class_split.items())],
        "boxes_per_image": {str(k): v for k, v in sorted(per_image.items())},
        "area_bins": dict(zip(AREA_LABELS, areas, strict=True)),
        "sizes": [[s, w, h, n] for (s, w, h), n in sizes.most_common(MAX_SIZES)],
        "distinct_sizes": len(sizes),
        "background": per_image.get(0, 0),
        "unreadable": sum(1 for i in images if i["width"] is None),
    }
    return IndexRows(names=names, images=images, boxes=boxes, summary=summary)


def build_version_index(
    version_id: int, *, progress: ProgressFn = null_progress, job_id: int | None = None
) -> IndexState:
    """Read a version's folder once and store its index (replacing any earlier one); returns the index state.

    Raises:
        NotFoundError: No such version.
        BadInputError: Its folder is not a prepared dataset (the index is marked failed, saying why).
    """
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        index_store.mark_building(session=session, version_id=version_id, job_id=job_id)
    started = time.perf_counter()
    try:
        rows = read_version_rows(Path(version.path), progress=progress)
    except PlateOpsError as exc:
        with session_scope() as session:
            index_store.mark_failed(session=session, version_id=version_id, message=str(exc))
        raise
    progress(0.95, f"Storing the index of {len(rows.images):,} images")
    with session_scope() as session:
        state = index_store.write_index(
            session=session, version_id=version_id, rows=rows, seconds=time.perf_counter() - started
        )
    progress(1.0, f"Indexed {state.images:,} images and {state.boxes:,} boxes")
    return state


def index_state(version_id: int) -> IndexState | None:
    """The index state of a version (None when it was never indexed)."""
    with session_scope() as session:
        return index_store.get_state(session=session, version_id=version_id)


def index_new_version(version_id: int, *, progress: ProgressFn = null_progress) -> IndexState | None:
    """Index a version just made (import, demo, edit). A failure is recorded on the index, not raised: the version
    itself is fine, and the page builds the index again in the background when it is opened."""
    try:
        return build_version_index(version_id, progress=progress)
    except PlateOpsError as exc:
        log.warning("Could not index dataset version %s: %s", version_id, exc)
        return None


# --- reads for pages (every filter and the pagination run in SQL) ----------------------------------------------


@dataclass(frozen=True)
class GalleryPage:
    """One page of a version's gallery: the matching total and the images of the page (boxes and issues included)."""

    total: int
    images: list[IndexedImage]


@dataclass(frozen=True)
class IssuePage:
    """One page of a version's issue table: matching issues and images in all, and the page's lines."""

    total: int
    images: int
    lines: list[IssueLine]


@dataclass(frozen=True)
class GalleryFacets:
    """What the gallery's filters offer: classes present (id, name), splits and checks with findings."""

    classes: list[tuple[int, str]]
    splits: list[str]
    checks: list[str]
    severities: list[str]


def gallery_page(version_id: int, query: ImageQuery, *, offset: int = 0, limit: int = 12) -> GalleryPage:
    """The images of a version matching `query`, one page of them (in version order)."""
    with session_scope() as session:
        total = index_store.count_images(session=session, version_id=version_id, query=query)
        images = index_store.page_images(
            session=session, version_id=version_id, query=query, offset=offset, limit=limit
        )
    return GalleryPage(total=total, images=images)


def gallery_image(version_id: int, file: str) -> IndexedImage | None:
    """One image of a version by file name, with its boxes and issues."""
    with session_scope() as session:
        return index_store.find_image(session=session, version_id=version_id, file=file)


def gallery_facets(version_id: int) -> GalleryFacets:
    """Classes present, splits and checks of a version (from the index summary and two small SQL queries)."""
    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
        splits = index_store.splits_present(session=session, version_id=version_id)
        checks = index_store.checks_present(session=session, version_id=version_id)
        severities = index_store.issue_severities(session=session, version_id=version_id)
    names = state.names if state is not None else []
    present = sorted({int(c) for c, _, _ in (state.summary.get("class_split", []) if state else [])})
    classes = [(c, names[c] if 0 <= c < len(names) else f"class {c}") for c in present]
    return GalleryFacets(classes=classes, splits=splits, checks=checks, severities=severities)


def issue_facets(version_id: int) -> tuple[list[str], list[str]]:
    """The checks and the severities present among a version's stored issues (for the Quality tab's filters)."""
    with session_scope() as session:
        return (
            index_store.checks_present(session=session, version_id=version_id),
            index_store.issue_severities(session=session, version_id=version_id),
        )


def issue_page(version_id: int, query: IssueQuery, *, offset: int = 0, limit: int = 200) -> IssuePage:
    """One page of a version's stored issues matching `query`, with the totals."""
    with session_scope() as session:
        total, images = index_store.count_issues(session=session, version_id=version_id, query=query)
        lines = index_store.page_issues(session=session, version_id=version_id, query=query, offset=offset, limit=limit)
    return IssuePage(total=total, images=images, lines=lines)


def issue_files(version_id: int, query: IssueQuery) -> list[str]:
    """The distinct files of a version's issues matching `query` (what 'send to review' queues)."""
    with session_scope() as session:
        return index_store.issue_files(session=session, version_id=version_id, query=query)


def issue_reasons(version_id: int, query: IssueQuery, note: str = "") -> dict[str, str]:
    """For each file of the matching issues, the review-queue reason naming the checks that flagged it
    ("Validation: tiny_bbox, degenerate_bbox"), followed by the sender's `note` when given."""
    with session_scope() as session:
        checks = index_store.issue_checks_by_file(session=session, version_id=version_id, query=query)
    suffix = f" — {note.strip()}" if note.strip() else ""
    return {file: f"Validation: {', '.join(names)}{suffix}"[:500] for file, names in checks.items()}


def indexed_names_and_files(version_id: int) -> tuple[list[str], list[str]] | None:
    """A version's class names and sorted image file names from its ready index, or None when it has none."""
    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
        if state is None or not state.ready:
            return None
        return state.names, index_store.file_names(session=session, version_id=version_id)


def indexed_labels(version_id: int) -> tuple[list[str], dict[str, list[tuple[int, float, float, float, float]]]] | None:
    """A version's class names and every image's boxes (class, cx, cy, w, h), keyed by the image's path inside the
    `images` folder without its suffix (e.g. "train/plate_001"), from its ready index; None when it has none."""
    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
        if state is None or not state.ready:
            return None
        files = index_store.indexed_files(session=session, version_id=version_id)
        boxes = index_store.indexed_boxes(session=session, version_id=version_id)
    keys = []
    for rel, _, _ in files:
        inner = rel[len("images/") :] if rel.startswith("images/") else rel
        keys.append(os.path.splitext(inner)[0])
    labels: dict[str, list[tuple[int, float, float, float, float]]] = {key: [] for key in keys}
    for position, cid, cx, cy, w, h in boxes:
        labels[keys[position]].append((cid, cx, cy, w, h))
    return state.names, labels
