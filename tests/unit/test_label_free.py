"""The Monitor's label-free figures: mAP50 as the estimate's truth, window features, the calibrated estimator and
its interval, the synthetic shifts it is calibrated on, the embedding drift test and map, and the folder report
that calibrates from a labelled held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.core.params import MonitorParams
from backend.core.settings import Settings
from backend.monitoring.calibration import CALIBRATION_SHIFTS, read_yolo_boxes, shift_picture
from backend.monitoring.embedding_drift import mmd_test, pca_map
from backend.monitoring.estimate import (
    EstimateMethod,
    MapEstimator,
    PictureOutput,
    choose_estimator,
    fit_estimator,
    window_features,
)
from backend.monitoring.map50 import Box, map50


def _box(cls: int, x: float, conf: float = 1.0) -> Box:
    return Box(cls, x, 10.0, x + 20.0, 30.0, conf)


def test_map50_perfect_empty_and_ranked_false_positive() -> None:
    truth = [[_box(0, 0), _box(1, 50)], [_box(0, 100)]]
    assert map50(truth, truth) == pytest.approx(1.0)
    assert map50([[], []], truth) == 0.0
    # a false positive ranked above the only true box: precision 1/2 at full recall, so AP 0.5
    assert map50([[_box(0, 200, 0.9), _box(0, 0, 0.8)]], [[_box(0, 0)]]) == pytest.approx(0.5)
    # the wrong class never matches
    assert map50([[_box(1, 0, 0.9)]], [[_box(0, 0)]]) == 0.0
    with pytest.raises(ValueError, match="pictures"):
        map50([[]], [])


def test_window_features_read_confidence_and_flip_agreement() -> None:
    steady = PictureOutput(boxes=(_box(0, 0, 0.9), _box(1, 50, 0.1)), flipped=(_box(0, 1, 0.8),))
    moved = PictureOutput(boxes=(_box(0, 0, 0.6),), flipped=(_box(0, 150, 0.6),))
    features = window_features([steady, moved])
    assert features["best_score"] == pytest.approx(0.75)
    assert features["confident_score"] == pytest.approx(0.75)  # 0.9 and 0.6; 0.1 is below the confident floor
    assert features["confident_per_picture"] == pytest.approx(1.0)
    assert features["flip_agreement"] == pytest.approx(0.5)  # the steady picture agrees, the moved one does not
    assert 0.8 < features["flip_iou"] < 1.0
    with pytest.raises(BadInputError):
        window_features([])


def _synthetic_windows(seed: int = 0) -> tuple[list[dict[str, float]], list[float], list[str]]:
    """Windows whose truth is a line in the confident score; the flip features are noise."""
    rng = np.random.default_rng(seed)
    rows, truths, groups = [], [], []
    for kind in ("none", "dark", "blur", "noise"):
        for _ in range(12):
            score = float(rng.uniform(0.3, 0.9))
            rows.append(
                {
                    "best_score": score + float(rng.normal(0, 0.02)),
                    "confident_score": score,
                    "confident_per_picture": float(rng.uniform(1, 3)),
                    "high_share": score,
                    "flip_agreement": float(rng.uniform(0, 1)),
                    "flip_iou": float(rng.uniform(0.5, 1)),
                }
            )
            truths.append(0.9 * score - 0.1 + float(rng.normal(0, 0.01)))
            groups.append(kind)
    return rows, truths, groups


def test_estimator_is_chosen_by_out_of_fold_error_and_its_interval_covers(tmp_path: Path) -> None:
    rows, truths, groups = _synthetic_windows()
    best, errors = choose_estimator(rows, truths, groups)
    assert set(errors) == {str(m) for m in EstimateMethod}
    assert best.method is not EstimateMethod.STABILITY and errors["stability"] > 3 * errors[str(best.method)]
    assert best.oof_mae < 0.03
    test_rows, test_truths, _ = _synthetic_windows(seed=1)
    covered = 0
    for row, truth in zip(test_rows, test_truths, strict=True):
        value = best.raw(row)
        assert abs(value - truth) < 0.06
        covered += value - best.residual_high <= truth <= value - best.residual_low
    assert covered / len(test_rows) >= 0.75  # a 90 % interval from residual quantiles
    again = MapEstimator.load(best.save(tmp_path / "est.json"))
    assert again.raw(rows[0]) == pytest.approx(best.raw(rows[0]))
    with pytest.raises(BadInputError, match="2 kinds"):
        fit_estimator(rows[:5], truths[:5], ["none"] * 5, EstimateMethod.CONFIDENCE)


def test_estimate_interval_is_ordered_and_clipped() -> None:
    rows, truths, groups = _synthetic_windows()
    estimator = fit_estimator(rows, truths, groups, EstimateMethod.COMBINED)
    estimate = estimator.estimate([PictureOutput(boxes=(_box(0, 0, 0.99),), flipped=(_box(0, 0, 0.99),))] * 3)
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0
    assert estimate.pictures == 3 and estimate.method == "combined"


def test_shifts_keep_the_picture_size_and_scale_moves_the_boxes() -> None:
    image = Image.new("RGB", (120, 80), (200, 120, 40))
    boxes = [Box(0, 20.0, 20.0, 60.0, 60.0)]
    for kind in CALIBRATION_SHIFTS:
        for severity in (1, 3):
            shifted, moved = shift_picture(image, boxes, kind, severity, seed=1)
            assert shifted.size == image.size and shifted.mode == "RGB"
    _, moved = shift_picture(image, boxes, "scale", 3, seed=1)
    assert moved[0].x2 - moved[0].x1 == pytest.approx(16.0)  # 40 px wide at 0.4
    dark, _ = shift_picture(image, boxes, "dark", 3, seed=1)
    assert np.asarray(dark).mean() < 0.4 * np.asarray(image).mean()
    with pytest.raises(KeyError):
        shift_picture(image, boxes, "sepia", 1, seed=1)


def test_yolo_labels_to_pixel_boxes(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("2 0.5 0.5 0.2 0.4\n\n", encoding="utf-8")
    assert read_yolo_boxes(label, 100, 50) == [Box(2, 40.0, 15.0, 60.0, 35.0)]
    assert read_yolo_boxes(tmp_path / "missing.txt", 100, 50) == []


def test_mmd_flags_a_shifted_share_and_not_the_same_distribution() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(300, 16))
    same = rng.normal(size=(100, 16))
    assert mmd_test(reference, same).drifted is False
    mixed = np.vstack([rng.normal(size=(80, 16)), rng.normal(loc=2.0, size=(20, 16))])  # 20 % of a new kind
    found = mmd_test(reference, mixed)
    assert found.drifted is True and found.p_value < 0.01 and found.current == 100
    with pytest.raises(BadInputError):
        mmd_test(reference, rng.normal(size=(5, 8)))
    ref_xy, cur_xy = pca_map(reference, mixed)
    assert ref_xy.shape == (300, 2) and cur_xy.shape == (100, 2)
    assert np.abs(ref_xy.mean(axis=0)).max() < 1e-9  # centred on the reference


def test_mmd_false_alarms_stay_near_the_level() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(200, 8))
    alarms = sum(mmd_test(reference, rng.normal(size=(60, 8)), permutations=100, seed=i).drifted for i in range(20))
    assert alarms <= 2


def test_folder_report_calibrates_from_the_held_out_split(workspace: Settings, tmp_path: Path) -> None:
    from backend.monitoring.service import drift_between_folders
    from backend.monitoring.traffic import generate_traffic
    from tests.utils.tiny_data import save_untrained_detector

    weights = save_untrained_detector(tmp_path / "w.pt", imgsz=64)
    ref = tmp_path / "ref"
    generate_traffic("none", images=12, out_dir=ref / "images" / "val", seed=3, workers=1)
    (ref / "labels" / "val").mkdir(parents=True)
    for path in (ref / "images" / "val").glob("*.jpg"):
        (ref / "labels" / "val" / f"{path.stem}.txt").write_text("0 0.5 0.5 0.3 0.3\n", encoding="utf-8")
    generate_traffic("dark", images=30, out_dir=tmp_path / "cur", seed=4, workers=1)
    params = MonitorParams(min_window=10, embedding_permutations=50)
    built = drift_between_folders(ref, tmp_path / "cur", weights=weights, out_dir=tmp_path / "out", params=params)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    kept = list((workspace.cache_dir / "monitoring").glob("estimator-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["info"]["held_out_images"] == 12
    # an untrained model finds nothing right anywhere: the calibrated estimate says so, with a tight interval
    assert summary["estimated_map50"] == pytest.approx(0.0, abs=0.05)
    assert 0.0 <= summary["estimated_map50_low"] <= summary["estimated_map50"] <= summary["estimated_map50_high"]
    assert summary["estimated_map50_high"] < 0.2
    assert isinstance(summary["embedding_drift"], bool)
    assert built.label_free is not None and built.label_free.estimate.method != "uncalibrated"
    assert len(built.label_free.map_current) == 30


def test_report_estimate_reads_as_a_sentence_with_the_promotion_figure_and_alerts() -> None:
    from datetime import UTC, datetime

    from backend.monitoring.views import accuracy_estimate
    from backend.store.records import DriftReport

    details = {
        "estimate": {"value": 0.48, "low": 0.42, "high": 0.53, "pictures": 200, "method": "combined"},
        "embedding_drift": {"drifted": True, "p_value": 0.005},
        "promotion_map50": 0.56,
    }
    report = DriftReport(
        id=1, reference_version_id=1, model_id=1, window_start=None, window_end=None, n_reference=80,
        n_current=200, drift_share=0.0, drifted=False, details=details, html_path=None,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    found = accuracy_estimate(report, alert_below=0.5)
    assert found is not None
    assert found.sentence() == "estimated 0.48 (0.42–0.53) on the last 200 pictures, 0.56 at promotion"
    assert found.alert is True and found.embedding_drift is True and found.embedding_p == 0.005
    assert accuracy_estimate(report, alert_below=0.4).alert is False  # type: ignore[union-attr]
    old = DriftReport(**{**report.__dict__, "details": {}})
    assert accuracy_estimate(old) is None
