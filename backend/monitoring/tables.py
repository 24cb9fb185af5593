"""The tables a drift report compares: one row per image, image properties plus what the model said about it.

Image columns are `backend.imaging.features.FEATURE_NAMES` (the prediction log stores the same). Prediction columns
summarise the detections on one image, so the reference side (the serving model run over the training images) and
the current side (the prediction log) are built the same way:

- `pred_class`: the class the image is mostly about (most boxes; ties go to the higher confidence), "(none)" when
  nothing was detected. Categorical; its distribution is the class share.
- `confidence`: mean confidence of the image's detections (missing when there are none).
- `boxes`: number of detections.
- `box_area`: mean box area as a share of the image area (missing when there are none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.imaging.features import FEATURE_NAMES, image_features
from backend.imaging.loading import LoadedImage, load_image
from backend.serving.inference import Detector
from backend.store.records import Prediction

IMAGE_COLUMNS: tuple[str, ...] = FEATURE_NAMES
PREDICTION_NUMERIC: tuple[str, ...] = ("confidence", "boxes", "box_area")
PREDICTION_CATEGORICAL: tuple[str, ...] = ("pred_class",)
PREDICTION_COLUMNS: tuple[str, ...] = (*PREDICTION_CATEGORICAL, *PREDICTION_NUMERIC)
NUMERIC_COLUMNS: tuple[str, ...] = (*IMAGE_COLUMNS, *PREDICTION_NUMERIC)
ALL_COLUMNS: tuple[str, ...] = (*IMAGE_COLUMNS, *PREDICTION_COLUMNS)
NO_CLASS = "(none)"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
_PREDICT_BATCH = 16


def prediction_columns(detections: Sequence[dict[str, Any]], width: float, height: float) -> dict[str, Any]:
    """Summarise one image's detections (`{"class", "confidence", "box"}` dicts) as the prediction columns.

    Args:
        detections: The detections as the prediction log stores them.
        width: Image width in pixels (box coordinates are in these pixels).
        height: Image height in pixels.

    Returns:
        `{"pred_class", "confidence", "boxes", "box_area"}`; confidence and box area are NaN without detections.
    """
    if not detections:
        return {"pred_class": NO_CLASS, "confidence": np.nan, "boxes": 0, "box_area": np.nan}
    counts = Counter(str(d.get("class", "")) for d in detections)
    best_conf: dict[str, float] = {}
    for d in detections:
        name = str(d.get("class", ""))
        best_conf[name] = max(best_conf.get(name, 0.0), float(d.get("confidence", 0.0)))
    pred_class = max(counts, key=lambda name: (counts[name], best_conf[name]))
    area = max(float(width) * float(height), 1.0)
    areas = []
    for d in detections:
        x1, y1, x2, y2 = (float(v) for v in d.get("box", (0, 0, 0, 0)))
        areas.append(max(0.0, x2 - x1) * max(0.0, y2 - y1) / area)
    return {
        "pred_class": pred_class,
        "confidence": round(float(np.mean([float(d.get("confidence", 0.0)) for d in detections])), 4),
        "boxes": len(detections),
        "box_area": round(float(np.mean(areas)), 5),
    }


def frame_from_predictions(predictions: Iterable[Prediction]) -> pd.DataFrame:
    """The current table from logged predictions (oldest first), with `prediction_id` and `created_at` kept."""
    rows = []
    for p in predictions:
        features = p.features or {}
        row: dict[str, Any] = {name: features.get(name, np.nan) for name in IMAGE_COLUMNS}
        row.update(prediction_columns(p.detections or [], features.get("width", 0), features.get("height", 0)))
        row["prediction_id"] = p.id
        row["created_at"] = p.created_at
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*ALL_COLUMNS, "prediction_id", "created_at"])
    return _typed(frame.sort_values("prediction_id") if len(frame) else frame)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` or below it, sorted (hidden files skipped)."""
    return sorted(
        p
        for p in Path(folder).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.parts)
    )


def frame_from_images(
    paths: Sequence[Path],
    detector: Detector,
    *,
    conf: float | None = None,
    iou: float | None = None,
    progress: ProgressFn = null_progress,
) -> pd.DataFrame:
    """Measure image features and run the detector over image files (the reference, or a folder of new images).

    Args:
        paths: Image files; unreadable ones are skipped.
        detector: The model whose predictions form the prediction columns.
        conf: Minimum confidence of a detection; default `detect.conf` of params.yaml (the serving default).
        iou: NMS IoU threshold.
        progress: Receives (fraction, message).

    Returns:
        One row per readable image with `file` and every column of `ALL_COLUMNS`.
    """
    rows: list[dict[str, Any]] = []
    paths = list(paths)
    for start in range(0, len(paths), _PREDICT_BATCH):
        batch: list[tuple[Path, LoadedImage]] = []
        for path in paths[start : start + _PREDICT_BATCH]:
            try:
                batch.append((path, load_image(path)))
            except BadInputError:
                continue  # unreadable files are the data-quality checks' business
        results = detector.predict([loaded.image for _, loaded in batch], conf=conf, iou=iou) if batch else []
        for (path, loaded), result in zip(batch, results, strict=True):
            features = image_features(loaded.image, file_size=loaded.file_size).as_dict()
            dets = [d.as_dict() for d in result.detections]
            rows.append({"file": path.name, **features, **prediction_columns(dets, loaded.width, loaded.height)})
        done = min(start + _PREDICT_BATCH, len(paths))
        progress(done / max(1, len(paths)), f"Measured and ran the model on {done} of {len(paths)} images")
    frame = pd.DataFrame(rows, columns=["file", *ALL_COLUMNS])
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as floats and the class as text, so Evidently sees the intended column types."""
    frame = frame.copy()
    for name in NUMERIC_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    frame["pred_class"] = frame["pred_class"].fillna(NO_CLASS).astype(str)
    return frame.reset_index(drop=True)
