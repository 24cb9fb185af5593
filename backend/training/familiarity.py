"""Is a photo like the model's training photos? The reference, fitted from the detector's own embeddings.

A detector trained on plates of food answers *something* for any picture: a bus became "egg 0.06", a cat "carrot
0.07". The familiarity check refuses such pictures before their detections reach anyone. It compares the picture's
embedding (`backend.training.embeddings`) with the training images' embeddings through several signals, each
higher for a less familiar picture:

- `knn`: cosine distance to the nearest training pictures, on every tapped layer's channel means and standard
  deviations (each layer's block to unit length, so no layer dominates by its size);
- `gram`: Sastry & Oore's (2020) Gram-matrix deviations: how far the row sums of each layer's Gram matrices
  (orders 1..4) lie outside the range the training pictures span, relative to that range's bounds, normalised
  per layer by the mean deviation of validation pictures, summed over layers;
- `spread`: the same min-max deviation on each layer's channel standard deviations (how busy each channel is);
- `mahalanobis`: per layer, the Mahalanobis distance of [channel means, channel deviations] under a Ledoit-Wolf
  shrunk covariance of the training pictures, z-scored on validation pictures and summed over layers;
- `head`: minus the mean of the head's ten best class scores (a picture with nothing food-like scores low);
- `pixels`: the Mahalanobis distance (Ledoit-Wolf) of the picture's texture, frequency and colour statistics
  (`backend.imaging.texture`), standardised on the training pictures: not the detector's view, but it fails on
  other pictures than the detector's signals do.

Each signal is fitted on the training split, then put on one scale with its mean and standard deviation over the
validation split (pictures the model never trained on); the decision score is the sum of the chosen signals'
z-scores, and the threshold is the validation scores' (1 - target) quantile, so about `target` of the
validation pictures are refused (`familiarity.target_false_refusals` in params.yaml). Which signals are summed is
`familiarity.signals`; bench/ood.py measures each one and the combinations (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.errors import BadInputError
from backend.training.embeddings import Embedding

FORMAT_VERSION = 1
REFERENCE_SUFFIX = ".familiarity.npz"  # beside the weights: best.pt and best.onnx share best.familiarity.npz
KNN_NEIGHBOURS = 5
_EPS = 1e-6


class Signal(StrEnum):
    """The signals the decision can sum (see the module docstring)."""

    KNN = "knn"
    GRAM = "gram"
    SPREAD = "spread"
    MAHALANOBIS = "mahalanobis"
    HEAD = "head"
    PIXELS = "pixels"


@dataclass(frozen=True)
class FamiliarityScore:
    """The familiarity verdict on one picture.

    Attributes:
        score: The summed z-scores of the signals (higher is less familiar).
        threshold: Scores above it are refused.
        familiar: True when `score` is at or under `threshold`.
        parts: Each chosen signal's z-score.
    """

    score: float
    threshold: float
    familiar: bool
    parts: dict[str, float] = field(default_factory=dict)


def _stack(embeddings: Sequence[Embedding], kind: str, layer: int) -> np.ndarray:
    """(N, ...) array of one statistic of one layer over pictures."""
    return np.stack([getattr(emb.layer(layer), kind) for emb in embeddings]).astype(np.float64)


def _range_deviation(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Sastry & Oore's deviation: how far each value lies outside [low, high], relative to the bound, summed."""
    below = np.maximum(low - values, 0) / (np.abs(low) + _EPS)
    above = np.maximum(values - high, 0) / (np.abs(high) + _EPS)
    return (below + above).reshape(len(values), -1).sum(axis=1)


def _mean_std(embeddings: Sequence[Embedding], layer: int) -> np.ndarray:
    """(N, 2C): one layer's channel means and deviations side by side."""
    return np.concatenate([_stack(embeddings, "mean", layer), _stack(embeddings, "std", layer)], axis=1)


def _pixels(embeddings: Sequence[Embedding], arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Texture statistics standardised with the training pictures' mean and deviation."""
    values = np.stack([emb.pixels for emb in embeddings]).astype(np.float64)
    return (values - arrays["pixels.mean"]) / arrays["pixels.std"]


def _knn_features(embeddings: Sequence[Embedding], layers: Sequence[int]) -> np.ndarray:
    """Every layer's [means, deviations] block to unit length, concatenated, to unit length."""
    blocks = []
    for layer in layers:
        for kind in ("mean", "std"):
            block = _stack(embeddings, kind, layer)
            blocks.append(block / (np.linalg.norm(block, axis=1, keepdims=True) + _EPS))
    joined = np.concatenate(blocks, axis=1)
    return joined / (np.linalg.norm(joined, axis=1, keepdims=True) + _EPS)


class FamiliarityModel:
    """A fitted reference: signal parameters, the validation scale of each signal, and the threshold.

    Create with `fit_familiarity` or `FamiliarityModel.load`.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self._arrays = arrays
        self.meta = meta
        self.signals = tuple(Signal(name) for name in meta["signals"])
        self.layers = tuple(int(layer) for layer in meta["layers"])

    @property
    def threshold(self) -> float:
        """Decision scores above this are refused."""
        return float(self.meta["threshold"])

    def raw_scores(self, embeddings: Sequence[Embedding], signal: Signal) -> np.ndarray:
        """One signal's raw scores (before the validation scale), higher is less familiar."""
        arrays = self._arrays
        if signal == Signal.KNN:
            similarity = _knn_features(embeddings, self.layers) @ arrays["knn.bank"].T
            k = min(KNN_NEIGHBOURS, similarity.shape[1])
            return 1.0 - np.sort(similarity, axis=1)[:, -k:].mean(axis=1)
        if signal == Signal.HEAD:
            return -np.stack([emb.head for emb in embeddings]).astype(np.float64)[:, 1]
        if signal == Signal.PIXELS:
            x = _pixels(embeddings, arrays) - arrays["pixels.location"]
            return np.einsum("ij,jk,ik->i", x, arrays["pixels.precision"], x)
        total = np.zeros(len(embeddings))
        for layer in self.layers:
            if signal == Signal.MAHALANOBIS:
                x = _mean_std(embeddings, layer) - arrays[f"maha.{layer}.location"]
                distance = np.einsum("ij,jk,ik->i", x, arrays[f"maha.{layer}.precision"], x)
                location, scale = arrays[f"maha.{layer}.scale"]
                total += (distance - location) / scale
            else:
                kind = "gram" if signal == Signal.GRAM else "std"
                low, high, scale = (arrays[f"{signal}.{layer}.{part}"] for part in ("low", "high", "scale"))
                total += _range_deviation(_stack(embeddings, kind, layer), low, high) / float(scale)
        return total

    def signal_scores(
        self, embeddings: Sequence[Embedding], signals: Sequence[Signal] | None = None
    ) -> dict[Signal, np.ndarray]:
        """Signals' z-scores (on the validation scale): the given ones, else every fitted one, chosen or not."""
        wanted = list(signals) if signals is not None else [Signal(name) for name in self.meta["fitted"]]
        out = {}
        for signal in wanted:
            location, scale = self._arrays[f"scale.{signal}"]
            out[signal] = (self.raw_scores(embeddings, signal) - location) / scale
        return out

    def scores(self, embeddings: Sequence[Embedding]) -> np.ndarray:
        """Decision scores: the sum of the chosen signals' z-scores."""
        if not embeddings:
            return np.zeros(0)
        parts = self.signal_scores(embeddings, self.signals)
        return np.sum([parts[signal] for signal in self.signals], axis=0)

    def judge(self, embedding: Embedding) -> FamiliarityScore:
        """The verdict on one picture (only the chosen signals are computed: this runs on every request)."""
        parts = self.signal_scores([embedding], self.signals)
        score = float(sum(parts[signal][0] for signal in self.signals))
        return FamiliarityScore(
            score=round(score, 4),
            threshold=round(self.threshold, 4),
            familiar=bool(score <= self.threshold),
            parts={str(signal): round(float(values[0]), 4) for signal, values in parts.items()},
        )

    def with_signals(
        self, signals: Sequence[Signal], *, target: float, validation: Sequence[Embedding]
    ) -> FamiliarityModel:
        """The same fitted reference deciding on other signals, its threshold set again on `validation`."""
        meta = {**self.meta, "signals": [str(s) for s in signals]}
        model = FamiliarityModel(self._arrays, meta)
        model.calibrate(validation, target=target)
        return model

    def calibrate(self, validation: Sequence[Embedding], *, target: float) -> None:
        """Set the threshold to the (1 - target) quantile of the validation pictures' decision scores."""
        scores = self.scores(validation)
        threshold = float(np.quantile(scores, 1.0 - target, method="higher"))
        self.meta.update(
            threshold=threshold,
            target_false_refusals=target,
            val_false_refusals=round(float(np.mean(scores > threshold)), 4),
        )

    def save(self, npz_path: Path) -> Path:
        """Write the arrays to `npz_path` and the figures to the `.json` beside it (both atomically).

        Returns:
            The `.json` path.
        """
        npz_path = Path(npz_path)
        npz_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = npz_path.with_name(npz_path.name + ".tmp.npz")
        np.savez_compressed(tmp, allow_pickle=False, **self._arrays)
        tmp.replace(npz_path)
        json_path = npz_path.with_suffix(".json")
        tmp_json = json_path.with_name(json_path.name + ".tmp")
        tmp_json.write_text(json.dumps(self.meta, indent=2), encoding="utf-8")
        tmp_json.replace(json_path)
        return json_path

    @classmethod
    def load(cls, npz_path: Path) -> FamiliarityModel:
        """Read a reference written by `save`.

        Raises:
            BadInputError: The files are missing, unreadable or of another format version.
        """
        npz_path = Path(npz_path)
        try:
            meta = json.loads(npz_path.with_suffix(".json").read_text(encoding="utf-8"))
            with np.load(npz_path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError) as exc:
            raise BadInputError(f"The familiarity reference {npz_path.name} cannot be read ({exc}).") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise BadInputError(f"The familiarity reference {npz_path.name} is of another format; fit it again.")
        return cls(arrays, meta)


def fit_familiarity(
    train: Sequence[Embedding],
    val: Sequence[Embedding],
    *,
    signals: Sequence[Signal | str],
    target: float,
    info: dict[str, Any] | None = None,
) -> FamiliarityModel:
    """Fit every signal on training embeddings, scale them and set the threshold on validation embeddings.

    Args:
        train: Embeddings of the training pictures (the reference).
        val: Embeddings of held-out pictures of the same kind (scale and threshold).
        signals: The signals whose z-scores are summed into the decision score.
        target: Share of validation pictures the threshold may refuse, 0 < target < 0.5.
        info: Extra figures kept in the json (imgsz, sizes, the model's hash...).

    Returns:
        The fitted reference. Every signal is fitted (so figures for each can be read back), the chosen ones decide.

    Raises:
        BadInputError: Too few pictures, an unknown signal or a target outside (0, 0.5).
    """
    chosen = [Signal(str(name)) for name in signals if str(name) in Signal.__members__.values()]
    if len(chosen) != len(signals) or not chosen:
        known = ", ".join(Signal)
        raise BadInputError(f"Familiarity signals must be some of {known} (got {', '.join(map(str, signals))}).")
    if not 0 < target < 0.5:
        raise BadInputError(f"The target share of false refusals must be between 0 and 0.5 (got {target}).")
    if len(train) < 2 * KNN_NEIGHBOURS or len(val) < 5:
        raise BadInputError(
            f"Fitting the familiarity reference needs at least {2 * KNN_NEIGHBOURS} training and 5 validation "
            f"pictures (got {len(train)} and {len(val)})."
        )
    layers = [stats.layer for stats in train[0].layers]
    with_gram = all(stats.gram is not None for emb in (*train, *val) for stats in emb.layers)
    if Signal.GRAM in chosen and not with_gram:
        raise BadInputError("The gram signal needs embeddings with Gram statistics (embed with gram=True).")
    fitted = [signal for signal in Signal if with_gram or signal != Signal.GRAM]
    arrays: dict[str, np.ndarray] = {"knn.bank": _knn_features(train, layers).astype(np.float32)}
    for layer in layers:
        for signal, kind in ((Signal.GRAM, "gram"), (Signal.SPREAD, "std")):
            if signal not in fitted:
                continue
            values = _stack(train, kind, layer)
            low, high = values.min(axis=0), values.max(axis=0)
            deviation = _range_deviation(_stack(val, kind, layer), low, high)
            arrays[f"{signal}.{layer}.low"], arrays[f"{signal}.{layer}.high"] = low, high
            arrays[f"{signal}.{layer}.scale"] = np.asarray(max(float(deviation.mean()), _EPS))
        arrays.update(_fit_mahalanobis(train, val, layer))
    arrays.update(_fit_pixels(train))
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "signals": [str(s) for s in chosen],
        "fitted": [str(s) for s in fitted],
        "layers": layers,
        "train_images": len(train),
        "val_images": len(val),
        **(info or {}),
    }
    model = FamiliarityModel(arrays, meta)
    for signal in fitted:
        raw = model.raw_scores(val, signal)
        arrays[f"scale.{signal}"] = np.asarray([raw.mean(), _z_scale(raw)])
    model.calibrate(val, target=target)
    return model


def ledoit_wolf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Location and precision of `values` (N, D) under the Ledoit-Wolf shrunk covariance.

    The shrinkage towards a scaled identity is the one Ledoit and Wolf (2004) derive (as scikit-learn's
    `LedoitWolf`), so a covariance of more dimensions than pictures still inverts.
    """
    location = values.mean(axis=0)
    x = values - location
    samples, features = x.shape
    covariance = x.T @ x / samples
    mu = float(np.trace(covariance)) / features
    squared = x**2
    beta_sum = float((squared.T @ squared).sum()) / samples
    delta_sum = float((covariance**2).sum())
    beta = (beta_sum - delta_sum) / (features * samples)
    delta = (delta_sum - 2.0 * mu * float(np.trace(covariance)) + features * mu**2) / features
    shrinkage = 0.0 if delta <= 0 else min(max(beta, 0.0), delta) / delta
    shrunk = (1.0 - shrinkage) * covariance + shrinkage * mu * np.eye(features)
    return location, np.linalg.pinv(shrunk, hermitian=True)


def _fit_mahalanobis(train: Sequence[Embedding], val: Sequence[Embedding], layer: int) -> dict[str, np.ndarray]:
    """Ledoit-Wolf location and precision of one layer's [means, deviations], and its validation z-scale."""
    location, precision = ledoit_wolf(_mean_std(train, layer))
    x = _mean_std(val, layer) - location
    distance = np.einsum("ij,jk,ik->i", x, precision, x)
    return {
        f"maha.{layer}.location": location,
        f"maha.{layer}.precision": precision,
        f"maha.{layer}.scale": np.asarray([distance.mean(), max(float(distance.std()), _EPS)]),
    }


def _z_scale(values: np.ndarray) -> float:
    """The deviation a signal's z-score divides by; infinite (the signal then adds nothing) when the validation
    pictures do not move it at all, as a head that answers the same whatever the picture."""
    spread, size = float(values.std()), float(np.abs(values).mean())
    return spread if spread > 1e-6 * max(size, 1.0) else math.inf


def _fit_pixels(train: Sequence[Embedding]) -> dict[str, np.ndarray]:
    """Standardisation and Ledoit-Wolf location and precision of the training pictures' texture statistics."""
    values = np.stack([emb.pixels for emb in train]).astype(np.float64)
    arrays = {"pixels.mean": values.mean(axis=0), "pixels.std": values.std(axis=0) + _EPS}
    location, precision = ledoit_wolf(_pixels(train, arrays))
    return {**arrays, "pixels.location": location, "pixels.precision": precision}


def reference_path(weights: Path) -> Path:
    """Where the familiarity reference of a weights file lives: `<folder>/<stem>.familiarity.npz` (and `.json`)."""
    weights = Path(weights)
    return weights.with_name(weights.stem + REFERENCE_SUFFIX)


def copy_reference(source_weights: Path, target_weights: Path) -> Path | None:
    """Copy a model's familiarity reference beside another file of the same model (an export); None when none."""
    source, target = reference_path(source_weights), reference_path(target_weights)
    if not source.is_file() or source.resolve() == target.resolve():
        return target if target.is_file() else None
    for src, dst in ((source, target), (source.with_suffix(".json"), target.with_suffix(".json"))):
        shutil.copyfile(src, dst)
    return target


def wilson_interval(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a rate (95 % by default); (0, 1) for no trials."""
    if total == 0:
        return 0.0, 1.0
    rate = hits / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)
