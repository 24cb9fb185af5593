"""Confidence calibration: fitting on synthetic scores, per-class pooling, matching detections to the truth, the file,
the floor and the words, and the promise that an item called "very likely" is right at least 80 % of the time.

The promise test uses synthetic held-out detections with a known truth, served through the same code path as the
Detect page (`predict_picture` with the calibration beside the weights, then `certainty_of`): a tiny model trained in
a test is far too weak to say anything about calibration, so the detector there is a stub that returns the synthetic
detections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from backend.core.errors import BadInputError
from backend.core.params import DetectParams, get_params
from backend.core.settings import Settings
from backend.imaging.loading import LoadedImage, load_image
from backend.serving.certainty import Certainty, certainty_of, class_threshold, find_calibration, sort_items
from backend.serving.inference import Detection, DetectionResult
from backend.serving.prediction import predict_picture
from backend.serving.served_model import ServingModel
from backend.training.confidence import (
    ECE_BINS,
    HeldOutScores,
    MapMethod,
    ScoreMap,
    choose_map,
    expected_calibration_error,
    fit_calibration,
    fit_isotonic,
    fit_map,
    fit_platt,
    load_calibration,
)
from backend.training.detection_match import match_detections
from tests.utils import images as imgs
from tests.utils.calibrations import overconfident, platt_calibration, put_beside, synthetic_scores, underconfident

FLOOR = get_params().detect.floor


# --------------------------------------------------------------------------------------------------- measuring


def test_ece_uses_ten_equal_width_bins() -> None:
    assert ECE_BINS == 10
    # all in bin 0.9-1.0: mean probability 0.95, half right -> gap 0.45
    assert expected_calibration_error([0.95, 0.95], [True, False]) == pytest.approx(0.45)
    # two bins, each perfectly calibrated on average
    assert expected_calibration_error([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75], [1, 0, 0, 0, 1, 1, 1, 0]) == 0
    # bins weigh by their share of the items: 3 items at 0.05 all wrong (gap 0.05), 1 at 0.95 wrong (gap 0.95)
    assert expected_calibration_error([0.05, 0.05, 0.05, 0.95], [0, 0, 0, 0]) == pytest.approx(
        0.75 * 0.05 + 0.25 * 0.95
    )
    assert expected_calibration_error([], []) == 0.0


# --------------------------------------------------------------------------------------------------- fitting


def test_an_overconfident_score_set_gets_a_lower_ece_after_calibration() -> None:
    fit_set = synthetic_scores({"tomato": 3000}, {"tomato": overconfident}, seed=1)
    raw_ece = expected_calibration_error(fit_set.scores, fit_set.correct)
    choice = choose_map(fit_set.scores, fit_set.correct)
    assert raw_ece > 0.1, "the synthetic scores are clearly overconfident"
    assert choice.map.method != MapMethod.IDENTITY
    assert expected_calibration_error(choice.out_of_fold, fit_set.correct) < raw_ece / 3
    # and on a fresh held-out set the fitted map does as well
    fresh = synthetic_scores({"tomato": 3000}, {"tomato": overconfident}, seed=2)
    calibrated = choice.map.apply(fresh.scores)
    assert (
        expected_calibration_error(calibrated, fresh.correct)
        < expected_calibration_error(fresh.scores, fresh.correct) / 3
    )
    # the map pulls high scores down: a raw 0.9 is right about 73 % of the time
    assert float(choice.map.apply(0.9)) == pytest.approx(0.9**3, abs=0.08)


def test_well_calibrated_scores_are_barely_changed() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.05, 1.0, 2000)
    correct = rng.random(2000) < scores  # right exactly as often as the score says
    choice = choose_map(scores, correct)
    assert choice.map.method == MapMethod.IDENTITY, choice.cv_ece  # within one standard error: the simplest map
    for seed in (2, 3, 4):  # where a more flexible map wins on the noise, it stays close to the identity
        rng = np.random.default_rng(seed)
        scores = rng.uniform(0.05, 1.0, 2000)
        fitted = choose_map(scores, rng.random(2000) < scores).map
        grid = np.linspace(0.05, 1.0, 200)
        assert float(np.abs(fitted.apply(grid) - grid).max()) < 0.1
        assert float(np.abs(fitted.apply(grid) - grid).mean()) < 0.04


@pytest.mark.parametrize("method", list(MapMethod))
def test_every_map_is_monotone_and_within_0_and_1(method: MapMethod) -> None:
    held = synthetic_scores({"egg": 500}, {"egg": underconfident}, seed=4)
    fitted = fit_map(method, held.scores, held.correct)
    grid = np.linspace(0.0, 1.0, 501)
    probabilities = fitted.apply(grid)
    assert np.all(np.diff(probabilities) >= -1e-12)
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0
    assert ScoreMap.from_dict(fitted.to_dict()).apply(0.37) == pytest.approx(float(fitted.apply(0.37)), abs=1e-5)


def test_platt_falls_back_to_a_monotone_map_when_scores_point_the_wrong_way() -> None:
    rng = np.random.default_rng(5)
    scores = rng.uniform(0.05, 1.0, 400)
    correct = rng.random(400) < (1.0 - scores)  # higher score, less often right
    fitted = fit_platt(scores, correct)
    assert fitted.method == MapMethod.TEMPERATURE and fitted.slope > 0


def test_isotonic_pools_adjacent_violators() -> None:
    fitted = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([False, True, False, True]))
    # 0.2 (right) and 0.3 (wrong) violate the order: pooled into one block at their mean score, value 0.5
    assert fitted.knots_x == pytest.approx((0.1, 0.25, 0.4))
    assert fitted.knots_y == pytest.approx((0.0, 0.5, 1.0))


def test_classes_with_few_detections_share_the_pooled_map() -> None:
    held = synthetic_scores(
        {"tomato": 1500, "egg": 1500, "carrot": 30},
        {"tomato": overconfident, "egg": underconfident, "carrot": overconfident},
        seed=6,
    )
    calibration = fit_calibration(held, min_class_detections=100)
    assert not calibration.classes["tomato"].pooled and not calibration.classes["egg"].pooled
    assert calibration.classes["carrot"].pooled and calibration.classes["carrot"].detections == 30
    assert calibration.map_for("carrot") == calibration.shared == calibration.map_for("never-seen")
    # per-class maps follow each class: the same raw 0.9 means much less for tomato than for egg
    assert calibration.probability("tomato", 0.9) < 0.8 < calibration.probability("egg", 0.9)
    assert calibration.ece_after < calibration.ece_before / 3
    for name in ("tomato", "egg"):
        entry = calibration.classes[name]
        assert entry.ece_after < entry.ece_before


def test_no_detections_gives_the_identity() -> None:
    calibration = fit_calibration(synthetic_scores({}, {}), min_class_detections=100)
    assert calibration.shared.method == MapMethod.IDENTITY and calibration.detections == 0
    assert calibration.probability("tomato", 0.42) == pytest.approx(0.42)


# --------------------------------------------------------------------------------------------------- labelling


def test_matching_is_greedy_by_score_per_class_at_iou_half() -> None:
    truth = [[0, 0, 10, 10], [20, 20, 30, 30]]
    boxes = [
        [0, 0, 10, 10],  # 0: exact match of truth 0, but scored lower than 1
        [0, 0, 10, 9],  # 1: IoU 0.9 with truth 0, highest score: claims it first
        [20, 20, 30, 30],  # 2: right place, wrong class
        [20, 20, 30, 24],  # 3: IoU 0.4 with truth 1: too little overlap
        [21, 21, 30, 30],  # 4: IoU 0.81 with truth 1
    ]
    right = match_detections(boxes, [0, 0, 1, 2, 2], [0.5, 0.9, 0.8, 0.7, 0.3], truth, [0, 2])
    assert right.tolist() == [False, True, False, False, True]
    assert match_detections([], [], [], truth, [0, 2]).tolist() == []
    assert match_detections(boxes[:1], [0], [0.5], [], []).tolist() == [False]


# --------------------------------------------------------------------------------------------------- the file


def test_a_calibration_round_trips_through_its_file(tmp_path: Path) -> None:
    held = synthetic_scores({"tomato": 600, "egg": 20}, {"tomato": overconfident, "egg": overconfident}, seed=7)
    calibration = fit_calibration(held, min_class_detections=100)
    path = put_beside(tmp_path / "weights" / "best.pt", calibration)
    assert path == tmp_path / "weights" / "calibration.json"
    again = load_calibration(path)
    for name in ("tomato", "egg", "other"):
        for score in (0.06, 0.3, 0.77, 0.99):
            assert again.probability(name, score) == pytest.approx(calibration.probability(name, score), abs=1e-5)
    assert (again.ece_before, again.ece_after) == (round(calibration.ece_before, 5), round(calibration.ece_after, 5))
    assert again.classes["egg"].pooled and again.detections == 620


def test_an_unreadable_calibration_is_refused_plainly(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text('{"version": 1, "classes": {}}', encoding="utf-8")
    with pytest.raises(BadInputError, match="Not a readable confidence calibration"):
        load_calibration(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BadInputError, match="cannot be read"):
        load_calibration(path)
    with pytest.raises(ValueError, match="positive slope"):
        ScoreMap.from_dict({"method": "platt", "slope": -1.0, "bias": 0.0})


# --------------------------------------------------------------------------------------------------- floor, words


def _det(name: str, score: float, index: int = 0) -> Detection:
    return Detection(class_name=name, class_id=0, confidence=score, box=(float(index), 0.0, index + 1.0, 1.0))


def test_words_follow_the_cut_offs_and_nothing_is_said_under_the_floor() -> None:
    detect = get_params().detect
    assert certainty_of(detect.very_likely) == Certainty.VERY_LIKELY == "very likely"
    assert certainty_of(detect.very_likely - 0.01) == Certainty.LIKELY
    assert certainty_of(detect.likely) == Certainty.LIKELY
    assert certainty_of(detect.likely - 0.01) == Certainty.MAYBE
    assert certainty_of(detect.floor) == Certainty.MAYBE
    assert certainty_of(detect.floor - 0.01) is None
    with pytest.raises(ValueError, match="floor <= likely <= very_likely"):
        DetectParams(floor=0.7, likely=0.6)


def test_the_floor_is_under_every_threshold_and_nothing_under_it_is_shown() -> None:
    calibration = platt_calibration({"tomato": (1.0, 0.0)})  # tomato: identity on the logit
    # a per-class threshold below the floor (as F1-optimal ones of a weak model are) is raised to the floor
    assert class_threshold(calibration, "tomato", conf=0.05, class_thresholds={"tomato": 0.02}) == FLOOR
    assert class_threshold(None, "egg", conf=0.1, class_thresholds=None) == FLOOR
    assert class_threshold(None, "egg", conf=0.1, class_thresholds={"egg": 0.7}) == pytest.approx(0.7)
    items = sort_items(
        [_det("tomato", 0.9, 0), _det("tomato", 0.5, 1), _det("tomato", FLOOR - 0.01, 2), _det("egg", 0.06, 3)],
        calibration,
        conf=0.25,
        class_thresholds={"tomato": 0.6},
    )
    assert [d.confidence for d in items.shown] == [0.9]
    assert [d.confidence for d in items.less_certain] == [0.5], "between the floor and the threshold"
    assert items.thresholds["tomato"] == pytest.approx(0.6)
    assert all(d.probability is not None and d.probability >= FLOOR for d in (*items.shown, *items.less_certain))


def test_an_underconfident_model_shows_more_once_calibrated() -> None:
    # a model whose raw 0.2s are right 80 % of the time: its raw 0.25 is shown as "very likely", not dropped
    calibration = platt_calibration({"tomato": (1.0, math.log(0.8 / 0.2) - math.log(0.2 / 0.8))})
    items = sort_items([_det("tomato", 0.25)], calibration, conf=0.25, class_thresholds=None)
    assert items.shown and certainty_of(items.shown[0].probability or 0.0) == Certainty.VERY_LIKELY
    uncalibrated = sort_items([_det("tomato", 0.25)], None, conf=0.25, class_thresholds=None)
    assert not uncalibrated.shown and not uncalibrated.less_certain, "raw 0.25 is under the floor"


# --------------------------------------------------------------------------------------------------- the promise


@dataclass
class _StubDetector:
    """Returns the next picture's synthetic detections, whatever the picture (the model is not under test here)."""

    pictures: list[list[Detection]]
    asked: list[float] = field(default_factory=list)
    source: Path = Path("stub.pt")
    embeds: bool = False  # no embedding: the familiarity check keeps every picture (not under test here)

    def predict(
        self, images: list[object], *, conf: float, iou: float, imgsz: int | None = None, embed: bool = False
    ) -> list[DetectionResult]:
        del images, iou, imgsz, embed
        self.asked.append(conf)
        found = [d for d in self.pictures.pop(0) if d.confidence >= conf]
        return [DetectionResult(detections=found, latency_ms=1.0, width=32, height=32)]


def _wilson_low(right: int, total: int, z: float = 1.96) -> float:
    share = right / total
    centre = share + z * z / (2 * total)
    margin = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return (centre - margin) / (1 + z * z / total)


def _served_words(
    model: ServingModel, held: HeldOutScores, picture: LoadedImage, *, per_picture: int, only: str | None = None
) -> dict[str, list[bool]]:
    """Serve the held-out detections through `predict_picture` and collect right/wrong per word shown (of one class
    when `only` names it)."""
    names, scores, correct = held.names, held.scores, held.correct
    pictures = [
        [_det(names[i], float(scores[i]), i) for i in range(start, min(start + per_picture, len(names)))]
        for start in range(0, len(names), per_picture)
    ]
    stub = _StubDetector(pictures)
    by_word: dict[str, list[bool]] = {str(w): [] for w in Certainty}
    for _ in range(len(pictures)):
        answer = predict_picture(stub, picture, model=model, conf=0.05)  # type: ignore[arg-type]
        for det in (*answer.detections, *answer.less_certain):
            word = certainty_of(det.probability if det.probability is not None else det.confidence)
            assert word is not None, "nothing under the floor is served"
            if only is None or det.class_name == only:
                by_word[str(word)].append(bool(correct[int(det.box[0])]))
    return by_word


def test_items_called_very_likely_are_right_at_least_as_often_as_promised(workspace: Settings, tmp_path: Path) -> None:
    truths = {"tomato": overconfident, "egg": underconfident}
    fit_set = synthetic_scores({"tomato": 2000, "egg": 2000}, truths, seed=11)
    held_out = synthetic_scores({"tomato": 2000, "egg": 2000}, truths, seed=12)  # never seen by the fit
    weights = tmp_path / "run" / "weights" / "best.pt"
    model = ServingModel(model_id=None, run_id=None, name="m", label="m", weights=weights, kind="pt", production=False)
    picture = load_image(imgs.solid_jpeg((32, 32)), name="plate.jpg")

    # Uncalibrated, the overconfident class's raw scores break the promise: that is what the test guards against.
    raw = _served_words(model, held_out, picture, per_picture=40, only="tomato")
    assert sum(raw["very likely"]) / len(raw["very likely"]) < 0.8

    put_beside(weights, fit_calibration(fit_set, min_class_detections=100))
    assert find_calibration(model) is not None
    served = _served_words(model, held_out, picture, per_picture=40)
    detect = get_params().detect
    for word, promise in (("very likely", detect.very_likely), ("likely", detect.likely), ("maybe", detect.floor)):
        right = served[word]
        assert len(right) >= 200, f"enough '{word}' items to judge ({len(right)})"
        assert sum(right) / len(right) >= promise, f"'{word}': {sum(right)}/{len(right)} right, promised {promise}"
    very = served["very likely"]
    assert _wilson_low(sum(very), len(very)) >= detect.very_likely - 0.03
    # and per class, the overconfident one included
    tomato = _served_words(model, held_out, picture, per_picture=40, only="tomato")["very likely"]
    assert len(tomato) >= 100 and sum(tomato) / len(tomato) >= detect.very_likely
