"""`validate_dataset`: every data-quality check over a prepared YOLO dataset, with the cache, in one report.

Image checks decode every image once, in parallel over all cores, and cache the measurements keyed by the SHA-256
of the file's bytes, so an unchanged image is never decoded again; a file index spares re-reading and re-hashing
files whose stat is unchanged (`rehash=True` reads them anyway). Checks that depend on the file name (the
extension) or on thresholds are applied to the cached measurements, never cached. Label checks are cached per label
file's stat stamp and (class names, image size), so re-validating an unchanged dataset reads no file at all beyond
stat calls and the cache. The issues `prepare` recorded in `prepare_report.json` are folded in, so one report
covers the whole import; each (file, check) pair appears at most once, repeats counted in its message. A finding
about an image's boxes (`BOX_CHECKS`) is folded in only while its label file is still the one prepare wrote: the
report is copied into every version made from this one, and a box fixed and saved in a later version is no longer
the box prepare clipped or dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.params import QualityParams, get_params
from backend.core.progress import ProgressFn, null_progress
from backend.data.quality.cache import FactsCache, index_keys, stat_stamp
from backend.data.quality.checks import (
    BOX_CHECKS,
    CHECKS_VERSION,
    Check,
    Issue,
    IssueCollector,
    Severity,
    check_duplicates,
    check_image,
    check_labels,
    check_split_coverage,
)
from backend.data.quality.measurements import Measurements, hash_file, measure_file
from backend.data.quality.reader import DatasetImage, YoloDataset, read_yolo_dataset
from backend.data.quality.report import ValidationReport

CACHE_FILE = "quality_cache.sqlite3"


@dataclass(frozen=True)
class _Measured:
    """Per image: SHA-256 ("" when unreadable) and measurements (None when unreadable); the cache counters."""

    shas: list[str]
    facts: list[Measurements | None]
    counters: dict[str, Any]


@contextmanager
def _maybe_pool(workers: int, jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool when there are workers and jobs enough to pay for it, else None."""
    if workers <= 1 or jobs < 8:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield pool


def _hash_all(
    keys: list[str], *, cache: FactsCache, workers: int, rehash: bool, progress: ProgressFn
) -> tuple[list[tuple[str, int]], int]:
    """(sha, size) per file, from the stat index where the file is unchanged; and how many files were hashed."""
    stamps = {key: stamp for key in keys if (stamp := stat_stamp(key)) is not None}
    known = {} if rehash else cache.known_hashes(stamps)
    to_hash = [key for key in keys if key not in known]
    hashed_now: dict[str, tuple[str, int]] = {}
    with ThreadPoolExecutor(max_workers=max(2, min(8, workers * 2))) as threads:
        for index, (key, result) in enumerate(zip(to_hash, threads.map(hash_file, to_hash), strict=True)):
            hashed_now[key] = result
            if index % 200 == 0:
                progress(0.2 * index / max(1, len(to_hash)), f"Hashing images ({index}/{len(to_hash)})")
    cache.remember_hashes(
        [(key, stamps[key], sha, size) for key, (sha, size) in hashed_now.items() if sha and key in stamps]
    )
    return [known.get(key) or hashed_now.get(key) or ("", 0) for key in keys], len(to_hash)


def _measure_all(
    images: list[DatasetImage],
    *,
    cache: FactsCache,
    workers: int,
    max_pixels: int,
    rehash: bool,
    progress: ProgressFn,
) -> _Measured:
    """Hash every file (or take its hash from the stat index), then decode the ones whose hash is not cached."""
    progress(0.0, f"Hashing {len(images)} images")
    keys = index_keys([im.path_str for im in images])
    hashed, hashed_count = _hash_all(keys, cache=cache, workers=workers, rehash=rehash, progress=progress)
    facts = cache.get_many(sha for sha, _ in hashed if sha)
    hits = sum(1 for sha, _ in hashed if sha in facts)
    todo: dict[str, str] = {}
    for (sha, _), key in zip(hashed, keys, strict=True):
        if sha and sha not in facts and sha not in todo:
            todo[sha] = key
    new: dict[str, Measurements] = {}
    tasks = [(p, max_pixels) for p in todo.values()]
    with _maybe_pool(workers, len(tasks)) as pool:
        if pool is None:
            results: Iterable[Measurements] = map(measure_file, tasks)
        else:
            results = pool.map(measure_file, tasks, chunksize=max(1, min(16, len(tasks) // (workers * 8))))
        for index, (sha, result) in enumerate(zip(todo, results, strict=True)):
            new[sha] = result
            if index % 25 == 0:
                progress(0.2 + 0.7 * index / max(1, len(tasks)), f"Checking images ({index}/{len(tasks)})")
    cache.put_many(new)
    facts.update(new)
    counters = {
        "enabled": cache.enabled,
        "hits": hits,
        "misses": sum(1 for sha, _ in hashed if sha) - hits,
        "decoded": len(new),
        "hashed": hashed_count,
    }
    return _Measured([sha for sha, _ in hashed], [facts.get(sha) if sha else None for sha, _ in hashed], counters)


class _RecordingCollector(IssueCollector):
    """Records the (check, message) findings of one file in order, to cache and replay them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[Check, str]] = []

    def add(self, file: str, check: Check, message: str) -> None:
        self.found.append((check, message))


LabelResult = tuple[list[tuple[Check, str]], list[tuple[int, float]]]


def _label_results(
    images: list[DatasetImage],
    image_facts: list[Measurements | None],
    names: list[str],
    cache: FactsCache,
) -> list[LabelResult]:
    """Label checks per image as (findings, boxes), taken from the cache where the label file and context match.

    A result depends only on the label file's bytes, the image's size and the class names, so it is keyed by the
    label file's stat stamp and a context of (CHECKS_VERSION, class names, width x height). Boxes are stored as
    "class:area" pairs (`repr` of a float reads back to the same float).
    """
    names_key = hashlib.sha256(json.dumps(names).encode("utf-8")).hexdigest()[:16]
    labels = [im.label_str for im in images]
    stamps: dict[str, str] = {}
    if cache.enabled:
        stamps = {key: stamp for key in labels if (stamp := stat_stamp(key)) is not None}
    known = cache.label_results(stamps) if stamps else {}
    out: list[LabelResult] = []
    fresh: list[tuple[str, str, str, str, str]] = []
    for image, label, facts in zip(images, labels, image_facts, strict=True):
        w = facts.width if facts else None
        h = facts.height if facts else None
        context = f"{CHECKS_VERSION}:{names_key}:{w}x{h}"
        stored = known.get(label)
        if stored is not None and stored[0] == context:
            _, boxes_text, found_text = stored
            found = [] if found_text == "[]" else [(Check(c), m) for c, m in json.loads(found_text)]
            boxes = [(int(c), float(a)) for c, _, a in (pair.partition(":") for pair in boxes_text.split())]
            out.append((found, boxes))
            continue
        recorder = _RecordingCollector()
        boxes_now = check_labels(image, w, h, names, recorder)
        out.append((recorder.found, boxes_now))
        if label in stamps:
            boxes_text = " ".join(f"{c}:{a!r}" for c, a in boxes_now)
            fresh.append((label, stamps[label], context, boxes_text, json.dumps(recorder.found)))
    cache.remember_label_results(fresh)
    return out


def _read_prepare_issues(root: Path, labels: dict[str, str]) -> list[Issue]:
    """The issues `prepare` recorded in the dataset's prepare_report.json that still hold (none without the file).

    A box finding of an image whose label file (`labels`: image name -> label path) no longer has the SHA-256
    prepare recorded for it is left out: the boxes it spoke of were changed since. Reports written before prepare
    recorded label hashes keep all their findings.
    """
    path = root / "prepare_report.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    written = {
        str(row["file"]): str(row["labels_sha256"])
        for row in data.get("files") or []
        if isinstance(row, dict) and row.get("file") and row.get("labels_sha256")
    }
    changed: dict[str, bool] = {}

    def labels_changed(file: str) -> bool:
        if file not in changed:
            changed[file] = file in written and _file_sha256(labels.get(file)) != written[file]
        return changed[file]

    out = []
    for raw in data.get("issues", []):
        if isinstance(raw, dict) and {"file", "check", "severity", "message"} <= raw.keys():
            try:
                check, severity = Check(raw["check"]), Severity(raw["severity"])
            except ValueError:
                continue  # a name this version does not know: nothing to show it under
            if check in BOX_CHECKS and labels_changed(str(raw["file"])):
                continue
            out.append(Issue(str(raw["file"]), check, severity, str(raw["message"])))
    return out


def _file_sha256(path: str | None) -> str | None:
    """SHA-256 of a small file's bytes; None when there is no such file."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def _stats(values: Sequence[float]) -> dict[str, float]:
    """Count, min, 5th percentile, median, mean, 95th percentile and max (only the count when empty)."""
    if not values:
        return {"count": 0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "count": int(arr.size),
        "min": round(float(arr.min()), 6),
        "p5": round(float(np.percentile(arr, 5)), 6),
        "median": round(float(np.median(arr)), 6),
        "mean": round(float(arr.mean()), 6),
        "p95": round(float(np.percentile(arr, 95)), 6),
        "max": round(float(arr.max()), 6),
    }


def _label_summary(
    dataset: YoloDataset, label_results: list[LabelResult], splits: list[str], issues: IssueCollector
) -> dict[str, Any]:
    """Fold the label findings into `issues`; return the class distribution, boxes per image and box areas."""
    class_boxes: Counter[int] = Counter()
    class_images: Counter[int] = Counter()
    class_split_boxes: dict[str, Counter[int]] = defaultdict(Counter)
    per_image: Counter[str] = Counter()
    areas: list[float] = []
    for image, (found, boxes) in zip(dataset.images, label_results, strict=True):
        for check, message in found:
            issues.add(image.name, check, message)
        per_image["10+" if len(boxes) >= 10 else str(len(boxes))] += 1
        for cls, area in boxes:
            class_boxes[cls] += 1
            class_split_boxes[image.split][cls] += 1
            areas.append(area)
        for cls in {c for c, _ in boxes}:
            class_images[cls] += 1
    check_split_coverage(dataset.names, splits, class_images, class_split_boxes, issues)
    distribution = {
        name: {
            "boxes": class_boxes[cls],
            "images": class_images[cls],
            **{split: class_split_boxes[split][cls] for split in splits},
        }
        for cls, name in enumerate(dataset.names)
    }
    return {
        "boxes": sum(class_boxes.values()),
        "class_distribution": distribution,
        "boxes_per_image": {k: per_image[k] for k in sorted(per_image, key=lambda x: (len(x), x))},
        "box_relative_area": _stats(areas),
    }


def validate_dataset(
    dataset_dir: Path,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    max_image_pixels: int | None = None,
    rehash: bool = False,
    thresholds: QualityParams | None = None,
    progress: ProgressFn = null_progress,
) -> ValidationReport:
    """Run every data-quality check on a prepared YOLO dataset.

    Args:
        dataset_dir: Folder with data.yaml, images/ and labels/ (as `prepare` writes it); a data.yaml path works too.
        cache_dir: Folder for the measurement cache (SQLite); None disables caching.
        workers: Processes for decoding (default: all cores).
        max_image_pixels: Images with more pixels are reported `too_large` and not decoded (default: settings).
        rehash: Read and hash every file even when its size, times and inode match the cache's file index
            (by default an unchanged file is neither read nor decoded again).
        thresholds: Limits of the photo checks (default: the `quality` section of params.yaml).
        progress: Progress callback.

    Returns:
        A ValidationReport. `summary` holds `images`, `images_per_split`, `classes`, `issues_by_check`,
        `issues_by_severity` ({"error", "warning", "info"}: counts), `class_distribution` ({name: {"boxes",
        "images", "train", "val", ...}}), `boxes_per_image` (histogram), `box_relative_area` and `image_size`
        stats, `cache` ({"enabled", "hits", "misses", "decoded", "hashed"}: hits/misses of the measurement cache,
        files decoded and files read and hashed this run), `seconds` and `images_per_second`.

    Raises:
        BadInputError: The folder is not a readable YOLO dataset, or params.yaml is invalid.
    """
    started = time.perf_counter()
    if max_image_pixels is None:
        from backend.core.settings import get_settings

        max_image_pixels = get_settings().max_image_pixels
    thresholds = thresholds or get_params().quality
    workers = max(1, workers or os.cpu_count() or 1)
    dataset = read_yolo_dataset(Path(dataset_dir))
    images = dataset.images
    issues = IssueCollector()
    for issue in _read_prepare_issues(dataset.root, {im.name: im.label_str for im in images}):
        issues.add_issue(issue)

    cache = FactsCache(Path(cache_dir) / CACHE_FILE if cache_dir is not None else None)
    with closing(cache):
        measured = _measure_all(
            images, cache=cache, workers=workers, max_pixels=max_image_pixels, rehash=rehash, progress=progress
        )
        progress(0.9, "Checking labels and duplicates")
        label_results = _label_results(images, measured.facts, dataset.names, cache)

    widths: list[int] = []
    heights: list[int] = []
    for image, facts in zip(images, measured.facts, strict=True):
        if facts is None:
            issues.add(image.name, Check.CORRUPT_IMAGE, "cannot be read from disk")
            continue
        check_image(image.name, facts, issues, thresholds=thresholds, max_pixels=max_image_pixels)
        if facts.width and facts.height:
            widths.append(facts.width)
            heights.append(facts.height)
    check_duplicates(images, measured.shas, measured.facts, issues)
    splits = sorted({im.split for im in images}, key=("train", "val", "test").index)
    labels = _label_summary(dataset, label_results, splits, issues)

    issue_list = issues.issues()
    elapsed = time.perf_counter() - started
    summary: dict[str, Any] = {
        "dataset": str(dataset.root),
        "checks_version": CHECKS_VERSION,
        "images": len(images),
        "images_per_split": {split: sum(1 for im in images if im.split == split) for split in splits},
        "classes": list(dataset.names),
        "nc": len(dataset.names),
        "boxes": labels["boxes"],
        "issues_by_check": {str(k): v for k, v in sorted(Counter(i.check for i in issue_list).items())},
        "issues_by_severity": {str(s): sum(1 for i in issue_list if i.severity == s) for s in Severity},
        "class_distribution": labels["class_distribution"],
        "boxes_per_image": labels["boxes_per_image"],
        "box_relative_area": labels["box_relative_area"],
        "image_size": {"width": _stats(widths), "height": _stats(heights)},
        "cache": measured.counters,
        "seconds": round(elapsed, 3),
        "images_per_second": round(len(images) / elapsed, 1) if elapsed > 0 else None,
    }
    progress(1.0, f"Checked {len(images)} images")
    return ValidationReport(summary=summary, issues=issue_list)
