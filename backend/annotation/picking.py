"""Which logged traffic pictures to label next for a dataset (Annotate's "Label the next", `jobs.select`).

Candidates are the newest logged predictions whose picture was kept and that no review has closed
(`select.pool` of them). Embeddings come from the serving detector (`backend.training.embeddings`, cached per
picture by `EmbeddingCache`: the Detect page already stored one for each picture it answered) when a model serves
and gives them; otherwise from the logged image features (brightness, contrast, sharpness, saturation, aspect
ratio), standardised on the dataset's training pictures. Novelty compares with a seeded sample of the dataset's
training split (`select.reference_images`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backend.annotation.selection import Candidate, Pick, Strategy, pick
from backend.core.access import Actor, Permission
from backend.core.clock import utcnow
from backend.core.enums import ReviewSource
from backend.core.errors import BadInputError, NotFoundError, PlateOpsError
from backend.core.params import get_params
from backend.store import datasets as dataset_store
from backend.store import review as review_store
from backend.store import traffic as traffic_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import Dataset, DatasetVersion, Prediction

if TYPE_CHECKING:
    from PIL import Image

    from backend.serving.inference import Detector

logger = logging.getLogger(__name__)

FEATURE_KEYS = ("brightness", "contrast", "sharpness", "saturation", "aspect_ratio")
PICK_SOURCES = (ReviewSource.LOW_CONFIDENCE, ReviewSource.NOVEL, ReviewSource.DISAGREEMENT, ReviewSource.SELECTION)

# (candidate predictions, training image files) -> (candidate rows, training rows), distances comparable
VectorFn = Callable[[Sequence[Prediction], Sequence[Path]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Selection:
    """A selection's picks and how they were made."""

    dataset: Dataset
    strategy: Strategy
    picks: list[Pick]
    candidates: int
    space: str  # "detector embeddings" or "image features"


def find_dataset(name: str) -> tuple[Dataset, DatasetVersion]:
    """A dataset by name and its latest version (NotFoundError naming the known ones)."""
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name)
        if dataset is None:
            known = ", ".join(d.name for d in dataset_store.list_datasets(session=session)) or "none yet"
            raise NotFoundError(f"There is no dataset called {name!r} (known: {known}).")
        versions = dataset_store.list_versions(session=session, dataset_id=dataset.id)
    if not versions:
        raise NotFoundError(f"Dataset {name} has no version yet.")
    return dataset, max(versions, key=lambda v: v.number)


def _training_files(version: DatasetVersion) -> list[Path]:
    from backend.training.reference import sample_paths, split_images

    try:
        files = split_images(Path(version.path) / "data.yaml", "train")
    except BadInputError:
        return []
    return sample_paths(files, get_params().select.reference_images)


def feature_vectors(predictions: Sequence[Prediction], training: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate and training rows of the logged image features, standardised on the training pictures and scaled
    so that distances do not grow with the number of features."""
    from backend.imaging.features import dataset_features

    def rows(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        values = [[float(str(r.get(key, 0.0) or 0.0)) for key in FEATURE_KEYS] for r in records]
        return np.asarray(values, dtype=np.float64).reshape(-1, len(FEATURE_KEYS))

    traffic = rows([p.features for p in predictions])
    reference = rows(dataset_features(training, workers=2)) if training else np.zeros((0, len(FEATURE_KEYS)))
    basis = reference if len(reference) >= 2 else traffic
    mean, std = basis.mean(axis=0), basis.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    scale = np.sqrt(len(FEATURE_KEYS))
    return (traffic - mean) / std / scale, (reference - mean) / std / scale


def detector_vectors(detector: Detector) -> VectorFn:
    """A VectorFn on the serving detector's embeddings (unit length; cached per picture hash)."""
    from backend.core.hashing import file_sha256
    from backend.imaging.loading import load_image
    from backend.training.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(detector.embedding_key)

    def loader(path: Path) -> Callable[[], Image.Image]:
        return lambda: load_image(path, name=path.name).image

    def vectors(predictions: Sequence[Prediction], training: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
        traffic = [(p.image_sha256, loader(Path(str(p.image_path)))) for p in predictions]
        reference = [(file_sha256(path), loader(path)) for path in training]
        rows = [[e.vector for e in cache.get_or_embed(group, detector.embed)] for group in (traffic, reference)]
        width = len(rows[0][0]) if rows[0] else 0
        traffic_rows, reference_rows = (np.stack(r) if r else np.zeros((0, width), np.float32) for r in rows)
        return traffic_rows, reference_rows

    return vectors


def _serving_vectors() -> tuple[VectorFn, str]:
    """The detector's embeddings when a model serves and gives them, else the image features."""
    try:
        from backend.serving.service import load_detector, serving_model

        model = serving_model()
        if model is not None:
            detector = load_detector(model, device="cpu")
            if detector.embeds:
                return detector_vectors(detector), "detector embeddings"
    except (PlateOpsError, OSError, RuntimeError) as exc:
        logger.info("selection falls back to image features: %s", exc)
    return feature_vectors, "image features"


def _candidates(limit: int) -> list[tuple[Prediction, Candidate]]:
    with session_scope() as session:
        predictions = traffic_store.unreviewed_predictions(session=session, limit=limit)
        feedback = traffic_store.feedback_kinds(session=session, prediction_ids=[p.id for p in predictions])
    out = []
    for p in predictions:
        if not p.image_path or not Path(p.image_path).is_file():
            continue
        dets = [d for d in p.detections or [] if isinstance(d, dict)]
        candidate = Candidate(
            prediction_id=p.id,
            image=p.image_name,
            sha256=p.image_sha256,
            confidences=tuple(float(d.get("confidence", 0.0)) for d in dets),
            classes=tuple(str(d.get("class", "")) for d in dets),
            feedback=tuple(feedback.get(p.id, [])),
        )
        out.append((p, candidate))
    return out


def select_traffic(
    dataset_name: str,
    k: int,
    *,
    strategy: Strategy | str = Strategy.DIVERSE,
    vectors: VectorFn | None = None,
    seed: int = 0,
) -> Selection:
    """Pick up to `k` distinct logged traffic pictures to label next for a dataset.

    Args:
        dataset_name: The dataset the labels are for (its training split is what novelty compares with).
        k: How many pictures.
        strategy: uncertainty, novelty, diverse or random.
        vectors: How pictures become embeddings; default the serving detector's, else the image features.
        seed: Seed of the random strategy.

    Raises:
        BadInputError: k < 1, an unknown strategy, or no logged traffic to choose from.
        NotFoundError: No such dataset (or it has no version).
    """
    if k < 1:
        raise BadInputError(f"Pick at least one picture (k must be 1 or more, got {k}).")
    try:
        chosen = Strategy(str(strategy))
    except ValueError:
        raise BadInputError(f"Unknown strategy {strategy!r}; use one of {', '.join(Strategy)}.") from None
    dataset, version = find_dataset(dataset_name)
    params = get_params().select
    pairs = _candidates(params.pool)
    if not pairs:
        raise BadInputError(
            "No logged traffic to choose from: no kept prediction pictures that are not yet labelled or dismissed "
            "(send pictures through the Detect page or jobs.detect first)."
        )
    space = "image features" if vectors is feature_vectors else "custom"
    if vectors is None:
        vectors, space = _serving_vectors() if chosen != Strategy.RANDOM else (feature_vectors, "image features")
    needs_reference = chosen in (Strategy.NOVELTY, Strategy.DIVERSE)
    training = _training_files(version) if needs_reference else []
    traffic_rows, reference_rows = vectors([p for p, _ in pairs], training)
    picks = pick(
        [c for _, c in pairs],
        traffic_rows,
        reference_rows,
        k=k,
        strategy=chosen,
        low_confidence=params.low_confidence,
        duplicate_distance=float(np.sqrt(2.0 * params.duplicate_distance)),  # cosine distance -> unit-vector distance
        seed=seed,
    )
    return Selection(dataset=dataset, strategy=chosen, picks=picks, candidates=len(pairs), space=space)


def picked_today() -> int:
    """How many pictures active learning put on the queue since midnight (UTC)."""
    midnight = datetime.combine(utcnow().date(), time.min)
    with session_scope() as session:
        return traffic_store.count_items_since(session=session, sources=PICK_SOURCES, since=midnight)


def queue_next(dataset_name: str, k: int, *, actor: Actor, strategy: Strategy | str = Strategy.DIVERSE) -> list[Pick]:
    """Put the next `k` pictures worth labelling on the traffic inbox, each with the reason it was chosen.

    At most `select.daily_cap` pictures are queued per day; pictures already waiting are not queued twice.

    Raises:
        BadInputError: As `select_traffic`, or the day's cap is reached.
    """
    authorize(actor, Permission.REVIEW, f"pick {k} traffic pictures to label for dataset {dataset_name}")
    room = get_params().select.daily_cap - picked_today()
    if room <= 0:
        raise BadInputError(
            f"Today's cap of {get_params().select.daily_cap} picked pictures is reached (select.daily_cap in "
            "params.yaml); label the waiting ones first."
        )
    with session_scope() as session:
        waiting = {i.prediction_id for i in traffic_store.open_traffic_items(session=session)}
    selection = select_traffic(dataset_name, min(k, room) + len(waiting), strategy=strategy)
    fresh = [p for p in selection.picks if p.prediction_id not in waiting][: min(k, room)]
    with session_scope() as session:
        for p in fresh:
            review_store.add_review_item(
                session=session,
                source=p.source,
                reason=p.reason[:500],
                file=p.image,
                prediction_id=p.prediction_id,
                score=p.score,
            )
    return fresh
