"""What the Annotate page calls: the review queue (filter, dismiss, flag), an image with its boxes in pixels for
the editor, saving one image's boxes as a new version (its validation: `backend.data.tasks.start_validation`), and
version diffs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backend.annotation.changelog import VersionDiff, diff_folders
from backend.annotation.edits import EditedBox, ImageEdit, SavedEdit, save_edits
from backend.annotation.labels import index_version, read_label_file
from backend.core.access import Actor, Permission
from backend.core.enums import ReviewSource, ReviewStatus
from backend.core.errors import BadInputError, cap_message
from backend.core.limits import TextKind, require_within
from backend.data.index import indexed_names_and_files
from backend.imaging.drawing import image_size
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store import review as review_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import Dataset, DatasetVersion, RegisteredModel, ReviewItem

if TYPE_CHECKING:
    from backend.serving.inference import Detector
    from backend.serving.service import ServingModel

PixelBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class EditorImage:
    """One image of a version as the editor shows it: its file, size and boxes in pixels."""

    version_id: int
    file: str
    split: str
    path: str
    width: int
    height: int
    boxes: tuple[tuple[str, PixelBox], ...]


@dataclass(frozen=True)
class VersionImages:
    """A version's class names and image file names (sorted)."""

    version: DatasetVersion
    dataset: Dataset
    names: list[str]
    files: list[str]


def version_images(version_id: int) -> VersionImages:
    """The class names and image files of a version (nothing is decoded)."""
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    indexed = indexed_names_and_files(version_id)  # the version's index in the store: no folder listing
    if indexed is not None:
        return VersionImages(version=version, dataset=dataset, names=indexed[0], files=indexed[1])
    index = index_version(Path(version.path))
    return VersionImages(version=version, dataset=dataset, names=index.names, files=sorted(index.images))


def load_editor_image(version_id: int, file: str) -> EditorImage:
    """An image of a version with its boxes in pixels (BadInputError when the version has no such image)."""
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    index = index_version(Path(version.path))
    image = index.image(file)
    width, height = image_size(image.path)
    boxes = tuple((b.class_name, b.to_pixels(width, height)) for b in read_label_file(image.label_path, index.names))
    return EditorImage(version_id, file, image.split, str(image.path), width, height, boxes)


def save_image_boxes(
    version_id: int, file: str, boxes: list[tuple[str, PixelBox]], *, actor: Actor, message: str, author: str = ""
) -> SavedEdit:
    """Save one image's full box list (pixels), edited on `version_id`, as a new version of its dataset.

    Raises:
        BadInputError: No message, or save_edits' own checks failed.
        EditConflictError: The image changed in a version saved after `version_id`; nothing was written.
    """
    authorize(actor, Permission.EDIT_LABELS, f"{cap_message(file, 120)} of dataset version {version_id}")
    if not message.strip():
        raise BadInputError("Say in a few words what you changed (the message is kept with the version).")
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    edit = ImageEdit(file, tuple(EditedBox(name, box) for name, box in boxes))
    return save_edits(dataset.name, version.number, [edit], actor=actor, message=message.strip(), author=author)


# --- review queue ---------------------------------------------------------------------------------------------


def review_queue(
    dataset_id: int,
    *,
    source: str | None = None,
    class_name: str | None = None,
    status: ReviewStatus | None = ReviewStatus.OPEN,
) -> list[ReviewItem]:
    """Review items about images of any version of a dataset, oldest first, filtered by source and class."""
    with session_scope() as session:
        ids = [v.id for v in dataset_store.list_versions(session=session, dataset_id=dataset_id)]
        return review_store.list_review_items(
            session=session, status=status, source=source, class_name=class_name, dataset_version_ids=ids
        )


def queue_files(items: list[ReviewItem]) -> list[str]:
    """The distinct image files of queue items, in queue order (one image may have several reasons)."""
    seen: dict[str, None] = {}
    for item in items:
        if item.file:
            seen.setdefault(item.file, None)
    return list(seen)


def dismiss_items(item_ids: list[int], reason: str, *, actor: Actor, by: str = "") -> int:
    """Close review items without an edit; the reason is required and kept."""
    authorize(actor, Permission.REVIEW, f"dismiss review items {item_ids[:20]}")
    by = by or actor.name
    if not reason.strip():
        raise BadInputError("Say why you dismiss this item (e.g. 'labels are right').")
    require_within(TextKind.DISMISS_REASON, reason.strip())
    with session_scope() as session:
        for item_id in item_ids:
            review_store.resolve_review_item(
                session=session,
                item_id=item_id,
                status=ReviewStatus.DISMISSED,
                resolution=reason.strip(),
                resolved_by=by,
            )
    return len(item_ids)


def flag_for_review(version_id: int, file: str, reason: str, *, actor: Actor, class_name: str = "") -> ReviewItem:
    """Put an image of a version on the review queue by hand."""
    authorize(actor, Permission.REVIEW, f"flag {file} of dataset version {version_id}")
    if not reason.strip():
        raise BadInputError("Say what should be checked on this image.")
    require_within(TextKind.REVIEW_REASON, reason.strip())  # the store only cuts reasons, which it also composes
    with session_scope() as session:
        return review_store.add_review_item(
            session=session,
            source=ReviewSource.USER,
            reason=reason.strip(),
            file=file,
            dataset_version_id=version_id,
            class_name=class_name,
        )


# --- version diff ---------------------------------------------------------------------------------------------


def diff_versions(old_version_id: int, new_version_id: int) -> VersionDiff:
    """Box-level diff between any two versions (added, removed, moved, resized, reclassified, per class)."""
    with session_scope() as session:
        old = dataset_store.get_version(session=session, version_id=old_version_id)
        new = dataset_store.get_version(session=session, version_id=new_version_id)
    return diff_folders(Path(old.path), Path(new.path))


# --- pre-labels -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreLabel:
    """A box the model suggests for an image: class, pixel corners, confidence."""

    class_name: str
    box: PixelBox
    confidence: float


def scan_models() -> list[RegisteredModel]:
    """The registered models a label-error scan may predict with, newest first (never a file path)."""
    with session_scope() as session:
        models = model_store.list_models(session=session)
    return sorted(models, key=lambda m: m.id, reverse=True)


def prelabel_model() -> ServingModel | None:
    """The model whose suggestions pre-label images (the one that serves: production, else the newest run)."""
    from backend.serving.service import serving_model

    return serving_model()


def load_prelabel_detector(model: ServingModel) -> Detector:
    """Load a model for pre-labelling (pages cache it per weights file)."""
    from backend.serving.service import load_detector

    return load_detector(model)


def prelabel_image(detector: Detector, version_id: int, file: str, *, conf: float | None = None) -> list[PreLabel]:
    """The model's boxes on an image of a version, classes the dataset does not know left out, most confident first
    (`conf` defaults to `detect.conf` of params.yaml).

    Raises:
        BadInputError: The version has no such image, or it cannot be read.
    """
    from backend.imaging.loading import load_image

    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    index = index_version(Path(version.path))
    picture = load_image(index.image(file).path).image
    (result,) = detector.predict([picture], conf=conf)
    known = set(index.names)
    return [PreLabel(d.class_name, d.box, d.confidence) for d in result.detections if d.class_name in known]
