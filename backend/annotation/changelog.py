"""Box-level changelogs: what changed between two box lists of an image, and between two dataset versions.

Boxes are paired first when identical (same class, same place), then by IoU (Hungarian assignment, pairs under
`MATCH_IOU` stay unpaired). A paired box whose class differs is *reclassified*; one whose width or height differs
is *resized*, else one whose centre moved is *moved* (a box that moved and changed size counts as resized, once).
A box may be both reclassified and moved or resized. Unpaired old boxes are *removed*, unpaired new ones *added*.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from backend.annotation.labels import LabelBox, file_bytes, index_version, read_label_file

MATCH_IOU = 0.3
# Corners are stored with six decimals of the image size; anything under this is rounding, not an edit.
TOLERANCE = 1e-4


class ChangeKind(StrEnum):
    """The kinds of box change a changelog counts."""

    ADDED = "added"
    REMOVED = "removed"
    MOVED = "moved"
    RESIZED = "resized"
    RECLASSIFIED = "reclassified"


def _empty_counts() -> dict[str, int]:
    return {kind.value: 0 for kind in ChangeKind}


@dataclass
class BoxDiff:
    """Changes of one image (or summed over many): totals, per class and class swaps ("apple → tomato")."""

    totals: dict[str, int] = field(default_factory=_empty_counts)
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    swaps: Counter[str] = field(default_factory=Counter)

    def count(self, kind: ChangeKind, class_name: str) -> None:
        self.totals[kind.value] += 1
        self.per_class.setdefault(class_name, _empty_counts())[kind.value] += 1

    def add(self, other: BoxDiff) -> None:
        """Sum another diff into this one."""
        for kind, n in other.totals.items():
            self.totals[kind] += n
        for name, counts in other.per_class.items():
            mine = self.per_class.setdefault(name, _empty_counts())
            for kind, n in counts.items():
                mine[kind] += n
        self.swaps.update(other.swaps)

    @property
    def changed(self) -> bool:
        return any(self.totals.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: totals, per_class (classes with a change only) and reclassified pairs."""
        return {
            "totals": dict(self.totals),
            "per_class": {k: v for k, v in sorted(self.per_class.items()) if any(v.values())},
            "reclassified_pairs": dict(sorted(self.swaps.items())),
        }


def _iou_matrix(old: list[LabelBox], new: list[LabelBox]) -> np.ndarray:
    a = np.array([[b.x1, b.y1, b.x2, b.y2] for b in old], dtype=float).reshape(-1, 4)
    b = np.array([[b.x1, b.y1, b.x2, b.y2] for b in new], dtype=float).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _same(a: LabelBox, b: LabelBox) -> bool:
    return a.class_name == b.class_name and all(
        abs(p - q) <= TOLERANCE for p, q in zip((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2), strict=True)
    )


def diff_boxes(old: list[LabelBox], new: list[LabelBox]) -> BoxDiff:
    """Count what changed from `old` to `new` (one image's boxes): each box change counted once per kind."""
    from scipy.optimize import linear_sum_assignment

    diff = BoxDiff()
    rest_new = list(new)
    rest_old: list[LabelBox] = []
    for box in old:  # identical boxes pair first, so duplicates and untouched boxes never count as changes
        twin = next((i for i, cand in enumerate(rest_new) if _same(box, cand)), None)
        if twin is None:
            rest_old.append(box)
        else:
            rest_new.pop(twin)
    paired_old: set[int] = set()
    paired_new: set[int] = set()
    if rest_old and rest_new:
        iou = _iou_matrix(rest_old, rest_new)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if iou[r, c] < MATCH_IOU:
                continue
            paired_old.add(r)
            paired_new.add(c)
            before, after = rest_old[r], rest_new[c]
            if before.class_name != after.class_name:
                diff.count(ChangeKind.RECLASSIFIED, after.class_name)
                diff.swaps[f"{before.class_name} → {after.class_name}"] += 1
            if abs(before.width - after.width) > TOLERANCE or abs(before.height - after.height) > TOLERANCE:
                diff.count(ChangeKind.RESIZED, after.class_name)
            elif any(abs(p - q) > TOLERANCE for p, q in zip(before.center, after.center, strict=True)):
                diff.count(ChangeKind.MOVED, after.class_name)
    for i, box in enumerate(rest_old):
        if i not in paired_old:
            diff.count(ChangeKind.REMOVED, box.class_name)
    for i, box in enumerate(rest_new):
        if i not in paired_new:
            diff.count(ChangeKind.ADDED, box.class_name)
    return diff


@dataclass
class VersionDiff:
    """What changed between two versions: box changes summed and per image, images only on one side."""

    boxes: BoxDiff
    images: dict[str, dict[str, int]]
    images_added: list[str]
    images_removed: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.boxes.as_dict(),
            "images": self.images,
            "images_added": self.images_added,
            "images_removed": self.images_removed,
        }


def diff_folders(old_folder: Path, new_folder: Path) -> VersionDiff:
    """Box-level diff of two version folders; only label files whose bytes differ are parsed."""
    old_index, new_index = index_version(old_folder), index_version(new_folder)
    total = BoxDiff()
    per_image: dict[str, dict[str, int]] = {}
    for file in sorted(set(old_index.images) | set(new_index.images)):
        old_img, new_img = old_index.images.get(file), new_index.images.get(file)
        old_raw = file_bytes(old_img.label_path) if old_img else None
        new_raw = file_bytes(new_img.label_path) if new_img else None
        if old_img and new_img and old_raw == new_raw and old_index.names == new_index.names:
            continue
        old_boxes = read_label_file(old_img.label_path, old_index.names) if old_img else []
        new_boxes = read_label_file(new_img.label_path, new_index.names) if new_img else []
        image_diff = diff_boxes(old_boxes, new_boxes)
        if image_diff.changed:
            per_image[file] = {k: v for k, v in image_diff.totals.items() if v}
            total.add(image_diff)
    return VersionDiff(
        boxes=total,
        images=per_image,
        images_added=sorted(set(new_index.images) - set(old_index.images)),
        images_removed=sorted(set(old_index.images) - set(new_index.images)),
    )
