"""Logged traffic pictures without a model: a prediction row with a kept copy, as the Detect page would leave it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from backend.store import predictions as prediction_store
from backend.store.engine import session_scope


def log_picture(folder: Path, n: int, detections: list[dict[str, object]], *, brightness: int = 120) -> int:
    """Log one prediction whose kept copy is half the original size (boxes are logged in original pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"copy-{n}.jpg"
    rng = np.random.default_rng(n)
    pixels = np.clip(rng.normal(brightness, 30, (100, 160, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    features = {"width": 320, "height": 200, "brightness": float(brightness), "contrast": 30.0 + n}
    features |= {"sharpness": 100.0 + 10 * n, "saturation": 0.2, "aspect_ratio": 1.6}
    with session_scope() as session:
        return prediction_store.add_prediction(
            session=session,
            image_name=f"upload-{n}.jpg",
            image_sha256=f"{n:064x}",
            image_path=str(path),
            thumb_path=str(path),
            features=features,
            detections=detections,
            conf=0.25,
            iou=0.45,
        ).id


def box(name: str, confidence: float) -> dict[str, object]:
    """A logged detection at a fixed place (original pixels of a 320x200 upload)."""
    return {"class": name, "confidence": confidence, "box": [20.0, 40.0, 120.0, 160.0]}
