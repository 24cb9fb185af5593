"""Active learning's scores and batch picking, on plain arrays (no store, no model: `backend.annotation.picking`
feeds them).

Each candidate picture has an **uncertainty** (its detections' confidences: none at all, the best one low, or
boxes near 0.5 where the model cannot decide), a **novelty** (distance of its embedding to the nearest training
picture), and a **disagreement** (an end user said the answer was wrong or missed something). A strategy ranks
them; picking walks the ranking and drops near-duplicates of what it already took. The `diverse` strategy is greedy
k-center: each pick is the candidate farthest from the training pictures and from the picks before it, so a batch
covers the new kinds of picture instead of twenty copies of one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from backend.core.enums import ReviewSource


class Strategy(StrEnum):
    """How a selection ranks the candidates."""

    UNCERTAINTY = "uncertainty"
    NOVELTY = "novelty"
    DIVERSE = "diverse"
    RANDOM = "random"


@dataclass(frozen=True)
class Candidate:
    """One logged picture as selection sees it.

    Attributes:
        prediction_id: The logged prediction.
        image: Its file name as the user gave it.
        sha256: The picture's hash (exact duplicates share it).
        confidences: Its detections' confidences, as logged.
        classes: Its detections' classes, in the same order.
        feedback: End-user feedback kinds on it ("correct", "wrong", "missed").
    """

    prediction_id: int
    image: str
    sha256: str
    confidences: tuple[float, ...]
    classes: tuple[str, ...]
    feedback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pick:
    """A picture chosen for labelling, with why.

    Attributes:
        prediction_id: The logged prediction.
        image: Its file name.
        score: The strategy's score (higher: more worth a person's time).
        reason: One line a reviewer reads ("low confidence: best box 0.31 (apple)").
        source: The review-queue source it goes in under (low_confidence, novel, disagreement, selection).
    """

    prediction_id: int
    image: str
    score: float
    reason: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        """The `jobs.select` JSON form: `{"prediction_id", "image", "score", "reason"}`."""
        return {"prediction_id": self.prediction_id, "image": self.image, "score": self.score, "reason": self.reason}


def uncertainty(candidate: Candidate, *, low_confidence: float) -> tuple[float, str]:
    """How unsure the model was about a picture, 0..1, and why in words.

    Nothing detected scores `1 - low_confidence / 2` (the model saw nothing it trusts; often a miss). Otherwise the
    higher of: a best box under `low_confidence` (0.5 to 1, the lower the higher), and the ambiguity `1 - |2c - 1|`
    of the box nearest 0.5.
    """
    if not candidate.confidences:
        return 1.0 - low_confidence / 2, "nothing detected"
    best = max(candidate.confidences)
    best_class = candidate.classes[candidate.confidences.index(best)] if candidate.classes else "?"
    low = 0.5 + (1.0 - best / low_confidence) / 2 if best < low_confidence else 0.0
    ambiguity = [1.0 - abs(2.0 * c - 1.0) for c in candidate.confidences]
    worst = int(np.argmax(ambiguity))
    if low >= ambiguity[worst]:
        return low, f"low confidence: best box {best:.2f} ({best_class})"
    name = candidate.classes[worst] if candidate.classes else "?"
    return ambiguity[worst], f"ambiguous: a box at {candidate.confidences[worst]:.2f} ({name})"


def disagreement(candidate: Candidate) -> tuple[float, str]:
    """1 when an end user said the answer was wrong or missed something, else 0; and why."""
    kinds = [k for k in candidate.feedback if k in ("wrong", "missed")]
    if not kinds:
        return 0.0, ""
    return 1.0, f"user feedback: {', '.join(sorted(set(kinds)))}"


def nearest_distances(vectors: np.ndarray, reference: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
    """Euclidean distance of each row of `vectors` to its nearest row of `reference` (inf when no reference)."""
    if len(reference) == 0:
        return np.full(len(vectors), np.inf)
    ref = reference.astype(np.float32)
    ref_sq = (ref**2).sum(axis=1)
    out = np.empty(len(vectors), dtype=np.float64)
    for start in range(0, len(vectors), chunk):
        block = vectors[start : start + chunk].astype(np.float32)
        sq = (block**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * block @ ref.T
        out[start : start + chunk] = np.sqrt(np.clip(sq.min(axis=1), 0.0, None))
    return out


def _distances_to(vectors: np.ndarray, point: np.ndarray) -> np.ndarray:
    return np.sqrt(((vectors - point[None, :]) ** 2).sum(axis=1))


def _ranked_picks(order: Sequence[int], vectors: np.ndarray, sha: Sequence[str], k: int, dup: float) -> list[int]:
    """The first `k` of `order` that are neither an exact nor a near duplicate of an earlier pick."""
    picked: list[int] = []
    hashes: set[str] = set()
    closest = np.full(len(vectors), np.inf)
    for index in order:
        if len(picked) >= k:
            break
        if (sha[index] and sha[index] in hashes) or closest[index] < dup:
            continue
        picked.append(index)
        hashes.add(sha[index])
        closest = np.minimum(closest, _distances_to(vectors, vectors[index]))
    return picked


def k_center(vectors: np.ndarray, reference: np.ndarray, k: int, *, dup: float) -> list[tuple[int, float]]:
    """Greedy k-center: repeatedly take the candidate farthest from the reference and the picks so far.

    Returns:
        (index, its distance when picked) per pick; fewer than `k` when the rest are all within `dup` (duplicates).
    """
    far = nearest_distances(vectors, reference)
    if not np.isfinite(far).any():
        far = np.full(len(vectors), np.inf)
    picks: list[tuple[int, float]] = []
    for _ in range(min(k, len(vectors))):
        index = int(np.argmax(far))
        if far[index] == -np.inf or far[index] < dup or (picks and far[index] <= 0):
            break  # every candidate left duplicates a pick (or a training picture)
        picks.append((index, float(far[index]) if np.isfinite(far[index]) else 0.0))
        far = np.minimum(far, _distances_to(vectors, vectors[index]))
        far[index] = -np.inf
    return picks


def pick(
    candidates: Sequence[Candidate],
    vectors: np.ndarray,
    reference: np.ndarray,
    *,
    k: int,
    strategy: Strategy,
    low_confidence: float,
    duplicate_distance: float,
    seed: int = 0,
) -> list[Pick]:
    """Choose up to `k` distinct pictures to label next.

    Args:
        candidates: The pictures to choose from.
        vectors: One embedding row per candidate (same order); distances between rows are comparable.
        reference: Embedding rows of training pictures (novelty is the distance to the nearest one).
        k: How many to pick.
        strategy: How to rank them.
        low_confidence: A best box under this is uncertain (`select.low_confidence`).
        duplicate_distance: Two rows closer than this are near-duplicates (only the first is kept).
        seed: Seed of the random strategy.

    Returns:
        The picks, best first (fewer than `k` when there are not enough distinct pictures).
    """
    if not candidates or k < 1:
        return []
    sha = [c.sha256 for c in candidates]
    if strategy == Strategy.DIVERSE:
        centers = k_center(vectors, reference, k, dup=duplicate_distance)
        return [
            Pick(
                candidates[index].prediction_id,
                candidates[index].image,
                round(distance, 4),
                f"diverse: far from the training pictures and the other picks (distance {distance:.2f})",
                ReviewSource.SELECTION,
            )
            for index, distance in centers
        ]
    if strategy == Strategy.RANDOM:
        order = list(range(len(candidates)))
        random.Random(seed).shuffle(order)
        chosen = _ranked_picks(order, vectors, sha, k, duplicate_distance)
        return [
            Pick(candidates[i].prediction_id, candidates[i].image, 0.0, "random pick", ReviewSource.SELECTION)
            for i in chosen
        ]
    if strategy == Strategy.NOVELTY:
        novelty = nearest_distances(vectors, reference)
        novelty = np.where(np.isfinite(novelty), novelty, 0.0)
        order = sorted(range(len(candidates)), key=lambda i: (-novelty[i], candidates[i].prediction_id))
        chosen = _ranked_picks(order, vectors, sha, k, duplicate_distance)
        return [
            Pick(
                candidates[i].prediction_id,
                candidates[i].image,
                round(float(novelty[i]), 4),
                f"unlike the training pictures (distance {novelty[i]:.2f} to the nearest)",
                ReviewSource.NOVEL,
            )
            for i in chosen
        ]
    scored = []
    for c in candidates:
        agree, why_not = disagreement(c)
        unsure, why = uncertainty(c, low_confidence=low_confidence)
        scored.append((agree, why_not, ReviewSource.DISAGREEMENT) if agree >= unsure else (unsure, why, None))
    order = sorted(range(len(candidates)), key=lambda i: (-scored[i][0], candidates[i].prediction_id))
    chosen = _ranked_picks(order, vectors, sha, k, duplicate_distance)
    return [
        Pick(
            candidates[i].prediction_id,
            candidates[i].image,
            round(float(scored[i][0]), 4),
            scored[i][1],
            scored[i][2] or ReviewSource.LOW_CONFIDENCE,
        )
        for i in chosen
    ]
