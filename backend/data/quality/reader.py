"""Reading a YOLO dataset folder: its data.yaml, the images of each split and their label files.

Listing is plain `os.scandir` with paths kept as strings, so reading a dataset of tens of thousands of images
costs little more than the directory walk. `parse_yolo_line` is the one parser of YOLO label lines (prepare and
the label checks share it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff", ".mpo"})


class DatasetImage:
    """One image of a YOLO dataset.

    Paths are kept as strings and made `Path` objects on first use, so listing a large dataset stays cheap.

    Attributes:
        path: The image file.
        split: "train", "val" or "test".
        label_path: Its YOLO label file (it may not exist).
    """

    __slots__ = ("_label", "_label_obj", "_path", "_path_obj", "split")

    def __init__(self, path: Path | str, split: str, label_path: Path | str) -> None:
        self._path = os.fspath(path)
        self._path_obj = path if isinstance(path, Path) else None
        self.split = split
        self._label = os.fspath(label_path)
        self._label_obj = label_path if isinstance(label_path, Path) else None

    @property
    def path(self) -> Path:
        """The image file."""
        if self._path_obj is None:
            self._path_obj = Path(self._path)
        return self._path_obj

    @property
    def label_path(self) -> Path:
        """The YOLO label file."""
        if self._label_obj is None:
            self._label_obj = Path(self._label)
        return self._label_obj

    @property
    def path_str(self) -> str:
        """The image file's path as a string (no `Path` object made)."""
        return self._path

    @property
    def label_str(self) -> str:
        """The label file's path as a string (no `Path` object made)."""
        return self._label

    @property
    def name(self) -> str:
        """The image's file name."""
        return self._path.rpartition("/")[2]

    def __repr__(self) -> str:
        return f"DatasetImage(path={self._path!r}, split={self.split!r}, label_path={self._label!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DatasetImage):
            return NotImplemented
        return (self._path, self.split, self._label) == (other._path, other.split, other._label)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces


@dataclass
class YoloDataset:
    """A YOLO dataset on disk: class names and images per split."""

    root: Path
    names: list[str]
    images: list[DatasetImage]


def label_path_for(image: Path) -> Path:
    """The YOLO label file for an image: the last `images` folder in its path replaced by `labels`, `.txt`."""
    parts = list(image.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def parse_names(raw: Any) -> list[str]:
    """Class names from a data.yaml `names` entry (list or {id: name} dict with ids 0..n-1)."""
    if isinstance(raw, list):
        return [str(n) for n in raw]
    if isinstance(raw, dict):
        try:
            by_id = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError) as exc:
            raise BadInputError("data.yaml 'names' must map class ids (0, 1, ...) to names.") from exc
        if sorted(by_id) != list(range(len(by_id))):
            raise BadInputError("data.yaml 'names' must use the class ids 0..n-1 without gaps.")
        return [by_id[i] for i in range(len(by_id))]
    raise BadInputError("data.yaml has no usable 'names' (a list or an {id: name} mapping).")


MAX_YAML_ALIASES = 16  # a data.yaml needs none; a few are harmless


def refuse_alias_bomb(text: str, name: str) -> None:
    """Raise BadInputError when YAML text holds more aliases than a data.yaml ever needs: a "billion laughs" bomb
    of a few hundred bytes loads cheaply but expands to gigabytes once anything walks it (`str(names)`).

    Raises:
        BadInputError: Too many aliases.
        yaml.YAMLError: The text is not YAML.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    aliases = sum(1 for event in yaml.parse(text, Loader=loader) if isinstance(event, yaml.AliasEvent))
    if aliases > MAX_YAML_ALIASES:
        raise BadInputError(f"{name} uses {aliases} YAML aliases; refusing it (a data.yaml needs none).")


def load_data_yaml(path: Path) -> dict[str, Any]:
    """Parse a data.yaml into a dict (BadInputError when it is missing, an alias bomb or not a mapping)."""
    import yaml  # local: only needed here and in prepare

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is 20x faster
        text = path.read_text(encoding="utf-8")
        refuse_alias_bomb(text, path.name)
        data = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except OSError as exc:
        raise BadInputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path.name} is not valid YAML: {exc}.") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"{path.name} must be a YAML mapping with 'names' and 'train'/'val' entries.")
    return data


def resolve_split_dirs(data: dict[str, Any], yaml_path: Path) -> dict[str, list[Path]]:
    """Image folders per split ("train", "val", "test") from a data.yaml, resolved like ultralytics does."""
    base_raw = data.get("path")
    base = yaml_path.parent
    if base_raw:
        candidate = Path(str(base_raw))
        candidate = candidate if candidate.is_absolute() else yaml_path.parent / candidate
        # A moved dataset keeps a stale absolute `path`: fall back to the yaml's folder.
        if candidate.is_dir():
            base = candidate
    splits: dict[str, list[Path]] = {}
    for key, split in (("train", "train"), ("val", "val"), ("valid", "val"), ("test", "test")):
        raw = data.get(key)
        if not raw:
            continue
        entries = raw if isinstance(raw, list) else [raw]
        for entry in entries:
            rel = str(entry)
            folder = Path(rel) if Path(rel).is_absolute() else base / rel
            if not folder.exists() and rel.startswith("../"):
                folder = base / rel[3:]  # Roboflow writes ../train/images next to the yaml
            if not folder.exists():
                folder = (yaml_path.parent / rel).resolve() if not Path(rel).is_absolute() else folder
            splits.setdefault(split, [])
            if folder not in splits[split]:
                splits[split].append(folder)
    return splits


def file_suffix(name: str) -> str:
    """A file name's extension, as `PurePath.suffix` has it ("" for ".hidden" or "name.")."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _walk_images(folder: str, prefix: tuple[str, ...], out: list[tuple[tuple[str, ...], str]]) -> None:
    """Collect (relative parts, path) of image files under `folder`, like `rglob("*")` (no symlinked folders)."""
    try:
        with os.scandir(folder) as entries:
            listed = list(entries)
    except PermissionError:
        return
    for entry in listed:
        name = entry.name
        try:
            is_dir = entry.is_dir() and not entry.is_symlink()
        except OSError:
            is_dir = False
        if is_dir:
            _walk_images(entry.path, (*prefix, name), out)
        if file_suffix(name).lower() in IMAGE_SUFFIXES and _is_file(entry):
            out.append(((*prefix, name), entry.path))


def _image_files(folder: Path) -> list[str]:
    """`list_images` as strings (folder path joined with the relative path, in the same order)."""
    if not folder.is_dir():
        return []
    found: list[tuple[tuple[str, ...], str]] = []
    top = str(folder)
    _walk_images(top, (), found)
    found.sort(key=lambda item: item[0])  # Path order: by parts, not by the joined string
    if top == ".":  # pathlib writes the children of "." without "./"
        return [path[2:] for _, path in found]
    return [path for _, path in found]


def list_images(folder: Path) -> list[Path]:
    """Image files (by extension) under a folder, sorted."""
    return [Path(p) for p in _image_files(folder)]


def _label_paths(paths: list[str]) -> list[str]:
    """`label_path_for` over many image paths, as strings (the folder mapping is worked out once per folder)."""
    label_dirs: dict[str, str] = {}
    out = []
    for path in paths:
        folder, sep, name = path.rpartition("/")
        if sep and not folder:
            folder = "/"
        label_dir = label_dirs.get(folder)
        if label_dir is None:
            label_dir = label_dirs[folder] = str(
                label_path_for(Path(folder, "x.jpg") if folder else Path("x.jpg")).parent
            )
        suffix = file_suffix(name)
        stem = f"{name[: -len(suffix)] if suffix else name}.txt"
        out.append(stem if label_dir == "." else os.path.join(label_dir, stem))
    return out


def read_yolo_dataset(dataset_dir: Path) -> YoloDataset:
    """Read a prepared YOLO dataset folder (its data.yaml, images and label paths).

    Raises:
        BadInputError: No data.yaml, no names, or no image folders.
    """
    dataset_dir = Path(dataset_dir)
    yaml_path = dataset_dir if dataset_dir.is_file() else dataset_dir / "data.yaml"
    if not yaml_path.is_file():
        raise BadInputError(f"{dataset_dir} is not a prepared dataset: it has no data.yaml.")
    data = load_data_yaml(yaml_path)
    names = parse_names(data.get("names"))
    splits = resolve_split_dirs(data, yaml_path)
    if not splits:
        raise BadInputError(f"{yaml_path} names no train/val image folders.")
    images: list[DatasetImage] = []
    seen: set[str] = set()
    for split in ("train", "val", "test"):
        for folder in splits.get(split, []):
            if folder.is_file() and folder.suffix == ".txt":
                base = yaml_path.parent
                listed = [base / line.strip() for line in folder.read_text().splitlines() if line.strip()]
                paths = [str(p) for p in listed]
                labels = [str(label_path_for(p)) for p in listed]
            else:
                paths = _image_files(folder)
                labels = _label_paths(paths)
            for path, label in zip(paths, labels, strict=True):
                if path in seen:
                    continue
                seen.add(path)
                images.append(DatasetImage(path, split, label))
    return YoloDataset(yaml_path.parent, names, images)


def parse_yolo_line(line: str) -> tuple[int, float, float, float, float, bool] | str:
    """Parse one YOLO label line into (class, cx, cy, w, h, from_polygon), or return why it is malformed.

    Polygon lines (`class x1 y1 x2 y2 ...`, segmentation format) become their bounding box.
    """
    tokens = line.split()
    if len(tokens) < 5:
        return f"expected 5 values, found {len(tokens)}"
    try:
        cls_value = float(tokens[0])
        values = [float(t) for t in tokens[1:]]
    except ValueError:
        return "has a value that is not a number"
    if not cls_value.is_integer() or cls_value < 0:
        return f"class id {tokens[0]!r} is not a non-negative whole number"
    if not all(math.isfinite(v) for v in values):
        return "has a value that is not a finite number"
    if len(tokens) == 5:
        cx, cy, w, h = values
        return int(cls_value), cx, cy, w, h, False
    if len(values) % 2 or len(values) < 6:
        return f"expected 5 values (or a polygon of 3+ points), found {len(tokens)}"
    xs, ys = values[0::2], values[1::2]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    return int(cls_value), (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, True


def read_text_fast(path: str) -> str | None:
    """A small text file's UTF-8 text with plain `os` calls, or None when it cannot be read or decoded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 1 << 16)
        if len(data) == 1 << 16:
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
