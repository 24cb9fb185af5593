"""Boxes of one image in a dataset version: read from and written to YOLO label files, in pixels or normalised.

A version folder is the prepared YOLO layout (`data.yaml`, `images/<split>/`, `labels/<split>/`); an image is named
by its file name, which prepare keeps unique across splits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backend.core.errors import BadInputError
from backend.data.quality import read_yolo_dataset

if TYPE_CHECKING:
    from backend.data.quality import DatasetImage


@dataclass(frozen=True)
class LabelBox:
    """One labelled box, corners normalised to 0..1 of the image (x1, y1, x2, y2)."""

    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2

    def to_pixels(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Corners in pixels of a `width`×`height` image."""
        return self.x1 * width, self.y1 * height, self.x2 * width, self.y2 * height

    @classmethod
    def from_pixels(cls, class_name: str, box: tuple[float, float, float, float], width: int, height: int) -> LabelBox:
        """A box from pixel corners of a `width`×`height` image."""
        x1, y1, x2, y2 = box
        return cls(class_name, x1 / width, y1 / height, x2 / width, y2 / height)


@dataclass(frozen=True)
class VersionIndex:
    """A version folder's class names and images by file name."""

    root: Path
    names: list[str]
    images: dict[str, DatasetImage]

    def image(self, file: str) -> DatasetImage:
        """The image called `file`, or BadInputError naming the version folder."""
        try:
            return self.images[file]
        except KeyError:
            raise BadInputError(f"{file} is not an image of this dataset version.") from None


def index_version(folder: Path) -> VersionIndex:
    """Read a version folder's class names and images (nothing is decoded)."""
    folder = Path(folder).resolve()
    dataset = read_yolo_dataset(folder)
    images: dict[str, DatasetImage] = {}
    for img in dataset.images:
        images.setdefault(img.name, img)
    label_dirs = {img.label_path.parent for img in dataset.images}
    if not all(d.resolve().is_relative_to(folder) for d in label_dirs):
        # Edits write label files; one outside the folder would belong to another version.
        raise BadInputError(f"{folder.name}/data.yaml points outside its own folder; it cannot be edited here.")
    return VersionIndex(root=dataset.root, names=list(dataset.names), images=images)


def read_label_file(label_path: Path, names: list[str]) -> list[LabelBox]:
    """The boxes of a YOLO label file (missing file: no boxes; malformed lines are skipped, validation reports them)."""
    if not label_path.exists():
        return []
    boxes: list[LabelBox] = []
    for line in label_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        parsed = _parse_line(line)
        if parsed is None:
            continue
        cid, cx, cy, w, h = parsed
        name = names[cid] if 0 <= cid < len(names) else f"class {cid}"
        boxes.append(LabelBox(name, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return boxes


def _parse_line(line: str) -> tuple[int, float, float, float, float] | None:
    """(class id, cx, cy, w, h) of a label line (a polygon line becomes its bounding box); None when malformed."""
    tokens = line.split()
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        return None
    if len(values) < 5 or not all(math.isfinite(v) for v in values) or not values[0].is_integer() or values[0] < 0:
        return None
    if len(values) == 5:
        return int(values[0]), values[1], values[2], values[3], values[4]
    xs, ys = values[1::2], values[2::2]
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    return int(values[0]), (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)


def label_text(boxes: list[LabelBox], names: list[str]) -> str:
    """YOLO label file text for `boxes` (class ids from `names`, six decimals)."""
    ids = {name: i for i, name in enumerate(names)}
    lines = []
    for box in boxes:
        cx, cy = box.center
        lines.append(f"{ids[box.class_name]} {cx:.6f} {cy:.6f} {box.width:.6f} {box.height:.6f}")
    return "".join(line + "\n" for line in lines)


def write_label_file(label_path: Path, boxes: list[LabelBox], names: list[str]) -> None:
    """Write a label file as a new file: an existing one is unlinked first, never written through.

    Version files are read-only hard links into DVC's cache; writing through one would change the parent version.
    """
    label_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.unlink(missing_ok=True)
    label_path.write_text(label_text(boxes, names), encoding="utf-8")


def file_bytes(path: Path) -> bytes | None:
    """A file's bytes, None when it does not exist (a missing label file means no boxes)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
