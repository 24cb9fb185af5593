"""Which detections of a held-out picture are right: each matched once, by IoU, to a true box of its class.

Used by the confidence calibration (`backend.training.confidence`, `backend.training.held_out`) to label the
held-out detections a calibration map is fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
_EPS = 1e-6
MATCH_IOU = 0.5  # a detection is right when it overlaps an unclaimed true box of its class by at least this


def box_iou(box: Sequence[float], others: Floats) -> Floats:
    """IoU of one (x1, y1, x2, y2) box with each row of `others` (N x 4)."""
    if others.size == 0:
        return np.zeros(0)
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, _EPS)


def match_detections(
    boxes: npt.ArrayLike,
    classes: Sequence[int],
    scores: npt.ArrayLike,
    true_boxes: npt.ArrayLike,
    true_classes: Sequence[int],
    *,
    iou: float = MATCH_IOU,
) -> Bools:
    """Label one picture's detections right or wrong: greedy by score, each detection claims the unclaimed true box
    of its own class that it overlaps most, when that overlap is at least `iou`.

    Args:
        boxes: N x 4 detection boxes (x1, y1, x2, y2), any pixel scale shared with `true_boxes`.
        classes: N class ids.
        scores: N scores (the order of claiming).
        true_boxes: M x 4 ground-truth boxes.
        true_classes: M class ids.
        iou: Least overlap of a right detection.

    Returns:
        N booleans, in the order given.
    """
    det = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    truth = np.asarray(true_boxes, dtype=np.float64).reshape(-1, 4)
    truth_classes = np.asarray(true_classes, dtype=np.int64)
    claimed = np.zeros(len(truth), dtype=bool)
    right = np.zeros(len(det), dtype=bool)
    for index in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        open_same = (truth_classes == int(classes[index])) & ~claimed
        if not open_same.any():
            continue
        overlaps = np.where(open_same, box_iou(det[index], truth), -1.0)
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou:
            claimed[best] = True
            right[index] = True
    return right
