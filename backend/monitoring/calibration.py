"""Calibrating the accuracy estimate: the model's labelled held-out split under synthetic shifts.

Each shift kind (`CALIBRATION_SHIFTS`) at three severities changes the held-out pictures (and, for `scale`, their
boxes); random windows of each shifted set give (window features, true mAP50) pairs; `choose_estimator` fits each
method on them and keeps the best by leave-one-shift-out error. Test windows are never seen here: only the split
the model was validated on.

The calibration is kept per (weights, dataset) in the cache folder, so the first report for a model pays for it
(about two predictions per held-out picture per shifted set) and the next ones read it.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from backend.core.hashing import file_sha256
from backend.core.progress import ProgressFn, null_progress
from backend.core.settings import get_settings
from backend.monitoring.estimate import MapEstimator, PictureOutput, choose_estimator, window_features
from backend.monitoring.map50 import Box, map50
from backend.monitoring.tables import list_images
from backend.monitoring.traffic import new_table

logger = logging.getLogger(__name__)

SCORE_FLOOR = 0.01  # detections kept for the estimate and for the true mAP50 (ultralytics validates at 0.001)
SEVERITIES = (1, 2, 3)
CALIBRATION_SEED = 11
WINDOWS_PER_SET = 6
MAX_CALIBRATION_IMAGES = 120

Shifted = tuple[Image.Image, list[Box]]
ShiftFn = Callable[[Image.Image, list[Box], int, np.random.Generator], Shifted]


def _dark(image: Image.Image, boxes: list[Box], severity: int, rng: np.random.Generator) -> Shifted:
    del rng  # the shifts share one signature; this one draws nothing at random
    scale = (0.6, 0.42, 0.28)[severity - 1]
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return Image.fromarray(np.clip(255.0 * scale * pixels**1.15, 0, 255).astype(np.uint8)), boxes


def _blur(image: Image.Image, boxes: list[Box], severity: int, rng: np.random.Generator) -> Shifted:
    del rng  # the shifts share one signature; this one draws nothing at random
    return image.filter(ImageFilter.GaussianBlur(radius=(1.5, 2.5, 4.0)[severity - 1])), boxes


def _noise(image: Image.Image, boxes: list[Box], severity: int, rng: np.random.Generator) -> Shifted:
    sigma = (12.0, 25.0, 45.0)[severity - 1]
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, size=(image.height, image.width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), boxes


def _jpeg(image: Image.Image, boxes: list[Box], severity: int, rng: np.random.Generator) -> Shifted:
    del rng  # the shifts share one signature; this one draws nothing at random
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=(25, 12, 6)[severity - 1])
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB"), boxes


def _background(image: Image.Image, boxes: list[Box], severity: int, rng: np.random.Generator) -> Shifted:
    coco = [("", [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1]) for b in boxes]
    cloth = new_table(image, coco, rng)
    return Image.blend(image, cloth, (0.4, 0.7, 1.0)[severity - 1]), boxes


def _scale(image: Image.Image, boxes: list[Box], severity: int, rng: np.random.Generator) -> Shifted:
    """Food further away: the picture shrunk onto a canvas of its mean colour (the boxes follow)."""
    del rng  # the shifts share one signature; this one draws nothing at random
    factor = (0.75, 0.55, 0.4)[severity - 1]
    w, h = image.size
    small = image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR)
    colour = tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0))
    canvas = Image.new("RGB", (w, h), colour)
    dx, dy = (w - small.width) // 2, (h - small.height) // 2
    canvas.paste(small, (dx, dy))
    moved = [
        Box(b.class_id, b.x1 * factor + dx, b.y1 * factor + dy, b.x2 * factor + dx, b.y2 * factor + dy, b.confidence)
        for b in boxes
    ]
    return canvas, moved


CALIBRATION_SHIFTS: dict[str, ShiftFn] = {
    "dark": _dark,
    "blur": _blur,
    "noise": _noise,
    "jpeg": _jpeg,
    "background": _background,
    "scale": _scale,
}


def shift_picture(image: Image.Image, boxes: list[Box], kind: str, severity: int, seed: int) -> Shifted:
    """One picture under one synthetic shift ("none" leaves it as it is).

    Raises:
        KeyError: An unknown shift kind.
    """
    if kind == "none":
        return image, boxes
    return CALIBRATION_SHIFTS[kind](image, boxes, severity, np.random.default_rng(seed))


def _to_boxes(detections: Sequence[Any], width: int | None = None) -> tuple[Box, ...]:
    """Serving detections as boxes; mirrored back when `width` is given (they came from the flipped picture)."""
    out = []
    for det in detections:
        x1, y1, x2, y2 = det.box
        if width is not None:
            x1, x2 = width - x2, width - x1
        out.append(Box(det.class_id, x1, y1, x2, y2, det.confidence))
    return tuple(out)


def model_outputs(detector: Any, images: Sequence[Image.Image], *, embed: bool = False) -> tuple[list[Any], list[Any]]:
    """The model's answers on each picture and on its mirror image, and (if asked) each picture's embedding.

    Args:
        detector: A `backend.serving.inference.Detector`.
        images: RGB pictures.
        embed: Also read the embeddings (None each when the model carries none).

    Returns:
        (`PictureOutput` per picture, embedding or None per picture).
    """
    embed = embed and bool(detector.embeds)
    outputs, embeddings = [], []
    for image in images:
        plain = detector.predict([image], conf=SCORE_FLOOR, embed=embed)[0]
        mirrored = detector.predict([ImageOps.mirror(image)], conf=SCORE_FLOOR)[0]
        outputs.append(
            PictureOutput(boxes=_to_boxes(plain.detections), flipped=_to_boxes(mirrored.detections, image.width))
        )
        embeddings.append(plain.embedding)
    return outputs, embeddings


def read_yolo_boxes(label: Path, width: int, height: int) -> list[Box]:
    """A YOLO label file's boxes in pixels (none when the file is missing: a picture without food)."""
    if not label.is_file():
        return []
    boxes = []
    for line in label.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        cls, cx, cy, bw, bh = int(float(parts[0])), *(float(v) for v in parts[1:5])
        boxes.append(
            Box(cls, (cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width, (cy + bh / 2) * height)
        )
    return boxes


def held_out_split(dataset_dir: Path) -> list[tuple[Path, Path]]:
    """(image, YOLO label) pairs of a prepared dataset's held-out split (`images/val`, `labels/val`); [] if none."""
    images_dir, labels_dir = Path(dataset_dir) / "images" / "val", Path(dataset_dir) / "labels" / "val"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        return []
    return [(path, labels_dir / f"{path.stem}.txt") for path in list_images(images_dir)]


@dataclass(frozen=True)
class LabelledSet:
    """One shifted version of the held-out pictures with the model's answers and the true boxes."""

    kind: str
    severity: int
    outputs: list[PictureOutput]
    truths: list[list[Box]]


def labelled_sets(
    detector: Any,
    pairs: Sequence[tuple[Path, Path]],
    *,
    kinds: Sequence[str] = ("none", *CALIBRATION_SHIFTS),
    seed: int = CALIBRATION_SEED,
    progress: ProgressFn = null_progress,
) -> list[LabelledSet]:
    """The model's answers on labelled pictures under each shift kind and severity ("none" once)."""
    loaded = []
    for image_path, label_path in pairs:
        with Image.open(image_path) as opened:
            image = opened.convert("RGB")
        loaded.append((image, read_yolo_boxes(label_path, image.width, image.height)))
    plan = [(kind, severity) for kind in kinds for severity in ((0,) if kind == "none" else SEVERITIES)]
    sets = []
    for step, (kind, severity) in enumerate(plan):
        shifted = [shift_picture(im, boxes, kind, severity, seed + i) for i, (im, boxes) in enumerate(loaded)]
        outputs, _ = model_outputs(detector, [im for im, _ in shifted])
        sets.append(LabelledSet(kind, severity, outputs, [boxes for _, boxes in shifted]))
        progress((step + 1) / len(plan), f"Calibration: {kind} {severity or ''} ({step + 1} of {len(plan)} sets)")
    return sets


def calibration_windows(
    sets: Sequence[LabelledSet], *, window: int, per_set: int = WINDOWS_PER_SET, seed: int = CALIBRATION_SEED
) -> tuple[list[dict[str, float]], list[float], list[str]]:
    """(features, true mAP50, shift kind) of the whole of each set and of `per_set` random windows of it."""
    rng = np.random.default_rng(seed)
    rows, truths, groups = [], [], []
    for labelled in sets:
        n = len(labelled.outputs)
        picks = [np.arange(n)] + [rng.choice(n, size=min(n, window), replace=False) for _ in range(per_set)]
        for pick in picks:
            rows.append(window_features([labelled.outputs[i] for i in pick]))
            truths.append(map50([labelled.outputs[i].boxes for i in pick], [labelled.truths[i] for i in pick]))
            groups.append(labelled.kind)
    return rows, truths, groups


def calibrate(
    detector: Any, dataset_dir: Path, *, window: int = 60, progress: ProgressFn = null_progress
) -> MapEstimator | None:
    """Fit the accuracy estimator on a prepared dataset's held-out split; None when it has no labelled split."""
    pairs = held_out_split(dataset_dir)
    if len(pairs) < 5:
        return None
    if len(pairs) > MAX_CALIBRATION_IMAGES:
        keep = np.random.default_rng(CALIBRATION_SEED).choice(len(pairs), MAX_CALIBRATION_IMAGES, replace=False)
        pairs = [pairs[i] for i in sorted(keep)]
    sets = labelled_sets(detector, pairs, progress=progress)
    rows, truths, groups = calibration_windows(sets, window=min(window, len(pairs)))
    estimator, errors = choose_estimator(rows, truths, groups)
    estimator.info.update(
        {"dataset": str(dataset_dir), "held_out_images": len(pairs), "windows": len(rows), "sets": len(sets)}
    )
    logger.info("accuracy estimate calibrated: %s (out-of-fold mean errors %s)", estimator.method, errors)
    return estimator


def estimator_path(weights: Path, dataset_dir: Path) -> Path:
    """Where the calibration of these weights on this dataset is kept (the cache folder)."""
    key = hashlib.sha256(f"{file_sha256(Path(weights))}:{Path(dataset_dir).resolve()}".encode()).hexdigest()
    return get_settings().cache_dir / "monitoring" / f"estimator-{key[:16]}.json"


def calibrated_estimator(
    detector: Any, weights: Path, dataset_dir: Path, *, progress: ProgressFn = null_progress
) -> MapEstimator | None:
    """The kept calibration of these weights on this dataset, calibrating (and keeping) it the first time."""
    path = estimator_path(weights, dataset_dir)
    if path.is_file():
        return MapEstimator.load(path)
    estimator = calibrate(detector, dataset_dir, progress=progress)
    if estimator is not None:
        estimator.save(path)
    return estimator
