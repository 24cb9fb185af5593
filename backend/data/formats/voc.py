"""Pascal VOC reader (LabelImg, CVAT "PASCAL VOC 1.1", FiftyOne VOCDetectionDataset, our VOC export).

VOC boxes are 1-based pixel indices with inclusive ends: a box `xmin..xmax` covers the continuous span
`[xmin - 1, xmax]`, which is what is imported (so a whole-image box `1..W` spans the full width). Boxes marked
`difficult` or `truncated` are kept and counted in the report (each image carrying them gets an info note).
Class order: `labelmap.txt` (CVAT) when present, then any other object names in sorted order.
XML is parsed with defusedxml: entity expansion and external references are refused.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as safe_parse

from backend.core.errors import BadInputError
from backend.data.formats.model import (
    DetectedLayout,
    SourceBox,
    SourceDataset,
    SourceImage,
    check_class_name,
    check_file_name,
    split_of,
)
from backend.data.formats.yolo import looks_like_image
from backend.data.quality.checks import Check

MAX_XML_BYTES = 4 * 1024 * 1024


def _text(element: ET.Element | None, tag: str) -> str:
    found = element.find(tag) if element is not None else None
    return (found.text or "").strip() if found is not None and found.text else ""


def _flag(obj: ET.Element, tag: str) -> bool:
    return _text(obj, tag) in ("1", "true", "True")


def _parse(xml_path: Path) -> ET.Element:
    """The XML root of one annotation file, parsed safely."""
    try:
        if xml_path.stat().st_size > MAX_XML_BYTES:
            raise BadInputError(f"{xml_path.name} is larger than {MAX_XML_BYTES // 1024**2} MiB; not a VOC file.")
        root: ET.Element | None = safe_parse(xml_path).getroot()
    except DefusedXmlException as exc:
        raise BadInputError(f"{xml_path.name} uses XML entities or a DTD; refusing it.") from exc
    except ET.ParseError as exc:
        raise BadInputError(f"{xml_path.name} is not well-formed XML ({str(exc)[:120]}).") from exc
    except OSError as exc:
        raise BadInputError(f"Cannot read {xml_path.name}: {exc.strerror or exc}.") from exc
    if root is None:
        raise BadInputError(f"{xml_path.name} holds no XML element.")
    return root


def _labelmap(root: Path) -> list[str]:
    """Class names from CVAT's labelmap.txt (`name:color:parts:actions`), background left out."""
    path = next((p for p in (root / "labelmap.txt", root.parent / "labelmap.txt") if p.is_file()), None)
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"Cannot read labelmap.txt ({str(exc)[:100]}).") from exc
    names = []
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name = check_class_name(line.split(":", 1)[0], "labelmap.txt")
        if name != "background" and name not in names:
            names.append(name)
    return names


def _split_lists(root: Path) -> dict[str, str]:
    """{file stem: split} from ImageSets/Main/{train,val,test}.txt (trainval and default only when nothing else)."""
    main = root / "ImageSets" / "Main"
    if not main.is_dir():
        return {}
    out: dict[str, str] = {}
    for txt in sorted(main.glob("*.txt")):
        split = split_of(txt.stem)
        if split is None:
            continue  # trainval, default, per-class lists
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            stem = line.split()[0] if line.split() else ""
            if stem:
                out.setdefault(stem, split)
    return out


def _find_image(file_name: str, xml_path: Path, root: Path) -> Path | None:
    """The image an annotation names: JPEGImages/, next to the xml, or images/ (never outside those folders)."""
    name = Path(file_name.replace("\\", "/")).name
    for folder in (root / "JPEGImages", xml_path.parent, root / "images", root):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _box(obj: ET.Element, number: int) -> tuple[tuple[float, float, float, float] | None, str]:
    """(x1, y1, x2, y2) in continuous pixels from a 1-based inclusive bndbox, or None and why."""
    bndbox = obj.find("bndbox")
    if bndbox is None:
        return None, f"object {number} has no bndbox; dropped"
    try:
        xmin, ymin, xmax, ymax = (float(_text(bndbox, tag)) for tag in ("xmin", "ymin", "xmax", "ymax"))
    except ValueError:
        return None, f"object {number} has a bndbox with non-numbers; dropped"
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        return None, f"object {number} has a bndbox with non-finite numbers; dropped"
    return (xmin - 1.0, ymin - 1.0, xmax, ymax), ""


def read_voc(layout: DetectedLayout) -> SourceDataset:
    """Read every VOC annotation file of a layout (class order: labelmap.txt, then sorted names).

    Raises:
        BadInputError: An annotation file is not safe, well-formed XML.
    """
    root = layout.root
    splits = _split_lists(root)
    parsed: list[tuple[Path, ET.Element, str | None]] = []
    for folder, folder_split in layout.voc_dirs:
        for xml_path in sorted(folder.glob("*.xml")):
            element = _parse(xml_path)
            if element.tag == "annotation":
                parsed.append((xml_path, element, folder_split))
    names = _labelmap(root)
    found = sorted({_text(obj, "name") for _, el, _ in parsed for obj in el.findall("object")} - {""} - set(names))
    names += [check_class_name(n, "VOC object name") for n in found]
    if not names:
        raise BadInputError("The VOC annotations name no object classes.")
    class_of = {n: i for i, n in enumerate(names)}
    source = SourceDataset(
        layout=layout,
        names=names,
        images=[],
        class_map=[{"coco_id": None, "class_id": i, "name": n} for i, n in enumerate(names)],
    )
    flags: Counter[str] = Counter()
    for xml_path, element, folder_split in parsed:
        file_name = _text(element, "filename") or xml_path.stem
        if not looks_like_image(file_name):
            file_name = next(
                (p.name for p in (root / "JPEGImages").glob(f"{xml_path.stem}.*") if looks_like_image(p.name)),
                file_name,
            )
        check_file_name(file_name, xml_path.name)
        size = element.find("size")
        listed = None
        if _text(size, "width").isdigit() and _text(size, "height").isdigit():
            listed = (int(_text(size, "width")), int(_text(size, "height")))
        image = SourceImage(
            path=_find_image(file_name, xml_path, root),
            original=file_name,
            split=folder_split or splits.get(Path(file_name).stem) or splits.get(xml_path.stem),
            listed_size=listed if listed and all(listed) else None,
        )
        image_flags: Counter[str] = Counter()
        for number, obj in enumerate(element.findall("object"), start=1):
            source.counts["annotations"] += 1
            box, why = _box(obj, number)
            if box is None:
                image.notes.append((Check.DEGENERATE_BBOX, why))
                source.counts["annotations_dropped"] += 1
                continue
            ref = f"object {number}"
            label = _text(obj, "name")
            if label not in class_of:
                image.notes.append((Check.UNKNOWN_CLASS, f"{ref} has no class name; dropped"))
                source.counts["annotations_dropped"] += 1
                continue
            for tag in ("difficult", "truncated"):
                if _flag(obj, tag):
                    image_flags[tag] += 1
            image.boxes.append(SourceBox(class_of[label], *box, normalized=False, ref=ref))
        for tag, count in image_flags.items():
            flags[tag] += count
            check = Check.VOC_DIFFICULT if tag == "difficult" else Check.VOC_TRUNCATED
            image.notes.append((check, f"{count} box(es) marked {tag} in the VOC file; kept"))
        source.images.append(image)
    source.counts["difficult_boxes"] = flags["difficult"]
    source.counts["truncated_boxes"] = flags["truncated"]
    source.facts["voc_coordinates"] = "1-based inclusive pixel indices: imported as [xmin - 1, xmax]"
    return source
