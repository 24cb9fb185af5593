"""Pixel-level texture, frequency and colour statistics of a picture: one small vector, a few milliseconds.

The familiarity check (`backend.training.familiarity`) adds them to the detector's own embedding: a detector
trained on one kind of picture can map an odd one near its training pictures, while the picture's grain, edges and
colours still differ. Measured on a grey (and an HSV) copy whose long side is `TEXTURE_SIDE` pixels, so a phone
photo and a thumbnail of the same scene give about the same figures.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

TEXTURE_SIDE = 256
TEXTURE_NAMES: tuple[str, ...] = (
    "spectrum_slope",
    "spectrum_high",
    "gradient_mean",
    "gradient_flat",
    "gradient_kurtosis",
    "laplacian_noise",
    "grey_entropy",
    "saturation_mean",
    "saturation_std",
    "hue_entropy",
    "value_std",
    "colourfulness",
)


def texture_stats(image: Image.Image) -> np.ndarray:
    """The picture's `TEXTURE_NAMES` statistics, float32.

    - spectrum_slope / spectrum_high: slope of the radially averaged log power spectrum over log frequency (about
      -2 for natural photographs) and the share of power in the upper half of the frequencies;
    - gradient_mean / gradient_flat / gradient_kurtosis: mean gradient magnitude (0-1 scale), share of nearly flat
      pixels, and the kurtosis of the gradient magnitudes (renders: flat areas and sharp edges);
    - laplacian_noise: the median absolute Laplacian, a robust estimate of fine grain and noise;
    - grey_entropy: entropy of the 64-bin grey histogram, bits;
    - saturation_mean / saturation_std / hue_entropy / value_std: HSV colour statistics (hue entropy over 18 bins
      of the saturated pixels, normalised to 0-1);
    - colourfulness: Hasler and Suesstrunk's colourfulness metric (0-1 scale).
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    scale = TEXTURE_SIDE / max(rgb.size)
    if scale < 1:
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BILINEAR
        )
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0
    grey = pixels @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    slope, high = _spectrum(grey)
    gy, gx = np.gradient(grey)
    magnitude = np.hypot(gx, gy)
    centred = magnitude - magnitude.mean()
    kurtosis = float((centred**4).mean() / max(float((centred**2).mean()) ** 2, 1e-12))
    laplacian = grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    hsv = np.asarray(rgb.convert("HSV"), dtype=np.float32) / 255.0
    saturated = hsv[..., 1] > 0.2
    hue_hist = np.histogram(hsv[..., 0][saturated], bins=18, range=(0, 1))[0]
    rg = pixels[..., 0] - pixels[..., 1]
    yb = (pixels[..., 0] + pixels[..., 1]) / 2 - pixels[..., 2]
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    return np.asarray(
        [
            slope,
            high,
            float(magnitude.mean()),
            float((magnitude < 0.01).mean()),
            float(np.log1p(kurtosis)),
            float(np.median(np.abs(laplacian))) if laplacian.size else 0.0,
            _entropy(np.histogram(grey, bins=64, range=(0, 1))[0]) / 6.0,
            float(hsv[..., 1].mean()),
            float(hsv[..., 1].std()),
            _entropy(hue_hist) / np.log2(18),
            float(hsv[..., 2].std()),
            colourfulness,
        ],
        dtype=np.float32,
    )


def _entropy(counts: np.ndarray) -> float:
    """Shannon entropy of a histogram, bits (0 for an empty one)."""
    total = counts.sum()
    if total <= 0:
        return 0.0
    shares = counts[counts > 0] / total
    return float(-(shares * np.log2(shares)).sum())


@lru_cache(maxsize=16)
def _spectrum_layout(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per picture shape (cached: most pictures share a few): the window, each frequency's radial bin, and masks."""
    window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    radius = np.hypot(fy, fx)  # cycles per pixel, 0..~0.7 (the same radii as the centred spectrum)
    which = np.digitize(radius.ravel(), _SPECTRUM_BINS)
    counts = np.bincount(which, minlength=len(_SPECTRUM_BINS) + 1)[1:-1]
    return window, which, counts, (radius <= 0.5).ravel(), ((radius > 0.25) & (radius <= 0.5)).ravel()


_SPECTRUM_BINS = np.linspace(0.02, 0.5, 25)


def _spectrum(grey: np.ndarray) -> tuple[float, float]:
    """Slope of the radially averaged log power spectrum over log frequency, and the upper-half power share."""
    height, width = grey.shape
    if min(height, width) < 8:
        return 0.0, 0.0
    window, which, counts, inner, upper = _spectrum_layout(height, width)
    power = (np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2).ravel()
    sums = np.bincount(which, weights=power, minlength=len(_SPECTRUM_BINS) + 1)[1:-1]
    profile = sums / np.maximum(counts, 1)
    centres = (_SPECTRUM_BINS[:-1] + _SPECTRUM_BINS[1:]) / 2
    valid = profile > 0
    if valid.sum() < 3:
        return 0.0, 0.0
    slope = float(np.polyfit(np.log(centres[valid]), np.log(profile[valid]), 1)[0])
    total = float(power[inner].sum())
    high = float(power[upper].sum() / total) if total > 0 else 0.0
    return slope, high
