"""Per-class confidence calibration: a detector's raw scores turned into the probability that an item is right.

A YOLO score is not a probability: a model trained for ten epochs may be right about 90 % of its 0.4 detections, and
a bus may still come back as "egg 0.06". Calibration learns, from held-out pictures the model never trained on, how
often a detection of each score was right, and maps scores to those frequencies. It is fitted once at the end of
training (`backend.training.held_out.calibrate_weights`, saved as `weights/calibration.json` beside the weights) and
applied by the serving step to every detection.

What is fitted, per class: each candidate map (the identity, temperature scaling and Platt scaling on the logit of the
score, isotonic regression) is scored by 5-fold cross-validation on the held-out detections, and the one whose
out-of-fold expected calibration error (ECE) is lowest is kept, refitted on all of them. Platt scaling that would
turn the map upside down falls back to temperature scaling, which is monotone by construction; every map is monotone,
so a higher score never means a lower probability. A class with too few detections (or too few right or wrong ones)
has no map of its own: it uses the shared map, fitted the same way on every class's detections; a class with enough
uses its own map only when that beats the shared one on the class's own out-of-fold ECE.

ECE here is always measured on 10 equal-width bins of the probability (0-0.1, …, 0.9-1): the share of detections in
each bin times the gap between the bin's mean probability and its share of right detections, summed. The "after"
figures are out-of-fold (each detection's probability comes from a map fitted without it), so they do not flatter
the fit; `bench/calibration.py` measures both on a different held-out set as well.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from backend.core.errors import BadInputError
from backend.training.detection_match import MATCH_IOU

CALIBRATION_FILE = "calibration.json"  # beside the weights: RUN/weights/calibration.json
FORMAT_VERSION = 1
ECE_BINS = 10  # equal-width bins of the probability
CV_FOLDS = 5
MIN_EACH_OUTCOME = 5  # a class's own map needs at least this many right and this many wrong detections
_EPS = 1e-6
BOOTSTRAP_RESAMPLES = 200  # for the standard error of an ECE (the one-standard-error rule of `choose_map`)

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class MapMethod(StrEnum):
    """How a score map turns raw scores into probabilities (simplest first: ties go to the simpler one)."""

    IDENTITY = "identity"
    TEMPERATURE = "temperature"
    PLATT = "platt"
    ISOTONIC = "isotonic"


# --------------------------------------------------------------------------------------------------- maps


def _logit(scores: Floats) -> Floats:
    clipped = np.clip(scores, _EPS, 1.0 - _EPS)
    return np.log(clipped / (1.0 - clipped))


def _sigmoid(values: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -60.0, 60.0)))


@dataclass(frozen=True)
class ScoreMap:
    """One monotone map from a raw score (0-1) to a probability (0-1).

    Attributes:
        method: Which kind of map.
        slope: Temperature and Platt: p = sigmoid(slope * logit(score) + bias); temperature has bias 0 and
            slope 1/T.
        bias: See `slope`.
        knots_x: Isotonic: scores of the knots, increasing; between knots the probability is interpolated linearly,
            outside them it stays at the end knot's value.
        knots_y: Isotonic: probabilities at the knots, non-decreasing.
    """

    method: MapMethod
    slope: float = 1.0
    bias: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()

    def apply(self, scores: npt.ArrayLike) -> Floats:
        """The probabilities of `scores` (any shape)."""
        values = np.asarray(scores, dtype=np.float64)
        if self.method == MapMethod.IDENTITY:
            return np.clip(values, 0.0, 1.0)
        if self.method == MapMethod.ISOTONIC:
            return np.interp(values, np.asarray(self.knots_x), np.asarray(self.knots_y))
        return _sigmoid(self.slope * _logit(values) + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (`calibration.json`)."""
        data: dict[str, Any] = {"method": str(self.method)}
        if self.method in (MapMethod.TEMPERATURE, MapMethod.PLATT):
            data.update(slope=round(self.slope, 6), bias=round(self.bias, 6))
        if self.method == MapMethod.ISOTONIC:
            data.update(knots_x=[round(v, 6) for v in self.knots_x], knots_y=[round(v, 6) for v in self.knots_y])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreMap:
        """Read the JSON form back; refuses a map that is not monotone or not within 0..1."""
        method = MapMethod(str(data["method"]))
        slope, bias = float(data.get("slope", 1.0)), float(data.get("bias", 0.0))
        xs = tuple(float(v) for v in data.get("knots_x", ()))
        ys = tuple(float(v) for v in data.get("knots_y", ()))
        if method in (MapMethod.TEMPERATURE, MapMethod.PLATT) and not (slope > 0 and math.isfinite(bias)):
            raise ValueError(f"a {method} map needs a positive slope")
        if method == MapMethod.ISOTONIC and not _valid_knots(xs, ys):
            raise ValueError("an isotonic map needs increasing knots with non-decreasing probabilities in 0..1")
        return cls(method=method, slope=slope, bias=bias, knots_x=xs, knots_y=ys)


def _valid_knots(xs: Sequence[float], ys: Sequence[float]) -> bool:
    """Increasing knots with non-decreasing probabilities in 0..1, as many of each."""
    if not xs or len(xs) != len(ys) or not all(0.0 <= y <= 1.0 for y in ys):
        return False
    return all(b >= a for a, b in pairwise(xs)) and all(b >= a for a, b in pairwise(ys))


IDENTITY_MAP = ScoreMap(MapMethod.IDENTITY)


def _nll(probabilities: Floats, correct: Bools) -> float:
    p = np.clip(probabilities, _EPS, 1.0 - _EPS)
    return float(-np.mean(np.where(correct, np.log(p), np.log(1.0 - p))))


def fit_temperature(scores: Floats, correct: Bools) -> ScoreMap:
    """Temperature scaling: the one slope on the logit (bias 0) with the lowest log-loss (grid, then refined)."""
    logits = _logit(scores)

    def loss(log_slope: float) -> float:
        return _nll(_sigmoid(math.exp(log_slope) * logits), correct)

    grid = np.linspace(-4.0, 4.0, 81)
    best = float(grid[int(np.argmin([loss(v) for v in grid]))])
    low, high = best - 0.1, best + 0.1
    for _ in range(40):  # golden-section search inside the best grid cell
        a, b = high - 0.618 * (high - low), low + 0.618 * (high - low)
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    return ScoreMap(MapMethod.TEMPERATURE, slope=math.exp((low + high) / 2.0))


def fit_platt(scores: Floats, correct: Bools) -> ScoreMap:
    """Platt scaling on the logit of the score (Newton's method, with Platt's smoothed targets so that a small or
    one-sided sample does not give probabilities of exactly 0 or 1); falls back to temperature scaling when the fitted
    slope is not positive (the map would not be monotone)."""
    x = _logit(scores)
    positives = float(correct.sum())
    negatives = float(correct.size - positives)
    targets = np.where(correct, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    design = np.column_stack([x, np.ones_like(x)])
    weights = np.array([1.0, 0.0])
    ridge = np.diag([1e-6, 1e-6])
    for _ in range(50):
        p = _sigmoid(design @ weights)
        gradient = design.T @ (p - targets)
        hessian = design.T @ (design * (p * (1.0 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian, gradient)
        weights = weights - step
        if float(np.abs(step).max()) < 1e-8:
            break
    slope, bias = float(weights[0]), float(weights[1])
    if not (slope > 0 and math.isfinite(slope) and math.isfinite(bias)):
        return fit_temperature(scores, correct)
    return ScoreMap(MapMethod.PLATT, slope=slope, bias=bias)


def fit_isotonic(scores: Floats, correct: Bools) -> ScoreMap:
    """Isotonic regression (pool adjacent violators) of right/wrong on the score; knots at each block's mean score."""
    order = np.argsort(scores, kind="stable")
    xs, ys = scores[order], correct[order].astype(np.float64)
    # one block per distinct score, then merge neighbours while a block's mean exceeds the next one's
    unique, start = np.unique(xs, return_index=True)
    counts = np.diff(np.append(start, xs.size)).astype(np.float64)
    sums = np.add.reduceat(ys, start)
    block_x, block_w, block_y = list(unique * counts), list(counts), list(sums)
    merged_x: list[float] = []
    merged_w: list[float] = []
    merged_y: list[float] = []
    for bx, bw, by in zip(block_x, block_w, block_y, strict=True):
        merged_x.append(bx)
        merged_w.append(bw)
        merged_y.append(by)
        while len(merged_w) > 1 and merged_y[-2] / merged_w[-2] > merged_y[-1] / merged_w[-1]:
            last_x, last_w, last_y = merged_x.pop(), merged_w.pop(), merged_y.pop()
            merged_x[-1] += last_x
            merged_w[-1] += last_w
            merged_y[-1] += last_y
    knots_x = tuple(float(x / w) for x, w in zip(merged_x, merged_w, strict=True))
    knots_y = tuple(float(y / w) for y, w in zip(merged_y, merged_w, strict=True))
    return ScoreMap(MapMethod.ISOTONIC, knots_x=knots_x, knots_y=knots_y)


def fit_map(method: MapMethod, scores: Floats, correct: Bools) -> ScoreMap:
    """Fit one kind of map on scores labelled right (True) or wrong (False)."""
    if method == MapMethod.IDENTITY or scores.size == 0:
        return IDENTITY_MAP
    if method == MapMethod.TEMPERATURE:
        return fit_temperature(scores, correct)
    if method == MapMethod.PLATT:
        return fit_platt(scores, correct)
    return fit_isotonic(scores, correct)


# --------------------------------------------------------------------------------------------------- measuring


def expected_calibration_error(probabilities: npt.ArrayLike, correct: npt.ArrayLike, *, bins: int = ECE_BINS) -> float:
    """ECE on `bins` equal-width bins of the probability: sum over bins of (share of items) x |mean probability -
    share right|. 0 for no items."""
    p = np.asarray(probabilities, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    if p.size == 0:
        return 0.0
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(float(p[members].mean()) - float(right[members].mean()))
    return float(total)


def ece_standard_error(
    probabilities: npt.ArrayLike, correct: npt.ArrayLike, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> float:
    """Bootstrap standard error of `expected_calibration_error` (items resampled with replacement; seeded)."""
    p = np.asarray(probabilities, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    if p.size < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    draws = [expected_calibration_error(p[idx], right[idx]) for idx in rng.integers(0, p.size, (resamples, p.size))]
    return float(np.std(draws, ddof=1))


def _folds(size: int, folds: int, seed: int) -> npt.NDArray[np.int64]:
    """A fold number per item, shuffled with `seed` (each fold gets every k-th item of the shuffle)."""
    order = np.random.default_rng(seed).permutation(size)
    fold_of = np.empty(size, dtype=np.int64)
    fold_of[order] = np.arange(size) % folds
    return fold_of


def out_of_fold(method: MapMethod, scores: Floats, correct: Bools, *, folds: int = CV_FOLDS, seed: int = 0) -> Floats:
    """Each item's probability from a map of `method` fitted on the other folds (the identity needs no fit)."""
    if method == MapMethod.IDENTITY:
        return IDENTITY_MAP.apply(scores)
    fold_of = _folds(scores.size, folds, seed)
    predicted = np.empty(scores.size, dtype=np.float64)
    for fold in range(folds):
        held = fold_of == fold
        fitted = fit_map(method, scores[~held], correct[~held])
        predicted[held] = fitted.apply(scores[held])
    return predicted


@dataclass(frozen=True)
class MapChoice:
    """The map chosen for a group of detections, with what cross-validation measured.

    Attributes:
        map: Refitted on every detection of the group.
        out_of_fold: Each detection's probability from the chosen method fitted without its fold.
        cv_ece: Out-of-fold ECE of every candidate method.
    """

    map: ScoreMap
    out_of_fold: Floats
    cv_ece: dict[str, float]


def choose_map(scores: Floats, correct: Bools, *, folds: int = CV_FOLDS, seed: int = 0) -> MapChoice:
    """Pick a method by out-of-fold ECE and refit it on everything.

    The one-standard-error rule: the simplest method whose ECE is within one (bootstrap) standard error of the lowest
    one wins, because a binned ECE rewards coarse maps a little even on scores that need no calibration, and a
    difference within the noise does not justify a more flexible map. With fewer than two detections per fold
    nothing can be cross-validated, so the identity stays.
    """
    if scores.size < 2 * folds:
        identity = IDENTITY_MAP.apply(scores)
        return MapChoice(map=IDENTITY_MAP, out_of_fold=identity, cv_ece={})
    candidates = {method: out_of_fold(method, scores, correct, folds=folds, seed=seed) for method in MapMethod}
    eces = {method: expected_calibration_error(oof, correct) for method, oof in candidates.items()}
    lowest = min(MapMethod, key=lambda m: eces[m])
    within = eces[lowest] + ece_standard_error(candidates[lowest], correct, seed=seed)
    best = next(method for method in MapMethod if eces[method] <= within)  # MapMethod lists the simplest first
    return MapChoice(
        map=fit_map(best, scores, correct),
        out_of_fold=candidates[best],
        cv_ece={str(m): round(v, 5) for m, v in eces.items()},
    )


# --------------------------------------------------------------------------------------------------- labelling


@dataclass(frozen=True)
class HeldOutScores:
    """Detections on held-out pictures, each labelled right or wrong.

    Attributes:
        names: Each detection's class name.
        scores: Each detection's raw score.
        correct: Whether each detection matched a true box (`match_detections`).
        classes: The model's class names (classes that were never detected still get the shared map).
        images: Pictures scored.
        true_boxes: Ground-truth boxes on them (for recall context).
        min_score: The lowest raw score asked of the model.
        source: Which pictures, in words (e.g. "val split of /data/food/data.yaml").
        image_of: Each detection's picture (0-based), for intervals that resample pictures; empty when unknown.
    """

    names: tuple[str, ...]
    scores: Floats
    correct: Bools
    classes: tuple[str, ...]
    images: int
    true_boxes: int
    min_score: float
    source: str
    image_of: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


# --------------------------------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class ClassCalibration:
    """One class's share of the calibration.

    Attributes:
        detections: Held-out detections of the class.
        correct: How many of them were right.
        own_map: Its own map, or None when it uses the shared one (too few detections, or the shared map calibrated
            it better).
        ece_before: ECE of its raw scores.
        ece_after: Out-of-fold ECE of its calibrated probabilities.
    """

    detections: int
    correct: int
    own_map: ScoreMap | None
    ece_before: float
    ece_after: float

    @property
    def pooled(self) -> bool:
        """True when the class uses the shared map."""
        return self.own_map is None


@dataclass(frozen=True)
class ConfidenceCalibration:
    """A model's calibration: per-class maps, the shared map, and how well they did on the held-out set.

    Attributes:
        classes: Per class name.
        shared: The map of classes without their own (fitted on every class's detections).
        min_score: The lowest raw score it was fitted from; the serving step asks the model for detections down to it.
        detections: Held-out detections it was fitted on.
        correct: How many of them were right.
        images: Held-out pictures.
        ece_before: ECE of the raw scores over every detection.
        ece_after: Out-of-fold ECE of the calibrated probabilities over every detection.
        source: The held-out pictures, in words.
        imgsz: Inference size used.
        ece_bins: Equal-width bins of the ECE.
        folds: Cross-validation folds.
        match_iou: IoU a detection needed to count as right.
        cv_ece: Out-of-fold ECE of each candidate method for the shared map.
    """

    classes: dict[str, ClassCalibration]
    shared: ScoreMap
    min_score: float
    detections: int
    correct: int
    images: int
    ece_before: float
    ece_after: float
    source: str = ""
    imgsz: int | None = None
    ece_bins: int = ECE_BINS
    folds: int = CV_FOLDS
    match_iou: float = MATCH_IOU
    cv_ece: dict[str, float] = field(default_factory=dict)

    def map_for(self, class_name: str) -> ScoreMap:
        """The map a class's scores go through."""
        entry = self.classes.get(class_name)
        return entry.own_map if entry is not None and entry.own_map is not None else self.shared

    def probability(self, class_name: str, score: float) -> float:
        """The calibrated probability that a detection of this class and raw score is right."""
        return float(self.map_for(class_name).apply(score))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as saved in `calibration.json`."""
        return {
            "version": FORMAT_VERSION,
            "ece": f"{self.ece_bins} equal-width bins; after = {self.folds}-fold cross-validated",
            "source": self.source,
            "imgsz": self.imgsz,
            "min_score": self.min_score,
            "match_iou": self.match_iou,
            "images": self.images,
            "detections": self.detections,
            "correct": self.correct,
            "ece_before": round(self.ece_before, 5),
            "ece_after": round(self.ece_after, 5),
            "cv_ece": self.cv_ece,
            "shared": self.shared.to_dict(),
            "classes": {
                name: {
                    "detections": entry.detections,
                    "correct": entry.correct,
                    "ece_before": round(entry.ece_before, 5),
                    "ece_after": round(entry.ece_after, 5),
                    "map": entry.own_map.to_dict() if entry.own_map is not None else "shared",
                }
                for name, entry in self.classes.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfidenceCalibration:
        """Read the JSON form back.

        Raises:
            BadInputError: Not a calibration this version can read.
        """
        try:
            if int(data.get("version", 0)) != FORMAT_VERSION:
                raise ValueError(f"format version {data.get('version')!r}, expected {FORMAT_VERSION}")
            classes = {
                str(name): ClassCalibration(
                    detections=int(entry["detections"]),
                    correct=int(entry["correct"]),
                    own_map=None if entry["map"] == "shared" else ScoreMap.from_dict(entry["map"]),
                    ece_before=float(entry["ece_before"]),
                    ece_after=float(entry["ece_after"]),
                )
                for name, entry in dict(data["classes"]).items()
            }
            return cls(
                classes=classes,
                shared=ScoreMap.from_dict(data["shared"]),
                min_score=float(data["min_score"]),
                detections=int(data["detections"]),
                correct=int(data["correct"]),
                images=int(data["images"]),
                ece_before=float(data["ece_before"]),
                ece_after=float(data["ece_after"]),
                source=str(data.get("source", "")),
                imgsz=int(data["imgsz"]) if data.get("imgsz") else None,
                match_iou=float(data.get("match_iou", MATCH_IOU)),
                cv_ece={str(k): float(v) for k, v in dict(data.get("cv_ece") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadInputError(f"Not a readable confidence calibration ({exc}).") from exc


def fit_calibration(
    held_out: HeldOutScores,
    *,
    min_class_detections: int,
    folds: int = CV_FOLDS,
    seed: int = 0,
    imgsz: int | None = None,
) -> ConfidenceCalibration:
    """Fit the per-class calibration on labelled held-out detections.

    Args:
        held_out: The detections, right or wrong (`backend.training.held_out.score_split`).
        min_class_detections: Fewest detections (with at least `MIN_EACH_OUTCOME` right and wrong) for a class's own
            map; `detect.calibration_min_detections` of params.yaml.
        folds: Cross-validation folds.
        seed: Seed of the fold assignment.
        imgsz: The inference size the scores came from (recorded).

    Returns:
        The calibration; with no detections at all, the identity everywhere (and ECE 0).
    """
    scores, correct = held_out.scores, held_out.correct
    shared = choose_map(scores, correct, folds=folds, seed=seed)
    after = shared.out_of_fold.copy()
    names = np.asarray(held_out.names, dtype=object)
    classes: dict[str, ClassCalibration] = {}
    for name in sorted(set(held_out.classes) | set(held_out.names)):
        mask = names == name if names.size else np.zeros(0, dtype=bool)
        s, c = scores[mask], correct[mask]
        right = int(c.sum())
        own_map: ScoreMap | None = None
        enough = s.size >= min_class_detections and min(right, s.size - right) >= MIN_EACH_OUTCOME
        if enough:
            own = choose_map(s, c, folds=folds, seed=seed)
            pooled_ece = expected_calibration_error(shared.out_of_fold[mask], c)
            own_ece = expected_calibration_error(own.out_of_fold, c)
            if own_ece + ece_standard_error(own.out_of_fold, c, seed=seed) < pooled_ece:  # the one-SE rule again
                own_map = own.map
                after[mask] = own.out_of_fold
        classes[name] = ClassCalibration(
            detections=int(s.size),
            correct=right,
            own_map=own_map,
            ece_before=expected_calibration_error(s, c),
            ece_after=expected_calibration_error(after[mask], c),
        )
    return ConfidenceCalibration(
        classes=classes,
        shared=shared.map,
        min_score=held_out.min_score,
        detections=int(scores.size),
        correct=int(correct.sum()),
        images=held_out.images,
        ece_before=expected_calibration_error(scores, correct),
        ece_after=expected_calibration_error(after, correct),
        source=held_out.source,
        imgsz=imgsz,
        folds=folds,
        cv_ece=shared.cv_ece,
    )


# --------------------------------------------------------------------------------------------------- files


def calibration_path(weights: Path) -> Path:
    """Where a model's calibration lives: `calibration.json` in its weights folder (beside best.pt and the ONNX
    export, which is written next to the .pt)."""
    return Path(weights).parent / CALIBRATION_FILE


def save_calibration(calibration: ConfidenceCalibration, path: Path) -> Path:
    """Write the calibration as JSON, atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps(calibration.to_dict(), indent=2), encoding="utf-8")
    scratch.replace(path)
    return path


def load_calibration(path: Path) -> ConfidenceCalibration:
    """Read a saved calibration.

    Raises:
        BadInputError: The file cannot be read or is not a calibration.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"The confidence calibration {Path(path).name} cannot be read ({exc}).") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"The confidence calibration {Path(path).name} is not a JSON object.")
    return ConfidenceCalibration.from_dict(data)
