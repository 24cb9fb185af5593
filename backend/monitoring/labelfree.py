"""What a drift report says beyond Evidently's columns: the window's estimated mAP50 and embedding drift.

Both read the same model passes: each current picture once as it is (detections at a low floor and its embedding)
and once mirrored; each reference picture once for its embedding (kept in the embedding cache, so a second report
on the same reference runs nothing for it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.errors import BadInputError
from backend.core.hashing import file_sha256
from backend.core.progress import ProgressFn, null_progress, sub_progress
from backend.imaging.loading import load_image
from backend.monitoring.calibration import SCORE_FLOOR, calibrated_estimator, model_outputs
from backend.monitoring.embedding_drift import ALPHA, PERMUTATIONS, EmbeddingDrift, mmd_test, pca_map
from backend.monitoring.estimate import MapEstimate, uncalibrated_estimate
from backend.training.embedding_cache import EmbeddingCache

logger = logging.getLogger(__name__)

MAP_POINTS = 400  # most points of each side kept for the 2-D map in the store


@dataclass
class LabelFree:
    """The estimate, the embedding test and the map of one report.

    Attributes:
        estimate: Estimated mAP50 of the current pictures.
        embedding: The embedding test (None when the model carries no embeddings, e.g. an old ONNX export).
        map_reference: Reference pictures on the 2-D map, [[x, y], ...].
        map_current: Current pictures on the map, in the order given.
    """

    estimate: MapEstimate
    embedding: EmbeddingDrift | None
    map_reference: list[list[float]] = field(default_factory=list)
    map_current: list[list[float]] = field(default_factory=list)

    def summary(self) -> dict[str, float | bool]:
        """The `jobs.drift` summary keys this adds."""
        return {
            "estimated_map50": self.estimate.value,
            "estimated_map50_low": self.estimate.low,
            "estimated_map50_high": self.estimate.high,
            "embedding_drift": bool(self.embedding is not None and self.embedding.drifted),
        }

    def details(self) -> dict[str, Any]:
        """What the store keeps per report."""
        return {
            "estimate": self.estimate.as_dict(),
            "embedding_drift": self.embedding.as_dict() if self.embedding is not None else None,
            "embedding_map": {"reference": self.map_reference, "current": self.map_current},
        }


def _reference_embeddings(detector: Any, paths: Sequence[Path]) -> list[Any]:
    cache = EmbeddingCache(detector.embedding_key)

    def embed(images: list[Any]) -> list[Any]:
        return [result.embedding for result in detector.predict(images, conf=SCORE_FLOOR, embed=True)]

    def loader(path: Path) -> Callable[[], Any]:
        return lambda: load_image(path).image

    return cache.get_or_embed([(file_sha256(p), loader(p)) for p in paths], embed)


def label_free(
    detector: Any,
    *,
    weights: Path,
    reference_dir: Path,
    reference_paths: Sequence[Path],
    current_paths: Sequence[Path],
    permutations: int = PERMUTATIONS,
    alpha: float = ALPHA,
    progress: ProgressFn = null_progress,
) -> LabelFree:
    """Estimate the current pictures' mAP50 and test their embeddings against the reference's.

    Args:
        detector: The serving `Detector` of `weights`.
        weights: Its weights file (keys the kept calibration).
        reference_dir: The prepared dataset the model was trained on: its held-out split calibrates the estimate
            the first time (without a labelled split the estimate is uncalibrated, interval 0-1).
        reference_paths: The reference pictures of the embedding test.
        current_paths: The window's pictures (unreadable ones are skipped).
        permutations: Permutations of the embedding test.
        alpha: Its alarm level.
        progress: Receives (fraction, message).
    """
    estimator = calibrated_estimator(detector, weights, reference_dir, progress=sub_progress(progress, 0.0, 0.6))
    images = []
    for path in current_paths:
        try:
            images.append(load_image(path).image)
        except BadInputError:
            continue
    progress(0.6, f"Reading the model's answers on {len(images)} pictures")
    outputs, embeddings = model_outputs(detector, images, embed=True)
    estimate = estimator.estimate(outputs) if estimator is not None else uncalibrated_estimate(outputs)
    if estimator is None:
        logger.warning("no labelled held-out split in %s: the accuracy estimate is uncalibrated", reference_dir)
    if not detector.embeds or any(e is None for e in embeddings):
        return LabelFree(estimate=estimate, embedding=None)
    progress(0.85, "Embedding the reference")
    ref_vectors = np.asarray([e.vector for e in _reference_embeddings(detector, reference_paths)])
    cur_vectors = np.asarray([e.vector for e in embeddings])
    test = mmd_test(ref_vectors, cur_vectors, permutations=permutations, alpha=alpha)
    ref_xy, cur_xy = pca_map(ref_vectors, cur_vectors)
    progress(1.0, f"Estimated mAP50 {estimate.value:.2f}; embedding drift p={test.p_value:.3f}")
    return LabelFree(
        estimate=estimate,
        embedding=test,
        map_reference=np.round(ref_xy[:MAP_POINTS], 4).tolist(),
        map_current=np.round(cur_xy[:MAP_POINTS], 4).tolist(),
    )
