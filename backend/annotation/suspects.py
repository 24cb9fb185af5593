"""Suspected label errors: a detector's predictions on a version scored against its labels with cleanlab's
object-detection label quality scores (0..1, lower = more likely mislabeled), the lowest to the review queue.

For each image cleanlab scores three kinds of error from the boxes and the predictions: an object the labels
missed ("overlooked"), a box with the wrong class ("swap"), and a badly placed box ("badloc"); the image's score
pools them. The reason on the queue names the kind with the lowest sub-score and the class it concerns.
Predictions should come from a model that did not train on these very labels (cleanlab's advice), e.g. one trained
on another version or with cross-validation; a model trained on them has learnt some of their errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from backend.annotation.labels import index_version, read_label_file
from backend.core.enums import ReviewSource
from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.imaging.loading import load_image
from backend.store import datasets as dataset_store
from backend.store import review as review_store
from backend.store.engine import session_scope

if TYPE_CHECKING:
    from backend.serving.inference import Detector

log = logging.getLogger(__name__)
PREDICT_CONF = 0.05  # keep low-confidence predictions: cleanlab weighs them, a high cut hides missed objects
BATCH = 16
KIND_WORDS = {
    "overlooked": "an object may have no box",
    "swap": "a box may have the wrong class",
    "badloc": "a box may be badly placed",
}


@dataclass(frozen=True)
class ImageBoxes:
    """Boxes of one image in pixels: corners (N, 4) and class ids (N,); predictions also carry confidences."""

    boxes: np.ndarray
    classes: np.ndarray
    confidences: np.ndarray | None = None


@dataclass(frozen=True)
class Suspect:
    """An image whose labels look wrong."""

    file: str
    score: float
    kind: str
    class_name: str

    @property
    def reason(self) -> str:
        about = f" ({self.class_name})" if self.class_name else ""
        return f"Label quality {self.score:.2f}: {KIND_WORDS.get(self.kind, self.kind)}{about}."


def _cleanlab_inputs(
    labels: Sequence[ImageBoxes], predictions: Sequence[ImageBoxes], n_classes: int
) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    cl_labels = [
        {"bboxes": lab.boxes.reshape(-1, 4).astype(float), "labels": lab.classes.reshape(-1).astype(int)}
        for lab in labels
    ]
    cl_preds = []
    for pred in predictions:
        conf = pred.confidences if pred.confidences is not None else np.ones(len(pred.classes))
        rows = np.hstack([pred.boxes.reshape(-1, 4).astype(float), conf.reshape(-1, 1).astype(float)])
        per_class = np.empty(n_classes, dtype=object)
        for k in range(n_classes):
            per_class[k] = rows[pred.classes.reshape(-1) == k].reshape(-1, 5)
        cl_preds.append(per_class)
    return cl_labels, cl_preds


def score_label_quality(
    labels: Sequence[ImageBoxes],
    predictions: Sequence[ImageBoxes],
    n_classes: int,
    *,
    high_probability_threshold: float | None = None,
) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """cleanlab's label quality score per image, and per image the worst error kind and the class it concerns.

    Args:
        labels: Labelled boxes per image (pixels).
        predictions: Predicted boxes per image with confidences.
        n_classes: Number of classes.
        high_probability_threshold: Confidence from which a prediction counts as sure when scoring missed boxes
            and swapped classes; None keeps cleanlab's default (0.95). The image score then is cleanlab's own
            `get_label_quality_scores`; with a value it is the same pooling of the three sub-scores.

    Returns:
        Scores (N,) in 0..1, lower = more likely mislabeled; and (kind, class id or -1) per image.
    """
    from cleanlab.object_detection import rank

    if len(labels) != len(predictions):
        raise BadInputError("Labels and predictions must cover the same images.")
    if not labels:
        return np.zeros(0), []
    cl_labels, cl_preds = _cleanlab_inputs(labels, predictions, n_classes)
    sure = {} if high_probability_threshold is None else {"high_probability_threshold": high_probability_threshold}
    per_box = {
        "overlooked": rank.compute_overlooked_box_scores(labels=cl_labels, predictions=cl_preds, **sure),
        "swap": rank.compute_swap_box_scores(labels=cl_labels, predictions=cl_preds, **sure),
        "badloc": rank.compute_badloc_box_scores(labels=cl_labels, predictions=cl_preds),
    }
    if high_probability_threshold is None:
        scores = rank.get_label_quality_scores(cl_labels, cl_preds, verbose=False)
    else:  # cleanlab's pooling: per-image softmin of each kind, then a geometric mean with equal weights
        pooled = [rank.pool_box_scores_per_image(box_scores) for box_scores in per_box.values()]
        scores = np.exp(sum(np.log(1e-6 + p) for p in pooled) / len(pooled))
    worst: list[tuple[str, int]] = []
    for i, label in enumerate(labels):
        best_kind, best_score, best_class = "overlooked", np.inf, -1
        for kind, box_scores in per_box.items():
            values = np.asarray(box_scores[i], dtype=float)
            if values.size == 0 or np.all(np.isnan(values)):
                continue
            j = int(np.nanargmin(values))
            if values[j] < best_score:
                best_score = float(values[j])
                best_kind = kind
                # overlooked scores are per predicted box, swap/badloc per labelled box
                source = predictions[i] if kind == "overlooked" else label
                best_class = int(source.classes.reshape(-1)[j]) if source.classes.size > j else -1
        worst.append((best_kind, best_class))
    return np.asarray(scores, dtype=float), worst


def _predict_boxes(detector: Detector, paths: list[Path], names: list[str], progress: ProgressFn) -> list[ImageBoxes]:
    """Predictions of `detector` on each image, class ids in the dataset's own class list."""
    ids = {name: i for i, name in enumerate(names)}
    out: list[ImageBoxes] = []
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        pictures = [load_image(p).image for p in chunk]
        results = detector.predict(pictures, conf=PREDICT_CONF)
        for result in results:
            kept = [d for d in result.detections if d.class_name in ids]
            out.append(
                ImageBoxes(
                    boxes=np.array([d.box for d in kept], dtype=float).reshape(-1, 4),
                    classes=np.array([ids[d.class_name] for d in kept], dtype=int),
                    confidences=np.array([d.confidence for d in kept], dtype=float),
                )
            )
        progress(min(1.0, (start + len(chunk)) / len(paths)), f"Predicted {start + len(chunk)} of {len(paths)}")
    return out


def labels_in_pixels(folder: Path) -> tuple[list[str], list[str], list[Path], list[ImageBoxes]]:
    """Class names, file names, image paths and labelled boxes (pixels) of every image of a version folder."""
    from backend.imaging.drawing import image_size

    index = index_version(folder)
    files = sorted(index.images)
    paths, labels = [], []
    for file in files:
        image = index.images[file]
        width, height = image_size(image.path)
        boxes = read_label_file(image.label_path, index.names)
        ids = {n: i for i, n in enumerate(index.names)}
        labels.append(
            ImageBoxes(
                boxes=np.array([b.to_pixels(width, height) for b in boxes], dtype=float).reshape(-1, 4),
                classes=np.array([ids.get(b.class_name, -1) for b in boxes], dtype=int),
            )
        )
        paths.append(image.path)
    return index.names, files, paths, labels


def find_label_errors(
    version_id: int,
    *,
    model_id: int | None = None,
    detector: Detector | None = None,
    progress: ProgressFn = null_progress,
) -> list[Suspect]:
    """Every image of a version ranked by cleanlab label quality, most suspicious first.

    Args:
        version_id: The dataset version to check.
        model_id: A registered model to predict with (its files checked against the sha256 recorded at
            registration); default: the model that serves (production, else newest run).
        detector: An already loaded detector (benchmarks and tests); overrides `model_id`.
        progress: Progress callback.

    Raises:
        NotFoundError: No such registered model, or its files are gone.
        BadInputError: No model to predict with, or its weights fail the integrity check.
    """
    from backend.serving.service import load_detector, registered_model, serving_model

    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    names, files, paths, labels = labels_in_pixels(Path(version.path))
    if detector is None:
        model = registered_model(model_id) if model_id is not None else serving_model()
        if model is None:
            raise BadInputError("No model to predict with yet: train one on the Train page first.")
        detector = load_detector(model)
    predictions = _predict_boxes(detector, paths, names, progress)
    scores, worst = score_label_quality(labels, predictions, len(names))
    suspects = [
        Suspect(file=f, score=float(s), kind=kind, class_name=names[c] if 0 <= c < len(names) else "")
        for f, s, (kind, c) in zip(files, scores, worst, strict=True)
    ]
    return sorted(suspects, key=lambda s: s.score)


def queue_suspects(version_id: int, suspects: Sequence[Suspect], *, top_k: int) -> int:
    """Put the `top_k` most suspicious images on the review queue (skipping images already queued for this)."""
    with session_scope() as session:
        queued = {
            item.file
            for item in review_store.list_review_items(
                session=session, source=ReviewSource.LABEL_ERROR, dataset_version_ids=[version_id], limit=100_000
            )
        }
        added = 0
        for suspect in list(suspects)[:top_k]:
            if suspect.file in queued:
                continue
            review_store.add_review_item(
                session=session,
                source=ReviewSource.LABEL_ERROR,
                reason=suspect.reason,
                file=suspect.file,
                dataset_version_id=version_id,
                class_name=suspect.class_name,
                score=round(suspect.score, 4),
            )
            added += 1
    return added
