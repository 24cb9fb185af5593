"""Average precision with bootstrap 95 % intervals over images, and the paired difference of two models.

Input is a `MatchTable`: one model's detections on one image set, each already matched to the ground truth at the ten
IoU thresholds 0.50:0.05:0.95 (`backend.training.matching`), plus the ground-truth boxes per image and class. The
matching is done once; every figure and every resample is computed from the table.

AP follows ultralytics 8.4 (`ultralytics.utils.metrics.ap_per_class` / `compute_ap`), so a figure here agrees with
`jobs.evaluate`: per class, detections sorted by confidence, cumulative precision and recall, the precision envelope
with the sentinels (recall 0, precision 1) and (last recall, 0), sampled at 101 recall points with linear
interpolation and integrated with the trapezoid rule. mAP is the mean over the classes that have ground truth.

The bootstrap resamples images with replacement, vectorised: a resample is a vector of multiplicities (how often each
image was drawn), every detection and ground-truth box of an image counts that many times, and the cumulative sums
become weighted sums. The interval is the 2.5th-97.5th percentile of the resampled statistic. A paired comparison
draws one set of resamples and applies it to both models, so the interval is that of their difference on the same
images; a model compared with itself differs by exactly 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.core.params import get_params

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
AP_RECALL_POINTS = np.linspace(0.0, 1.0, 101)
# the trapezoid rule over the 101 evenly spaced recall points, as one weight per point (a matrix product)
_TRAPEZOID = np.full(101, 0.01)
_TRAPEZOID[[0, -1]] = 0.005
CONFIDENCE = 95.0  # percent: the intervals are 95 % intervals
_CHUNK_ELEMENTS = 4_000_000  # largest (resamples x thresholds x detections) block computed at once (~32 MB)
METHOD = (
    "AP as ultralytics computes it (101-point interpolated precision envelope, trapezoid rule; greedy matching in "
    "confidence order at IoU 0.50:0.95); 95 % percentile interval from a bootstrap over images"
)


@dataclass(frozen=True)
class MatchTable:
    """One model's detections on one image set, matched to the ground truth.

    Attributes:
        classes: The image set's class names; every class index below is into this tuple.
        model_classes: The model's own class names (its detections of classes the set lacks are left out).
        det_image: (D,) index of the image each detection is on.
        det_class: (D,) its class (index into `classes`).
        det_conf: (D,) its confidence.
        det_tp: (D, 10) whether it is a true positive at each IoU threshold of `IOU_THRESHOLDS`.
        gt_counts: (N, C) ground-truth boxes per image and class.
    """

    classes: tuple[str, ...]
    model_classes: tuple[str, ...]
    det_image: np.ndarray
    det_class: np.ndarray
    det_conf: np.ndarray
    det_tp: np.ndarray
    gt_counts: np.ndarray

    @property
    def images(self) -> int:
        """Number of images."""
        return int(self.gt_counts.shape[0])

    @property
    def instances(self) -> int:
        """Number of ground-truth boxes."""
        return int(self.gt_counts.sum())

    def instances_per_class(self) -> dict[str, int]:
        """Ground-truth boxes per class name."""
        totals = self.gt_counts.sum(axis=0)
        return {name: int(totals[i]) for i, name in enumerate(self.classes)}


@dataclass(frozen=True)
class Interval:
    """A figure and its 95 % bootstrap interval (None bounds when nothing could be resampled)."""

    value: float
    low: float | None
    high: float | None

    def text(self, digits: int = 2) -> str:
        """E.g. "0.56 (0.51–0.61)"."""
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


@dataclass(frozen=True)
class ClassFigures:
    """One class's AP on an image set: None when the set has no box of it."""

    instances: int
    ap50: Interval | None
    ap50_95: Interval | None


@dataclass(frozen=True)
class Figures:
    """A model's figures on an image set, each with its 95 % interval.

    Attributes:
        map50: mAP at IoU 0.5.
        map50_95: mAP averaged over IoU 0.50:0.95.
        per_class: {class name: its AP50 and AP50-95}.
        precision: Mean precision over the classes with boxes, at the detection confidence end users see.
        recall: Mean recall at that confidence.
        images: Images in the set.
        instances: Ground-truth boxes in the set.
        samples: Bootstrap resamples behind the intervals.
        seed: Their random seed.
    """

    map50: Interval
    map50_95: Interval
    per_class: dict[str, ClassFigures]
    precision: float
    recall: float
    images: int
    instances: int
    samples: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON: map50, map50_low, map50_high, map50_95(_low/_high), precision, recall, per_class, basis."""
        per_class: dict[str, dict[str, Any]] = {}
        for name, figures in self.per_class.items():
            entry: dict[str, Any] = {"instances": figures.instances}
            entry.update(interval_keys("ap50", figures.ap50))
            entry.update(interval_keys("ap50_95", figures.ap50_95))
            per_class[name] = entry
        return {
            **interval_keys("map50", self.map50),
            **interval_keys("map50_95", self.map50_95),
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
            "per_class": per_class,
            "images": self.images,
            "instances": self.instances,
            "bootstrap_samples": self.samples,
            "bootstrap_seed": self.seed,
        }


@dataclass(frozen=True)
class PairedDifference:
    """Model A minus model B on the same resampled images: each difference with its 95 % interval."""

    map50: Interval
    map50_95: Interval
    per_class: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON: map50_delta, map50_delta_low, map50_delta_high, the same for map50_95, and per-class AP50."""
        return {
            **interval_keys("map50_delta", self.map50),
            **interval_keys("map50_95_delta", self.map50_95),
            "per_class": {name: interval_keys("ap50_delta", value) for name, value in self.per_class.items()},
        }


def interval_keys(key: str, interval: Interval | None) -> dict[str, float | None]:
    """{key: value, key_low: low, key_high: high}, rounded to 5 digits (all None for a missing figure)."""
    if interval is None:
        return {key: None, f"{key}_low": None, f"{key}_high": None}
    return {
        key: round(interval.value, 5),
        f"{key}_low": None if interval.low is None else round(interval.low, 5),
        f"{key}_high": None if interval.high is None else round(interval.high, 5),
    }


# --------------------------------------------------------------------------------------------------- AP


def interpolated_ap(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """AP of many PR curves at once, exactly as ultralytics' `compute_ap` computes one.

    Args:
        recall: (R, D) cumulative recall of each curve (non-decreasing along D).
        precision: (R, D) cumulative precision.

    Returns:
        (R,) the area under each curve's 101-point interpolated precision envelope.
    """
    rows, width = recall.shape
    if width == 0:
        return np.zeros(rows)
    mrec = np.concatenate([np.zeros((rows, 1)), recall, recall[:, -1:], np.ones((rows, 1))], axis=1)
    mpre = np.concatenate([np.ones((rows, 1)), precision, np.zeros((rows, 2))], axis=1)
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre, axis=1), axis=1), axis=1)
    # np.interp row by row, vectorised: rows laid end to end with an offset (recall lies in [0, 1]), one search
    size = mrec.shape[1]
    offset = 4.0 * np.arange(rows)[:, None]
    queries = (AP_RECALL_POINTS[None, :] + offset).ravel()
    left = np.searchsorted((mrec + offset).ravel(), queries, side="right").reshape(rows, -1) - 1
    left -= (np.arange(rows) * size)[:, None]
    right = np.minimum(left + 1, size - 1)
    x0, x1 = np.take_along_axis(mrec, left, 1), np.take_along_axis(mrec, right, 1)
    y0, y1 = np.take_along_axis(mpre, left, 1), np.take_along_axis(mpre, right, 1)
    x = AP_RECALL_POINTS[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        sloped = y0 + (x - x0) * (y1 - y0) / (x1 - x0)
    values = np.where((x0 == x) | (left == size - 1), y0, sloped)
    return values @ _TRAPEZOID


def _class_order(table: MatchTable, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """A class's detections in descending confidence (images, tp), cut after the last true positive.

    Detections after the last true positive change neither recall nor the precision envelope before it, in any
    resample (weights never reorder detections), so leaving them out changes no AP and saves most of the work.
    """
    chosen = np.flatnonzero(table.det_class == cls)
    chosen = chosen[np.argsort(-table.det_conf[chosen], kind="stable")]
    tp = table.det_tp[chosen]
    hits = np.flatnonzero(tp.any(axis=1))
    keep = int(hits[-1]) + 1 if hits.size else 0
    return table.det_image[chosen[:keep]], tp[:keep].astype(float)


def _chunks(total: int, per_row: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(per_row, 1))
    for start in range(0, total, step):
        yield slice(start, min(start + step, total))


def class_ap(table: MatchTable, weights: np.ndarray) -> np.ndarray:
    """AP of every class at every IoU threshold, under each row of image weights.

    Args:
        table: The matched detections.
        weights: (B, N) how many times each image counts in each of B resamples (all ones: the set as it is).

    Returns:
        (B, C, 10) AP; NaN where a class has no ground-truth box in the resample.
    """
    samples = weights.shape[0]
    thresholds = len(IOU_THRESHOLDS)
    labels = weights @ table.gt_counts.astype(float)  # (B, C) boxes of each class in each resample
    result = np.zeros((samples, len(table.classes), thresholds))
    for cls in range(len(table.classes)):
        images, tp = _class_order(table, cls)
        if images.size == 0:
            continue  # no true positive at any threshold: AP 0
        for rows in _chunks(samples, thresholds * images.size):
            w = weights[rows][:, images]  # (b, D)
            seen = np.cumsum(w, axis=1)  # detections counted so far
            hits = np.cumsum(w[:, :, None] * tp[None], axis=1).transpose(0, 2, 1)  # (b, 10, D)
            n_labels = labels[rows, cls][:, None, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                recall = np.where(n_labels > 0, hits / n_labels, 0.0)
                # before the first counted detection the curve sits on the sentinel (recall 0, precision 1)
                precision = np.where(seen[:, None, :] > 0, hits / seen[:, None, :], 1.0)
            b = recall.shape[0]
            ap = interpolated_ap(recall.reshape(b * thresholds, -1), precision.reshape(b * thresholds, -1))
            result[rows, cls, :] = ap.reshape(b, thresholds)
    result[labels <= 0] = np.nan
    return result


def _mean_ap(ap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mAP50, mAP50-95) per resample: means over the classes with ground truth (NaN when none has)."""
    with warnings.catch_warnings():  # "mean of empty slice" for a resample without any box: NaN is the answer
        warnings.simplefilter("ignore", category=RuntimeWarning)
        map50 = np.nanmean(ap[:, :, 0], axis=1)
        map50_95 = np.nanmean(ap.mean(axis=2), axis=1)
    return map50, map50_95


def resample_weights(images: int, samples: int, seed: int) -> np.ndarray:
    """(samples, images) multiplicities of `samples` draws of `images` images with replacement."""
    rng = np.random.default_rng(seed)
    if images == 0:
        return np.zeros((samples, 0))
    return rng.multinomial(images, np.full(images, 1.0 / images), size=samples).astype(float)


def _interval(point: float, draws: np.ndarray) -> Interval:
    finite = draws[np.isfinite(draws)]
    if not np.isfinite(point):
        point = 0.0
    if finite.size == 0:
        return Interval(float(point), None, None)
    low, high = np.percentile(finite, [(100 - CONFIDENCE) / 2, 100 - (100 - CONFIDENCE) / 2])
    return Interval(float(point), float(low), float(high))


def _resolve(samples: int | None, seed: int | None) -> tuple[int, int]:
    defaults = get_params().evaluate
    return (defaults.bootstrap_samples if samples is None else samples), (
        defaults.bootstrap_seed if seed is None else seed
    )


def _precision_recall(table: MatchTable, conf: float) -> tuple[float, float]:
    """Mean precision and recall (IoU 0.5) over the classes with boxes, counting detections at or above `conf`."""
    totals = table.gt_counts.sum(axis=0)
    kept = table.det_conf >= conf
    precisions, recalls = [], []
    for cls in np.flatnonzero(totals > 0):
        mine = kept & (table.det_class == cls)
        hits = float(table.det_tp[mine, 0].sum())
        precisions.append(hits / mine.sum() if mine.any() else 0.0)
        recalls.append(hits / totals[cls])
    return (float(np.mean(precisions)), float(np.mean(recalls))) if precisions else (0.0, 0.0)


def bootstrap_figures(
    table: MatchTable, *, samples: int | None = None, seed: int | None = None, conf: float | None = None
) -> Figures:
    """mAP50, mAP50-95 and per-class AP of one model on one image set, each with its 95 % bootstrap interval.

    Args:
        table: The model's matched detections.
        samples: Bootstrap resamples; default `evaluate.bootstrap_samples` of params.yaml.
        seed: Their seed; default `evaluate.bootstrap_seed`.
        conf: Confidence of the precision and recall figures; default `detect.conf` (what end users see).

    Returns:
        The figures (the point values are those of the set as it is).
    """
    samples, seed = _resolve(samples, seed)
    conf = get_params().detect.conf if conf is None else conf
    point = class_ap(table, np.ones((1, table.images)))
    draws = class_ap(table, resample_weights(table.images, samples, seed))
    point50, point50_95 = _mean_ap(point)
    draw50, draw50_95 = _mean_ap(draws)
    per_class: dict[str, ClassFigures] = {}
    for index, (name, count) in enumerate(table.instances_per_class().items()):
        if count == 0:
            per_class[name] = ClassFigures(0, None, None)
            continue
        per_class[name] = ClassFigures(
            count,
            _interval(point[0, index, 0], draws[:, index, 0]),
            _interval(point[0, index].mean(), draws[:, index].mean(axis=1)),
        )
    precision, recall = _precision_recall(table, conf)
    return Figures(
        map50=_interval(point50[0], draw50),
        map50_95=_interval(point50_95[0], draw50_95),
        per_class=per_class,
        precision=precision,
        recall=recall,
        images=table.images,
        instances=table.instances,
        samples=samples,
        seed=seed,
    )


def paired_difference(
    first: MatchTable, second: MatchTable, *, samples: int | None = None, seed: int | None = None
) -> PairedDifference:
    """`first` minus `second` on the same images: the same resamples applied to both models.

    Args:
        first: One model's matched detections (e.g. the candidate's).
        second: The other's on the same images, in the same order, with the same classes (e.g. production's).
        samples: Bootstrap resamples; default `evaluate.bootstrap_samples`.
        seed: Their seed; default `evaluate.bootstrap_seed`.

    Returns:
        The differences of mAP50, mAP50-95 and each class's AP50, with 95 % intervals.

    Raises:
        ValueError: The two tables are not on the same images and classes.
    """
    if first.classes != second.classes or not np.array_equal(first.gt_counts, second.gt_counts):
        raise ValueError("a paired difference needs both models matched on the same images and classes")
    samples, seed = _resolve(samples, seed)
    weights = np.vstack([np.ones((1, first.images)), resample_weights(first.images, samples, seed)])
    ap_first, ap_second = class_ap(first, weights), class_ap(second, weights)
    map50_a, map50_95_a = _mean_ap(ap_first)
    map50_b, map50_95_b = _mean_ap(ap_second)
    delta50, delta50_95 = map50_a - map50_b, map50_95_a - map50_95_b
    per_class: dict[str, Interval] = {}
    for index, (name, count) in enumerate(first.instances_per_class().items()):
        if count:
            diff = ap_first[:, index, 0] - ap_second[:, index, 0]
            per_class[name] = _interval(diff[0], diff[1:])
    return PairedDifference(
        map50=_interval(delta50[0], delta50[1:]), map50_95=_interval(delta50_95[0], delta50_95[1:]), per_class=per_class
    )
