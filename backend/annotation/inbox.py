"""The traffic inbox: production pictures on the review queue (end-user feedback, Monitor drill-downs, active-learning
picks such as low confidence) that belong to no dataset version.

A reviewer opens each picture with the serving model's logged detections as pre-labels, corrects them, and accepts
a batch into a chosen dataset: the pictures and their boxes become a new immutable version (changelog "added N
images from traffic, reviewed by …") and their queue items close. Or the reviewer dismisses them with a reason.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.annotation.edits import dataset_lock, latest_version, record_version, stage_copy
from backend.annotation.labels import LabelBox, VersionIndex, index_version, write_label_file
from backend.annotation.service import EditorImage, PixelBox
from backend.core.access import Actor, Permission
from backend.core.enums import ReviewStatus
from backend.core.errors import BadInputError, NotFoundError, cap_message
from backend.imaging.drawing import image_size
from backend.store import datasets as dataset_store
from backend.store import drift as drift_store
from backend.store import predictions as prediction_store
from backend.store import review as review_store
from backend.store import traffic as traffic_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, Prediction

TRAFFIC_SPLIT = "train"  # accepted traffic pictures are training pictures; the validation split stays comparable


@dataclass(frozen=True)
class TrafficPicture:
    """One logged picture waiting in the inbox, with every reason it is there.

    Attributes:
        prediction_id: The logged prediction the picture belongs to.
        image_name: The file name the user gave.
        image_path: The kept copy of the picture (None when pictures were not kept: it cannot be labelled).
        thumb_path: Its thumbnail, when kept.
        item_ids: The open queue items about it.
        reasons: (source, reason) of each item, in queue order.
        created_at: When the picture was logged.
    """

    prediction_id: int
    image_name: str
    image_path: str | None
    thumb_path: str | None
    item_ids: tuple[int, ...]
    reasons: tuple[tuple[str, str], ...]
    created_at: datetime

    @property
    def labellable(self) -> bool:
        """Whether the picture was kept, so it can be opened and labelled."""
        return bool(self.image_path) and Path(str(self.image_path)).is_file()


@dataclass(frozen=True)
class LabelledPicture:
    """A reviewed picture: its prediction and its full box list in pixels of the kept copy."""

    prediction_id: int
    boxes: tuple[tuple[str, PixelBox], ...]


@dataclass(frozen=True)
class AcceptedBatch:
    """What accepting a batch made: the new version, its changelog entry and the files it added."""

    version: DatasetVersion
    changelog: dict[str, Any]
    files: tuple[str, ...]


def traffic_inbox(*, limit: int = 5000) -> list[TrafficPicture]:
    """Every logged picture with an open queue item and no dataset version, oldest first (one entry per picture)."""
    with session_scope() as session:
        items = traffic_store.open_traffic_items(session=session, limit=limit)
        wanted = list(dict.fromkeys(i.prediction_id for i in items if i.prediction_id is not None))
        predictions = {p.id: p for p in drift_store.predictions_by_ids(session=session, prediction_ids=wanted)}
    grouped: dict[int, list[Any]] = {}
    for item in items:
        if item.prediction_id in predictions:
            grouped.setdefault(int(item.prediction_id), []).append(item)
    return [
        TrafficPicture(
            prediction_id=pid,
            image_name=predictions[pid].image_name,
            image_path=predictions[pid].image_path,
            thumb_path=predictions[pid].thumb_path,
            item_ids=tuple(i.id for i in group),
            reasons=tuple((i.source, i.reason) for i in group),
            created_at=predictions[pid].created_at,
        )
        for pid, group in grouped.items()
    ]


def traffic_file(prediction: Prediction) -> str:
    """The file name a logged picture gets in a dataset version (unique: the prediction id is in it)."""
    suffix = Path(str(prediction.image_path or "")).suffix.lower() or ".jpg"
    return f"traffic_{prediction.id:07d}{suffix}"


def _prelabels(prediction: Prediction, width: int, height: int) -> tuple[tuple[str, PixelBox], ...]:
    """The logged detections, scaled from the original picture to the kept copy (which may be smaller)."""
    original_w = prediction.features.get("width") or width
    original_h = prediction.features.get("height") or height
    sx, sy = width / float(original_w), height / float(original_h)
    out = []
    for det in prediction.detections or []:
        box = det.get("box") if isinstance(det, dict) else None
        if not isinstance(box, list) or len(box) != 4 or not isinstance(det.get("class"), str):
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        scaled = (
            max(0.0, x1 * sx),
            max(0.0, y1 * sy),
            min(float(width), x2 * sx),
            min(float(height), y2 * sy),
        )
        if scaled[0] < scaled[2] and scaled[1] < scaled[3]:
            out.append((str(det["class"]), scaled))
    return tuple(out)


def load_traffic_image(prediction_id: int) -> EditorImage:
    """A logged picture for the editor, its boxes the serving model's logged detections (the pre-labels).

    Its `version_id` is 0 (it belongs to no version yet) and its `file` the name it will have in a version.

    Raises:
        NotFoundError: No such prediction.
        BadInputError: Its picture was not kept, or cannot be read.
    """
    with session_scope() as session:
        prediction = prediction_store.get_prediction(session=session, prediction_id=prediction_id)
    if not prediction.image_path or not Path(prediction.image_path).is_file():
        raise BadInputError(
            f"The picture of prediction #{prediction_id} was not kept (store_prediction_images was off); "
            "it cannot be labelled. Dismiss it."
        )
    width, height = image_size(prediction.image_path)
    boxes = _prelabels(prediction, width, height)
    return EditorImage(0, traffic_file(prediction), TRAFFIC_SPLIT, prediction.image_path, width, height, boxes)


def _checked_boxes(picture: LabelledPicture, names: list[str], width: int, height: int) -> list[LabelBox]:
    """The picture's boxes normalised; BadInputError on an unknown class or a box outside the picture."""
    known = set(names)
    out = []
    for class_name, (x1, y1, x2, y2) in picture.boxes:
        if class_name not in known:
            raise BadInputError(
                f"Prediction #{picture.prediction_id}: {class_name!r} is not a class of this dataset "
                f"({', '.join(names)})."
            )
        x1, y1 = max(0.0, x1), max(0.0, y1)
        x2, y2 = min(float(width), x2), min(float(height), y2)
        if not (x1 < x2 and y1 < y2):
            raise BadInputError(f"Prediction #{picture.prediction_id}: a box is empty or outside the picture.")
        out.append(LabelBox.from_pixels(class_name, (x1, y1, x2, y2), width, height))
    return out


def _split_folders(index: VersionIndex) -> tuple[Path, Path]:
    """The image and label folders of the version's training split (the prepared layout's, when it has none)."""
    sample = next((img for img in index.images.values() if img.split == TRAFFIC_SPLIT), None)
    if sample is not None:
        return sample.path.parent, sample.label_path.parent
    return index.root / "images" / TRAFFIC_SPLIT, index.root / "labels" / TRAFFIC_SPLIT


def accept_traffic(
    dataset_id: int, pictures: list[LabelledPicture], *, actor: Actor, author: str = ""
) -> AcceptedBatch:
    """Add reviewed traffic pictures with their boxes to a dataset as a new immutable version.

    The new version is the dataset's latest plus these pictures (training split); its changelog says "added N
    images from traffic, reviewed by <author>". The pictures' open queue items close as done ("added to vN").

    Args:
        dataset_id: The dataset that receives them.
        pictures: Each reviewed picture's full box list, in pixels of its kept copy (no boxes: a picture of no
            known object, kept as a negative example).
        actor: Who accepts (needs the edit_labels permission).
        author: Name kept with the version (default: the actor's).

    Raises:
        BadInputError: No pictures, a picture listed twice or not kept, an unknown class or a box outside.
        NotFoundError: No such dataset or prediction.
    """
    author = author or actor.name
    authorize(actor, Permission.EDIT_LABELS, f"add {len(pictures)} traffic pictures to dataset {dataset_id}")
    if not pictures:
        raise BadInputError("Choose at least one reviewed picture to add.")
    ids = [p.prediction_id for p in pictures]
    if len(set(ids)) != len(ids):
        raise BadInputError("A picture is listed twice; give each picture's boxes once.")
    with session_scope() as session:
        dataset = dataset_store.get_dataset(session=session, dataset_id=dataset_id)
        predictions = {pid: prediction_store.get_prediction(session=session, prediction_id=pid) for pid in ids}
    missing = [pid for pid, p in predictions.items() if not p.image_path or not Path(p.image_path).is_file()]
    if missing:
        raise BadInputError(f"The pictures of predictions {missing[:10]} were not kept; dismiss them instead.")
    with dataset_lock(dataset.name):
        try:
            parent = latest_version(dataset.id)
        except ValueError:
            raise NotFoundError(f"Dataset {dataset.name} has no version to add pictures to.") from None
        staging = stage_copy(Path(parent.path), dataset.name)
        try:
            files, boxes_added = _write_pictures(index_version(staging), pictures, predictions)
            message = f"added {len(files)} images from traffic, reviewed by {author}"
            entry = {
                "action": "add_traffic",
                "base_version": parent.number,
                "parent_version": parent.number,
                "author": author,
                "message": message,
                "totals": {"added": boxes_added, "removed": 0, "moved": 0, "resized": 0, "reclassified": 0},
                "images_added": list(files),
                "prediction_ids": ids,
            }
            version = record_version(dataset, parent, staging, entry, author=author, message=message)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    _close_items(ids, f"added to {dataset.name} v{version.number}", status=ReviewStatus.DONE, by=author)
    return AcceptedBatch(version=version, changelog=entry, files=tuple(files))


def _write_pictures(
    index: VersionIndex, pictures: list[LabelledPicture], predictions: dict[int, Prediction]
) -> tuple[list[str], int]:
    """Copy each picture into the staged version's training split with its label file; (files, boxes) added."""
    image_dir, label_dir = _split_folders(index)
    image_dir.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    boxes_added = 0
    for picture in pictures:
        prediction = predictions[picture.prediction_id]
        file = traffic_file(prediction)
        if file in index.images:
            raise BadInputError(f"{file} is already in {index.root.name}; it was accepted before.")
        width, height = image_size(str(prediction.image_path))
        boxes = _checked_boxes(picture, index.names, width, height)
        shutil.copyfile(str(prediction.image_path), image_dir / file)
        write_label_file(label_dir / f"{Path(file).stem}.txt", boxes, index.names)
        files.append(file)
        boxes_added += len(boxes)
    return files, boxes_added


def _close_items(prediction_ids: list[int], resolution: str, *, status: ReviewStatus, by: str) -> int:
    with session_scope() as session:
        items = traffic_store.open_items_for_predictions(session=session, prediction_ids=prediction_ids)
        for item in items:
            review_store.resolve_review_item(
                session=session, item_id=item.id, status=status, resolution=resolution, resolved_by=by
            )
    return len(items)


def dismiss_traffic(prediction_ids: list[int], reason: str, *, actor: Actor, by: str = "") -> int:
    """Close every open queue item about these pictures without labelling them; the reason is required and kept.

    Returns:
        How many queue items were closed.
    """
    authorize(actor, Permission.REVIEW, f"dismiss traffic pictures {cap_message(str(prediction_ids[:20]), 200)}")
    if not reason.strip():
        raise BadInputError("Say why you dismiss these pictures (e.g. 'not food', 'too blurry to label').")
    if not prediction_ids:
        raise BadInputError("Choose at least one picture to dismiss.")
    return _close_items(list(prediction_ids), reason.strip()[:500], status=ReviewStatus.DISMISSED, by=by or actor.name)
