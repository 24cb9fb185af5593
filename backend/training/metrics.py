"""Training metrics in plain JSON values: one epoch's record (`EpochMetrics`) and the summary of an ultralytics
validation (`summarize_det_metrics`: mAP, precision, recall, per-class AP, PR curves, confusion matrix, F1-optimal
class thresholds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from backend.training.estimate import TimeRange, rough_duration, rough_range

PR_POINTS = 101


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one completed epoch (epoch is 1-based); `remaining_s` is the estimated time the run has left
    after it (its epochs so far times the epochs left, plus the final evaluation; `backend.training.estimate`),
    give or take `remaining_margin_s`."""

    epoch: int
    epochs: int
    box_loss: float | None
    cls_loss: float | None
    dfl_loss: float | None
    precision: float | None
    recall: float | None
    map50: float | None
    map50_95: float | None
    lr: float | None
    seconds: float | None
    remaining_s: float | None = None
    remaining_margin_s: float | None = None

    def message(self) -> str:
        """Plain-language one-liner, e.g. "Epoch 3/10 — box loss 1.23, mAP50 0.41 · about 5 min left (4–6 min)"."""
        parts = []
        if self.box_loss is not None:
            parts.append(f"box loss {self.box_loss:.2f}")
        if self.map50 is not None:
            parts.append(f"mAP50 {self.map50:.2f}")
        text = f"Epoch {self.epoch}/{self.epochs}" + (" — " + ", ".join(parts) if parts else "")
        if self.remaining_s is not None:
            margin = self.remaining_margin_s or 0.0
            left = TimeRange(self.remaining_s, max(self.remaining_s - margin, 0.0), self.remaining_s + margin)
            text += f" · {rough_duration(left.seconds)} left ({rough_range(left.low, left.high)})"
        return text


def num(value: Any) -> float | None:
    """`value` as a float rounded to 5 digits; None for missing, non-numeric or NaN values."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else round(number, 5)


def _round(value: Any, digits: int = 5) -> float:
    return round(float(value), digits)


def summarize_det_metrics(metrics: Any, names: dict[int, str] | list[str]) -> dict[str, Any]:
    """Turn ultralytics `DetMetrics` (from `model.val()` or a trainer's validator) into plain JSON values.

    Args:
        metrics: An ultralytics DetMetrics.
        names: Class names by index.

    Returns:
        Dict with map50, map50_95, precision, recall, per_class ({name: {"ap50", "ap50_95"}}; 0 for classes
        absent from the val split), pr_curve ({name: {"recall", "precision"}}, PR_POINTS points), confusion_matrix
        ({"names", "matrix"}, rows predicted, columns true; empty unless validated with plots=True),
        class_thresholds ({name: F1-optimal confidence}) and classes_without_labels.
    """
    import numpy as np

    names = dict(enumerate(names)) if isinstance(names, (list, tuple)) else dict(names)
    box = metrics.box
    mp, mr, map50, map50_95 = (float(x) for x in box.mean_results())
    present = [int(i) for i in box.ap_class_index]
    per_class: dict[str, dict[str, float]] = {names[i]: {"ap50": 0.0, "ap50_95": 0.0} for i in sorted(names)}
    for row, cls in enumerate(present):
        per_class[names[cls]] = {"ap50": _round(box.ap50[row]), "ap50_95": _round(box.ap[row])}

    pr_curve: dict[str, dict[str, list[float]]] = {}
    px = np.asarray(getattr(box, "px", []), dtype=float)
    prec_values = np.asarray(getattr(box, "prec_values", []), dtype=float)
    if px.size and prec_values.ndim == 2 and prec_values.shape[0] == len(present):
        idx = np.unique(np.linspace(0, px.size - 1, PR_POINTS).round().astype(int))
        for row, cls in enumerate(present):
            pr_curve[names[cls]] = {
                "recall": [_round(v, 4) for v in px[idx]],
                "precision": [_round(v, 4) for v in prec_values[row, idx]],
            }

    # F1-optimal confidence per class: ultralytics' f1_curve is F1 over 1000 confidences from 0 to 1
    class_thresholds: dict[str, float] = {}
    f1 = np.asarray(getattr(box, "f1_curve", []), dtype=float)
    if px.size and f1.ndim == 2 and f1.shape == (len(present), px.size):
        for row, cls in enumerate(present):
            if f1[row].max() > 0:
                class_thresholds[names[cls]] = _round(px[int(f1[row].argmax())], 3)

    confusion: dict[str, Any] = {}
    cm = getattr(metrics, "confusion_matrix", None)
    # ultralytics fills the matrix only when validating with plots=True; an empty one is left out
    if cm is not None and getattr(cm, "matrix", None) is not None and np.asarray(cm.matrix).sum() > 0:
        matrix = np.asarray(cm.matrix)
        labels = [names[i] for i in sorted(names)]
        if matrix.shape[0] == len(labels) + 1:
            labels.append("background")
        confusion = {"names": labels, "matrix": [[round(v) for v in row] for row in matrix.tolist()]}

    return {
        "map50": _round(map50),
        "map50_95": _round(map50_95),
        "precision": _round(mp),
        "recall": _round(mr),
        "per_class": per_class,
        "pr_curve": pr_curve,
        "confusion_matrix": confusion,
        "class_thresholds": class_thresholds,
        "classes_without_labels": [names[i] for i in sorted(names) if i not in present],
    }
