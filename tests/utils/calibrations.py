"""Confidence calibrations for tests: synthetic held-out scores with a known truth, and hand-made calibrations to
put beside a tiny model's weights (where the serving step looks for them).

Synthetic detections: each class has a raw score drawn uniformly from [min_score, 1] and is right with a known
probability `truth(score)`; `OVERCONFIDENT` (right with probability score**3: a 0.9 is right 73 % of the time) is the
kind of scores calibration exists for, `UNDERCONFIDENT` the opposite (a short YOLO training gives such scores).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from backend.training.confidence import (
    ClassCalibration,
    ConfidenceCalibration,
    HeldOutScores,
    MapMethod,
    ScoreMap,
    calibration_path,
    save_calibration,
)

Truth = Callable[[np.ndarray], np.ndarray]


def overconfident(scores: np.ndarray) -> np.ndarray:
    """Right with probability score**3."""
    return scores**3


def underconfident(scores: np.ndarray) -> np.ndarray:
    """Right with probability score**0.3."""
    return scores**0.3


def synthetic_scores(
    counts: Mapping[str, int], truths: Mapping[str, Truth], *, seed: int = 0, min_score: float = 0.05
) -> HeldOutScores:
    """`counts[name]` detections per class, scores uniform in [min_score, 1], right with probability
    `truths[name](score)`; deterministic by seed."""
    rng = np.random.default_rng(seed)
    names: list[str] = []
    scores: list[np.ndarray] = []
    correct: list[np.ndarray] = []
    for name, count in counts.items():
        s = rng.uniform(min_score, 1.0, count)
        names += [name] * count
        scores.append(s)
        correct.append(rng.random(count) < truths[name](s))
    return HeldOutScores(
        names=tuple(names),
        scores=np.concatenate(scores) if scores else np.zeros(0),
        correct=np.concatenate(correct) if correct else np.zeros(0, dtype=bool),
        classes=tuple(counts),
        images=sum(counts.values()),
        true_boxes=0,
        min_score=min_score,
        source="synthetic",
    )


def platt_calibration(maps: Mapping[str, tuple[float, float]], *, min_score: float = 0.05) -> ConfidenceCalibration:
    """A calibration whose classes map scores with Platt (slope, bias) on the logit; other classes keep the identity."""
    classes = {
        name: ClassCalibration(
            detections=100,
            correct=50,
            own_map=ScoreMap(MapMethod.PLATT, slope=slope, bias=bias),
            ece_before=0.2,
            ece_after=0.05,
        )
        for name, (slope, bias) in maps.items()
    }
    return ConfidenceCalibration(
        classes=classes,
        shared=ScoreMap(MapMethod.IDENTITY),
        min_score=min_score,
        detections=100 * len(maps),
        correct=50 * len(maps),
        images=10,
        ece_before=0.2,
        ece_after=0.05,
        source="hand-made for a test",
    )


def put_beside(weights: Path, calibration: ConfidenceCalibration) -> Path:
    """Save `calibration` where the serving step looks for it: `calibration.json` in the weights folder."""
    return save_calibration(calibration, calibration_path(weights))


GRID_SCORE = 0.9997  # what `tests.utils.tiny_data.save_grid_detector` scores every box (sigmoid(8), rounded)


def bias_for(probability: float, score: float = GRID_SCORE) -> float:
    """The Platt bias (slope 1) that maps the raw `score` to `probability`."""
    return math.log(probability / (1 - probability)) - math.log(score / (1 - score))
