"""Which dataset layout a folder holds, named the way the tool that wrote it would recognise it.

Looks up to three folders deep (archives often wrap everything in one top folder); the shallowest marker wins,
and at the same depth: data.yaml / dataset.yaml, obj.names, classes.txt, COCO json(s), VOC xml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from backend.core.errors import BadInputError
from backend.data.archive import walk_files
from backend.data.formats.model import CocoPart, DetectedLayout, LayoutKind, split_of

_SKIP = {"__MACOSX", ".git", "labels", "backup"}
_MAX_DEPTH = 3
# Reading this much of a json from each end is enough to see COCO's top-level keys in any tool's key order.
_PEEK_BYTES = 4 * 1024 * 1024
_COCO_KEYS = (b'"images"', b'"categories"')
_YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")

NOTHING_FOUND = (
    "No dataset found. Recognised layouts: COCO (a .json with images, annotations and categories, or one per "
    "split as Roboflow and CVAT write them), YOLO with data.yaml, Label Studio YOLO (classes.txt, images/, "
    "labels/), CVAT YOLO 1.1 (obj.names, obj.data, train.txt), and Pascal VOC (Annotations/*.xml)."
)


def _walk(root: Path) -> Iterator[tuple[int, Path]]:
    """(depth, file) under root, shallow first, sorted; hidden and macOS metadata skipped."""
    return walk_files(root, _MAX_DEPTH, _SKIP)


def looks_like_coco(path: Path) -> bool:
    """Whether a .json has COCO's `images` and `categories` keys (its ends are read, not the whole file)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_PEEK_BYTES)
            if size > 2 * _PEEK_BYTES:
                handle.seek(size - _PEEK_BYTES)
                head += handle.read(_PEEK_BYTES)
            elif size > _PEEK_BYTES:
                head += handle.read()
    except OSError:
        return False
    return head.lstrip()[:1] == b"{" and all(key in head for key in _COCO_KEYS)


def _looks_like_voc(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError:
        return False
    return re.search(rb"<annotation[\s>]", head) is not None  # VOC's root; not CVAT's <annotations>


def split_from_name(path: Path) -> str | None:
    """The split a COCO file stands for: from its name (instances_train2017 → train) or its folder (valid → val)."""
    for token in re.split(r"[_\-. ]+", path.stem.lower()):
        split = split_of(token) or split_of(token.rstrip("0123456789"))
        if split:
            return split
    return split_of(path.parent.name)


def _coco_layout(jsons: list[Path], root: Path) -> DetectedLayout:
    parts = tuple(CocoPart(p, None, split_from_name(p)) for p in jsons)
    names = {p.name for p in jsons}
    where = ", ".join(str(p.relative_to(root)) for p in jsons)
    splits = ", ".join(s for s in ("train", "val", "test") if any(part.split == s for part in parts))
    if "_annotations.coco.json" in names:
        tool = "Roboflow COCO export"
    elif "labels.json" in names:
        tool = "FiftyOne COCO export"
    elif any(n.startswith("instances_") for n in names):
        tool = "COCO export (CVAT COCO 1.0 / COCO 2017 style)"
    else:
        tool = "COCO dataset"
    kind = LayoutKind.COCO_SPLITS if len(jsons) > 1 else LayoutKind.COCO
    detail = f"{where}" + (f"; splits: {splits}" if splits else "; no split given")
    return DetectedLayout(kind, f"{tool} ({detail})", root, coco_parts=parts)


def yolo_layout(data_yaml: Path) -> DetectedLayout:
    """The layout of a data.yaml / dataset.yaml, named after the tool that wrote it (its folder is the root)."""
    folder = data_yaml.parent
    if data_yaml.name.startswith("dataset."):
        tool = "FiftyOne YOLOv5 export"
    elif any(folder.glob("README.roboflow*")):
        tool = "Roboflow YOLO export"
    else:
        tool = "YOLO dataset (ultralytics layout)"
    return DetectedLayout(LayoutKind.YOLO, f"{tool} ({data_yaml.name})", folder, data_yaml=data_yaml)


def _darknet_layout(names_file: Path) -> DetectedLayout:
    folder = names_file.parent
    if (folder / "obj.data").is_file():
        tool = "CVAT YOLO 1.1 export (obj.names, obj.data, image lists)"
    else:
        tool = "Darknet YOLO export (FiftyOne YOLOv4: obj.names, images.txt, data/)"
    return DetectedLayout(LayoutKind.YOLO_DARKNET, tool, folder, names_file=names_file)


def _voc_layout(xml: Path, root: Path) -> DetectedLayout:
    folder = xml.parent
    if folder.name == "Annotations":
        base = folder.parent
        tool = "CVAT Pascal VOC export" if (base / "labelmap.txt").is_file() else "Pascal VOC export"
        return DetectedLayout(
            LayoutKind.VOC, f"{tool} (Annotations/, JPEGImages/, ImageSets/Main)", base, voc_dirs=((folder, None),)
        )
    split = split_of(folder.name)
    if split is not None:  # Roboflow VOC: train/, valid/, test/ each with images and xml side by side
        base = folder.parent
        dirs = tuple(
            (d, split_of(d.name))
            for d in sorted(base.iterdir())
            if d.is_dir() and split_of(d.name) and any(d.glob("*.xml"))
        )
        return DetectedLayout(
            LayoutKind.VOC, "Pascal VOC export with split folders (Roboflow VOC)", base, voc_dirs=dirs
        )
    return DetectedLayout(
        LayoutKind.VOC,
        f"Pascal VOC files beside the images (LabelImg) in {folder.relative_to(root) or '.'}",
        folder,
        voc_dirs=((folder, None),),
    )


def detect_layout(root: Path) -> DetectedLayout:
    """Tell which export layout a folder holds.

    Args:
        root: The folder (e.g. where an archive was extracted).

    Returns:
        The DetectedLayout; its `description` is what the pre-flight report shows.

    Raises:
        BadInputError: Nothing recognisable is there (the message lists what is recognised).
    """
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(f"{root.name} is not a folder.")
    best: dict[str, tuple[int, Path]] = {}
    coco: list[tuple[int, Path]] = []
    for depth, path in _walk(root):
        name = path.name.lower()
        key = {
            **dict.fromkeys(_YAML_NAMES, "yaml"),
            "obj.names": "darknet",
            "classes.txt": "classes",
        }.get(name)
        if name.endswith(".xml") and "voc" not in best and _looks_like_voc(path):
            key = "voc"
        if key == "classes" and not ((path.parent / "images").is_dir() and (path.parent / "labels").is_dir()):
            key = None  # a classes.txt without Label Studio's images/ and labels/ is something else
        if key is not None and key not in best:
            best[key] = (depth, path)
        if name.endswith(".json") and looks_like_coco(path):
            coco.append((depth, path))
    if coco:
        shallowest = min(d for d, _ in coco)
        best["coco"] = (shallowest, coco[0][1])
    if not best:
        raise BadInputError(NOTHING_FOUND)
    order = ["yaml", "darknet", "classes", "coco", "voc"]
    kind = min(best, key=lambda k: (best[k][0], order.index(k)))
    path = best[kind][1]
    if kind == "yaml":
        return yolo_layout(path)
    if kind == "darknet":
        return _darknet_layout(path)
    if kind == "classes":
        return DetectedLayout(
            LayoutKind.YOLO_CLASSES_TXT,
            "Label Studio YOLO export (classes.txt, images/, labels/)",
            path.parent,
            names_file=path,
        )
    if kind == "voc":
        return _voc_layout(path, root)
    # COCO: every COCO json within one level of the shallowest one (split folders sit side by side).
    jsons = [p for d, p in coco if d <= best["coco"][0] + 1]
    return _coco_layout(jsons, root)


def coco_file_layout(json_path: Path, images_dir: Path | None) -> DetectedLayout:
    """The layout for one COCO json given directly (with the images folder the user named, if any).

    The report names the json as its source; with an images folder given, the output only has to stay clear of the
    json and that folder (it may sit beside them, e.g. `data/prepared` next to `data/raw`).
    """
    part = CocoPart(json_path, images_dir, None)
    where = json_path.name + (f" with images in {images_dir.name}/" if images_dir else "")
    return DetectedLayout(
        LayoutKind.COCO,
        f"COCO dataset ({where})",
        json_path.parent,
        coco_parts=(part,),
        origin=json_path,
        read_paths=(json_path, images_dir) if images_dir is not None else (),
    )


def find_data_yaml(source: Path) -> Path:
    """The data.yaml of a folder said to hold a YOLO / Roboflow export (or `source` itself when it is a file).

    The shallowest data.yaml / dataset.yaml within three folders wins, whatever other files lie beside it.

    Raises:
        BadInputError: There is none.
    """
    source = Path(source)
    if source.is_file():
        return source
    found = next((path for _, path in _walk(source) if path.name.lower() in _YAML_NAMES), None)
    if found is None:
        raise BadInputError(
            f"{source} is not a YOLO / Roboflow export: expected a data.yaml listing the train/val image folders "
            "and names."
        )
    return found
