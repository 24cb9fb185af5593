"""The non-food pictures of the familiarity benchmark (`bench.ood`), made offline and deterministically.

Real photographs: scikit-image's bundled sample photos (`skimage.data`, no download), each used whole and as
seeded crops resized to phone-like and thumbnail sizes. Crops of one photo are not independent, so every picture
carries its `source` and the benchmark reports per source too. Synthetic pictures (drawings, renders, a text
screenshot, a drawn bus) are a separate set: they are not photographs.

Sources are split by photo into a development half (`DEV_SOURCES`: looked at while choosing the signals) and a test
half (the rest: the figures that count). No picture of either half is used to fit or calibrate anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# skimage.data photographs that ship with scikit-image (no pooch download). `cat` is `chelsea` again: left out.
REAL_SOURCES: tuple[str, ...] = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "text",
)
# Looked at while choosing the signals; the benchmark's headline figures are on the other sources.
DEV_SOURCES: frozenset[str] = frozenset({"astronaut", "brick", "cell", "coins", "moon", "rocket"})
SYNTHETIC_SOURCES: tuple[str, ...] = (
    "binary_blobs",
    "checkerboard",
    "colorwheel",
    "horse",
    "logo",
    "shepp_logan_phantom",
    "text_screenshot",
    "drawn_bus",
)
CROPS_PER_SOURCE = 4  # besides the whole photo


@dataclass(frozen=True)
class NonFoodPicture:
    """One benchmark picture.

    Attributes:
        name: Unique name, e.g. "astronaut-crop2".
        source: The photo or drawing it was made from.
        real: True for a photograph, False for a drawing or render.
        image: The picture, RGB.
    """

    name: str
    source: str
    real: bool
    image: Image.Image


def _as_rgb(array: np.ndarray) -> Image.Image:
    """A skimage sample (grey, bool, float, RGBA) as an RGB picture."""
    data = np.asarray(array)
    if data.dtype == bool:
        data = data.astype(np.uint8) * 255
    elif data.dtype.kind == "f":
        data = (np.clip(data, 0, 1) * 255).astype(np.uint8)
    if data.ndim == 3 and data.shape[2] == 4:
        rgba = Image.fromarray(data, "RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return Image.fromarray(data).convert("RGB")


def _skimage(name: str) -> Image.Image:
    from skimage import data

    loaded = getattr(data, name)()
    if name == "stereo_motorcycle":
        loaded = loaded[0]  # the left view; the right one is the same scene
    return _as_rgb(loaded)


def _crops(image: Image.Image, rng: np.random.Generator, count: int) -> list[Image.Image]:
    """`count` seeded crops (40-80 % of the short side, any place) resized to a long side of 256 to 1024 px."""
    out = []
    width, height = image.size
    for _ in range(count):
        side = int(min(width, height) * rng.uniform(0.4, 0.8))
        aspect = rng.uniform(0.75, 1.33)
        crop_w, crop_h = min(width, int(side * aspect)), side
        x = int(rng.integers(0, width - crop_w + 1))
        y = int(rng.integers(0, height - crop_h + 1))
        crop = image.crop((x, y, x + crop_w, y + crop_h))
        long_side = int(rng.integers(256, 1025))
        scale = long_side / max(crop.size)
        out.append(
            crop.resize((max(1, round(crop_w * scale)), max(1, round(crop_h * scale))), Image.Resampling.BILINEAR)
        )
    return out


def text_screenshot(size: tuple[int, int] = (900, 600)) -> Image.Image:
    """A screenshot-like picture: lines of black text rendered onto white, a title bar and a link in blue."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=18)
    draw.rectangle((0, 0, size[0], 36), fill=(236, 236, 240))
    draw.text((12, 8), "Inbox - Mail", fill=(40, 40, 40), font=font)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazy",
        "dog",
        "while",
        "the",
        "meeting",
        "notes",
        "are",
        "due",
        "on",
        "friday",
    ]
    rng = np.random.default_rng(3)
    y = 60
    while y < size[1] - 30:
        line = " ".join(rng.choice(words, size=int(rng.integers(6, 12))))
        colour = (20, 60, 200) if rng.random() < 0.1 else (20, 20, 20)
        draw.text((24, y), line, fill=colour, font=font)
        y += 28
    return image


def drawn_bus(size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A bus on a street, drawn: sky, buildings, road, a red bus with windows, doors and wheels."""
    width, height = size
    image = Image.new("RGB", size, (150, 190, 235))
    draw = ImageDraw.Draw(image)
    for index, x in enumerate(range(0, width, 130)):
        shade = 120 + 25 * (index % 3)
        draw.rectangle((x, 120 - 30 * (index % 2), x + 120, 380), fill=(shade, shade - 10, shade - 20))
        for wy in range(140, 360, 40):
            for wx in range(x + 15, x + 110, 35):
                draw.rectangle((wx, wy, wx + 18, wy + 22), fill=(220, 220, 160))
    draw.rectangle((0, 380, width, height), fill=(70, 70, 75))
    draw.line((0, 500, width, 500), fill=(230, 230, 230), width=6)
    body = (90, 250, 710, 470)
    draw.rounded_rectangle(body, radius=24, fill=(200, 30, 35))
    for wx in range(120, 600, 80):
        draw.rectangle((wx, 280, wx + 62, 350), fill=(170, 210, 230))
    draw.rectangle((610, 280, 690, 440), fill=(60, 60, 70))
    draw.rectangle((100, 380, 700, 392), fill=(240, 200, 40))
    for cx in (210, 590):
        draw.ellipse((cx - 45, 425, cx + 45, 515), fill=(25, 25, 25))
        draw.ellipse((cx - 20, 450, cx + 20, 490), fill=(150, 150, 150))
    draw.text((130, 255), "42  CITY CENTRE", fill=(255, 230, 120), font=ImageFont.load_default(size=20))
    return image


_SYNTHETIC: dict[str, Callable[[], Image.Image]] = {
    "text_screenshot": text_screenshot,
    "drawn_bus": drawn_bus,
}


def real_photos(*, seed: int = 0) -> list[NonFoodPicture]:
    """Every real-photo source whole and as `CROPS_PER_SOURCE` seeded crops."""
    rng = np.random.default_rng(seed)
    out = []
    for source in REAL_SOURCES:
        photo = _skimage(source)
        out.append(NonFoodPicture(f"{source}-whole", source, True, photo))
        for index, crop in enumerate(_crops(photo, rng, CROPS_PER_SOURCE)):
            out.append(NonFoodPicture(f"{source}-crop{index}", source, True, crop))
    return out


def synthetic_pictures() -> list[NonFoodPicture]:
    """Drawings and renders: skimage's synthetic samples, a text screenshot and a drawn bus (whole only)."""
    out = []
    for source in SYNTHETIC_SOURCES:
        image = _SYNTHETIC[source]() if source in _SYNTHETIC else _skimage(source)
        out.append(NonFoodPicture(f"{source}-whole", source, False, image))
    return out
