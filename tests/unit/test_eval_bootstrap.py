"""backend.training.bootstrap and .matching: AP as ultralytics computes it, bootstrap intervals over images, the paired
difference, and the matching checked against ultralytics' own `val` on the same model and images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.training.bootstrap import (
    IOU_THRESHOLDS,
    MatchTable,
    bootstrap_figures,
    class_ap,
    interpolated_ap,
    paired_difference,
    resample_weights,
)
from backend.training.evaluation import evaluate, load_yolo
from backend.training.matching import build_table, load_eval_images, match_image, match_model
from tests.utils.gate_models import make_grid_dataset, save_blind_detector, save_scored_grid_detector


def _table(rows: list[tuple[int, int, float, bool]], gt: list[list[int]], classes: tuple[str, ...]) -> MatchTable:
    """A table from (image, class, confidence, true positive at every threshold) rows and per-image box counts."""
    return MatchTable(
        classes=classes,
        model_classes=classes,
        det_image=np.array([r[0] for r in rows], dtype=np.int64),
        det_class=np.array([r[1] for r in rows], dtype=np.int64),
        det_conf=np.array([r[2] for r in rows], dtype=float),
        det_tp=np.array([[r[3]] * len(IOU_THRESHOLDS) for r in rows], dtype=bool).reshape(-1, len(IOU_THRESHOLDS)),
        gt_counts=np.array(gt, dtype=np.int64),
    )


def _random_table(rng: np.random.Generator, images: int, classes: int = 3) -> MatchTable:
    """Detections with random confidences, hits and misses at the ten thresholds (monotone, as IoU makes them)."""
    gt = rng.integers(0, 4, size=(images, classes))
    rows_image, rows_class, conf, tp = [], [], [], []
    for image in range(images):
        for cls in range(classes):
            for _ in range(int(gt[image, cls]) + int(rng.integers(0, 4))):
                iou = rng.uniform(0.3, 1.0)
                rows_image.append(image)
                rows_class.append(cls)
                conf.append(rng.uniform(0.001, 1.0))
                tp.append(iou >= IOU_THRESHOLDS)
    # at most as many hits per image, class and threshold as there are boxes (a box is taken once)
    table_tp = np.array(tp, dtype=bool)
    for image in range(images):
        for cls in range(classes):
            mine = np.flatnonzero((np.array(rows_image) == image) & (np.array(rows_class) == cls))
            for t in range(len(IOU_THRESHOLDS)):
                hits = mine[table_tp[mine, t]]
                table_tp[hits[int(gt[image, cls]) :], t] = False
    names = tuple(f"c{i}" for i in range(classes))
    return MatchTable(
        names, names, np.array(rows_image), np.array(rows_class), np.array(conf), table_tp.reshape(-1, 10), gt
    )


def test_known_ap_of_a_hand_built_case() -> None:
    # one class, 4 boxes on 4 images; ranked detections: hit, miss, hit, hit, miss -> recall 1/4, 1/4, 2/4, 3/4, 3/4
    rows = [(0, 0, 0.9, True), (1, 0, 0.8, False), (2, 0, 0.7, True), (3, 0, 0.6, True), (3, 0, 0.5, False)]
    table = _table(rows, [[1], [1], [1], [1]], ("apple",))
    # precision 1, 1/2, 2/3, 3/4 (envelope 1 up to recall 1/4, then 3/4 up to 3/4, then 0): the area is
    # 0.25 + 0.5 * 0.75, less half a 0.01 step at each of the two drops that land on the 101-point grid
    expected = 0.25 + 0.5 * 0.75 - 0.005 * (1 - 0.75) - 0.005 * 0.75
    ap = class_ap(table, np.ones((1, 4)))
    assert ap[0, 0, 0] == pytest.approx(expected, abs=1e-12)
    figures = bootstrap_figures(table, samples=200, seed=0)
    assert figures.map50.value == pytest.approx(expected) and figures.per_class["apple"].instances == 4

    from ultralytics.utils.metrics import compute_ap

    recall = np.array([0.25, 0.25, 0.5, 0.75, 0.75])
    precision = np.array([1.0, 0.5, 2 / 3, 0.75, 0.6])
    assert interpolated_ap(recall[None], precision[None])[0] == pytest.approx(compute_ap(recall, precision)[0])


def test_ap_agrees_with_ultralytics_ap_per_class_on_random_tables() -> None:
    from ultralytics.utils.metrics import ap_per_class

    rng = np.random.default_rng(1)
    for _ in range(5):
        table = _random_table(rng, images=12)
        ours = class_ap(table, np.ones((1, table.images)))[0]
        target = np.repeat(np.arange(3), table.gt_counts.sum(axis=0))
        theirs = ap_per_class(table.det_tp, table.det_conf, table.det_class, target)
        present = theirs[6].astype(int)  # the classes with boxes
        np.testing.assert_allclose(ours[present], theirs[5], atol=1e-9)


def test_weighting_an_image_is_the_same_as_repeating_it() -> None:
    rng = np.random.default_rng(2)
    table = _random_table(rng, images=6)
    counts = np.array([0, 2, 1, 3, 0, 1])
    repeated_rows = [i for i, n in enumerate(counts) for _ in range(n)]
    picks = np.concatenate([np.flatnonzero(table.det_image == i) for i in repeated_rows])
    new_index = np.concatenate([np.full((table.det_image == i).sum(), k) for k, i in enumerate(repeated_rows)]).astype(
        np.int64
    )
    repeated = MatchTable(
        table.classes,
        table.model_classes,
        new_index,
        table.det_class[picks],
        table.det_conf[picks],
        table.det_tp[picks],
        table.gt_counts[repeated_rows],
    )
    weighted = class_ap(table, counts[None].astype(float))
    plain = class_ap(repeated, np.ones((1, repeated.images)))
    np.testing.assert_allclose(weighted, plain, atol=1e-12)


def test_interval_holds_the_figure_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(3)
    small = _random_table(rng, images=15)
    large = _random_table(rng, images=240)
    widths = []
    for table in (small, large):
        figures = bootstrap_figures(table, samples=400, seed=0)
        for interval in (figures.map50, figures.map50_95):
            assert interval.low is not None and interval.high is not None
            assert interval.low <= interval.value <= interval.high
        widths.append(figures.map50.high - figures.map50.low)  # type: ignore[operator]
    assert widths[1] < widths[0] / 2  # 16 times the images: about a quarter of the width
    again = bootstrap_figures(small, samples=400, seed=0)
    assert again.map50 == bootstrap_figures(small, samples=400, seed=0).map50  # seeded: the same interval


def test_paired_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    table = _random_table(np.random.default_rng(4), images=20)
    same = paired_difference(table, table, samples=300, seed=0)
    assert (same.map50.value, same.map50.low, same.map50.high) == (0.0, 0.0, 0.0)
    assert (same.map50_95.low, same.map50_95.high) == (0.0, 0.0)
    assert all((d.low, d.high) == (0.0, 0.0) for d in same.per_class.values())


def test_paired_difference_sees_a_worse_model_and_needs_the_same_images() -> None:
    table = _random_table(np.random.default_rng(5), images=40)
    worse = MatchTable(  # every other hit turned into a miss
        table.classes,
        table.model_classes,
        table.det_image,
        table.det_class,
        table.det_conf,
        table.det_tp & (np.arange(len(table.det_conf)) % 2 == 0)[:, None],
        table.gt_counts,
    )
    diff = paired_difference(worse, table, samples=300, seed=0)
    assert diff.map50.high is not None and diff.map50.high < 0 < -diff.map50.value
    other = _random_table(np.random.default_rng(6), images=40)
    with pytest.raises(ValueError, match="same images"):
        paired_difference(table, other, samples=10, seed=0)


def test_resampling_draws_each_set_of_images_with_replacement() -> None:
    weights = resample_weights(7, 50, seed=0)
    assert weights.shape == (50, 7) and (weights.sum(axis=1) == 7).all() and (weights >= 0).all()
    assert (weights == 0).any()  # some images left out of some resamples


def test_matching_takes_each_box_once_in_confidence_order() -> None:
    gt = np.array([[0.0, 0.0, 0.5, 0.5]])
    preds = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.45], [0.5, 0.5, 1.0, 1.0]])
    tp = match_image(preds, np.array([0, 0, 0]), gt, np.array([0]))
    assert tp[0].all() and not tp[1].any() and not tp[2].any()  # the duplicate and the stray are misses
    tp = match_image(preds[1:2], np.array([0]), gt, np.array([0]))
    assert tp[0, 0] and not tp[0, -1]  # IoU 0.9: a hit up to 0.9, a miss at 0.95
    assert not match_image(preds[:1], np.array([1]), gt, np.array([0])).any()  # another class never matches


@pytest.fixture(scope="module", name="grid")
def fixture_grid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("grid")
    return {
        "data": make_grid_dataset(root / "data", val=12, class_ids=(1,)),  # banana boxes: what the detector reports
        "scored": save_scored_grid_detector(root / "scored.pt"),
        "blind": save_blind_detector(root / "blind.pt"),
    }


def test_map50_agrees_with_ultralytics_val_on_the_same_model_and_images(grid: dict[str, Path]) -> None:
    """Our matching and AP against ultralytics' own `val`, letterboxing as `predict` does (rect=False)."""
    model = load_yolo(grid["scored"])
    metrics = model.val(
        data=str(grid["data"]), imgsz=64, batch=16, device="cpu", conf=0.001, iou=0.6, rect=False, plots=False,
        verbose=False, workers=0,
    )  # fmt: skip
    ours = bootstrap_figures(match_model(load_yolo(grid["scored"]), load_eval_images(grid["data"]), imgsz=64))
    assert 0.05 < ours.map50.value < 0.95  # a real figure, not a degenerate 0 or 1
    assert ours.map50.value == pytest.approx(float(metrics.box.map50), abs=0.02)
    assert ours.map50_95.value == pytest.approx(float(metrics.box.map), abs=0.02)


def test_matched_table_maps_classes_by_name_and_evaluate_gains_intervals(grid: dict[str, Path]) -> None:
    images = load_eval_images(grid["data"])
    blind = match_model(load_yolo(grid["blind"]), images, imgsz=64)
    assert blind.det_conf.size == 0 and blind.instances == images.instances > 0
    figures = bootstrap_figures(blind, samples=100, seed=0)
    assert (figures.map50.value, figures.map50.low, figures.map50.high) == (0.0, 0.0, 0.0)

    # the same detections under another class order score the same once mapped by name
    boxes = [np.array([[0.25, 0.25, 0.75, 0.75]])] * len(images.images)
    plain = build_table(images, [(b, np.array([0.9]), np.array([1])) for b in boxes], ("apple", "banana", "broccoli"))
    shuffled = build_table(images, [(b, np.array([0.9]), np.array([0])) for b in boxes], ("banana", "soup"))
    assert plain.det_class.tolist() == shuffled.det_class.tolist() and (plain.det_tp == shuffled.det_tp).all()

    result = evaluate(grid["scored"], grid["data"], imgsz=64, device="cpu").to_dict()
    assert result["map50_low"] <= result["map50"] <= result["map50_high"]
    assert result["map50_95_low"] <= result["map50_95"] <= result["map50_95_high"]
    assert result["instances"] == images.instances and result["interval"]["samples"] == 1000
    banana = result["per_class_intervals"]["banana"]
    assert banana["ap50_low"] <= result["per_class"]["banana"]["ap50"] <= banana["ap50_high"]
    assert set(result["per_class"]["banana"]) == {"ap50", "ap50_95"}  # the contract's keys are unchanged
