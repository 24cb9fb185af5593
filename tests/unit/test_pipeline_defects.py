"""Demo generator → prepare → validate: every planted defect is found, exactly once; the clean part is clean."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.data.demo import generate_demo_dataset
from backend.data.formats.convert import prepare_coco
from backend.data.quality.report import ValidationReport
from backend.data.quality.validate import validate_dataset
from tests.utils.spec import PHOTO_CHECKS, SPEC_CHECKS


@pytest.fixture(scope="module")
def demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """≈60 demo images: 46 clean ones plus the generator's planted `demo_defect_*` files."""
    raw = tmp_path_factory.mktemp("demo_defects")
    generate_demo_dataset(raw, images=46, seed=11, defects=True)
    yield raw


def _prepare_and_validate(coco_json: Path, images: Path, work: Path) -> ValidationReport:
    out = work / "prepared"
    prepare_coco(coco_json, images, out, val_fraction=0.2, seed=0)
    return validate_dataset(out, cache_dir=work / "cache")


def test_every_planted_defect_is_reported_once(demo_raw: Path, tmp_path: Path) -> None:
    planted = {(d["file"], d["kind"]) for d in json.loads((demo_raw / "defects.json").read_text())}
    assert {kind for _, kind in planted} >= SPEC_CHECKS | PHOTO_CHECKS
    report = _prepare_and_validate(demo_raw / "annotations.json", demo_raw / "images", tmp_path)
    found = [(i.file, i.check) for i in report.issues]
    assert len(found) == len(set(found)), "each (file, check) must be reported exactly once"
    missing = sorted(planted - set(found))
    assert not missing, f"planted defects not reported: {missing}"
    # Nothing is blamed on the clean images except the originals' copies being the *later* file.
    on_clean = sorted((f, c) for f, c in found if not f.startswith("demo_defect_") and f != "data.yaml")
    assert not on_clean, f"issues on clean images: {on_clean}"


def test_without_defects_no_error_level_issue(demo_raw: Path, tmp_path: Path) -> None:
    # The generator keeps the clean images byte-identical with or without defects, so the clean dataset is the
    # defect dataset minus its `demo_defect_*` entries.
    coco = json.loads((demo_raw / "annotations.json").read_text())
    keep = {img["id"] for img in coco["images"] if not img["file_name"].startswith("demo_defect_")}
    coco["images"] = [img for img in coco["images"] if img["id"] in keep]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in keep]
    clean_json = tmp_path / "clean.json"
    clean_json.write_text(json.dumps(coco))
    report = _prepare_and_validate(clean_json, demo_raw / "images", tmp_path)
    errors = [(i.file, i.check, i.message) for i in report.issues if i.severity == "error"]
    assert not errors, errors
    false_alarms = [
        (i.file, i.check)
        for i in report.issues
        if i.check in {"near_duplicate", "exact_duplicate", "low_variance", "too_small"}
    ]
    assert not false_alarms, false_alarms
    assert report.summary["images"] == 46
