"""Image properties that monitoring compares between the training set and what the detector sees in production.

The same `image_features` runs on the training reference (`dataset_features`) and on every logged prediction, so
drift reports compare like with like. Brightness, contrast, sharpness and saturation are measured on a copy scaled
down to at most `ANALYSIS_MAX_SIDE` pixels: cheap on a 40-megapixel photo, and stable across resolutions (the same
scene photographed at 4000 or 1000 pixels gives about the same sharpness, because fine-grained noise that only a
large image resolves does not count).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress
from backend.imaging.loading import load_image

FEATURE_NAMES: tuple[str, ...] = (
    "brightness",
    "contrast",
    "sharpness",
    "saturation",
    "width",
    "height",
    "aspect_ratio",
    "file_size",
)

# Longest side of the copy the tone and sharpness features are measured on.
ANALYSIS_MAX_SIDE = 512


@dataclass(frozen=True)
class ImageFeatures:
    """Properties of one image.

    Attributes:
        brightness: Mean luma (ITU-R 601), 0–255.
        contrast: Standard deviation of luma, 0–~128.
        sharpness: Variance of the Laplacian of luma on the analysis copy; higher is sharper, near 0 is blurry.
        saturation: Mean HSV saturation, 0–255 (0 for a grey picture).
        width: Image width in pixels.
        height: Image height in pixels.
        aspect_ratio: width / height.
        file_size: File size in bytes.
    """

    brightness: float
    contrast: float
    sharpness: float
    saturation: float
    width: int
    height: int
    aspect_ratio: float
    file_size: int

    def as_dict(self) -> dict[str, float | int]:
        """The features as a plain dict, keys in `FEATURE_NAMES` order."""
        return asdict(self)


def image_features(image: Image.Image, *, file_size: int) -> ImageFeatures:
    """Measure the monitoring features of one image.

    Args:
        image: The picture, best as loaded by `backend.imaging.loading.load_image` (upright RGB); other modes
            are converted.
        file_size: Size of the image file in bytes (recorded as is).

    Returns:
        The image's features.
    """
    width, height = image.size
    small = _analysis_copy(image)
    luma = np.asarray(small.convert("L"), dtype=np.float32)
    saturation = _saturation(np.asarray(small)).astype(np.float32)
    return ImageFeatures(
        brightness=round(float(luma.mean()), 4),
        contrast=round(float(luma.std()), 4),
        sharpness=round(_laplacian_variance(luma), 4),
        saturation=round(float(saturation.mean()), 4),
        width=width,
        height=height,
        aspect_ratio=round(width / height, 4) if height else 0.0,
        file_size=int(file_size),
    )


def dataset_features(
    image_paths: Iterable[Path],
    *,
    workers: int | None = None,
    progress: ProgressFn = null_progress,
) -> list[dict[str, float | int | str]]:
    """Measure features for many image files (the training reference for drift monitoring).

    Files that cannot be read as images are skipped (the data-quality checks report them).

    Args:
        image_paths: Image files to measure.
        workers: Threads to use (default: the CPU count, at most 8). Decoding and numpy release the GIL.
        progress: Receives the fraction done and a message.

    Returns:
        One dict per readable image, in input order: `{"file": <file name>, <feature>: value, ...}`.
    """
    paths = [Path(p) for p in image_paths]
    total = len(paths)
    if total == 0:
        progress(1.0, "No images to measure")
        return []
    workers = workers or min(8, os.cpu_count() or 1)
    progress(0.0, f"Measuring {total} images")
    rows: list[dict[str, float | int | str] | None] = []
    skipped = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, row in enumerate(pool.map(_file_features, paths), start=1):
            rows.append(row)
            skipped += row is None
            progress(done / total, f"Measured {done} of {total} images")
    kept = [row for row in rows if row is not None]
    if skipped:
        progress(1.0, f"Measured {len(kept)} images; skipped {skipped} unreadable")
    return kept


def _file_features(path: Path) -> dict[str, float | int | str] | None:
    """Features of one file with its name, or None when it cannot be read as an image."""
    try:
        loaded = load_image(path)
    except BadInputError:
        return None
    return {"file": path.name, **image_features(loaded.image, file_size=loaded.file_size).as_dict()}


def _analysis_copy(image: Image.Image) -> Image.Image:
    """RGB copy scaled (antialiased) so the longest side is at most `ANALYSIS_MAX_SIDE`; small images stay as is."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    longest = max(image.size)
    if longest <= ANALYSIS_MAX_SIDE:
        return image
    scale = ANALYSIS_MAX_SIDE / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def _saturation_table() -> np.ndarray:
    """HSV saturation for every (max, min) channel pair, computed as Pillow's RGB→HSV does (float32 ratio, ×255,
    truncated), so a table lookup gives exactly `image.convert("HSV").getchannel("S")` about 20× faster."""
    high = np.arange(256, dtype=np.float32)[:, None]
    low = np.arange(256, dtype=np.float32)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ((high - low) / high).astype(np.float32).astype(np.float64) * 255.0
    return np.where(high > low, ratio, 0.0).astype(np.int64).clip(0, 255).astype(np.uint8)


_SATURATION = _saturation_table()


def _saturation(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel HSV saturation (0–255, uint8) of an RGB uint8 array, identical to Pillow's HSV conversion."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return _SATURATION[np.maximum(np.maximum(red, green), blue), np.minimum(np.minimum(red, green), blue)]


def _laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian (valid region only)."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())
