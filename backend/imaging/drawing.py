"""Drawing boxes: dataset images with their labelled boxes (gallery) and detections (Detect page).

Dataset boxes are YOLO-normalised (centre x, centre y, width, height, 0..1) against the upright image, which is what
`backend.imaging.loading.load_image` returns, so drawing on its result lines up with what people see. Detections are
pixel boxes. Colours come from `backend.core.vocab.color_for`, one colour per class on every page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont

from backend.core.errors import BadInputError
from backend.core.vocab import color_for
from backend.imaging.loading import load_image

# Dataset images may be bigger than a Detect upload; the pixel limit from the settings still applies.
MAX_IMAGE_BYTES = 256 * 1024 * 1024


class NormalisedBox(Protocol):
    """Anything with a class name and YOLO-normalised centre/size (e.g. `backend.data.datasets.Box`)."""

    name: str
    cx: float
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class PixelBox:
    """A box in pixels of the full-size image: corners (x1, y1) top-left and (x2, y2) bottom-right."""

    name: str
    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1


def to_pixels(boxes: Iterable[NormalisedBox], width: int, height: int) -> list[PixelBox]:
    """Convert normalised boxes to pixel corners of a `width` x `height` image (rounded to whole pixels)."""
    out = []
    for b in boxes:
        out.append(
            PixelBox(
                name=b.name,
                x1=round((b.cx - b.w / 2) * width),
                y1=round((b.cy - b.h / 2) * height),
                x2=round((b.cx + b.w / 2) * width),
                y2=round((b.cy + b.h / 2) * height),
            )
        )
    return out


def draw_boxes(
    image_path: str | Path,
    boxes: Iterable[NormalisedBox],
    *,
    max_side: int = 320,
    labels: bool = True,
) -> Image.Image:
    """Load an image safely, shrink it to fit `max_side` and draw its boxes in class colours with small labels.

    Args:
        image_path: The image file.
        boxes: Normalised boxes to draw (class name, cx, cy, w, h).
        max_side: Longest side of the returned picture in pixels (never enlarged).
        labels: Draw the class name on a filled tag above each box.

    Returns:
        A new RGB image, at most `max_side` pixels on its longest side.

    Raises:
        BadInputError: The file is missing, too large, corrupt or not an image.
    """
    loaded = load_image(Path(image_path), max_bytes=MAX_IMAGE_BYTES)
    canvas = loaded.image
    canvas.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    w, h = canvas.size
    # Thumbnails are shown smaller than drawn, so lines and labels scale with the picture, not the screen.
    line = max(2, round(max(w, h) / 150))
    font = label_font(max(10, min(28, round(max(w, h) / 20))))
    draw = ImageDraw.Draw(canvas)
    pixel_boxes = to_pixels(boxes, w, h)
    for box in pixel_boxes:
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=hex_to_rgb(color_for(box.name)), width=line)
    if labels:  # tags after all outlines, so no outline crosses a label
        for box in pixel_boxes:
            color = hex_to_rgb(color_for(box.name))
            left, top, right, bottom = draw.textbbox((0, 0), box.name, font=font)
            text_w, text_h = right - left, bottom - top
            pad = max(1, line)
            tag_w, tag_h = text_w + 2 * pad, text_h + 2 * pad
            # Above the box when there is room, else just inside its top edge; never past the right border.
            tag_top = box.y1 - tag_h if box.y1 - tag_h >= 0 else max(0, box.y1)
            tag_left = min(max(0, box.x1), max(0, w - tag_w))
            draw.rectangle((tag_left, tag_top, tag_left + tag_w, tag_top + tag_h), fill=color)
            draw.text((tag_left + pad - left, tag_top + pad - top), box.name, fill=text_color(color), font=font)
    return canvas


def image_size(image_path: str | Path) -> tuple[int, int]:
    """Upright (width, height) of an image from its header, EXIF orientation applied; nothing is decoded.

    Raises:
        BadInputError: The file is missing or not an image.
    """
    try:
        with Image.open(Path(image_path)) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInputError(f"{Path(image_path).name} cannot be read as an image ({exc}).") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def letterbox(image: Image.Image, width: int, height: int, color: str = "#f4efe6") -> Image.Image:
    """Centre `image` (shrunk to fit, never enlarged) on a `width` x `height` canvas, so gallery tiles line up."""
    fitted = image.copy()
    fitted.thumbnail((width, height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height), hex_to_rgb(color))
    canvas.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    return canvas


class LabelledBox(Protocol):
    """What `draw_detections` needs of a detection: a class name, a confidence and a pixel box."""

    @property
    def class_name(self) -> str: ...

    @property
    def confidence(self) -> float: ...

    @property
    def box(self) -> tuple[float, float, float, float]: ...


def draw_detections(
    image: Image.Image,
    detections: Iterable[LabelledBox],
    *,
    line_width: int | None = None,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Draw boxes and "name 0.87" labels (or the `labels` given) on a copy of the image.

    Each class has its colour (`backend.core.vocab.color_for`); labels sit on a filled tag in that colour with black or
    white text, whichever contrasts more, so they stay readable on any background.

    Args:
        image: The image the boxes refer to (upright, as detected).
        detections: Objects to draw.
        line_width: Box line width in pixels; default scales with the image size.
        labels: One tag text per detection (e.g. "tomato: very likely" for end users); default name and score.

    Returns:
        A new RGB image; the input is not changed.
    """
    canvas = image.convert("RGB") if image.mode != "RGB" else image.copy()
    width = line_width or max(2, round((canvas.width + canvas.height) / 2 * 0.003))
    # Labels scale with the picture (about 1/28 of its longest side): shown at page width, they read at about the
    # same size whatever the photo's resolution.
    font = label_font(max(12, round(max(canvas.width, canvas.height) / 28)))
    draw = ImageDraw.Draw(canvas)
    for index, det in enumerate(detections):
        color = hex_to_rgb(color_for(det.class_name))
        x1, y1, x2, y2 = det.box
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        label = labels[index] if labels is not None else f"{det.class_name} {det.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left, bottom - top
        pad = max(2, width)
        tag_h = text_h + 2 * pad
        # Above the box when there is room, else just inside its top edge.
        tag_top = y1 - tag_h if y1 - tag_h >= 0 else y1
        tag_left = min(max(0.0, x1), max(0.0, canvas.width - text_w - 2 * pad))
        draw.rectangle((tag_left, tag_top, tag_left + text_w + 2 * pad, tag_top + tag_h), fill=color)
        draw.text((tag_left + pad - left, tag_top + pad - top), label, fill=text_color(color), font=font)
    return canvas


@lru_cache(maxsize=16)
def label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` (no file or download needed)."""
    return ImageFont.load_default(size=size)


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' → (r, g, b)."""
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast against the background."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in background)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast with black is (L+0.05)/0.05, with white 1.05/(L+0.05); they are equal at L ≈ 0.179.
    return (0, 0, 0) if luminance > 0.179 else (255, 255, 255)
