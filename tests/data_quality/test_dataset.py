"""The data-quality suite ("customized pytest"): checks a prepared YOLO dataset.

    pytest tests/data_quality --dataset PATH      # any prepared dataset folder (with data.yaml)
    pytest tests/data_quality                     # a small clean demo set, built by tests/conftest.py

`dataset_dir` comes from tests/conftest.py; `quality_report` runs every check once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.data.quality.checks import Check, Severity
from backend.data.quality.report import ValidationReport
from backend.data.quality.validate import validate_dataset


@pytest.fixture(scope="session")
def quality_report(dataset_dir: Path) -> Iterator[ValidationReport]:
    """Every data-quality check run once over the dataset under test (prepare's findings included)."""
    yield validate_dataset(dataset_dir)


# Photo checks are warnings: a few odd photos are normal, many mean the set differs from what the model will see.
MAX_PHOTO_WARNING_SHARE = 0.05


def _offenders(report: ValidationReport, *checks: Check) -> list[str]:
    return [f"{i.file}: {i.check} ({i.message})" for i in report.issues if i.check in checks]


def _listing(lines: list[str], limit: int = 30) -> str:
    shown = "\n  ".join(lines[:limit])
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"\n  {shown}{more}"


def test_dataset_has_images(quality_report: ValidationReport) -> None:
    assert quality_report.summary["images"] > 0, "the dataset holds no images"


def test_no_error_level_issue(quality_report: ValidationReport) -> None:
    errors = [f"{i.file}: {i.check} ({i.message})" for i in quality_report.issues if i.severity == Severity.ERROR]
    assert not errors, f"{len(errors)} error-level issues:{_listing(errors)}"


def test_image_format(quality_report: ValidationReport) -> None:
    """Every image decodes and its real format matches its extension."""
    bad = _offenders(quality_report, Check.CORRUPT_IMAGE, Check.FORMAT_MISMATCH, Check.MISSING_IMAGE)
    assert not bad, f"{len(bad)} images with a format problem:{_listing(bad)}"


def test_image_size(quality_report: ValidationReport) -> None:
    """Every image is at least 32 px on its shortest side and under the pixel limit."""
    bad = _offenders(quality_report, Check.TOO_SMALL, Check.TOO_LARGE)
    assert not bad, f"{len(bad)} images with a bad size:{_listing(bad)}"


def test_pixel_variance(quality_report: ValidationReport) -> None:
    """No blank or near-uniform images."""
    bad = _offenders(quality_report, Check.LOW_VARIANCE)
    assert not bad, f"{len(bad)} blank or near-uniform images:{_listing(bad)}"


def test_annotation_format(quality_report: ValidationReport) -> None:
    """Every label line is `class cx cy w h` with a known class and a real box."""
    bad = _offenders(quality_report, Check.LABEL_FORMAT, Check.UNKNOWN_CLASS, Check.DEGENERATE_BBOX)
    assert not bad, f"{len(bad)} annotation problems:{_listing(bad)}"


def test_every_class_in_train_and_val(quality_report: ValidationReport) -> None:
    distribution = quality_report.summary["class_distribution"]
    splits = quality_report.summary["images_per_split"]
    assert "train" in splits and "val" in splits, f"the dataset needs a train and a val split, has {sorted(splits)}"
    absent = [
        f"{name}: {counts.get('train', 0)} train boxes, {counts.get('val', 0)} val boxes"
        for name, counts in distribution.items()
        if counts.get("train", 0) == 0 or counts.get("val", 0) == 0
    ]
    assert not absent, f"{len(absent)} classes missing from train or val:{_listing(absent)}"


def test_photos_look_like_photos(quality_report: ValidationReport) -> None:
    """At most 5 % of the images are dark, washed out, blurry, black and white, oddly shaped or featureless."""
    photo_checks = (
        Check.DARK,
        Check.LIGHT,
        Check.BLURRY,
        Check.GRAYSCALE,
        Check.ODD_ASPECT_RATIO,
        Check.LOW_INFORMATION,
    )
    bad = _offenders(quality_report, *photo_checks)
    files = {line.split(":", 1)[0] for line in bad}
    limit = MAX_PHOTO_WARNING_SHARE * quality_report.summary["images"]
    assert len(files) <= limit, f"{len(files)} images look unlike usable photos:{_listing(bad)}"
