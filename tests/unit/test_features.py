"""Image features for drift monitoring: sane values, resolution-stable sharpness, the dataset reference."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from backend.imaging.features import FEATURE_NAMES, ImageFeatures, dataset_features, image_features
from tests.utils import images as build


@lru_cache(maxsize=1)
def _high_res_scene() -> Image.Image:
    """A 2048×1536 'photo': coloured blocks with soft edges."""
    rng = np.random.default_rng(0)
    blocks = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    base = blocks.resize((512, 384), Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(1.5))
    return base.resize((2048, 1536), Image.Resampling.BICUBIC)


def _scene(width: int, height: int) -> Image.Image:
    """The same scene as taken by a camera of the given resolution."""
    return _high_res_scene().resize((width, height), Image.Resampling.LANCZOS)


def test_uniform_grey() -> None:
    features = image_features(Image.new("RGB", (100, 50), (90, 90, 90)), file_size=1234)
    assert isinstance(features, ImageFeatures)
    assert features.brightness == pytest.approx(90, abs=0.5)
    assert features.contrast == pytest.approx(0, abs=1e-6)
    assert features.sharpness == pytest.approx(0, abs=1e-6)
    assert features.saturation == pytest.approx(0, abs=1e-6)
    assert (features.width, features.height, features.aspect_ratio, features.file_size) == (100, 50, 2.0, 1234)


def test_value_ranges_and_order() -> None:
    red = image_features(Image.new("RGB", (40, 40), (255, 0, 0)), file_size=1)
    assert red.saturation == pytest.approx(255, abs=0.5)
    white = image_features(Image.new("RGB", (40, 40), (255, 255, 255)), file_size=1)
    black = image_features(Image.new("RGB", (40, 40), (0, 0, 0)), file_size=1)
    assert white.brightness == pytest.approx(255, abs=0.5)
    assert black.brightness == pytest.approx(0, abs=0.5)
    half = Image.new("RGB", (40, 40), (0, 0, 0))
    half.paste((255, 255, 255), (0, 0, 20, 40))
    assert image_features(half, file_size=1).contrast == pytest.approx(127.5, abs=0.5)


def test_as_dict_follows_feature_names() -> None:
    values = image_features(build.noise_image((64, 48)), file_size=10).as_dict()
    assert tuple(values) == FEATURE_NAMES
    assert all(isinstance(values[name], (int, float)) for name in FEATURE_NAMES)


def test_sharp_beats_blurred() -> None:
    scene = _scene(800, 600)
    sharp = image_features(scene, file_size=1).sharpness
    blurred = image_features(scene.filter(ImageFilter.GaussianBlur(4)), file_size=1).sharpness
    assert blurred < sharp / 3


def test_sharpness_is_resolution_stable() -> None:
    values = [image_features(_scene(w, w * 3 // 4), file_size=1).sharpness for w in (2048, 1400, 1024, 700)]
    naive = [_full_resolution_sharpness(_scene(w, w * 3 // 4)) for w in (2048, 700)]
    assert naive[1] / naive[0] > 3  # without the fixed analysis size, the measure would drift with resolution
    assert min(values) > 0
    assert max(values) / min(values) < 1.25, values
    # Tone features are stable too.
    brightness = [image_features(_scene(w, w * 3 // 4), file_size=1).brightness for w in (2048, 700)]
    assert abs(brightness[0] - brightness[1]) < 1.0


def _full_resolution_sharpness(image: Image.Image) -> float:
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    return float(lap.var())


def test_non_rgb_input_is_accepted() -> None:
    grey = image_features(Image.new("L", (30, 30), 77), file_size=1)
    assert grey.brightness == pytest.approx(77, abs=0.5)
    assert grey.saturation == 0


def test_dataset_features_skips_unreadable_files_and_keeps_order(tmp_path: Path) -> None:
    paths = []
    for index, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        path = tmp_path / f"img_{index}.png"
        path.write_bytes(build.encode(Image.new("RGB", (50, 40), color), "PNG"))
        paths.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(build.truncated(build.encode(build.noise_image((120, 120)), "JPEG"), 0.5))
    paths.insert(1, broken)
    calls: list[tuple[float | None, str]] = []

    rows = dataset_features(paths, workers=2, progress=lambda f, m="": calls.append((f, m)))

    assert [row["file"] for row in rows] == ["img_0.png", "img_1.png", "img_2.png"]
    assert set(rows[0]) == {"file", *FEATURE_NAMES}
    assert rows[0]["width"] == 50 and rows[0]["height"] == 40
    assert rows[0]["file_size"] == paths[0].stat().st_size
    assert calls[-1][0] == 1.0 and "skipped 1" in calls[-1][1]
    assert dataset_features([], progress=lambda f, m="": calls.append((f, m))) == []


def test_saturation_lookup_equals_pillows_hsv_conversion() -> None:
    """The table lookup gives exactly Pillow's HSV saturation (so the feature's values never changed)."""
    from backend.imaging.features import _saturation

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (300, 257, 3), dtype=np.uint8)
    pixels[:20, :20] = 0  # black
    pixels[20:40, :20] = 128  # grey: max == min
    every_pair = np.array([[(hi, lo, lo) for lo in range(hi + 1)] for hi in range(256)], dtype=object)
    pairs = np.array([p for row in every_pair for p in row], dtype=np.uint8).reshape(1, -1, 3)
    for rgb in (pixels, pairs, np.asarray(_scene(640, 480))):
        expected = np.asarray(Image.fromarray(rgb).convert("HSV").getchannel("S"))
        np.testing.assert_array_equal(_saturation(rgb), expected)
