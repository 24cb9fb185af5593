# pylint: disable=too-many-lines  # checks, measurement cache and dataset reading in one module (see report)
"""Data-quality validation of a prepared YOLO dataset.

Every check has a stable name, a severity and a one-line description in `CHECKS` (the UI lists them from there).
`validate_dataset` runs them all and folds in the issues `prepare` recorded in `prepare_report.json`, so one
report covers the whole import. Each (file, check) pair appears at most once; repeats are counted in its message.

Image checks decode every image once, in parallel over all cores, and cache the measurements (format, size, grey
standard deviation, perceptual hash, decode error) in a small SQLite file keyed by the SHA-256 of the file's
bytes, so an unchanged image is never decoded again. A file index (path → size, mtime, ctime, inode → SHA-256) in
the same file spares re-reading and re-hashing files whose stat is unchanged (`rehash=True` reads them anyway).
Checks that depend on the file name (the extension) are applied to the cached measurements, never cached.
Label checks are cached too, per label file's stat stamp and (class names, image size), so re-validating an
unchanged dataset reads no file at all beyond stat calls and the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sqlite3
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress

# Bump when a measurement changes meaning: old cache rows are then ignored.
CHECKS_VERSION = 1

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

# check name -> (severity, one-line plain description)
CHECKS: dict[str, tuple[str, str]] = {
    "corrupt_image": ("error", "The image file does not fully decode (truncated, damaged or not an image)."),
    "format_mismatch": ("warning", "The real image format differs from the file extension (e.g. PNG data in .jpg)."),
    "too_small": ("error", "The image's shortest side is under 32 pixels."),
    "too_large": ("error", "The image has more pixels than the configured limit, so it was not decoded."),
    "low_variance": ("warning", "The image is blank or almost uniform (grey-level standard deviation under 4)."),
    "exact_duplicate": ("warning", "The file is byte-identical to another image in the dataset."),
    "near_duplicate": ("warning", "The image looks almost the same as another one (perceptual hash distance <= 6)."),
    "bbox_out_of_bounds": ("warning", "A box extends past the image border (it was clipped)."),
    "degenerate_bbox": ("error", "A box has zero or negative width or height, or lies entirely outside the image."),
    "tiny_bbox": ("warning", "A box is narrower or lower than 4 pixels."),
    "unknown_class": ("error", "A box uses a class that the dataset does not define."),
    "duplicate_box": ("warning", "Two boxes of the same class overlap almost completely (IoU >= 0.9)."),
    "missing_label": ("warning", "The image has no boxes (kept as a background image)."),
    "label_format": ("error", "A label line is not 'class cx cy w h' with numbers (the line was ignored)."),
    "missing_image": ("error", "The annotations list an image that is not in the images folder."),
    "size_mismatch": ("warning", "The width/height in the annotations differ from the real image size."),
    "crowd_annotation": ("info", "A crowd annotation (iscrowd=1) was left out of the YOLO labels."),
    "bbox_from_segmentation": ("info", "A box was computed from the annotation's segmentation polygon."),
    "name_collision": ("info", "Two images share a file name; one was renamed with a suffix."),
    "split_missing_class": ("warning", "A class has boxes in the dataset but none in one of the splits."),
}

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff", ".mpo"})

# Which PIL formats each extension may hold.
_JPEG = frozenset({"JPEG", "MPO"})
_EXPECTED_FORMATS: dict[str, frozenset[str]] = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"), _JPEG),
    **{".png": frozenset({"PNG"}), ".bmp": frozenset({"BMP", "DIB"}), ".webp": frozenset({"WEBP"})},
    **dict.fromkeys((".tif", ".tiff"), frozenset({"TIFF"})),
}

MIN_SIDE_PX = 32
LOW_STD = 4.0
NEAR_DUP_BITS = 6
TINY_BOX_PX = 4.0
DUP_IOU = 0.9
# Normalised coordinates may exceed [0, 1] by this much (float rounding) before a box counts as out of bounds.
COORD_TOLERANCE = 1e-4

# Errors Pillow raises on damaged or hostile files (plugins differ in what they raise).
_PLUGIN_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, ZeroDivisionError)
DECODE_ERRORS: tuple[type[BaseException], ...] = (*_PLUGIN_ERRORS, struct.error, Image.DecompressionBombError)


@dataclass(frozen=True)
class Issue:
    """One finding about one file.

    Attributes:
        file: The image's file name (basename), or "data.yaml" for dataset-level findings.
        check: A name from `CHECKS`.
        severity: "error", "warning" or "info".
        message: Plain-language explanation.
    """

    file: str
    check: str
    severity: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The issue as the JSON object the reports use."""
        return {"file": self.file, "check": self.check, "severity": self.severity, "message": self.message}


class IssueCollector:
    """Collects issues, keeping exactly one per (file, check); repeats are counted into the message."""

    def __init__(self) -> None:
        self._issues: dict[tuple[str, str], Issue] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._imported: set[tuple[str, str]] = set()

    def add(self, file: str, check: str, message: str, severity: str | None = None) -> None:
        """Record a finding (severity defaults to the check's registered severity)."""
        key = (file, check)
        if key in self._imported:
            return  # an earlier stage (prepare) already reported it
        self._counts[key] += 1
        if key not in self._issues:
            sev = severity or CHECKS.get(check, ("warning", ""))[0]
            self._issues[key] = Issue(file, check, sev, message)

    def add_issue(self, issue: Issue) -> None:
        """Record an existing Issue (a repeat of a known (file, check) is only counted)."""
        key = (issue.file, issue.check)
        if key in self._issues:
            return
        self._issues[key] = issue
        self._counts[key] += 1
        self._imported.add(key)

    def has(self, file: str, check: str) -> bool:
        """Whether (file, check) was recorded."""
        return (file, check) in self._issues

    def issues(self) -> list[Issue]:
        """The issues, most severe first, then by check and file."""
        out = []
        for key, issue in self._issues.items():
            extra = self._counts[key] - 1
            if extra > 0:
                issue = Issue(issue.file, issue.check, issue.severity, f"{issue.message} (and {extra} more like it)")
            out.append(issue)
        out.sort(key=lambda i: (-SEVERITY_RANK.get(i.severity, 0), i.check, i.file))
        return out


# --------------------------------------------------------------------------------------------------------------
# Image measurements


def _dct_matrix(size: int = 32, keep: int = 8) -> np.ndarray:
    """Rows of the (unnormalised, scipy type-II) DCT matrix, as imagehash.phash uses it."""
    n = np.arange(size)
    k = np.arange(keep)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT8 = _dct_matrix()


def phash_of(gray: Image.Image) -> int:
    """64-bit perceptual hash of a greyscale image, the `imagehash.phash` algorithm (hash_size 8).

    Args:
        gray: A mode "L" image.

    Returns:
        The hash as an unsigned 64-bit int (bit 63 = first DCT coefficient).
    """
    # reducing_gap: a box pre-reduction first; 6x faster on photos, a bit or two from imagehash at most.
    small = gray.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(small, dtype=np.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _grey(im: Image.Image) -> Image.Image:
    if im.mode == "L":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8))
    return im.convert("L")


def _grey_std(gray: Image.Image) -> float:
    hist = np.asarray(gray.histogram()[:256], dtype=np.float64)
    total = hist.sum()
    if total <= 0:
        return 0.0
    levels = np.arange(256, dtype=np.float64)
    mean = float((hist * levels).sum() / total)
    var = float((hist * levels * levels).sum() / total) - mean * mean
    return math.sqrt(max(var, 0.0))


_EXIF_ORIENTATION = 0x0112


def decode_error_text(exc: BaseException) -> str:
    """A short, stable description of why an image did not decode (no file paths or object addresses)."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image format"
    if isinstance(exc, Image.DecompressionBombError):
        return "too many pixels (decompression bomb guard)"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def display_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as shown: swapped when the EXIF orientation turns the picture by 90 degrees.

    Ultralytics (and every viewer) applies the EXIF orientation, so labels are relative to this size.
    """
    width, height = im.size
    if im.format in ("JPEG", "MPO", "TIFF", "WEBP", "PNG"):
        try:
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
        except DECODE_ERRORS:
            orientation = 1
        if orientation in (5, 6, 7, 8):
            return height, width
    return width, height


def measure_bytes(data: bytes, *, max_pixels: int) -> dict[str, Any]:
    """Decode an image fully and measure it.

    Args:
        data: The file's bytes.
        max_pixels: Images with more pixels are not decoded (decompression-bomb guard).

    Returns:
        A dict with `format`, `width`, `height`, `error` (None when the image decodes), `too_large`, `std` (grey
        standard deviation) and `phash` (hex string), the last two None when not decoded.
    """
    facts: dict[str, Any] = {
        "format": None,
        "width": None,
        "height": None,
        "error": None,
        "too_large": False,
        "std": None,
        "phash": None,
    }
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, whatever another library set
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = display_size(im)
            facts.update(format=im.format, width=width, height=height)
            if im.width * im.height > max_pixels:
                facts["too_large"] = True
                return facts
            if im.format in ("JPEG", "MPO") and im.mode == "RGB":
                # Full-size greyscale decode: every entropy-coded byte is still read (truncation is caught),
                # but libjpeg skips the chroma IDCT and colour conversion.
                im.draft("L", im.size)
            im.load()
            gray = _grey(im)
            facts["std"] = round(_grey_std(gray), 3)
            facts["phash"] = f"{phash_of(gray):016x}"
    except DECODE_ERRORS as exc:
        facts["error"] = decode_error_text(exc)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return facts


def _measure_task(task: tuple[str, int]) -> dict[str, Any]:
    """Worker entry: read one file and measure it."""
    path, max_pixels = task
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {
            "error": f"cannot read the file: {exc.strerror or exc}",
            "format": None,
            "width": None,
            "height": None,
            "too_large": False,
            "std": None,
            "phash": None,
        }
    return measure_bytes(data, max_pixels=max_pixels)


@dataclass(frozen=True)
class ImageProbe:
    """Cheap facts about an image file: header size and whether it decodes."""

    format: str | None
    width: int | None
    height: int | None
    error: str | None


def probe_image(path: Path, *, max_pixels: int) -> ImageProbe:
    """Read an image's real size and check that it decodes, cheaply.

    JPEGs are decoded at thumbnail scale (`draft`), which still walks the whole entropy-coded stream, so a
    truncated file fails; other formats are decoded fully. Images over `max_pixels` are not decoded (validation
    reports them as too_large).

    Args:
        path: The image file.
        max_pixels: Decompression-bomb guard.

    Returns:
        An ImageProbe; `error` is None when the image decodes.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    fmt = width = height = None
    try:
        with Image.open(path) as im:
            fmt, (width, height) = im.format, display_size(im)
            if width * height > max_pixels:
                return ImageProbe(fmt, width, height, None)
            if im.format in ("JPEG", "MPO"):
                im.draft("RGB", (64, 64))
            im.load()
    except DECODE_ERRORS as exc:
        return ImageProbe(fmt, width, height, decode_error_text(exc))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return ImageProbe(fmt, width, height, None)


def _probe_task(task: tuple[str, int]) -> ImageProbe:
    return probe_image(Path(task[0]), max_pixels=task[1])


def probe_images(paths: list[Path], *, max_pixels: int, workers: int | None = None) -> Iterator[ImageProbe]:
    """`probe_image` over many files, in parallel when there are enough of them (results in input order)."""
    tasks = [(str(p), max_pixels) for p in paths]
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tasks) < 48:
        yield from map(_probe_task, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_probe_task, tasks, chunksize=max(1, min(64, len(tasks) // (workers * 8))))


# --------------------------------------------------------------------------------------------------------------
# Measurement cache


_FACT_COLUMNS = ("format", "width", "height", "error", "too_large", "std", "phash")


class FactsCache:
    """SQLite cache of image measurements keyed by (sha256, CHECKS_VERSION)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # One column per measurement (decoding JSON per row cost more than the rest of a re-validation).
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS image_measurements (sha256 TEXT NOT NULL, version INTEGER NOT NULL, "
                "format TEXT, width INTEGER, height INTEGER, error TEXT, too_large INTEGER NOT NULL, std REAL, "
                "phash TEXT, PRIMARY KEY (sha256, version))"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS file_index (path TEXT PRIMARY KEY, stamp TEXT NOT NULL, "
                "sha256 TEXT NOT NULL, size INTEGER NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS label_checks (path TEXT PRIMARY KEY, stamp TEXT NOT NULL, "
                "context TEXT NOT NULL, boxes TEXT NOT NULL, found TEXT NOT NULL)"
            )
            self._conn.commit()
        except (sqlite3.Error, OSError):
            # An unusable cache only costs time: validate without it.
            self._conn = None

    @property
    def enabled(self) -> bool:
        """Whether the cache is in use."""
        return self._conn is not None

    def get_many(self, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Cached facts for the hashes that have them."""
        found: dict[str, dict[str, Any]] = {}
        if self._conn is None:
            return found
        keys = list(dict.fromkeys(hashes))
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT sha256, {', '.join(_FACT_COLUMNS)} FROM image_measurements "  # noqa: S608
                    f"WHERE version = ? AND sha256 IN ({marks})",
                    [CHECKS_VERSION, *chunk],
                )
                for sha, fmt, width, height, error, too_large, std, phash in rows:
                    found[sha] = {
                        "format": fmt,
                        "width": width,
                        "height": height,
                        "error": error,
                        "too_large": bool(too_large),
                        "std": std,
                        "phash": phash,
                    }
        except sqlite3.Error:
            return found
        return found

    def put_many(self, items: dict[str, dict[str, Any]]) -> None:
        """Store facts (skips results that depend on settings rather than on the bytes)."""
        if self._conn is None or not items:
            return
        rows = [
            (sha, CHECKS_VERSION, *(int(bool(f.get(c))) if c == "too_large" else f.get(c) for c in _FACT_COLUMNS))
            for sha, f in items.items()
            if not f.get("too_large")
        ]
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO image_measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error:
            return

    def _unchanged(self, table: str, columns: str, stamps: dict[str, str]) -> dict[str, tuple[Any, ...]]:
        """`columns` of `table`'s rows whose stored stat stamp equals the given one (the file is unchanged)."""
        found: dict[str, tuple[Any, ...]] = {}
        if self._conn is None:
            return found
        paths = list(stamps)
        try:
            for start in range(0, len(paths), 500):  # SQLite caps the number of bound parameters
                chunk = paths[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT path, stamp, {columns} FROM {table} WHERE path IN ({marks})",  # noqa: S608
                    chunk,
                )
                for path, stamp, *values in rows:
                    if stamps.get(path) == stamp:
                        found[path] = tuple(values)
        except sqlite3.Error:
            return {}
        return found

    def known_hashes(self, stamps: dict[str, str]) -> dict[str, tuple[str, int]]:
        """(sha256, size) for the paths whose stored stat stamp equals the given one (the file is unchanged)."""
        return {
            path: (sha, int(size))
            for path, (sha, size) in self._unchanged("file_index", "sha256, size", stamps).items()
        }

    def remember_hashes(self, rows: list[tuple[str, str, str, int]]) -> None:
        """Store (path, stat stamp, sha256, size) rows."""
        if self._conn is None or not rows:
            return
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO file_index VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error:
            return

    def label_results(self, stamps: dict[str, str]) -> dict[str, tuple[str, str, str]]:
        """(context, boxes, findings) stored for the label files whose stat stamp is unchanged."""
        return self._unchanged("label_checks", "context, boxes, found", stamps)  # type: ignore[return-value]

    def remember_label_results(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        """Store (label path, stat stamp, check context, boxes, findings JSON) rows."""
        if self._conn is None or not rows:
            return
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO label_checks VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            return

    def close(self) -> None:
        """Close the database."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --------------------------------------------------------------------------------------------------------------
# Dataset reading


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


def load_data_yaml(path: Path) -> dict[str, Any]:
    """Parse a data.yaml into a dict (BadInputError when it is missing or not a mapping)."""
    import yaml  # local: only needed here and in prepare

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is 20x faster
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (a safe loader)
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


def _suffix(name: str) -> str:
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
        if _suffix(name).lower() in IMAGE_SUFFIXES and _is_file(entry):
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
        suffix = _suffix(name)
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


# --------------------------------------------------------------------------------------------------------------
# Report


@dataclass
class ValidationReport:
    """The result of `validate_dataset`.

    Attributes:
        summary: Counts and distributions (see `validate_dataset`).
        issues: One Issue per (file, check), most severe first.
    """

    summary: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`{"summary": {...}, "issues": [{"file", "check", "severity", "message"}]}`."""
        return {"summary": self.summary, "issues": [i.to_dict() for i in self.issues]}

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def write(self, path: Path) -> Path:
        """Write the JSON report to `path` (folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    def has_issues_at_or_above(self, severity: str) -> bool:
        """Whether any issue is at least as severe as `severity` ("never" is never reached)."""
        if severity == "never":
            return False
        rank = SEVERITY_RANK[severity]
        return any(SEVERITY_RANK.get(i.severity, 0) >= rank for i in self.issues)

    def files_with(self, check: str) -> list[str]:
        """Sorted file names that have an issue of `check`."""
        return sorted({i.file for i in self.issues if i.check == check})

    def summary_line(self) -> str:
        """One human line: images checked, errors, warnings and the most frequent checks."""
        by_sev = Counter(i.severity for i in self.issues)
        by_check = Counter(i.check for i in self.issues)
        ordered = sorted(
            by_check.items(), key=lambda kv: (-SEVERITY_RANK.get(CHECKS.get(kv[0], ("info",))[0], 0), -kv[1], kv[0])
        )
        detail = ", ".join(f"{name} {count}" for name, count in ordered)
        line = (
            f"Checked {self.summary.get('images', 0)} images: {by_sev['error']} errors, "
            f"{by_sev['warning']} warnings, {by_sev['info']} notes"
        )
        return f"{line} ({detail})" if detail else line


# --------------------------------------------------------------------------------------------------------------
# Validation


def _stats(values: list[float]) -> dict[str, float]:
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


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[as_bytes].sum(axis=-1)


def near_duplicate_pairs(hashes: np.ndarray, groups: np.ndarray, *, max_bits: int = NEAR_DUP_BITS) -> dict[int, int]:
    """For each index j, the first earlier index i (i < j) within `max_bits` Hamming distance and a different group.

    Args:
        hashes: uint64 perceptual hashes, in the order that defines "earlier".
        groups: Group id per hash (same group = exact duplicates, never paired).
        max_bits: Largest Hamming distance that counts as a near duplicate.

    Returns:
        {j: i} for every j that has such an i.
    """
    n = int(hashes.size)
    found: dict[int, int] = {}
    chunk = 256  # rows per block: 256 x n uint64 stays ~20 MB at n = 10k
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        distance = _popcount(hashes[start:stop, None] ^ hashes[None, start:])
        rows, cols = np.nonzero(distance <= max_bits)
        later = cols > rows  # column index is relative to `start`, like the rows
        rows, cols = rows[later] + start, cols[later] + start
        other_group = groups[rows] != groups[cols]
        for i, j in zip(rows[other_group].tolist(), cols[other_group].tolist(), strict=True):
            if j not in found or found[j] > i:
                found[j] = i
    return found


@contextmanager
def _maybe_pool(workers: int, jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 1 or jobs < 8:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield pool


def _stat_stamp(path: Path | str) -> str | None:
    """Size, modification and change times and inode: any write, replace or re-link changes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def _index_keys(paths: list[str]) -> list[str]:
    """The file-index key of each path: its folder resolved (once per folder) joined with its name.

    This is `Path.resolve()` unless the file itself is a symbolic link; the stat stamp (inode and device included)
    is what tells an unchanged file, the key only has to name it.
    """
    real: dict[str, str] = {}
    keys = []
    for path in paths:
        folder, _, name = path.rpartition("/")
        resolved = real.get(folder)
        if resolved is None:
            resolved = real[folder] = os.path.realpath(folder or ("/" if path.startswith("/") else "."))
        keys.append(os.path.join(resolved, name))
    return keys


def _measure_all(
    images: list[DatasetImage],
    *,
    cache: FactsCache,
    workers: int,
    max_pixels: int,
    rehash: bool,
    progress: ProgressFn,
) -> tuple[list[tuple[str, int]], dict[str, dict[str, Any]], dict[str, Any]]:
    """Hash every file (or take its hash from the stat index), then decode the ones whose hash is not cached.

    Returns (sha, size) per image ("" when unreadable), facts by sha, and cache counters.
    """
    n = len(images)
    progress(0.0, f"Hashing {n} images")
    keys = _index_keys([im._path for im in images])  # pylint: disable=protected-access
    stamps = {key: stamp for key in keys if (stamp := _stat_stamp(key)) is not None}
    known = {} if rehash else cache.known_hashes(stamps)
    to_hash = [key for key in keys if key not in known]
    hashed_now: dict[str, tuple[str, int]] = {}
    with ThreadPoolExecutor(max_workers=max(2, min(8, workers * 2))) as threads:
        for index, (key, result) in enumerate(zip(to_hash, threads.map(_hash_or_missing, to_hash), strict=True)):
            hashed_now[key] = result
            if index % 200 == 0:
                progress(0.2 * index / max(1, len(to_hash)), f"Hashing images ({index}/{len(to_hash)})")
    cache.remember_hashes(
        [(key, stamps[key], sha, size) for key, (sha, size) in hashed_now.items() if sha and key in stamps]
    )
    hashed = [known.get(key) or hashed_now.get(key) or ("", 0) for key in keys]
    facts = cache.get_many(sha for sha, _ in hashed if sha)
    hits = sum(1 for sha, _ in hashed if sha in facts)
    todo: dict[str, str] = {}
    for (sha, _), key in zip(hashed, keys, strict=True):
        if sha and sha not in facts and sha not in todo:
            todo[sha] = key
    new: dict[str, dict[str, Any]] = {}
    tasks = [(p, max_pixels) for p in todo.values()]
    with _maybe_pool(workers, len(tasks)) as pool:
        if pool is None:
            results: Iterable[dict[str, Any]] = map(_measure_task, tasks)
        else:
            results = pool.map(_measure_task, tasks, chunksize=max(1, min(16, len(tasks) // (workers * 8))))
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
        "hashed": len(to_hash),
    }
    return hashed, facts, counters


def _hash_or_missing(path: str | Path) -> tuple[str, int]:
    try:
        return _hash_file(Path(path))
    except OSError:
        return "", 0


def _count_duplicate_pairs(boxes: list[tuple[float, float, float, float]]) -> int:
    """Pairs of (cx, cy, w, h) boxes with IoU >= DUP_IOU (plain Python for the usual handful, numpy for many)."""
    if len(boxes) > 40:
        iou = _iou_matrix(np.asarray(boxes, dtype=np.float64))
        return int((np.triu(iou, k=1) >= DUP_IOU).sum())
    corners = [(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, w * h) for cx, cy, w, h in boxes]
    pairs = 0
    for i, (ax1, ay1, ax2, ay2, aa) in enumerate(corners):
        for bx1, by1, bx2, by2, ba in corners[i + 1 :]:
            iw = min(ax2, bx2) - max(ax1, bx1)
            ih = min(ay2, by2) - max(ay1, by1)
            if iw <= 0 or ih <= 0:
                continue
            inter = iw * ih
            if inter / (aa + ba - inter) >= DUP_IOU:
                pairs += 1
    return pairs


def _iou_matrix(boxes: np.ndarray) -> np.ndarray:
    x1 = boxes[:, 0] - boxes[:, 2] / 2
    y1 = boxes[:, 1] - boxes[:, 3] / 2
    x2 = boxes[:, 0] + boxes[:, 2] / 2
    y2 = boxes[:, 1] + boxes[:, 3] / 2
    iw = np.clip(np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]), 0, None)
    ih = np.clip(np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]), 0, None)
    inter = iw * ih
    area = boxes[:, 2] * boxes[:, 3]
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _read_text_fast(path: str) -> str | None:
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


def _check_labels(
    image: DatasetImage,
    width: int | None,
    height: int | None,
    names: list[str],
    issues: IssueCollector,
) -> list[tuple[int, float]]:
    """Label checks for one image; returns (class, relative area) of its usable boxes."""
    name = image.name
    nc = len(names)
    text = _read_text_fast(image._label)  # pylint: disable=protected-access
    if text is None:  # missing or unreadable: read it the usual way for the usual message
        try:
            text = image.label_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            issues.add(name, "missing_label", "has no label file (treated as a background image with no boxes)")
            return []
        except (OSError, UnicodeDecodeError) as exc:
            issues.add(name, "label_format", f"label file {image.label_path.name} cannot be read: {exc}")
            return []
    isfinite = math.isfinite
    kept: list[tuple[int, float, float, float, float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:  # fast path for the usual five plain numbers; anything else goes through parse_yolo_line
            cls_value, cx, cy, w, h = map(float, tokens)
            usual = cls_value >= 0 and cls_value.is_integer() and isfinite(cx + cy + w + h)
        except ValueError:
            usual = False
        if usual:
            cls = int(cls_value)
        else:
            parsed = parse_yolo_line(line)
            if isinstance(parsed, str):
                issues.add(name, "label_format", f"label line {number} {parsed}: {line.strip()[:60]!r}")
                continue
            cls, cx, cy, w, h, _ = parsed
        if cls >= nc:
            issues.add(name, "unknown_class", f"label line {number} uses class {cls}, but the dataset has {nc}")
            continue
        if w <= 0 or h <= 0:
            issues.add(name, "degenerate_bbox", f"label line {number} has width {w:g} and height {h:g}")
            continue
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if x2 <= 0 or y2 <= 0 or x1 >= 1 or y1 >= 1:
            issues.add(name, "degenerate_bbox", f"label line {number} lies entirely outside the image")
            continue
        tol = COORD_TOLERANCE
        if x1 < -tol or y1 < -tol or x2 > 1 + tol or y2 > 1 + tol:
            issues.add(name, "bbox_out_of_bounds", f"label line {number} extends past the image border")
        if width and height:
            bw = (min(x2, 1.0) - max(x1, 0.0)) * width
            bh = (min(y2, 1.0) - max(y1, 0.0)) * height
            if bw < TINY_BOX_PX or bh < TINY_BOX_PX:
                issues.add(name, "tiny_bbox", f"label line {number} is only {bw:.1f}x{bh:.1f} px")
        kept.append((cls, cx, cy, w, h))
    if not kept:
        if not any(line.strip() for line in text.splitlines()):
            issues.add(name, "missing_label", "has no boxes (kept as a background image)")
        return []
    by_class: dict[int, list[tuple[float, float, float, float]]] = defaultdict(list)
    for cls, cx, cy, w, h in kept:
        by_class[cls].append((cx, cy, w, h))
    for cls, boxes in sorted(by_class.items()):
        if len(boxes) < 2:
            continue
        pairs = _count_duplicate_pairs(boxes)
        if pairs:
            label = names[cls] if cls < len(names) else f"class {cls}"
            issues.add(name, "duplicate_box", f"{pairs} pair(s) of {label!r} boxes overlap with IoU >= {DUP_IOU}")
    return [(int(c), float(w * h)) for c, _, _, w, h in kept]


class _RecordingCollector(IssueCollector):
    """Records the (check, message) findings of one file in order, to cache and replay them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def add(self, file: str, check: str, message: str, severity: str | None = None) -> None:
        self.found.append((check, message))


LabelResult = tuple[list[tuple[str, str]], list[tuple[int, float]]]


def _label_results(
    images: list[DatasetImage],
    image_facts: list[dict[str, Any] | None],
    names: list[str],
    cache: FactsCache,
) -> list[LabelResult]:
    """Label checks per image as (findings, boxes), taken from the cache where the label file and context match.

    A result depends only on the label file's bytes, the image's size and the class names, so it is keyed by the
    label file's stat stamp and a context of (CHECKS_VERSION, class names, width x height). Boxes are stored as
    "class:area" pairs (`repr` of a float reads back to the same float).
    """
    names_key = hashlib.sha256(json.dumps(names).encode("utf-8")).hexdigest()[:16]
    labels = [im._label for im in images]  # pylint: disable=protected-access
    stamps: dict[str, str] = {}
    if cache.enabled:
        stamps = {key: stamp for key in labels if (stamp := _stat_stamp(key)) is not None}
    known = cache.label_results(stamps) if stamps else {}
    out: list[LabelResult] = []
    fresh: list[tuple[str, str, str, str, str]] = []
    for image, label, facts in zip(images, labels, image_facts, strict=True):
        w = facts.get("width") if facts else None
        h = facts.get("height") if facts else None
        context = f"{CHECKS_VERSION}:{names_key}:{w}x{h}"
        stored = known.get(label)
        if stored is not None and stored[0] == context:
            _, boxes_text, found_text = stored
            found = [] if found_text == "[]" else [(c, m) for c, m in json.loads(found_text)]
            boxes = [(int(c), float(a)) for c, _, a in (pair.partition(":") for pair in boxes_text.split())]
            out.append((found, boxes))
            continue
        recorder = _RecordingCollector()
        boxes_now = _check_labels(image, w, h, names, recorder)
        out.append((recorder.found, boxes_now))
        if label in stamps:
            boxes_text = " ".join(f"{c}:{a!r}" for c, a in boxes_now)
            fresh.append((label, stamps[label], context, boxes_text, json.dumps(recorder.found)))
    cache.remember_label_results(fresh)
    return out


def _read_prepare_issues(root: Path) -> list[Issue]:
    path = root / "prepare_report.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for raw in data.get("issues", []) if isinstance(data, dict) else []:
        if isinstance(raw, dict) and {"file", "check", "severity", "message"} <= raw.keys():
            out.append(Issue(str(raw["file"]), str(raw["check"]), str(raw["severity"]), str(raw["message"])))
    return out


def validate_dataset(
    dataset_dir: Path,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    max_image_pixels: int | None = None,
    rehash: bool = False,
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
        progress: Progress callback.

    Returns:
        A ValidationReport. `summary` holds `images`, `images_per_split`, `classes`, `issues_by_check`,
        `issues_by_severity`, `class_distribution` ({name: {"boxes", "images", "train", "val", ...}}),
        `boxes_per_image` (histogram), `box_relative_area` and `image_size` stats, `cache` ({"enabled", "hits",
        "misses", "decoded", "hashed"}: hits/misses of the measurement cache, files decoded and files read and
        hashed this run), `seconds` and `images_per_second`.

    Raises:
        BadInputError: The folder is not a readable YOLO dataset.
    """
    started = time.perf_counter()
    if max_image_pixels is None:
        from backend.core.settings import get_settings

        max_image_pixels = get_settings().max_image_pixels
    workers = max(1, workers or os.cpu_count() or 1)
    dataset = read_yolo_dataset(Path(dataset_dir))
    images = dataset.images
    nc = len(dataset.names)
    issues = IssueCollector()
    for issue in _read_prepare_issues(dataset.root):
        issues.add_issue(issue)

    cache = FactsCache(Path(cache_dir) / "quality_cache.sqlite3" if cache_dir is not None else None)
    with closing(cache):
        hashed, facts_by_sha, cache_counts = _measure_all(
            images, cache=cache, workers=workers, max_pixels=max_image_pixels, rehash=rehash, progress=progress
        )
        progress(0.9, "Checking labels and duplicates")
        image_facts: list[dict[str, Any] | None] = [facts_by_sha.get(sha) if sha else None for sha, _ in hashed]
        label_results = _label_results(images, image_facts, dataset.names, cache)

    widths: list[int] = []
    heights: list[int] = []
    for image, facts in zip(images, image_facts, strict=True):
        name = image.name
        if facts is None:
            issues.add(name, "corrupt_image", "cannot be read from disk")
            continue
        if facts.get("error"):
            issues.add(name, "corrupt_image", f"does not decode ({facts['error']})")
        if facts.get("too_large"):
            issues.add(
                name,
                "too_large",
                f"is {facts['width']}x{facts['height']} px, more than the {max_image_pixels} pixel limit",
            )
        fmt = facts.get("format")
        suffix = _suffix(name)
        expected = _EXPECTED_FORMATS.get(suffix.lower())
        if fmt and (expected is None or fmt not in expected):
            issues.add(name, "format_mismatch", f"holds {fmt} data but is named {suffix}")
        w, h = facts.get("width"), facts.get("height")
        if w and h:
            widths.append(int(w))
            heights.append(int(h))
            if min(w, h) < MIN_SIDE_PX:
                issues.add(name, "too_small", f"is only {w}x{h} px (shortest side under {MIN_SIDE_PX})")
        std = facts.get("std")
        if std is not None and std < LOW_STD:
            issues.add(name, "low_variance", f"is almost uniform (grey standard deviation {std:.2f})")

    # Exact and near duplicates, "earlier" meaning sorted by file name (then split).
    order = sorted(range(len(images)), key=lambda k: (images[k].name, images[k].split))
    first_by_sha: dict[str, int] = {}
    for k in order:
        sha = hashed[k][0]
        if not sha:
            continue
        if sha in first_by_sha:
            issues.add(images[k].name, "exact_duplicate", f"is byte-identical to {images[first_by_sha[sha]].name}")
        else:
            first_by_sha[sha] = k
    with_hash = [k for k in order if image_facts[k] and image_facts[k].get("phash")]
    if len(with_hash) > 1:
        hashes = np.array([int(image_facts[k]["phash"], 16) for k in with_hash], dtype=np.uint64)
        sha_ids: dict[str, int] = {}
        groups = np.array([sha_ids.setdefault(hashed[k][0], len(sha_ids)) for k in with_hash], dtype=np.int64)
        for j, i in near_duplicate_pairs(hashes, groups).items():
            later, earlier = images[with_hash[j]], images[with_hash[i]]
            issues.add(later.name, "near_duplicate", f"looks almost the same as {earlier.name}")

    # Label checks and distributions.
    class_boxes: Counter[int] = Counter()
    class_images: Counter[int] = Counter()
    class_split_boxes: dict[str, Counter[int]] = defaultdict(Counter)
    per_image: Counter[str] = Counter()
    areas: list[float] = []
    for image, (found, boxes) in zip(images, label_results, strict=True):
        name = image.name
        for check, message in found:
            issues.add(name, check, message)
        per_image["10+" if len(boxes) >= 10 else str(len(boxes))] += 1
        for cls, area in boxes:
            class_boxes[cls] += 1
            class_split_boxes[image.split][cls] += 1
            areas.append(area)
        for cls in {c for c, _ in boxes}:
            class_images[cls] += 1

    splits = sorted({im.split for im in images}, key=("train", "val", "test").index)
    for split in ("train", "val"):
        if split not in splits:
            continue
        for cls in sorted(class_boxes):
            if class_split_boxes[split][cls] == 0 and class_images[cls] >= 2:
                issues.add(
                    "data.yaml",
                    "split_missing_class",
                    f"class {dataset.names[cls]!r} has no boxes in the {split} split",
                )

    issue_list = issues.issues()
    elapsed = time.perf_counter() - started
    distribution = {
        name: {
            "boxes": class_boxes[cls],
            "images": class_images[cls],
            **{split: class_split_boxes[split][cls] for split in splits},
        }
        for cls, name in enumerate(dataset.names)
    }
    summary: dict[str, Any] = {
        "dataset": str(dataset.root),
        "checks_version": CHECKS_VERSION,
        "images": len(images),
        "images_per_split": {split: sum(1 for im in images if im.split == split) for split in splits},
        "classes": list(dataset.names),
        "nc": nc,
        "boxes": sum(class_boxes.values()),
        "issues_by_check": dict(sorted(Counter(i.check for i in issue_list).items())),
        "issues_by_severity": {s: sum(1 for i in issue_list if i.severity == s) for s in ("error", "warning", "info")},
        "class_distribution": distribution,
        "boxes_per_image": {k: per_image[k] for k in sorted(per_image, key=lambda x: (len(x), x))},
        "box_relative_area": _stats(areas),
        "image_size": {"width": _stats(widths), "height": _stats(heights)},
        "cache": cache_counts,
        "seconds": round(elapsed, 3),
        "images_per_second": round(len(images) / elapsed, 1) if elapsed > 0 else None,
    }
    progress(1.0, f"Checked {len(images)} images")
    return ValidationReport(summary=summary, issues=issue_list)
