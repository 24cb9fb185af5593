"""Photos that are clearly not food, drawn here so tests need no files: a scanned text page and a dark flat wall.

Why they count as "unlike the training set": every demo picture is a colourful plate of food on a table, with
mid-tone brightness, strong colour and busy edges. A scanned page is nearly white and has no colour at all; a dark
grey wall is dark, colourless, flat and has no edges. Their image properties (brightness, contrast, sharpness,
saturation — the Monitor page's features) lie outside anything the demo set contains.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def document_scan(size: tuple[int, int] = (600, 800), seed: int = 0) -> Image.Image:
    """A scanned page: off-white paper with lines of dark "words" and a little scanner noise."""
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", size, (246, 246, 242))
    draw = ImageDraw.Draw(page)
    width, height = size
    y = 60
    while y < height - 60:
        x = 50
        while x < width - 80:
            word = int(rng.integers(20, 70))
            draw.rectangle((x, y, min(x + word, width - 50), y + 9), fill=(40, 40, 40))
            x += word + int(rng.integers(8, 14))
        y += 26
    noise = rng.normal(0, 3, (height, width, 1)).repeat(3, axis=2)
    return Image.fromarray(np.clip(np.asarray(page, dtype=float) + noise, 0, 255).astype(np.uint8))


def dark_wall(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A dark grey, evenly lit, featureless picture (a wall shot in a dim room)."""
    return Image.new("RGB", size, (48, 48, 50))


def jpeg_bytes(image: Image.Image) -> bytes:
    """The picture as JPEG file bytes, as a phone would upload it."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
