"""Monitoring: shifted traffic flags the shifted features and not unrelated ones, no shift raises no alarm, the report
files keep the `jobs.drift` contract, and the simulator is deterministic and refuses bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from backend.core.errors import BadInputError
from backend.core.params import FeatureTest, MonitorParams
from backend.monitoring.reports import build_report, write_report
from backend.monitoring.tables import ALL_COLUMNS, NO_CLASS, frame_from_images, prediction_columns
from backend.monitoring.traffic import TrafficShift, generate_traffic, parse_shift
from backend.serving.inference import Detector
from tests.utils.shared import TinyModels

SIZE_FEATURES = {"width", "height", "aspect_ratio"}
PARAMS = MonitorParams()


@pytest.fixture(scope="module")
def detector(tiny_models: TinyModels) -> Detector:
    return Detector.load(tiny_models.untrained(imgsz=64), device="cpu")


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory, detector: Detector) -> Iterator[dict[str, pd.DataFrame]]:
    """Reference (80 clean pictures) and 40-picture windows of each shift, as report tables."""
    root = tmp_path_factory.mktemp("traffic")
    out: dict[str, pd.DataFrame] = {}
    reference = generate_traffic("none", images=80, out_dir=root / "reference", seed=100, workers=2)
    out["reference"] = frame_from_images(reference.files, detector)
    for shift in ("none", "dark", "blur", "background"):
        batch = generate_traffic(shift, images=40, out_dir=root / shift, seed=1, workers=2)
        out[shift] = frame_from_images(batch.files, detector)
    yield out


def test_no_shift_raises_no_alarm(frames: dict[str, pd.DataFrame]) -> None:
    result = build_report(frames["reference"], frames["none"], PARAMS).result
    assert result.drift_detected is False
    assert result.drifted_features == []
    assert result.reference_images == 80 and result.current_images == 40


def test_dark_traffic_flags_brightness_and_not_the_picture_size(frames: dict[str, pd.DataFrame]) -> None:
    result = build_report(frames["reference"], frames["dark"], PARAMS).result
    assert result.drift_detected is True
    assert {"brightness", "contrast"} <= set(result.drifted_features)
    assert not SIZE_FEATURES & set(result.drifted_features)
    brightness = next(f for f in result.features if f.name == "brightness")
    assert brightness.current_median is not None and brightness.reference_median is not None
    assert brightness.current_median < 0.6 * brightness.reference_median


def test_blur_flags_sharpness_and_not_brightness_or_size(frames: dict[str, pd.DataFrame]) -> None:
    result = build_report(frames["reference"], frames["blur"], PARAMS).result
    assert result.drift_detected is True
    assert "sharpness" in result.drifted_features
    assert "brightness" not in result.drifted_features
    assert not SIZE_FEATURES & set(result.drifted_features)


def test_background_flags_colour_and_not_the_picture_size(frames: dict[str, pd.DataFrame]) -> None:
    result = build_report(frames["reference"], frames["background"], PARAMS).result
    assert result.drift_detected is True
    assert {"saturation", "contrast"} & set(result.drifted_features)
    assert not SIZE_FEATURES & set(result.drifted_features)


def test_evidently_tests_carry_the_alarm(frames: dict[str, pd.DataFrame]) -> None:
    dark = build_report(frames["reference"], frames["dark"], PARAMS).result
    calm = build_report(frames["reference"], frames["none"], PARAMS).result
    assert any("Share of Drifted Columns" in t.name and t.status == "FAIL" for t in dark.tests)
    assert any(t.name == "Value Drift for column brightness" and t.status == "FAIL" for t in dark.tests)
    assert all(t.status == "SUCCESS" for t in calm.tests)


def test_columns_without_values_are_reported_as_not_tested(frames: dict[str, pd.DataFrame]) -> None:
    """The untrained detector finds nothing at conf 0.25, so confidence and box area have no values to test."""
    result = build_report(frames["reference"], frames["none"], PARAMS).result
    by_name = {f.name: f for f in result.features}
    assert set(by_name) == set(ALL_COLUMNS)
    assert by_name["confidence"].method == "not tested" and math.isnan(by_name["confidence"].score)
    assert "brightness" in result.tested_features


def test_per_feature_settings_override_the_section(frames: dict[str, pd.DataFrame]) -> None:
    params = MonitorParams(features={"brightness": FeatureTest(method="wasserstein", threshold=100.0)})
    result = build_report(frames["reference"], frames["dark"], params).result
    brightness = next(f for f in result.features if f.name == "brightness")
    assert brightness.method == "wasserstein" and brightness.threshold == 100.0
    assert brightness.drifted is False  # a normed distance never reaches 100
    assert "contrast" in result.drifted_features


def test_report_files_keep_the_contract_and_load_nothing(frames: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    built = build_report(frames["reference"], frames["dark"], PARAMS)
    paths = write_report(built, tmp_path / "out")
    summary = json.loads(paths["summary"].read_text())
    assert set(summary) == {"drift_detected", "drifted_features", "share", "reference_images", "current_images"}
    assert summary["drift_detected"] is True and "brightness" in summary["drifted_features"]
    assert 0 < summary["share"] <= 1
    snapshot = json.loads(paths["snapshot"].read_text())
    assert snapshot["metrics"] and snapshot["tests"]
    html = paths["html"].read_text(encoding="utf-8")
    assert "brightness" in html
    assert '<script src="http' not in html and "<link " not in html  # self-contained: nothing to download


def test_too_few_rows_is_bad_input(frames: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(BadInputError, match="at least 30"):
        build_report(frames["reference"], frames["none"].head(10), PARAMS)


def test_prediction_columns_summarise_the_detections() -> None:
    dets = [
        {"class": "apple", "confidence": 0.9, "box": [0, 0, 10, 10]},
        {"class": "banana", "confidence": 0.5, "box": [0, 0, 20, 10]},
        {"class": "banana", "confidence": 0.4, "box": [0, 0, 10, 10]},
    ]
    row = prediction_columns(dets, 100, 100)
    assert row["pred_class"] == "banana" and row["boxes"] == 3
    assert row["confidence"] == pytest.approx(0.6)
    assert row["box_area"] == pytest.approx((0.01 + 0.02 + 0.01) / 3, abs=1e-5)
    empty = prediction_columns([], 100, 100)
    assert empty["pred_class"] == NO_CLASS and empty["boxes"] == 0 and math.isnan(empty["confidence"])


def test_traffic_is_deterministic_by_seed(tmp_path: Path) -> None:
    first = generate_traffic("dark", images=3, out_dir=tmp_path / "a", seed=5, workers=1)
    second = generate_traffic("dark", images=3, out_dir=tmp_path / "b", seed=5, workers=1)
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in second.files]
    assert [p.name for p in first.files] == [
        "traffic_dark_5_00000.jpg",
        "traffic_dark_5_00001.jpg",
        "traffic_dark_5_00002.jpg",
    ]


def test_class_mix_keeps_pictures_of_the_chosen_foods(tmp_path: Path) -> None:
    batch = generate_traffic(TrafficShift.CLASS_MIX, images=4, out_dir=tmp_path, seed=2, workers=1)
    assert len(batch.files) == 4 and all(p.stat().st_size > 0 for p in batch.files)


def test_bad_shift_and_count_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="Unknown shift"):
        parse_shift("sepia")
    with pytest.raises(BadInputError, match="between 1 and"):
        generate_traffic("none", images=0, out_dir=tmp_path)
