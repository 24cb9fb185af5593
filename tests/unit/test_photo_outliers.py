"""The per-photo check behind Detect's "looks unlike our training photos" notice, on real generated pictures."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from backend.imaging.features import dataset_features, image_features
from backend.monitoring.outliers import CONTENT_FEATURES, feature_ranges, unusual_photo
from backend.monitoring.traffic import generate_traffic
from tests.utils.nonfood import dark_wall, document_scan, jpeg_bytes


def _features(image: Image.Image) -> dict[str, float | int]:
    data = jpeg_bytes(image)
    return image_features(Image.open(io.BytesIO(data)).convert("RGB"), file_size=len(data)).as_dict()


def test_food_photos_pass_and_non_food_photos_are_flagged(tmp_path: Path) -> None:
    reference = generate_traffic("none", images=40, out_dir=tmp_path / "ref", seed=100, workers=1)
    rows = dataset_features(reference.files)
    ranges = feature_ranges({name: [float(r[name]) for r in rows] for name in CONTENT_FEATURES})
    fresh = generate_traffic("none", images=6, out_dir=tmp_path / "new", seed=7, workers=1)
    assert all(unusual_photo(_features(Image.open(f).convert("RGB")), ranges) is None for f in fresh.files)
    scan = unusual_photo(_features(document_scan()), ranges)
    assert scan is not None and "sharpness" in scan.features and "much" in scan.description
    wall = unusual_photo(_features(dark_wall()), ranges)
    assert wall is not None and "contrast" in wall.features and "flatter" in wall.description
