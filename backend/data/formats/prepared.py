"""The prepared YOLO layout and its pre-flight report: the one writer every import goes through.

Output layout (what ultralytics trains on):

    OUT/images/{train,val[,test]}/  the images: hard-linked when the workspace owns the source, else copied
    OUT/labels/{train,val[,test]}/  one `class cx cy w h` text file per image (empty for background images)
    OUT/data.yaml                   path (absolute), train/val (relative), names {id: name}, nc
    OUT/prepare_report.json         class map, counts, per-file outcome (with the SHA-256 of the label file
                                    written, `labels_sha256`), issues

`formats.build.prepare_source` turns a read source into `PreparedItem`s and calls the pieces here: unique output
names, the decode probe that drops unreadable files, the output-folder checks, the counts, and `write_prepared`.
Images are streamed one at a time (headers and a cheap decode check); pixels are never held for the whole set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from backend.core.errors import BadInputError
from backend.core.params import get_params
from backend.core.progress import ProgressFn
from backend.data.quality.checks import Check, IssueCollector, Severity
from backend.data.quality.measurements import probe_images

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
class PreparedItem:
    """One source image on its way into the prepared dataset.

    Attributes:
        source: The image file (None when the source lists a file that is not there).
        original: The name as the source lists it (COCO file_name or path relative to the source).
        out_name: Its unique name in the prepared dataset (`assign_out_names`).
        lines: Its YOLO label lines (`yolo_line`).
        classes: The class ids of those lines (the split is stratified by them).
        split: "train", "val", "test", or None while undecided.
        usable: False once the image is missing or does not decode (then it is left out, and reported).
        size: (width, height) the probe read, upright; the version index reuses it.
    """

    source: Path | None
    original: str
    out_name: str = ""
    lines: list[str] = field(default_factory=list)
    classes: set[int] = field(default_factory=set)
    split: str | None = None
    usable: bool = True
    size: tuple[int, int] | None = None


def _basename(file_name: str) -> str:
    return PurePosixPath(file_name.replace("\\", "/")).name


def assign_out_names(items: list[PreparedItem], issues: IssueCollector) -> None:
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


def yolo_line(cls: int, cx: float, cy: float, w: float, h: float) -> str:
    """One label line: the class and the normalised centre and size, six decimals each."""
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


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


def check_out_dir(out_dir: Path, sources: list[Path]) -> None:
    """Refuse an output folder that overlaps a source, is a file, or holds anything but a prepared dataset.

    Args:
        out_dir: Where the prepared dataset goes (a previous prepared dataset there is replaced).
        sources: The files and folders read; the output may neither contain nor lie inside any of them.

    Raises:
        BadInputError: Saying which of those it is.
    """
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


def write_prepared(
    out_dir: Path,
    items: list[PreparedItem],
    names: list[str],
    report: dict[str, Any],
    issues: IssueCollector,
    progress: ProgressFn,
) -> PrepareResult:
    """Write images, labels, data.yaml and the report into a staging folder, then move it into place.

    Args:
        out_dir: The prepared dataset's folder (checked with `check_out_dir` first).
        items: Every listed image; the usable ones (with a split) are written.
        names: Class names by class id.
        report: The report so far (source, format, class map, counts, ...); `files` and `issues` are added here.
        issues: What was found on the way.
        progress: Progress callback (0.6 to 1.0 of the whole conversion).

    Returns:
        A PrepareResult with the paths, counts and issues per severity.
    """
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
    label_hashes: dict[str, str] = {}
    try:
        usable = [i for i in items if i.usable]
        for index, item in enumerate(usable):
            assert item.source is not None and item.split is not None
            _link_or_copy(item.source, staging / "images" / item.split / item.out_name, workspace)
            label = staging / "labels" / item.split / (os.path.splitext(item.out_name)[0] + ".txt")
            text = "".join(line + "\n" for line in item.lines).encode("utf-8")
            label.write_bytes(text)
            # what prepare wrote: a box finding in the report holds only while the label file is still this one
            label_hashes[item.out_name] = hashlib.sha256(text).hexdigest()
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
                **({"labels_sha256": label_hashes[item.out_name]} if item.out_name in label_hashes else {}),
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


def probe_items(items: list[PreparedItem], issues: IssueCollector, progress: ProgressFn) -> dict[str, tuple[int, int]]:
    """Check each listed image exists and decodes (reported and marked unusable if not).

    Returns:
        The real (width, height) of every usable image, by output name.
    """
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


def report_counts(items: list[PreparedItem], names: list[str], extra: dict[str, int]) -> dict[str, int]:
    """The report's `counts`: images listed and kept, per split, boxes, classes, background and left-out images,
    then the reader's own counts (`extra`: annotations, annotations_dropped, boxes_clipped, ...)."""
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


def resolve_split(val_fraction: float | None, seed: int | None) -> tuple[float, int]:
    """The validation share and split seed, each defaulting to the `prepare` section of params.yaml when None.

    Raises:
        BadInputError: Unless 0 < val_fraction < 1.
    """
    section = get_params().prepare
    val_fraction = section.val_fraction if val_fraction is None else val_fraction
    if not 0.0 < val_fraction < 1.0:
        raise BadInputError(f"The validation fraction must be between 0 and 1 (got {val_fraction}).")
    return val_fraction, section.seed if seed is None else seed
