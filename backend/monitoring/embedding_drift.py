"""Drift in what the model sees: a kernel two-sample test on the detector's image embeddings, and a 2-D map.

The test is the maximum mean discrepancy (MMD) with a Gaussian kernel on the unit-length embedding vectors
(`Embedding.vector`: channel means of the deepest backbone layer), bandwidth by the median heuristic on the pooled
pictures, p-value by permutation. Why this and not Evidently's embeddings drift: Evidently's default there trains a
domain classifier per report and alarms on its ROC AUC against a fixed threshold, which has no false-alarm rate of
its own; the permutation p-value of MMD does (the alarm level is the false-alarm rate on unshifted windows, by
construction), it sees a change in any direction of the whole distribution, not only the mean, and at 1000
reference vs 200 window pictures it costs milliseconds.

The map is PCA fitted on the reference and applied to both sides, so the reference cloud stays put from report to
report and a cluster of current pictures far from it is the new kind of picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.core.errors import BadInputError

PERMUTATIONS = 200
ALPHA = 0.01
MAP_SEED = 0


@dataclass(frozen=True)
class EmbeddingDrift:
    """The test's verdict.

    Attributes:
        mmd2: Squared MMD of reference vs current (biased estimate).
        p_value: Share of label permutations with an MMD at least as large (with the +1 correction).
        drifted: p_value below the alarm level.
        alpha: The alarm level.
        reference: Reference pictures.
        current: Current pictures.
    """

    mmd2: float
    p_value: float
    drifted: bool
    alpha: float
    reference: int
    current: int

    def as_dict(self) -> dict[str, float | int | bool]:
        """JSON form (the store's report details)."""
        return {
            "mmd2": round(self.mmd2, 6),
            "p_value": round(self.p_value, 4),
            "drifted": self.drifted,
            "alpha": self.alpha,
            "reference": self.reference,
            "current": self.current,
        }


def _sq_distances(x: np.ndarray) -> np.ndarray:
    norms = (x * x).sum(axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * x @ x.T, 0.0)


def mmd_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    permutations: int = PERMUTATIONS,
    alpha: float = ALPHA,
    seed: int = 0,
) -> EmbeddingDrift:
    """Kernel two-sample test of two sets of vectors (rows).

    Raises:
        BadInputError: Either side has fewer than 2 vectors, or their widths differ.
    """
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if ref.ndim != 2 or cur.ndim != 2 or len(ref) < 2 or len(cur) < 2 or ref.shape[1] != cur.shape[1]:
        raise BadInputError("An embedding drift test needs at least 2 embeddings of the same width on each side.")
    pooled = np.vstack([ref, cur])
    distances = _sq_distances(pooled)
    off_diagonal = distances[np.triu_indices(len(pooled), k=1)]
    bandwidth = float(np.median(off_diagonal)) or 1.0
    kernel = np.exp(-distances / bandwidth)
    n = len(ref)
    total = len(pooled)

    grand = float(kernel.sum())
    m = total - n

    def statistic(first: np.ndarray) -> float:
        inside = np.zeros(total)
        inside[first] = 1.0
        row = kernel @ inside  # one matrix-vector product per permutation instead of three sub-matrices
        within = float(inside @ row)
        across = float(row.sum()) - within
        other = grand - within - 2.0 * across
        return within / n**2 + other / m**2 - 2.0 * across / (n * m)

    observed = statistic(np.arange(n))
    rng = np.random.default_rng(seed)
    larger = sum(statistic(rng.permutation(total)[:n]) >= observed for _ in range(permutations))
    p_value = (larger + 1) / (permutations + 1)
    return EmbeddingDrift(
        mmd2=observed, p_value=p_value, drifted=p_value < alpha, alpha=alpha, reference=n, current=len(cur)
    )


def pca_map(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sides on the reference's first two principal axes: (reference xy, current xy), each (n, 2)."""
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    centre = ref.mean(axis=0)
    _, _, axes = np.linalg.svd(ref - centre, full_matrices=False)
    top = axes[:2].T
    if top.shape[1] < 2:  # a single reference direction: pad so the map is still 2-D
        top = np.hstack([top, np.zeros((top.shape[0], 2 - top.shape[1]))])
    return (ref - centre) @ top, (cur - centre) @ top
