"""How sure an answer is: the serving model's confidence calibration, the thresholds of an answer as probabilities,
and the words end users see.

A model's calibration (`backend.training.confidence`, saved as `calibration.json` in its weights folder, beside the
.pt and its ONNX export) turns each raw score into the probability that the detection is right. The serving step
(`backend.serving.prediction.predict_picture`) asks the model for detections down to the calibration's lowest
fitted score, gives each its probability and sorts them into

- shown: at or above the class's threshold, as a probability: the raw threshold asked for (the higher of `conf` and
  the class's own F1-optimal one from the registry, both measured on raw scores) put through the class's map, and
  never under `detect.floor`;
- less certain: from the floor up to that threshold ("Show less certain items" on the Detect page);
- dropped: under the floor; nobody sees them.

A model without a calibration (one trained before calibration existed, whose dataset is unknown) answers with its raw
scores taken as probabilities (`ModelAnswer.calibrated` is False), under the same floor and words.

Words (`certainty_of`): "very likely" from `detect.very_likely`, "likely" from `detect.likely`, "maybe" from the floor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from backend.core.errors import PlateOpsError
from backend.core.params import get_params
from backend.core.settings import get_settings
from backend.serving.inference import Detection, Detector
from backend.serving.served_model import ServingModel
from backend.store import datasets as dataset_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.training.confidence import ConfidenceCalibration, calibration_path, load_calibration
from backend.training.held_out import HeldOutModel, calibrate_weights

logger = logging.getLogger(__name__)


class Certainty(StrEnum):
    """How sure the detector is about an item, in the words end users read."""

    VERY_LIKELY = "very likely"
    LIKELY = "likely"
    MAYBE = "maybe"


def certainty_of(probability: float) -> Certainty | None:
    """The word for a calibrated probability; None under `detect.floor` (such an item is not shown)."""
    detect = get_params().detect
    if probability >= detect.very_likely:
        return Certainty.VERY_LIKELY
    if probability >= detect.likely:
        return Certainty.LIKELY
    if probability >= detect.floor:
        return Certainty.MAYBE
    return None


def probability_of(detection: Detection) -> float:
    """A detection's calibrated probability (its raw score when nothing calibrated it)."""
    return detection.confidence if detection.probability is None else detection.probability


def item_words(detection: Detection) -> str:
    """ "tomato: very likely" — how an item is named to end users (and on the drawn boxes)."""
    word = certainty_of(probability_of(detection))
    return f"{detection.class_name}: {word}" if word is not None else detection.class_name


# --------------------------------------------------------------------------------------------------- calibration


@lru_cache(maxsize=16)
def _read_calibration(path: str, mtime_ns: int) -> ConfidenceCalibration | None:
    """The calibration in `path`, read once per modification time; None (with a log line) when it is unreadable."""
    del mtime_ns  # cache key only
    try:
        return load_calibration(Path(path))
    except PlateOpsError as exc:
        logger.warning("Ignoring the confidence calibration %s: %s", path, exc)
        return None


def find_calibration(model: ServingModel) -> ConfidenceCalibration | None:
    """The model's calibration from `calibration.json` in its weights folder; None when there is none."""
    path = calibration_path(model.weights)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read_calibration(str(path), stamp)


def _training_data(run_id: int | None) -> Path | None:
    """The data.yaml of the dataset version a run trained on, when the run and that version are still known."""
    if run_id is None:
        return None
    with session_scope() as session:
        try:
            run = run_store.get_run(session=session, run_id=run_id)
            if run.dataset_version_id is None:
                return None
            version = dataset_store.get_version(session=session, version_id=run.dataset_version_id)
        except PlateOpsError:
            return None
    data_yaml = Path(version.path) / "data.yaml"
    return data_yaml if data_yaml.is_file() else None


def ensure_calibration(model: ServingModel, detector: Detector | None = None) -> ConfidenceCalibration | None:
    """The model's calibration; for an older model without one whose dataset is known, fitted now on that dataset's
    val split and saved beside the weights (once: later calls read the file).

    `detector` (the loaded served file) answers the split when given: an exported runtime (ONNX, an OpenVINO folder,
    an int8 copy) is calibrated on its own scores, which differ a little from the PyTorch model's.

    Only weights inside the workspace runs folder are run (the rule `service.load_detector` keeps: a .pt is a pickle).
    A fit that fails is logged and the model answers uncalibrated.

    Returns:
        The calibration, or None when there is none and none can be fitted.
    """
    found = find_calibration(model)
    if found is not None:
        return found
    data_yaml = _training_data(model.run_id)
    runs_dir = get_settings().runs_dir.resolve()
    if data_yaml is None or not model.weights.resolve().is_relative_to(runs_dir):
        return None
    try:
        runner = held_out_model(detector) if detector is not None else None
        calibrate_weights(model.weights, data_yaml, device="cpu", model=runner)
    except PlateOpsError as exc:
        logger.warning("Could not calibrate %s on %s: %s", model.label, data_yaml, exc)
        return None
    return find_calibration(model)


def held_out_model(detector: Detector) -> HeldOutModel:
    """The serving detector as `backend.training.held_out` runs a model: its raw detections per picture."""

    def rows(pictures: list[Path], min_score: float, iou: float) -> list[np.ndarray]:
        out = []
        for path in pictures:
            with Image.open(path) as opened:
                picture = opened.convert("RGB")
            found = detector.predict([picture], conf=min_score, iou=iou)[0].detections
            out.append(np.array([[*d.box, d.confidence, d.class_id] for d in found], dtype=np.float64).reshape(-1, 6))
        return out

    return HeldOutModel(rows=rows, names=dict(enumerate(detector.names)), imgsz=detector.imgsz)


# --------------------------------------------------------------------------------------------------- answers


def ask_score(calibration: ConfidenceCalibration | None, conf: float) -> float:
    """The raw score to ask the model for: low enough to see every item at or above the floor.

    Calibrated, that is the lowest score the calibration was fitted on (below it, its maps are guesses); without a
    calibration the raw score is the probability, so the lower of the floor and `conf`.
    """
    if calibration is not None:
        return min(calibration.min_score, conf)
    return min(get_params().detect.floor, conf)


@dataclass(frozen=True)
class SortedItems:
    """One picture's detections, calibrated and sorted by what is shown.

    Attributes:
        shown: At or above their class's threshold; highest probability first.
        less_certain: From the floor up to their class's threshold; highest probability first.
        thresholds: The probability each detected class needed to be shown.
    """

    shown: tuple[Detection, ...]
    less_certain: tuple[Detection, ...]
    thresholds: Mapping[str, float]


def class_threshold(
    calibration: ConfidenceCalibration | None,
    class_name: str,
    *,
    conf: float,
    class_thresholds: Mapping[str, float] | None,
) -> float:
    """The probability a class's item needs to be shown: the raw threshold (the higher of `conf` and the class's own)
    put through the class's map, never under `detect.floor`."""
    raw = max(conf, (class_thresholds or {}).get(class_name, conf))
    probability = calibration.probability(class_name, raw) if calibration is not None else raw
    return max(get_params().detect.floor, probability)


def sort_items(
    detections: Iterable[Detection],
    calibration: ConfidenceCalibration | None,
    *,
    conf: float,
    class_thresholds: Mapping[str, float] | None,
) -> SortedItems:
    """Give each detection its probability and sort it into shown, less certain or dropped (under the floor).

    Args:
        detections: The model's detections (raw scores), asked for down to `ask_score`.
        calibration: The model's calibration, or None (raw scores are taken as probabilities).
        conf: The lowest raw score an item needs to be shown (`detect.conf`, or the staff's slider).
        class_thresholds: Per-class lowest raw scores (the registry's F1-optimal ones); a class's item needs the higher
            of `conf` and its own.

    Returns:
        The items by what is shown, with each class's threshold as a probability.
    """
    floor = get_params().detect.floor
    thresholds: dict[str, float] = {}
    shown: list[Detection] = []
    less_certain: list[Detection] = []
    for det in detections:
        probability = (
            calibration.probability(det.class_name, det.confidence) if calibration is not None else det.confidence
        )
        if probability < floor:
            continue
        if det.class_name not in thresholds:
            thresholds[det.class_name] = class_threshold(
                calibration, det.class_name, conf=conf, class_thresholds=class_thresholds
            )
        item = replace(det, probability=round(probability, 4))  # compared unrounded: a raw score at its threshold shows
        (shown if probability >= thresholds[det.class_name] else less_certain).append(item)
    return SortedItems(
        shown=tuple(sorted(shown, key=probability_of, reverse=True)),
        less_certain=tuple(sorted(less_certain, key=probability_of, reverse=True)),
        thresholds=thresholds,
    )
