"""mAP50 of detections against ground-truth boxes, computed here so the accuracy estimate's calibration and its
benchmark measure the truth the same way, on any subset of pictures (ultralytics' validator only runs on a dataset
folder).

The definition follows COCO / ultralytics: per class, detections of all pictures sorted by confidence, matched
greedily to unmatched ground-truth boxes of the same class at IoU ≥ 0.5, precision made monotone, the area under
the precision-recall curve integrated on 101 recall points; the mean over the classes that have ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

IOU_MATCH = 0.5
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class Box:
    """One box in pixels: (x1, y1, x2, y2), its class index and (for detections) its confidence."""

    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float = 1.0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either has no area)."""
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return float(inter / union) if union > 0 else 0.0


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under a precision-recall curve (recall ascending), 101-point interpolation on the monotone envelope."""
    if recall.size == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    values = np.where(at < recall.size, envelope[np.minimum(at, recall.size - 1)], 0.0)
    return float(values.mean())


def map50(detections: Sequence[Sequence[Box]], truths: Sequence[Sequence[Box]]) -> float:
    """mAP at IoU 0.5 over pictures, mean over classes with ground truth (0.0 when no picture has any).

    Args:
        detections: Per picture, the model's boxes with confidences.
        truths: Per picture, the labelled boxes (same order and length).

    Raises:
        ValueError: The two sequences differ in length.
    """
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} pictures of detections but {len(truths)} of ground truth")
    classes = sorted({box.class_id for picture in truths for box in picture})
    if not classes:
        return 0.0
    aps = []
    for cls in classes:
        n_truth = sum(1 for picture in truths for box in picture if box.class_id == cls)
        scored: list[tuple[float, bool]] = []
        for dets, gts in zip(detections, truths, strict=True):
            own = [g for g in gts if g.class_id == cls]
            used = [False] * len(own)
            for det in sorted((d for d in dets if d.class_id == cls), key=lambda d: -d.confidence):
                best, best_iou = -1, IOU_MATCH
                for index, gt in enumerate(own):
                    overlap = iou(det, gt)
                    if not used[index] and overlap >= best_iou:
                        best, best_iou = index, overlap
                if best >= 0:
                    used[best] = True
                scored.append((det.confidence, best >= 0))
        scored.sort(key=lambda item: -item[0])
        hits = np.cumsum([hit for _, hit in scored], dtype=float)
        ranks = np.arange(1, len(scored) + 1, dtype=float)
        aps.append(average_precision(hits / n_truth, hits / ranks) if scored else 0.0)
    return float(np.mean(aps))
