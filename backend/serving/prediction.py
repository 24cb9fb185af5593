"""The pure prediction step: one model's answer on one loaded picture, with the picture's monitoring features.

`predict_picture` writes nothing (no prediction row, no file), so it can run any model on any picture: the
production model for the Detect page (`service.detect_image` then logs the answer with
`backend.serving.prediction_log.log_prediction`), or a second model whose answer is only compared.

Cost: the monitoring features are measured on a second thread while the model runs (numpy, Pillow and torch all
release the GIL); see `backend.serving.service` for the measured gain.

Familiarity: the same model call gives the picture's embedding, and the model's familiarity check
(`backend.serving.familiarity`) says whether the picture is like the model's training pictures. When it is not,
the answer holds no detections (whatever the model saw there is noise) and `familiar` is False; the features carry
`familiar` (1 or 0) and `familiarity` (the score) into the prediction row for the Monitor and the review queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

from backend.imaging.features import image_features
from backend.imaging.loading import LoadedImage
from backend.serving.certainty import ask_score, find_calibration, sort_items
from backend.serving.familiarity import Familiarity, familiarity_check
from backend.serving.inference import Detection, Detector
from backend.serving.served_model import ServingModel
from backend.serving.thresholds import resolve_thresholds
from backend.training.embeddings import Embedding


@dataclass(frozen=True)
class ModelAnswer:
    """What one model answered on one picture (nothing of it is stored yet).

    Attributes:
        picture: The loaded picture the model saw (upright RGB image, sha256, file size, loading notes).
        model: The model that answered (its ids and labels go into the prediction row).
        detections: Objects shown: at or above their class's threshold as a calibrated probability (never under
            `detect.floor`), highest probability first, each with its `probability`; boxes in `picture.image` pixels.
        latency_ms: Wall time of the model's predict call.
        features: The picture's monitoring features (`backend.imaging.features.image_features`).
        conf: The minimum confidence asked for.
        iou: The NMS IoU threshold asked for.
        less_certain: Objects from the floor up to their class's threshold (not logged; the Detect page shows
            them on request), highest probability first.
        calibrated: Whether the probabilities come from the model's calibration (else they are its raw scores).
        familiarity: Whether the picture is like the model's training pictures (score, threshold, verdict); when
            it is not, `detections` is empty.
        embedding: The picture's embedding from the same model call (None when the model gives none).
    """

    picture: LoadedImage
    model: ServingModel
    detections: tuple[Detection, ...]
    latency_ms: float
    features: Mapping[str, float | int]
    conf: float
    iou: float
    less_certain: tuple[Detection, ...] = ()
    calibrated: bool = False
    familiarity: Familiarity = field(default_factory=lambda: Familiarity(familiar=True, note="not checked"))
    embedding: Embedding | None = None

    @property
    def familiar(self) -> bool:
        """False when the picture is unlike the model's training pictures (and the answer holds no detections)."""
        return self.familiarity.familiar


@lru_cache(maxsize=1)
def _features_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="plateops-features")


def predict_picture(
    detector: Detector,
    picture: LoadedImage,
    *,
    model: ServingModel,
    conf: float | None = None,
    iou: float | None = None,
    class_thresholds: Mapping[str, float] | None = None,
    imgsz: int | None = None,
) -> ModelAnswer:
    """Run one model on one picture and measure the picture's monitoring features; writes nothing.

    Args:
        detector: The loaded model (`service.load_detector(model)`).
        picture: From `backend.imaging.loading.load_image` (the bad-input checks are done there).
        model: The record `detector` was loaded from; the answer carries it so a logger knows which model answered.
        conf: Lowest raw model score shown, 0..1; default `detect.conf` of params.yaml. Through the model's
            calibration it becomes a probability, never under `detect.floor` (`backend.serving.certainty`).
        iou: NMS IoU threshold 0..1; default `detect.iou`.
        class_thresholds: Per-class lowest raw scores (e.g. `ServingModel.class_thresholds`); a class's detections
            are shown at or above the higher of `conf` and its own threshold, as probabilities like `conf`.
        imgsz: Inference size; default the model's own.

    Returns:
        The model's answer.

    Raises:
        BadInputError: conf or iou outside 0..1.
    """
    conf, iou = resolve_thresholds(conf, iou)  # before the features thread starts: a bad value costs nothing
    check = familiarity_check(detector)
    # The monitoring features are measured on a second thread while the model runs (both release the GIL).
    measured = _features_pool().submit(image_features, picture.image, file_size=picture.file_size)
    calibration = find_calibration(model)
    result = detector.predict(
        [picture.image], conf=ask_score(calibration, conf), iou=iou, imgsz=imgsz, embed=check.model is not None
    )[0]
    familiarity = check.judge(result.embedding)
    items = sort_items(result.detections, calibration, conf=conf, class_thresholds=class_thresholds)
    features = {**measured.result().as_dict(), **familiarity.as_features()}
    return ModelAnswer(
        picture=picture,
        model=model,
        detections=items.shown if familiarity.familiar else (),
        latency_ms=result.latency_ms,
        features=features,
        conf=conf,
        iou=iou,
        less_certain=items.less_certain if familiarity.familiar else (),
        calibrated=calibration is not None,
        familiarity=familiarity,
        embedding=result.embedding,
    )
