"""How far a shadow model agrees with production on the same live pictures: per class, per picture, and where most.

Pure functions over stored answers (`ShadowPair`: production's logged detections and the shadow's, each a list of
`{"class", "confidence", "box"}`); `backend.registry.shadow` reads the pairs from the store.

Matching: a detection of one model is "found" by the other when the other has a detection of the same class whose
box overlaps it at IoU ≥ `MATCH_IOU`; pairs are made greedily from the largest overlap down, each detection used
once. A picture agrees when every detection of both models was found by the other (two empty answers agree).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.store.records import ShadowPair
from backend.training.familiarity import wilson_interval

MATCH_IOU = 0.5

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ClassAgreement:
    """One class's agreement.

    Attributes:
        name: The class.
        production: Production's detections of the class.
        found_by_shadow: How many of them the shadow also found.
        shadow: The shadow's detections of the class.
        found_by_production: How many of them production also found.
    """

    name: str
    production: int
    found_by_shadow: int
    shadow: int
    found_by_production: int

    @property
    def shadow_finds(self) -> float | None:
        """Share of production's detections the shadow also finds; None when production found none."""
        return self.found_by_shadow / self.production if self.production else None

    @property
    def production_finds(self) -> float | None:
        """Share of the shadow's detections production also finds; None when the shadow found none."""
        return self.found_by_production / self.shadow if self.shadow else None


@dataclass(frozen=True)
class PictureDisagreement:
    """One picture where the two models disagree: what only one of them saw."""

    prediction_id: int
    image_name: str
    thumb_path: str | None
    production_only: tuple[str, ...]
    shadow_only: tuple[str, ...]
    detections: int

    @property
    def unmatched(self) -> int:
        """Detections the other model did not find."""
        return len(self.production_only) + len(self.shadow_only)


@dataclass(frozen=True)
class Agreement:
    """The agreement of a shadow model with production over the pictures both answered.

    Attributes:
        pictures: Pictures compared.
        agreeing: Pictures on which every detection of both models was found by the other.
        low: Lower end of the 95 % Wilson interval of `agreeing / pictures`.
        high: Upper end.
        classes: Per class, sorted by name.
        worst: The pictures with the most unmatched detections first (at most the number asked for).
        production_ms: Median latency of production's model call on these pictures.
        shadow_ms: Median latency of the shadow's model call.
    """

    pictures: int
    agreeing: int
    low: float
    high: float
    classes: tuple[ClassAgreement, ...] = ()
    worst: tuple[PictureDisagreement, ...] = field(default=())
    production_ms: float | None = None
    shadow_ms: float | None = None

    @property
    def rate(self) -> float | None:
        """Share of pictures that agree; None when none was compared."""
        return self.agreeing / self.pictures if self.pictures else None


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box(det: dict[str, Any]) -> Box:
    x1, y1, x2, y2 = (float(v) for v in det["box"])
    return x1, y1, x2, y2


def match(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> tuple[set[int], set[int]]:
    """Indices of `a` and of `b` that the other list found (same class, IoU ≥ `MATCH_IOU`, each used once)."""
    overlaps = sorted(
        (
            (overlap, i, j)
            for i, da in enumerate(a)
            for j, db in enumerate(b)
            if da["class"] == db["class"] and (overlap := _iou(_box(da), _box(db))) >= MATCH_IOU
        ),
        reverse=True,
    )
    found_a: set[int] = set()
    found_b: set[int] = set()
    for _, i, j in overlaps:
        if i not in found_a and j not in found_b:
            found_a.add(i)
            found_b.add(j)
    return found_a, found_b


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def agreement(pairs: Sequence[ShadowPair], *, worst: int = 8) -> Agreement:
    """Compare the two models' answers picture by picture.

    Args:
        pairs: Production's and the shadow's answers on the same pictures.
        worst: How many of the most disagreeing pictures to keep.

    Returns:
        Per-class shares, the picture-level agreement with its Wilson interval, and the worst pictures.
    """
    counts: dict[str, Counter[str]] = {}
    disagreements: list[PictureDisagreement] = []
    agreeing = 0
    for pair in pairs:
        found_p, found_s = match(pair.production, pair.shadow)
        for side, dets, found, hit in (
            ("production", pair.production, found_p, "found_by_shadow"),
            ("shadow", pair.shadow, found_s, "found_by_production"),
        ):
            for index, det in enumerate(dets):
                tally = counts.setdefault(str(det["class"]), Counter())
                tally[side] += 1
                tally[hit] += index in found
        only_p = tuple(str(d["class"]) for i, d in enumerate(pair.production) if i not in found_p)
        only_s = tuple(str(d["class"]) for i, d in enumerate(pair.shadow) if i not in found_s)
        if only_p or only_s:
            total = len(pair.production) + len(pair.shadow)
            disagreements.append(
                PictureDisagreement(pair.prediction_id, pair.image_name, pair.thumb_path, only_p, only_s, total)
            )
        else:
            agreeing += 1
    low, high = wilson_interval(agreeing, len(pairs))
    disagreements.sort(key=lambda d: (d.unmatched, d.unmatched / max(1, d.detections), d.prediction_id), reverse=True)
    classes = tuple(
        ClassAgreement(name, c["production"], c["found_by_shadow"], c["shadow"], c["found_by_production"])
        for name, c in sorted(counts.items())
    )
    return Agreement(
        pictures=len(pairs),
        agreeing=agreeing,
        low=low,
        high=high,
        classes=classes,
        worst=tuple(disagreements[:worst]),
        production_ms=_median([p.production_latency_ms for p in pairs]),
        shadow_ms=_median([p.shadow_latency_ms for p in pairs]),
    )
