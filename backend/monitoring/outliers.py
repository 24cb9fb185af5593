"""Is one photo unlike the serving model's training photos? Per-photo check on the Monitor page's image features.

The reference is the same seeded sample of the training version's images that drift reports compare with
(`reference_images`), measured with the same `image_features`. A photo is unusual when one of its content features
(brightness, contrast, sharpness, saturation) lies beyond everything in that sample by more than a margin (a tenth
of the sample's range): a photo the detector has never seen anything like. Size features are left out: phone
photos are bigger than any training set's pictures without being harder to read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from backend.core.params import get_params
from backend.core.settings import get_settings
from backend.imaging.features import dataset_features
from backend.monitoring.service import reference_images, training_version
from backend.serving.service import ServingModel

CONTENT_FEATURES: tuple[str, ...] = ("brightness", "contrast", "sharpness", "saturation")
MARGIN = 0.1  # how far beyond the training range, as a share of its width, a value must lie to count as unusual
_WORDS = {
    "brightness": ("much darker", "much brighter"),
    "contrast": ("much flatter", "much more contrasty"),
    "sharpness": ("much blurrier or plainer", "much busier or sharper"),
    "saturation": ("much less colourful", "much more colourful"),
}


@dataclass(frozen=True)
class FeatureRange:
    """One feature over the reference sample: its middle and extremes."""

    name: str
    median: float
    low: float
    high: float

    def far_outside(self, value: float) -> bool:
        """Whether `value` lies beyond the range by more than MARGIN of its width."""
        margin = MARGIN * (self.high - self.low)
        return value < self.low - margin or value > self.high + margin


@dataclass(frozen=True)
class UnusualPhoto:
    """Why a photo looks unlike the training photos.

    Attributes:
        features: The features out of the training range, e.g. ("brightness", "saturation").
        description: Plain words, e.g. "much darker and much less colourful than".
    """

    features: tuple[str, ...]
    description: str


def feature_ranges(values: dict[str, list[float]]) -> dict[str, FeatureRange]:
    """Per-feature ranges of reference values (features with no values are left out)."""
    ranges = {}
    for name, column in values.items():
        data = np.asarray(column, dtype=float)
        if data.size == 0:
            continue
        ranges[name] = FeatureRange(name, float(np.median(data)), float(data.min()), float(data.max()))
    return ranges


def unusual_photo(features: dict[str, float | int], ranges: dict[str, FeatureRange]) -> UnusualPhoto | None:
    """The photo's content features far outside the reference `ranges`, in words; None when it looks ordinary."""
    out: list[tuple[str, str]] = []
    for name in CONTENT_FEATURES:
        if name not in ranges or name not in features:
            continue
        value, ref = float(features[name]), ranges[name]
        if not ref.far_outside(value):
            continue
        low_word, high_word = _WORDS[name]
        out.append((name, low_word if value < ref.median else high_word))
    if not out:
        return None
    words = [w for _, w in out]
    said = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return UnusualPhoto(features=tuple(n for n, _ in out), description=said)


@lru_cache(maxsize=8)
def _version_ranges(version_id: int, version_path: str, limit: int, min_images: int) -> dict[str, FeatureRange]:
    cache = get_settings().cache_dir / "monitoring" / f"photo-ranges-v{version_id}-{limit}-{min_images}.json"
    if cache.is_file():
        return {k: FeatureRange(**v) for k, v in json.loads(cache.read_text()).items()}
    images = reference_images(Path(version_path), limit=limit, min_images=min_images)
    rows = dataset_features(images)
    ranges = feature_ranges({name: [float(r[name]) for r in rows] for name in CONTENT_FEATURES})
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".part")
    tmp.write_text(json.dumps({k: asdict(v) for k, v in ranges.items()}))
    tmp.replace(cache)
    return ranges


def training_ranges(model: ServingModel) -> dict[str, FeatureRange]:
    """Content-feature ranges of the serving model's training photos (measured once per version, then cached).

    Raises:
        BadInputError: The model has no training run or dataset version on record.
    """
    version = training_version(model)
    params = get_params().monitor
    return _version_ranges(version.id, version.path, params.reference_images, params.reference_held_out_min)


def check_photo(features: dict[str, float | int], model: ServingModel) -> UnusualPhoto | None:
    """Whether a photo's image features lie far outside the serving model's training photos (see module doc)."""
    return unusual_photo(features, training_ranges(model))
