"""The data-quality checks: their names, severities and descriptions, and the functions that apply them.

Every check is defined once, in `CHECKS`: a `Check` name (a stable identifier; ARCHITECTURE.md lists them), a
`Severity` and a one-line plain description the console shows. Code refers to checks through the enum, so a
misspelt name fails at import. `IssueCollector` keeps one `Issue` per (file, check) and counts the repeats.

The checks themselves work on what other modules measured or read: `check_image` on an image's `Measurements`,
`check_duplicates` on hashes, `check_labels` on one YOLO label file, `check_split_coverage` on box counts.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from backend.core.params import QualityParams
from backend.data.quality.measurements import Measurements
from backend.data.quality.reader import DatasetImage, file_suffix, parse_yolo_line, read_text_fast

# Bump when a check changes meaning: cached label-check results of older versions are then ignored.
CHECKS_VERSION = 2


class Severity(StrEnum):
    """How much an issue matters: errors block training, warnings deserve a look, notes are for the record."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_RANK: dict[Severity, int] = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Check(StrEnum):
    """The name of a data-quality check (values are the stable identifiers reports and defects.json use)."""

    CORRUPT_IMAGE = "corrupt_image"
    FORMAT_MISMATCH = "format_mismatch"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    LOW_VARIANCE = "low_variance"
    DARK = "dark"
    LIGHT = "light"
    BLURRY = "blurry"
    GRAYSCALE = "grayscale"
    ODD_ASPECT_RATIO = "odd_aspect_ratio"
    LOW_INFORMATION = "low_information"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    BBOX_OUT_OF_BOUNDS = "bbox_out_of_bounds"
    DEGENERATE_BBOX = "degenerate_bbox"
    TINY_BBOX = "tiny_bbox"
    UNKNOWN_CLASS = "unknown_class"
    DUPLICATE_BOX = "duplicate_box"
    MISSING_LABEL = "missing_label"
    LABEL_FORMAT = "label_format"
    MISSING_IMAGE = "missing_image"
    SIZE_MISMATCH = "size_mismatch"
    CROWD_ANNOTATION = "crowd_annotation"
    BBOX_FROM_SEGMENTATION = "bbox_from_segmentation"
    NAME_COLLISION = "name_collision"
    SPLIT_MISSING_CLASS = "split_missing_class"
    # What an import from another tool's layout left out or noted (backend/data/formats).
    PLACEHOLDER_CATEGORY = "placeholder_category"
    VOC_DIFFICULT = "voc_difficult"
    VOC_TRUNCATED = "voc_truncated"
    ANNOTATION_WITHOUT_IMAGE = "annotation_without_image"
    LABEL_WITHOUT_IMAGE = "label_without_image"
    MISSING_FOLDER = "missing_folder"


# Findings about an image's boxes rather than its picture. One that `prepare` recorded describes the label file it
# wrote, so it no longer holds once that file changed (a box fixed on the Annotate canvas, saved as a new version).
BOX_CHECKS: frozenset[Check] = frozenset(
    {
        Check.BBOX_OUT_OF_BOUNDS,
        Check.DEGENERATE_BBOX,
        Check.TINY_BBOX,
        Check.UNKNOWN_CLASS,
        Check.DUPLICATE_BOX,
        Check.MISSING_LABEL,
        Check.LABEL_FORMAT,
        Check.SIZE_MISMATCH,
        Check.CROWD_ANNOTATION,
        Check.BBOX_FROM_SEGMENTATION,
        Check.VOC_DIFFICULT,
        Check.VOC_TRUNCATED,
    }
)


class CheckInfo(NamedTuple):
    """A check's severity and one-line plain description."""

    severity: Severity
    description: str


MIN_SIDE_PX = 32
LOW_STD = 4.0
NEAR_DUP_BITS = 6
TINY_BOX_PX = 4.0
DUP_IOU = 0.9
# Normalised coordinates may exceed [0, 1] by this much (float rounding) before a box counts as out of bounds.
COORD_TOLERANCE = 1e-4

_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
_PARAMS = "(params.yaml, quality section)"

# Every check, in the order the console lists them within a severity.
CHECKS: dict[Check, CheckInfo] = {
    Check.CORRUPT_IMAGE: CheckInfo(_E, "The image file does not fully decode (truncated, damaged or not an image)."),
    Check.FORMAT_MISMATCH: CheckInfo(
        _W, "The real image format differs from the file extension (e.g. PNG data in .jpg)."
    ),
    Check.TOO_SMALL: CheckInfo(_E, f"The image's shortest side is under {MIN_SIDE_PX} pixels."),
    Check.TOO_LARGE: CheckInfo(_E, "The image has more pixels than the configured limit, so it was not decoded."),
    Check.LOW_VARIANCE: CheckInfo(
        _W, f"The image is blank or almost uniform (grey-level standard deviation under {LOW_STD:g})."
    ),
    Check.DARK: CheckInfo(_W, f"The image is very dark: even its brightest parts are dim {_PARAMS}."),
    Check.LIGHT: CheckInfo(_W, f"The image is washed out (overexposed): even its darkest parts are bright {_PARAMS}."),
    Check.BLURRY: CheckInfo(
        _W,
        f"The image is blurry: its edges are weak (sharpness under the limit) {_PARAMS}.",
    ),
    Check.GRAYSCALE: CheckInfo(_W, f"The image has no colour (black and white), unlike a usual photo {_PARAMS}."),
    Check.ODD_ASPECT_RATIO: CheckInfo(
        _W, f"The image is unusually long and narrow: its long side over its short side exceeds the limit {_PARAMS}."
    ),
    Check.LOW_INFORMATION: CheckInfo(
        _W, f"The image shows little detail: the entropy of its grey levels is under the limit {_PARAMS}."
    ),
    Check.EXACT_DUPLICATE: CheckInfo(_W, "The file is byte-identical to another image in the dataset."),
    Check.NEAR_DUPLICATE: CheckInfo(
        _W, f"The image looks almost the same as another one (perceptual hash distance <= {NEAR_DUP_BITS})."
    ),
    Check.BBOX_OUT_OF_BOUNDS: CheckInfo(_W, "A box extends past the image border (it was clipped)."),
    Check.DEGENERATE_BBOX: CheckInfo(
        _E, "A box has zero or negative width or height, or lies entirely outside the image."
    ),
    Check.TINY_BBOX: CheckInfo(_W, f"A box is narrower or lower than {TINY_BOX_PX:g} pixels."),
    Check.UNKNOWN_CLASS: CheckInfo(_E, "A box uses a class that the dataset does not define."),
    Check.DUPLICATE_BOX: CheckInfo(_W, f"Two boxes of the same class overlap almost completely (IoU >= {DUP_IOU})."),
    Check.MISSING_LABEL: CheckInfo(_W, "The image has no boxes (kept as a background image)."),
    Check.LABEL_FORMAT: CheckInfo(_E, "A label line is not 'class cx cy w h' with numbers (the line was ignored)."),
    Check.MISSING_IMAGE: CheckInfo(_E, "The annotations list an image that is not in the images folder."),
    Check.SIZE_MISMATCH: CheckInfo(_W, "The width/height in the annotations differ from the real image size."),
    Check.CROWD_ANNOTATION: CheckInfo(_I, "A crowd annotation (iscrowd=1) was left out of the YOLO labels."),
    Check.BBOX_FROM_SEGMENTATION: CheckInfo(_I, "A box was computed from the annotation's segmentation polygon."),
    Check.NAME_COLLISION: CheckInfo(_I, "Two images share a file name; one was renamed with a suffix."),
    Check.SPLIT_MISSING_CLASS: CheckInfo(_W, "A class has boxes in the dataset but none in one of the splits."),
    Check.PLACEHOLDER_CATEGORY: CheckInfo(
        _I, "A category with no boxes that only names the project (Roboflow's placeholder) was left out."
    ),
    Check.VOC_DIFFICULT: CheckInfo(_I, "Boxes marked 'difficult' in the Pascal VOC file (kept as ordinary boxes)."),
    Check.VOC_TRUNCATED: CheckInfo(_I, "Boxes marked 'truncated' in the Pascal VOC file (kept as ordinary boxes)."),
    Check.ANNOTATION_WITHOUT_IMAGE: CheckInfo(_W, "An annotation names an image the file does not list (left out)."),
    Check.LABEL_WITHOUT_IMAGE: CheckInfo(_W, "A label file has no image of the same name (left out)."),
    Check.MISSING_FOLDER: CheckInfo(_W, "A folder or image list the data.yaml names does not exist."),
}
if set(CHECKS) != set(Check):  # pragma: no cover - a check added to the enum without its table row
    raise RuntimeError(f"checks without a CHECKS entry: {sorted(set(Check) - set(CHECKS))}")

# Which PIL formats each extension may hold.
_JPEG = frozenset({"JPEG", "MPO"})
_EXPECTED_FORMATS: dict[str, frozenset[str]] = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"), _JPEG),
    **{".png": frozenset({"PNG"}), ".bmp": frozenset({"BMP", "DIB"}), ".webp": frozenset({"WEBP"})},
    **dict.fromkeys((".tif", ".tiff"), frozenset({"TIFF"})),
}


@dataclass(frozen=True)
class Issue:
    """One finding about one file.

    Attributes:
        file: The image's file name (basename), or "data.yaml" for dataset-level findings.
        check: Which check found it.
        severity: The check's severity.
        message: Plain-language explanation.
    """

    file: str
    check: Check
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, str]:
        """The issue as the JSON object the reports use."""
        return {"file": self.file, "check": str(self.check), "severity": str(self.severity), "message": self.message}


class IssueCollector:
    """Collects issues, keeping exactly one per (file, check); repeats are counted into the message."""

    def __init__(self) -> None:
        self._issues: dict[tuple[str, Check], Issue] = {}
        self._counts: Counter[tuple[str, Check]] = Counter()
        self._imported: set[tuple[str, Check]] = set()

    def add(self, file: str, check: Check, message: str) -> None:
        """Record a finding, with the check's registered severity."""
        key = (file, check)
        if key in self._imported:
            return  # an earlier stage (prepare) already reported it
        self._counts[key] += 1
        if key not in self._issues:
            self._issues[key] = Issue(file, check, CHECKS[check].severity, message)

    def add_issue(self, issue: Issue) -> None:
        """Record an existing Issue (a repeat of a known (file, check) is only counted)."""
        key = (issue.file, issue.check)
        if key in self._issues:
            return
        self._issues[key] = issue
        self._counts[key] += 1
        self._imported.add(key)

    def issues(self) -> list[Issue]:
        """The issues, most severe first, then by check and file."""
        out = []
        for key, issue in self._issues.items():
            extra = self._counts[key] - 1
            out.append(replace(issue, message=f"{issue.message} (and {extra} more like it)") if extra > 0 else issue)
        out.sort(key=lambda i: (-SEVERITY_RANK.get(i.severity, 0), i.check, i.file))
        return out


# --------------------------------------------------------------------------------------------------------------
# Image checks


def check_image(
    name: str, facts: Measurements, issues: IssueCollector, *, thresholds: QualityParams, max_pixels: int
) -> None:
    """The checks on one image's measurements (the extension is the file name's, so renamed files are right).

    Args:
        name: The image's file name.
        facts: Its measurements.
        issues: Where findings go.
        thresholds: The limits of the photo checks (dark, light, blurry, grayscale, aspect ratio, information).
        max_pixels: The pixel limit the measurement used (for the too_large message).
    """
    if facts.error:
        issues.add(name, Check.CORRUPT_IMAGE, f"does not decode ({facts.error})")
    if facts.too_large:
        issues.add(name, Check.TOO_LARGE, f"is {facts.width}x{facts.height} px, more than the {max_pixels} pixel limit")
    suffix = file_suffix(name)
    expected = _EXPECTED_FORMATS.get(suffix.lower())
    if facts.format and (expected is None or facts.format not in expected):
        issues.add(name, Check.FORMAT_MISMATCH, f"holds {facts.format} data but is named {suffix}")
    w, h = facts.width, facts.height
    if w and h:
        if min(w, h) < MIN_SIDE_PX:
            issues.add(name, Check.TOO_SMALL, f"is only {w}x{h} px (shortest side under {MIN_SIDE_PX})")
        ratio = max(w, h) / min(w, h)
        if ratio > thresholds.max_aspect_ratio:
            issues.add(
                name,
                Check.ODD_ASPECT_RATIO,
                f"is {w}x{h} px, {ratio:.2f} times longer than wide (limit {thresholds.max_aspect_ratio:g})",
            )
    _check_pixels(name, facts, issues, thresholds)


def _check_pixels(name: str, facts: Measurements, issues: IssueCollector, thresholds: QualityParams) -> None:
    """The checks on what the pixels look like.

    A blank image gets low_variance, not also blurry, grayscale and low_information; a dark or washed-out image
    gets dark or light, not also low_information (squeezing the grey levels into a narrow band takes away entropy:
    the exposure is the cause to report).
    """
    exposure = False
    if facts.grey_p95 is not None and facts.grey_p95 < thresholds.dark_max_p95:
        exposure = True
        issues.add(
            name,
            Check.DARK,
            f"is very dark (its brightest 5 % of pixels reach only grey level {facts.grey_p95:.0f} of 255, "
            f"under {thresholds.dark_max_p95:g})",
        )
    if facts.grey_p5 is not None and facts.grey_p5 > thresholds.light_min_p5:
        exposure = True
        issues.add(
            name,
            Check.LIGHT,
            f"is washed out (even its darkest 5 % of pixels are at grey level {facts.grey_p5:.0f} of 255, "
            f"over {thresholds.light_min_p5:g})",
        )
    if facts.std is not None and facts.std < LOW_STD:
        issues.add(name, Check.LOW_VARIANCE, f"is almost uniform (grey standard deviation {facts.std:.2f})")
        return
    if facts.sharpness is not None and facts.sharpness < thresholds.blurry_max_sharpness:
        issues.add(
            name,
            Check.BLURRY,
            f"is blurry (sharpness {facts.sharpness:.1f}, under {thresholds.blurry_max_sharpness:g})",
        )
    if facts.colour is not None and facts.colour <= thresholds.grayscale_max_colour:
        issues.add(
            name,
            Check.GRAYSCALE,
            f"has no colour (colour spread {facts.colour:.0f} of 255, at most {thresholds.grayscale_max_colour:g})",
        )
    if not exposure and facts.entropy is not None and facts.entropy < thresholds.low_information_max_entropy:
        limit = thresholds.low_information_max_entropy
        issues.add(
            name,
            Check.LOW_INFORMATION,
            f"shows little detail (grey-level entropy {facts.entropy:.2f} bits, under {limit:g})",
        )


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits per uint64."""
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


def check_duplicates(
    images: list[DatasetImage], shas: list[str], facts: list[Measurements | None], issues: IssueCollector
) -> None:
    """Exact duplicates (same SHA-256) and near duplicates (close perceptual hashes).

    "Earlier" means sorted by file name (then split): the later file of a pair is the one reported.

    Args:
        images: The dataset's images.
        shas: Each image's SHA-256 ("" when unreadable).
        facts: Each image's measurements (None when unreadable).
        issues: Where findings go.
    """
    order = sorted(range(len(images)), key=lambda k: (images[k].name, images[k].split))
    first_by_sha: dict[str, int] = {}
    for k in order:
        sha = shas[k]
        if not sha:
            continue
        if sha in first_by_sha:
            issues.add(images[k].name, Check.EXACT_DUPLICATE, f"is byte-identical to {images[first_by_sha[sha]].name}")
        else:
            first_by_sha[sha] = k
    phashes = {k: f.phash for k in order if (f := facts[k]) is not None and f.phash}
    with_hash = [k for k in order if k in phashes]
    if len(with_hash) < 2:
        return
    hashes = np.array([int(phashes[k], 16) for k in with_hash], dtype=np.uint64)
    sha_ids: dict[str, int] = {}
    groups = np.array([sha_ids.setdefault(shas[k], len(sha_ids)) for k in with_hash], dtype=np.int64)
    for j, i in near_duplicate_pairs(hashes, groups).items():
        later, earlier = images[with_hash[j]], images[with_hash[i]]
        issues.add(later.name, Check.NEAR_DUPLICATE, f"looks almost the same as {earlier.name}")


def check_split_coverage(
    names: list[str],
    splits: list[str],
    class_images: Counter[int],
    split_boxes: dict[str, Counter[int]],
    issues: IssueCollector,
) -> None:
    """A class with boxes on at least two images but none in the train or the val split."""
    for split in ("train", "val"):
        if split not in splits:
            continue
        for cls in sorted(class_images):
            if split_boxes[split][cls] == 0 and class_images[cls] >= 2:
                issues.add(
                    "data.yaml", Check.SPLIT_MISSING_CLASS, f"class {names[cls]!r} has no boxes in the {split} split"
                )


# --------------------------------------------------------------------------------------------------------------
# Label checks


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
    """Pairwise IoU of (cx, cy, w, h) boxes."""
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


def check_labels(
    image: DatasetImage,
    width: int | None,
    height: int | None,
    names: list[str],
    issues: IssueCollector,
) -> list[tuple[int, float]]:
    """The checks on one image's YOLO label file.

    Args:
        image: The image (its label path and name).
        width: The image's width in pixels, None when unknown (then boxes are not checked for size).
        height: The image's height in pixels.
        names: The dataset's class names.
        issues: Where findings go.

    Returns:
        (class, relative area) of each usable box.
    """
    name = image.name
    nc = len(names)
    text = read_text_fast(image.label_str)
    if text is None:  # missing or unreadable: read it the usual way for the usual message
        try:
            text = image.label_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            issues.add(name, Check.MISSING_LABEL, "has no label file (treated as a background image with no boxes)")
            return []
        except (OSError, UnicodeDecodeError) as exc:
            issues.add(name, Check.LABEL_FORMAT, f"label file {image.label_path.name} cannot be read: {exc}")
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
                issues.add(name, Check.LABEL_FORMAT, f"label line {number} {parsed}: {line.strip()[:60]!r}")
                continue
            cls, cx, cy, w, h, _ = parsed
        if cls >= nc:
            issues.add(name, Check.UNKNOWN_CLASS, f"label line {number} uses class {cls}, but the dataset has {nc}")
            continue
        if w <= 0 or h <= 0:
            issues.add(name, Check.DEGENERATE_BBOX, f"label line {number} has width {w:g} and height {h:g}")
            continue
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if x2 <= 0 or y2 <= 0 or x1 >= 1 or y1 >= 1:
            issues.add(name, Check.DEGENERATE_BBOX, f"label line {number} lies entirely outside the image")
            continue
        tol = COORD_TOLERANCE
        if x1 < -tol or y1 < -tol or x2 > 1 + tol or y2 > 1 + tol:
            issues.add(name, Check.BBOX_OUT_OF_BOUNDS, f"label line {number} extends past the image border")
        if width and height:
            bw = (min(x2, 1.0) - max(x1, 0.0)) * width
            bh = (min(y2, 1.0) - max(y1, 0.0)) * height
            if bw < TINY_BOX_PX or bh < TINY_BOX_PX:
                issues.add(name, Check.TINY_BBOX, f"label line {number} is only {bw:.1f}x{bh:.1f} px")
        kept.append((cls, cx, cy, w, h))
    if not kept:
        if not any(line.strip() for line in text.splitlines()):
            issues.add(name, Check.MISSING_LABEL, "has no boxes (kept as a background image)")
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
            issues.add(name, Check.DUPLICATE_BOX, f"{pairs} pair(s) of {label!r} boxes overlap with IoU >= {DUP_IOU}")
    return [(int(c), float(w * h)) for c, _, _, w, h in kept]
