"""The shapes every reader produces, and the small guards they share against hostile input."""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError
from backend.data.quality.checks import Check

# Longest file name (in characters) an import accepts; an image with a longer one is left out (the import goes on).
MAX_NAME_CHARS = 255
# Longest class name (in characters) an import accepts.
MAX_CLASS_NAME_CHARS = 200
# Punctuation a class name may use besides letters, digits and spaces. A class name goes into HTML (the drift
# report, the console), Markdown, matplotlib's titles (where `$` starts mathtext), file and folder names and URLs,
# so everything that means something in one of them (`< > & " / \\ $ * [ ] # : ` and control characters) is out.
CLASS_NAME_PUNCTUATION = frozenset("_-.'()+,")
# Most characters of a user value quoted back in a message.
_QUOTE_CHARS = 80
SPLITS = ("train", "val", "test")
# Folder or list names tools use for each split ("valid" is Roboflow's, "Validation" CVAT's).
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


class LayoutKind(StrEnum):
    """The dataset layouts the importer recognises."""

    COCO = "coco"  # one COCO json (CVAT "COCO 1.0", FiftyOne COCODetectionDataset, our own)
    COCO_SPLITS = "coco_splits"  # one COCO json per split (Roboflow COCO, COCO 2017 style, our COCO export)
    YOLO = "yolo"  # data.yaml / dataset.yaml (ultralytics, Roboflow YOLO, FiftyOne YOLOv5, our YOLO export)
    YOLO_CLASSES_TXT = "yolo_classes_txt"  # classes.txt + images/ + labels/ (Label Studio YOLO)
    YOLO_DARKNET = "yolo_darknet"  # obj.names + obj.data + train.txt (CVAT YOLO 1.1, FiftyOne YOLOv4)
    VOC = "voc"  # Annotations/*.xml (+ JPEGImages/, ImageSets/Main) from LabelImg, CVAT, our VOC export


class ExportFormat(StrEnum):
    """The formats a version can be exported as."""

    COCO = "coco"
    YOLO = "yolo"
    VOC = "voc"


@dataclass(frozen=True)
class CocoPart:
    """One COCO annotations file, the folder its images are in, and the split it holds (None: not given)."""

    json_path: Path
    images_dir: Path | None  # None: found from the file names when read
    split: str | None


@dataclass(frozen=True)
class DetectedLayout:
    """What a folder holds, as the pre-flight report names it.

    Attributes:
        kind: The layout.
        description: Plain-language name with the files it was recognised by (e.g. "Roboflow COCO export ...").
        root: The folder the layout was found in.
        coco_parts: COCO files with their images folder and split (COCO kinds).
        data_yaml: The data.yaml / dataset.yaml (YOLO).
        names_file: classes.txt or obj.names (Label Studio, CVAT YOLO).
        voc_dirs: Folders of VOC xml files with the split each stands for (VOC).
        origin: The file the report names as the source when one was named (a COCO json given directly, the
            data.yaml of `prepare_yolo`); None: the root.
        read_paths: The files and folders the prepared output must stay clear of, when they are narrower than the
            root (a COCO json given directly and its images folder, which may sit beside the output); empty: the
            root.
    """

    kind: LayoutKind
    description: str
    root: Path
    coco_parts: tuple[CocoPart, ...] = ()
    data_yaml: Path | None = None
    names_file: Path | None = None
    voc_dirs: tuple[tuple[Path, str | None], ...] = ()
    origin: Path | None = None
    read_paths: tuple[Path, ...] = ()


@dataclass
class SourceBox:
    """One box as the source gives it: pixels (x1, y1, x2, y2) or, when `normalized`, fractions of the image.

    `ref` says where it came from ("annotation 17", "label line 3", "object 2") for messages.
    """

    cls: int
    x1: float
    y1: float
    x2: float
    y2: float
    normalized: bool
    ref: str


@dataclass
class SourceImage:
    """One image as the source lists it.

    Attributes:
        path: The file (None when the listed file is missing: reported as missing_image).
        original: The name as the source lists it (kept, tool-added suffixes included).
        split: "train", "val", "test", or None when the source gives none.
        boxes: Its boxes.
        listed_size: (width, height) the annotations state, checked against the real file.
        notes: (check, message) findings about this image.
    """

    path: Path | None
    original: str
    split: str | None
    boxes: list[SourceBox] = field(default_factory=list)
    listed_size: tuple[int, int] | None = None
    notes: list[tuple[Check, str]] = field(default_factory=list)


@dataclass
class SourceDataset:
    """A dataset read from another tool's layout, before it is written as a prepared version.

    Attributes:
        layout: What was detected.
        names: Class names; class ids are positions in this list.
        images: Every image the source lists, kept or not.
        class_map: One {"coco_id" (None outside COCO), "class_id", "name"} per kept class.
        dropped_categories: Categories left out, each {"source_id", "name", "reason"}.
        notes: Dataset-level findings: (file or "dataset", check, message).
        counts: Extra counts for the report (annotations, annotations_dropped, difficult_boxes, ...).
        facts: Extra report entries (e.g. split lists that were read).
    """

    layout: DetectedLayout
    names: list[str]
    images: list[SourceImage]
    class_map: list[dict[str, Any]] = field(default_factory=list)
    dropped_categories: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[str, Check, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    facts: dict[str, Any] = field(default_factory=dict)


def quote(value: Any) -> str:
    """A user value for a message: repr, cut to a few dozen characters."""
    if isinstance(value, list | tuple | dict | set):  # never repr a container: it may be an alias bomb
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value[:_QUOTE_CHARS] if isinstance(value, str | bytes) else value)
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 3] + "..."


def file_name_too_long(name: Any) -> bool:
    """True when `name` is text whose last part no file system can hold (over `MAX_NAME_CHARS` characters): that
    image is left out of an import, which goes on with the others (`short_file_name` names it in the report)."""
    return isinstance(name, str) and len(name.replace("\\", "/").rsplit("/", 1)[-1]) > MAX_NAME_CHARS


def short_file_name(name: str) -> str:
    """A name under `MAX_NAME_CHARS` for a too-long file name: its first 80 characters, a digest of the whole
    (so two long names stay apart) and its extension when short."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix}" if dot and len(suffix) <= 10 else ""
    digest = hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:12]
    return f"{(stem if dot else base)[:80]}~{digest}{suffix}"


def check_file_name(name: Any, where: str) -> str:
    """Return `name` if it can name an image file, else raise BadInputError saying why."""
    if not isinstance(name, str) or not name.strip():
        raise BadInputError(f"{where}: an image file name must be text; found {quote(name)}.")
    if len(name) > MAX_NAME_CHARS * 4 or len(name.replace("\\", "/").rsplit("/", 1)[-1]) > MAX_NAME_CHARS:
        raise BadInputError(f"{where}: the file name {quote(name)} is longer than {MAX_NAME_CHARS} characters.")
    if "\x00" in name:
        raise BadInputError(f"{where}: the file name {quote(name)} contains a NUL byte.")
    return name


def _class_name_char_ok(char: str) -> bool:
    """A letter, digit or combining mark of any script, a plain space, or one of `CLASS_NAME_PUNCTUATION`."""
    return char == " " or char in CLASS_NAME_PUNCTUATION or unicodedata.category(char)[0] in "LNM"


def unsafe_class_name_chars(name: str) -> list[str]:
    """The distinct characters of `name` a class name may not use, in order of first appearance."""
    return list(dict.fromkeys(char for char in name if not _class_name_char_ok(char)))


def check_class_name(name: Any, where: str) -> str:
    """Return a class name (text or a number, stripped) or raise BadInputError.

    A class name is 1 to `MAX_CLASS_NAME_CHARS` characters of letters, digits, spaces and `CLASS_NAME_PUNCTUATION`
    with at least one letter or digit: text that is safe wherever a name goes (HTML, Markdown, plot titles, file
    names). Only imports apply this rule; versions imported before it still open, and every page shows names as
    plain text.

    Raises:
        BadInputError: Not text, empty or too long, or holding characters a class name may not use (named).
    """
    if isinstance(name, bool) or not isinstance(name, str | int | float):
        raise BadInputError(f"{where}: a class name must be text; found {quote(name)}.")
    text = str(name).strip()
    if not text or len(text) > MAX_CLASS_NAME_CHARS:
        raise BadInputError(
            f"{where}: class names must be 1 to {MAX_CLASS_NAME_CHARS} characters; found {quote(name)}."
        )
    bad = unsafe_class_name_chars(text)
    if bad:
        shown = " ".join(repr(char) for char in bad[:12]) + (" …" if len(bad) > 12 else "")
        raise BadInputError(
            f"{where}: the class name {quote(text)} uses characters a class name may not: {shown}. Use letters, "
            f"digits, spaces and {' '.join(sorted(CLASS_NAME_PUNCTUATION))}."
        )
    if not any(unicodedata.category(char)[0] in "LN" for char in text):
        raise BadInputError(f"{where}: the class name {quote(text)} needs at least one letter or digit.")
    return text


def is_scalar_id(value: Any) -> bool:
    """Whether `value` can be an id (an int or a short string; never a list, object, bool or float)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and len(value) <= 200)


def split_of(name: str) -> str | None:
    """The split a folder or list name stands for ("valid" → "val"), or None."""
    return SPLIT_ALIASES.get(name.strip().lower())


def confine(path: Path, root: Path | None, what: str) -> Path:
    """Return `path` resolved; with a `root`, refuse a path that resolves outside it (symlinks followed)."""
    resolved = path.resolve()
    if root is not None and not resolved.is_relative_to(root.resolve()):
        raise BadInputError(f"{what} points outside the imported folder or archive; refusing it.")
    return resolved
