"""Typed views of the JSON columns the store keeps: a version's counts and validation summary, a run's scores,
epochs and tracking, a job's outcome.

The columns stay JSON (old rows, new keys, and workers on other versions all read them); these frozen dataclasses are
how code reads them, so a key is spelt once, here. Each `from_json` accepts any mapping and tolerates missing keys
and wrong types (a missing or unusable value becomes None, or 0 for counts), never raising on old data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _int(value: object) -> int | None:
    """An integer count, or None when the value is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _float(value: object) -> float | None:
    """A number, or None when the value is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str(value: object) -> str | None:
    """A non-empty string, or None."""
    return str(value) if value not in (None, "") else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class SeverityCounts:
    """Issues per severity."""

    error: int = 0
    warning: int = 0
    info: int = 0

    @classmethod
    def from_json(cls, data: object) -> SeverityCounts:
        """Counts from `{"error": n, "warning": n, "info": n}` (missing severities count 0)."""
        raw = _mapping(data)
        return cls(**{s: _int(raw.get(s)) or 0 for s in ("error", "warning", "info")})


@dataclass(frozen=True)
class VersionCounts:
    """How many images a dataset version holds, in all and per split (None when not recorded)."""

    images: int | None = None
    train: int | None = None
    val: int | None = None
    test: int | None = None

    @classmethod
    def from_json(cls, data: object) -> VersionCounts:
        """Counts from a version's `stats` column."""
        raw = _mapping(data)
        return cls(**{f.name: _int(raw.get(f.name)) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class ValidationSummary:
    """What the last validation of a version found.

    Attributes:
        images: Images checked, or None when the version was never validated.
        by_severity: Issues per severity.
        issues_by_check: Issues per check name (checks that found nothing may be absent).
        seconds: How long the validation took.
        images_per_second: Its speed.
    """

    images: int | None = None
    by_severity: SeverityCounts = field(default_factory=SeverityCounts)
    issues_by_check: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None
    images_per_second: float | None = None

    @classmethod
    def from_json(cls, data: object) -> ValidationSummary:
        """The summary from a version's `validation_summary` column."""
        raw = _mapping(data)
        by_check = {str(k): _int(v) or 0 for k, v in _mapping(raw.get("issues_by_check")).items()}
        return cls(
            images=_int(raw.get("images")),
            # Older rows keep the counts only under the report's own key.
            by_severity=SeverityCounts.from_json(raw.get("by_severity") or raw.get("issues_by_severity")),
            issues_by_check=by_check,
            seconds=_float(raw.get("seconds")),
            images_per_second=_float(raw.get("images_per_second")),
        )


@dataclass(frozen=True)
class EpochRow:
    """One finished training epoch as the run's history and the job's live view store it (epoch is 1-based)."""

    epoch: int | None = None
    epochs: int | None = None
    box_loss: float | None = None
    cls_loss: float | None = None
    dfl_loss: float | None = None
    precision: float | None = None
    recall: float | None = None
    map50: float | None = None
    map50_95: float | None = None
    lr: float | None = None
    seconds: float | None = None
    remaining_s: float | None = None  # the run's estimated time left after this epoch
    remaining_margin_s: float | None = None  # give or take this much

    @classmethod
    def from_json(cls, data: object) -> EpochRow:
        """An epoch from one history entry."""
        raw = _mapping(data)
        return cls(
            epoch=_int(raw.get("epoch")),
            epochs=_int(raw.get("epochs")),
            **{f.name: _float(raw.get(f.name)) for f in dataclasses.fields(cls) if f.name not in ("epoch", "epochs")},
        )

    def value(self, name: str) -> float | None:
        """The named figure (e.g. "map50"), or None when this epoch has none by that name."""
        found = getattr(self, name, None) if name in _EPOCH_FIGURES else None
        return float(found) if isinstance(found, int | float) else None


_EPOCH_FIGURES = frozenset(f.name for f in dataclasses.fields(EpochRow))


def epoch_rows(data: object) -> list[EpochRow]:
    """Epochs from a stored list of epoch entries (anything else reads as no epochs)."""
    return [EpochRow.from_json(e) for e in data] if isinstance(data, list) else []


@dataclass(frozen=True)
class ClassScore:
    """Average precision of one class."""

    ap50: float = 0.0
    ap50_95: float = 0.0


@dataclass(frozen=True)
class Scores:
    """How well a model scored on the validation images (None where not measured).

    Attributes:
        map50: mAP at IoU 0.5.
        map50_95: mAP averaged over IoU 0.5-0.95.
        precision: Share of drawn boxes that are right.
        recall: Share of the objects found.
        latency_ms: Inference time per image.
        per_class: AP per class name (empty when not measured).
    """

    map50: float | None = None
    map50_95: float | None = None
    precision: float | None = None
    recall: float | None = None
    latency_ms: float | None = None
    per_class: dict[str, ClassScore] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Scores:
        """Scores from a run's `evaluation` or a registered model's `metrics` column."""
        raw = _mapping(data)
        per_class = {
            str(name): ClassScore(_float(_mapping(v).get("ap50")) or 0.0, _float(_mapping(v).get("ap50_95")) or 0.0)
            for name, v in _mapping(raw.get("per_class")).items()
        }
        return cls(
            map50=_float(raw.get("map50")),
            map50_95=_float(raw.get("map50_95")),
            precision=_float(raw.get("precision")),
            recall=_float(raw.get("recall")),
            latency_ms=_float(raw.get("latency_ms")),
            per_class=per_class,
        )


@dataclass(frozen=True)
class TrainingFacts:
    """Facts about how a run trained, from its `metrics` column (None where not recorded)."""

    epochs_completed: int | None = None
    device: str | None = None
    map50: float | None = None
    train_images: int | None = None

    @classmethod
    def from_json(cls, data: object) -> TrainingFacts:
        """Facts from a run's `metrics` column."""
        raw = _mapping(data)
        return cls(
            epochs_completed=_int(raw.get("epochs_completed")),
            device=_str(raw.get("device")),
            map50=_float(raw.get("map50")),
            train_images=_int(raw.get("train_images")),
        )


@dataclass(frozen=True)
class Tracking:
    """Where a run is tracked in ClearML: mode "offline" or "online", or None when tracking was off."""

    mode: str | None = None
    task_id: str | None = None
    session_zip: str | None = None
    web_url: str | None = None
    note: str | None = None

    @classmethod
    def from_json(cls, data: object) -> Tracking:
        """Tracking from a run's `tracking` column."""
        raw = _mapping(data)
        return cls(**{f.name: _str(raw.get(f.name)) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class JobOutcome:
    """What a finished job made, from its `result` column (None where it made no such thing)."""

    version_id: int | None = None
    run_id: int | None = None
    model_id: int | None = None

    @classmethod
    def from_json(cls, data: object) -> JobOutcome:
        """The outcome from a job's `result` column."""
        raw = _mapping(data)
        return cls(**{f.name: _int(raw.get(f.name)) or None for f in dataclasses.fields(cls)})
