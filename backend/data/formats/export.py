"""Export a prepared dataset version as COCO, YOLO or Pascal VOC, in one zip other tools open directly.

Layouts written (each keeps the version's splits, and each is read back by `formats.read`):

- COCO: `annotations/instances_<split>.json` (category ids 1..n in class order, `bbox` [x, y, w, h] in pixels)
  and the images in `<split>/` (COCO 2017 style).
- YOLO: `data.yaml` (names, nc, relative train / val / test), `images/<split>/`, `labels/<split>/`
  (the ultralytics layout; the label files are the version's own, byte for byte).
- VOC: `Annotations/<stem>.xml` (1-based pixel boxes), `JPEGImages/`, `ImageSets/Main/<split>.txt`, and
  CVAT's `labelmap.txt` so the class order survives the trip (left out when a class name holds a ':', which that
  file cannot express; the classes then come back in name order).

The zip is written beside its destination and moved into place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET  # writing XML only; nothing is parsed here
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.data.formats.model import SPLITS, ExportFormat
from backend.data.quality.reader import DatasetImage, parse_yolo_line, read_yolo_dataset
from backend.imaging.drawing import image_size


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    format: ExportFormat
    images: int
    boxes: int
    classes: int

    def summary_line(self) -> str:
        """One human line."""
        return (
            f"Exported {self.images} images with {self.boxes} boxes in {self.classes} classes as "
            f"{self.format.value.upper()} -> {self.path}"
        )


@dataclass(frozen=True)
class _Entry:
    image: DatasetImage
    width: int
    height: int
    boxes: list[tuple[int, float, float, float, float]]  # class, x1, y1, x2, y2 in pixels


def _read_entries(images: list[DatasetImage], nc: int, progress: ProgressFn) -> list[_Entry]:
    entries = []
    for index, image in enumerate(images):
        width, height = image_size(image.path)
        boxes = []
        if image.label_path.is_file():
            for line in image.label_path.read_text(encoding="utf-8").splitlines():
                parsed = parse_yolo_line(line) if line.strip() else "empty"
                if isinstance(parsed, str) or parsed[0] >= nc:
                    continue  # a prepared version holds only valid lines; anything else is not a box
                cls, cx, cy, w, h, _ = parsed
                x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
                boxes.append((cls, x1, y1, x1 + w * width, y1 + h * height))
        entries.append(_Entry(image, width, height, boxes))
        if index % 100 == 0:
            progress(0.5 * index / max(1, len(images)), f"Reading {image.name}")
    return entries


def _coco_files(entries: list[_Entry], names: list[str]) -> dict[str, bytes]:
    categories = [{"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(names)]
    files: dict[str, bytes] = {}
    for split in SPLITS:
        chosen = [e for e in entries if e.image.split == split]
        if not chosen:
            continue
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        for image_id, entry in enumerate(chosen, start=1):
            images.append({"id": image_id, "file_name": entry.image.name, "width": entry.width, "height": entry.height})
            for cls, x1, y1, x2, y2 in entry.boxes:
                w, h = x2 - x1, y2 - y1
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": cls + 1,
                        "bbox": [round(x1, 3), round(y1, 3), round(w, 3), round(h, 3)],
                        "area": round(w * h, 3),
                        "iscrowd": 0,
                        "segmentation": [],
                    }
                )
        data = {
            "info": {"description": "Exported by PlateOps"},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        files[f"annotations/instances_{split}.json"] = json.dumps(data).encode("utf-8")
    return files


def _voc_xml(entry: _Entry, names: list[str]) -> bytes:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = entry.image.name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", entry.width), ("height", entry.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for cls, x1, y1, x2, y2 in entry.boxes:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = names[cls]
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        # 1-based inclusive pixel indices: the continuous span [x1, x2] covers pixels x1 + 1 .. x2.
        xmin, ymin = round(x1) + 1, round(y1) + 1
        xmax, ymax = max(xmin, round(x2)), max(ymin, round(y2))
        for tag, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _voc_files(entries: list[_Entry], names: list[str]) -> dict[str, bytes]:
    files = {f"Annotations/{Path(e.image.name).stem}.xml": _voc_xml(e, names) for e in entries}
    for split in SPLITS:
        stems = [Path(e.image.name).stem for e in entries if e.image.split == split]
        if stems:
            files[f"ImageSets/Main/{split}.txt"] = "".join(f"{s}\n" for s in stems).encode("utf-8")
    if not any(":" in n or "\n" in n for n in names):  # CVAT's labelmap cannot hold such names
        labelmap = "# label:color_rgb:parts:actions\n" + "".join(f"{n}:::\n" for n in names)
        files["labelmap.txt"] = labelmap.encode("utf-8")
    return files


def _yolo_files(entries: list[_Entry], names: list[str]) -> dict[str, bytes]:
    splits = [s for s in SPLITS if any(e.image.split == s for e in entries)]
    data: dict[str, Any] = {s: f"images/{s}" for s in splits}
    data |= {"nc": len(names), "names": dict(enumerate(names))}
    files = {"data.yaml": yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")}
    for entry in entries:
        stem = Path(entry.image.name).stem
        label = entry.image.label_path
        files[f"labels/{entry.image.split}/{stem}.txt"] = label.read_bytes() if label.is_file() else b""
    return files


def _image_member(fmt: ExportFormat, image: DatasetImage) -> str:
    if fmt == ExportFormat.COCO:
        return f"{image.split}/{image.name}"
    if fmt == ExportFormat.YOLO:
        return f"images/{image.split}/{image.name}"
    return f"JPEGImages/{image.name}"


def export_dataset_dir(
    dataset_dir: Path, fmt: ExportFormat | str, out_zip: Path, *, progress: ProgressFn = null_progress
) -> ExportResult:
    """Write a prepared dataset folder as a COCO, YOLO or VOC zip.

    Args:
        dataset_dir: A prepared version (data.yaml, images/<split>/, labels/<split>/).
        fmt: "coco", "yolo" or "voc".
        out_zip: The zip to write (replaced if it exists).
        progress: Progress callback.

    Returns:
        What was written.

    Raises:
        BadInputError: Unknown format, not a prepared dataset, an unreadable image, or a destination that is not
            a .zip path.
    """
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        raise BadInputError(f"Unknown export format {fmt!r}: use coco, yolo or voc.") from None
    out_zip = Path(out_zip)
    if out_zip.suffix.lower() != ".zip":
        raise BadInputError(f"The export goes into a .zip file; {out_zip.name} is not one.")
    dataset = read_yolo_dataset(Path(dataset_dir))
    images = [i for i in dataset.images if i.split in SPLITS]
    entries = _read_entries(images, len(dataset.names), progress)
    writer = {ExportFormat.COCO: _coco_files, ExportFormat.YOLO: _yolo_files, ExportFormat.VOC: _voc_files}[fmt]
    files = writer(entries, dataset.names)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    partial = out_zip.with_name(f".{out_zip.name}.partial-{os.getpid()}")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
            for index, entry in enumerate(entries):
                # Images are already compressed: stored as they are, byte for byte.
                archive.write(entry.image.path, _image_member(fmt, entry.image), compress_type=zipfile.ZIP_STORED)
                if index % 100 == 0:
                    progress(0.5 + 0.5 * index / max(1, len(entries)), f"Packing {entry.image.name}")
        partial.replace(out_zip)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    progress(1.0, f"Exported {len(entries)} images")
    return ExportResult(
        path=out_zip,
        format=fmt,
        images=len(entries),
        boxes=sum(len(e.boxes) for e in entries),
        classes=len(dataset.names),
    )
