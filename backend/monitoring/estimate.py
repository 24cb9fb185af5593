"""mAP50 of a traffic window estimated without labels, from the model's own outputs, with an interval.

What the model says about each picture (`PictureOutput`: its detections at a low confidence floor, and the same
picture's detections when mirrored) is summarised per window (`window_features`):

- confidence-distribution features: mean best score per picture, mean score of the confident detections (the
  "average confidence" of confidence-based performance estimation), confident detections per picture, share of the
  score mass above 0.5;
- stability features: how many confident boxes survive a horizontal flip (matched to the mirrored picture's boxes
  of the same class at IoU ≥ 0.5), and the mean IoU of the matches. A model that is unsure of a picture moves its
  boxes when the picture is mirrored; research on detection without labels finds this tracks accuracy under shift.

An estimator (`MapEstimator`) is a least-squares line from a set of features to the window's true mAP50, fitted on
calibration windows (the model's held-out split under synthetic shifts, `backend.monitoring.calibration`). Its
interval is the 5-95 % quantiles of the out-of-fold residuals (leave one shift out): an estimate never meets its
own residual. `choose_estimator` fits each method and keeps the one with the smallest out-of-fold error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from backend.core.errors import BadInputError
from backend.monitoring.map50 import Box, iou

CONFIDENT = 0.25  # the serving default (`detect.conf`): what a user is shown
FEATURE_NAMES: tuple[str, ...] = (
    "best_score",
    "confident_score",
    "confident_per_picture",
    "high_share",
    "flip_agreement",
    "flip_iou",
)
RIDGE = 1e-3
INTERVAL = (0.05, 0.95)


class EstimateMethod(StrEnum):
    """Which window features an estimator reads."""

    CONFIDENCE = "confidence"  # confidence-distribution features only
    STABILITY = "stability"  # flip agreement only
    COMBINED = "combined"  # both


METHOD_FEATURES: dict[EstimateMethod, tuple[str, ...]] = {
    EstimateMethod.CONFIDENCE: ("best_score", "confident_score", "confident_per_picture", "high_share"),
    EstimateMethod.STABILITY: ("flip_agreement", "flip_iou"),
    EstimateMethod.COMBINED: FEATURE_NAMES,
}


@dataclass(frozen=True)
class PictureOutput:
    """The model's answers on one picture: as it is, and mirrored (boxes mapped back to the picture's frame)."""

    boxes: tuple[Box, ...]
    flipped: tuple[Box, ...]


@dataclass(frozen=True)
class MapEstimate:
    """An estimated mAP50 with its interval.

    Attributes:
        value: The estimate, 0-1.
        low: Lower end of the interval (5 % residual quantile).
        high: Upper end (95 %).
        pictures: Pictures in the window.
        method: The estimator's method; "uncalibrated" when no labelled data was available (interval 0-1).
    """

    value: float
    low: float
    high: float
    pictures: int
    method: str

    def as_dict(self) -> dict[str, float | int | str]:
        """JSON form (the store's report details)."""
        return asdict(self)


def _agreement(a: Sequence[Box], b: Sequence[Box]) -> tuple[float, list[float]]:
    """Share of confident boxes matched between two answers (Dice over matches) and the matched IoUs."""
    left = [box for box in a if box.confidence >= CONFIDENT]
    right = [box for box in b if box.confidence >= CONFIDENT]
    if not left and not right:
        return 1.0, []
    used = [False] * len(right)
    ious: list[float] = []
    for box in sorted(left, key=lambda x: -x.confidence):
        best, best_iou = -1, 0.5
        for index, other in enumerate(right):
            overlap = iou(box, other)
            if not used[index] and other.class_id == box.class_id and overlap >= best_iou:
                best, best_iou = index, overlap
        if best >= 0:
            used[best] = True
            ious.append(best_iou)
    return 2.0 * len(ious) / (len(left) + len(right)), ious


def window_features(pictures: Sequence[PictureOutput]) -> dict[str, float]:
    """The window's summary (`FEATURE_NAMES`).

    Raises:
        BadInputError: The window is empty.
    """
    if not pictures:
        raise BadInputError("An accuracy estimate needs at least one picture.")
    best = [max((b.confidence for b in p.boxes), default=0.0) for p in pictures]
    scores = np.asarray([b.confidence for p in pictures for b in p.boxes], dtype=float)
    confident = scores[scores >= CONFIDENT]
    agreements, ious = [], []
    for picture in pictures:
        share, matched = _agreement(picture.boxes, picture.flipped)
        agreements.append(share)
        ious.extend(matched)
    mass = float(scores[scores >= 0.1].sum())
    return {
        "best_score": float(np.mean(best)),
        "confident_score": float(confident.mean()) if confident.size else 0.0,
        "confident_per_picture": float(confident.size / len(pictures)),
        "high_share": float(scores[scores >= 0.5].sum() / mass) if mass > 0 else 0.0,
        "flip_agreement": float(np.mean(agreements)),
        "flip_iou": float(np.mean(ious)) if ious else 0.0,
    }


@dataclass
class MapEstimator:
    """A calibrated line from window features to mAP50, with residual quantiles for the interval.

    Attributes:
        method: Which features it reads.
        features: Their names, in coefficient order.
        mean: Feature means on the calibration windows (standardisation).
        scale: Feature standard deviations.
        coef: Intercept first, then one weight per standardised feature.
        residual_low: 5 % quantile of out-of-fold (estimate - truth) on the calibration windows.
        residual_high: 95 % quantile.
        oof_mae: Out-of-fold mean |estimate - truth| (how the method was chosen).
        info: Where it was calibrated (weights, dataset, window counts).
    """

    method: EstimateMethod
    features: tuple[str, ...]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    residual_low: float = 0.0
    residual_high: float = 0.0
    oof_mae: float = float("nan")
    info: dict[str, object] = field(default_factory=dict)

    def raw(self, features: dict[str, float]) -> float:
        """The line's value (unclipped)."""
        x = (np.asarray([features[name] for name in self.features]) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(self.coef[0] + np.dot(self.coef[1:], x))

    def estimate(self, pictures: Sequence[PictureOutput]) -> MapEstimate:
        """The window's estimated mAP50 and interval (all clipped to 0-1)."""
        value = self.raw(window_features(pictures))

        def clip(v: float) -> float:
            return float(min(1.0, max(0.0, v)))

        # the residual is estimate - truth, so the truth lies in [value - high, value - low]
        return MapEstimate(
            value=round(clip(value), 4),
            low=round(clip(value - self.residual_high), 4),
            high=round(clip(value - self.residual_low), 4),
            pictures=len(pictures),
            method=str(self.method),
        )

    def save(self, path: Path) -> Path:
        """Write as JSON (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> MapEstimator:
        """Read `save`'s JSON."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["method"] = EstimateMethod(data["method"])
        data["features"] = tuple(data["features"])
        return cls(**data)


def _fit_line(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge least squares with an unpenalised intercept on standardised x."""
    design = np.hstack([np.ones((x.shape[0], 1)), x])
    penalty = RIDGE * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(design.T @ design + penalty, design.T @ y)


def fit_estimator(
    rows: Sequence[dict[str, float]], truths: Sequence[float], groups: Sequence[str], method: EstimateMethod
) -> MapEstimator:
    """Fit one method on calibration windows; residual quantiles from leave-one-group-out predictions.

    Args:
        rows: Each calibration window's `window_features`.
        truths: Each window's true mAP50.
        groups: Each window's shift (its kind, e.g. "blur"); a fold leaves one kind out.
        method: Which features to read.

    Raises:
        BadInputError: Fewer than 3 windows, or fewer than 2 groups.
    """
    if len(rows) < 3 or len(set(groups)) < 2:
        raise BadInputError("Calibrating an accuracy estimate needs at least 3 windows of at least 2 kinds.")
    names = METHOD_FEATURES[method]
    x_all = np.asarray([[row[name] for name in names] for row in rows], dtype=float)
    y = np.asarray(truths, dtype=float)
    mean, scale = x_all.mean(axis=0), x_all.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = (x_all - mean) / scale
    kinds = np.asarray(groups)
    oof = np.empty_like(y)
    for kind in sorted(set(groups)):
        held = kinds == kind
        coef = _fit_line(x[~held], y[~held])
        oof[held] = coef[0] + x[held] @ coef[1:]
    residuals = oof - y
    coef = _fit_line(x, y)
    return MapEstimator(
        method=method,
        features=names,
        mean=mean.tolist(),
        scale=scale.tolist(),
        coef=coef.tolist(),
        residual_low=float(np.quantile(residuals, INTERVAL[0])),
        residual_high=float(np.quantile(residuals, INTERVAL[1])),
        oof_mae=float(np.mean(np.abs(np.clip(oof, 0, 1) - y))),
    )


def choose_estimator(
    rows: Sequence[dict[str, float]], truths: Sequence[float], groups: Sequence[str]
) -> tuple[MapEstimator, dict[str, float]]:
    """Fit every method; keep the smallest out-of-fold mean error. Returns it and each method's error."""
    fitted = [fit_estimator(rows, truths, groups, method) for method in EstimateMethod]
    errors = {str(est.method): round(est.oof_mae, 4) for est in fitted}
    best = min(fitted, key=lambda est: est.oof_mae)
    best.info["method_errors"] = errors
    return best, errors


def uncalibrated_estimate(pictures: Sequence[PictureOutput]) -> MapEstimate:
    """What can be said without any labelled data: the mean confident score, with the honest interval 0-1."""
    features = window_features(pictures)
    value = features["confident_score"] * min(1.0, features["flip_agreement"])
    return MapEstimate(value=round(value, 4), low=0.0, high=1.0, pictures=len(pictures), method="uncalibrated")
