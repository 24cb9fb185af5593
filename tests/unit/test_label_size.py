"""Box labels on Detect's result image are readable whatever the photo's resolution: they scale with the picture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from backend.core.vocab import color_for
from backend.imaging.drawing import draw_detections, hex_to_rgb


@dataclass(frozen=True)
class _Det:
    class_name: str
    confidence: float
    box: tuple[float, float, float, float]


def _tag_height(size: int) -> int:
    """Rows above the box that hold the label tag's colour, on a white square picture of `size` pixels."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    top = size // 2
    drawn = np.asarray(draw_detections(image, [_Det("tomato", 0.87, (size / 4, top, size * 3 / 4, size * 0.9))]))
    colour = np.array(hex_to_rgb(color_for("tomato")))
    rows = np.where((drawn[:top] == colour).all(axis=2).any(axis=1))[0]
    return int(rows.size)


def test_label_height_scales_with_the_picture() -> None:
    small, phone = _tag_height(640), _tag_height(3000)
    # Shown at the same page width, a label should read at about the same size: its share of the picture holds.
    assert small / 640 > 0.03 and phone / 3000 > 0.03, (small, phone)
    assert 0.7 < (phone / 3000) / (small / 640) < 1.4
