"""The logging step: one model answer into the prediction log (monitoring's "current" data), with its pictures.

`log_prediction` stores the row first and only then schedules the resized copy and the thumbnail on the background
writer (`backend.serving.copies`), so no picture is ever written without a row pointing at it; a row whose write
fails leaves no file behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from backend.core.settings import get_settings
from backend.serving.copies import copy_paths, schedule_copies
from backend.serving.prediction import ModelAnswer
from backend.store import predictions as prediction_store
from backend.store.engine import session_scope

Source = Literal["upload", "camera", "cli"]


@dataclass(frozen=True)
class LoggedPrediction:
    """Where a logged answer went.

    Attributes:
        prediction_id: Id of the prediction row (for feedback).
        image_path: The resized copy being written, or None when pictures are not kept.
        thumb_path: The thumbnail being written, or None.
    """

    prediction_id: int
    image_path: Path | None
    thumb_path: Path | None


def log_prediction(
    answer: ModelAnswer,
    *,
    source: Source,
    image_name: str,
    store_images: bool | None = None,
) -> LoggedPrediction:
    """Store one prediction row for `answer` and schedule its picture copies.

    Args:
        answer: From `backend.serving.prediction.predict_picture`.
        source: "upload", "camera" or "cli".
        image_name: The file name the user gave.
        store_images: Keep a resized copy and a thumbnail; default the `store_prediction_images` setting.

    Returns:
        The row's id and the copies' paths (written on a background thread: `copies.wait_for_copies` waits).
    """
    settings = get_settings()
    keep = settings.store_prediction_images if store_images is None else store_images
    image_path, thumb_path = copy_paths(settings.predictions_dir) if keep else (None, None)
    with session_scope() as session:
        row = prediction_store.add_prediction(
            session=session,
            model_id=answer.model.model_id,
            model_label=answer.model.log_label,
            source=source,
            image_name=image_name,
            image_sha256=answer.picture.sha256,
            image_path=str(image_path) if image_path else None,
            thumb_path=str(thumb_path) if thumb_path else None,
            features=dict(answer.features),
            detections=[det.as_dict() for det in answer.detections],
            latency_ms=answer.latency_ms,
            conf=answer.conf,
            iou=answer.iou,
        )
    if image_path is not None and thumb_path is not None:
        # after the answer: the row is stored, so no file is ever written without a row pointing at it
        schedule_copies(answer.picture.image, image_path, thumb_path)
    return LoggedPrediction(prediction_id=row.id, image_path=image_path, thumb_path=thumb_path)
