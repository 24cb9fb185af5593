"""The pre-flight report of an import, typed: what `prepare` did when it converted the source to YOLO format.

`prepare` writes it as `prepare_report.json` in every version folder; `PreflightReport.from_json` reads it back
(tolerating old reports with missing keys) so the Datasets page never digs in the raw dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ClassMapping:
    """One class: its id in the source (None when the source already used YOLO ids), YOLO id and name."""

    source_id: int | None
    class_id: int | None
    name: str


@dataclass(frozen=True)
class PreparedFile:
    """One source image: its name in the version, its name in the source, split (None if left out), boxes, checks."""

    file: str
    source: str
    split: str | None
    boxes: int
    issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class DroppedCategory:
    """A source category the import left out (e.g. Roboflow's project placeholder), with why."""

    name: str
    reason: str


@dataclass(frozen=True)
class PreflightReport:
    """What an import did.

    Attributes:
        format: "coco" or "yolo" (None when unknown).
        val_fraction: Share of images kept for validation when the source had no split.
        seed: Seed of that split.
        counts: Named counts (images, train, val, boxes, classes, ...) in the order `prepare` wrote them.
        class_map: How source class ids became YOLO ids.
        files: Every source image and what became of it.
        layout: The export layout detected, as the tool that wrote it would name it (None for older reports).
        splits_given: The splits the source gave ("train", "val", "test").
        splits_kept: Whether those splits were kept as given.
        images_split_here: How many images the import had to split into train / val itself.
        dropped_categories: Source categories left out, with why.
    """

    format: str | None = None
    val_fraction: float | None = None
    seed: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    class_map: list[ClassMapping] = field(default_factory=list)
    files: list[PreparedFile] = field(default_factory=list)
    layout: str | None = None
    splits_given: tuple[str, ...] = ()
    splits_kept: bool | None = None
    images_split_here: int | None = None
    dropped_categories: tuple[DroppedCategory, ...] = ()

    @property
    def found(self) -> bool:
        """Whether there was a report to read at all."""
        return bool(self.format or self.counts or self.files)

    @classmethod
    def from_json(cls, data: object) -> PreflightReport:
        """The report from the parsed `prepare_report.json` (an empty report for anything unreadable)."""
        raw = _mapping(data)
        class_map = [
            ClassMapping(
                source_id=_int_or_none(_mapping(row).get("coco_id")),
                class_id=_int_or_none(_mapping(row).get("class_id")),
                name=str(_mapping(row).get("name", "")),
            )
            for row in (raw.get("class_map") or [])
        ]
        files = [_prepared_file(_mapping(row)) for row in (raw.get("files") or [])]
        counts = {str(k): int(v) for k, v in _mapping(raw.get("counts")).items() if _number(v) is not None}
        val_fraction = _number(raw.get("val_fraction"))
        seed = _number(raw.get("seed"))
        return cls(
            format=str(raw["format"]) if raw.get("format") else None,
            val_fraction=float(val_fraction) if val_fraction is not None else None,
            seed=int(seed) if seed is not None else None,
            counts=counts,
            class_map=class_map,
            files=files,
            layout=str(raw["layout"])[:300] if raw.get("layout") else None,
            splits_given=tuple(str(x) for x in raw.get("splits_given") or [] if isinstance(x, str)),
            splits_kept=raw["splits_kept"] if isinstance(raw.get("splits_kept"), bool) else None,
            images_split_here=_int_or_none(raw.get("images_split_here")),
            dropped_categories=tuple(
                DroppedCategory(str(_mapping(d).get("name", "")), str(_mapping(d).get("reason", "")))
                for d in (raw.get("dropped_categories") or [])
                if isinstance(d, Mapping)
            ),
        )


def _int_or_none(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _prepared_file(row: Mapping[str, Any]) -> PreparedFile:
    issues = row.get("issues") or []
    checks = (
        [str(i.get("check", i)) if isinstance(i, Mapping) else str(i) for i in issues]
        if isinstance(issues, list)
        else [str(issues)]
    )
    return PreparedFile(
        file=str(row.get("file", "")),
        source=str(row.get("source", "")),
        split=str(row["split"]) if row.get("split") else None,
        boxes=_int_or_none(row.get("boxes")) or 0,
        issues=tuple(checks),
    )
