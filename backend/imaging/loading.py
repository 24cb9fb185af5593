"""Safe image loading for uploads, datasets and the detector.

`load_image` turns bytes or a file into an upright 8-bit RGB picture, or refuses it with a plain-language
`BadInputError`. It guards against the usual ways an image file hurts a server:

- huge files (checked against `max_bytes` before reading a path);
- decompression bombs: the pixel count comes from the header (`Image.open` without `load`) and is compared
  with `max_pixels` *before* anything is decoded; Pillow's own global `Image.MAX_IMAGE_PIXELS` check is kept
  as a second line, and its `DecompressionBombError` / `DecompressionBombWarning` become the same refusal;
- corrupt or truncated files: the picture is fully decoded here, and `ImageFile.LOAD_TRUNCATED_IMAGES` is never
  switched on, so a cut-off file fails instead of coming back half grey;
- formats outside JPEG, PNG, WebP and BMP: only those decoders are tried.

It normalises the odd ones: CMYK, 16-bit and 32-bit grey, palette, grey, transparency (composited on white),
and EXIF orientation (applied, so boxes drawn on the result line up with what people see). Each conversion is
recorded in `LoadedImage.notes`. Nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image, ImageFile, ImageOps

from backend.core.errors import BadInputError
from backend.core.settings import get_settings

# Pillow format names we decode, and how we name them to people.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP")
ACCEPTED_FORMATS_TEXT = "JPEG, PNG, WebP or BMP"

_EXIF_ORIENTATION = 0x0112
_WHITE = (255, 255, 255)

# Magic numbers of formats people often try, so a refusal can say what the file is.
_KNOWN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"8BPS", "a Photoshop file"),
    (b"\x00\x00\x01\x00", "an icon file"),
)


@dataclass
class LoadedImage:
    """An image ready for features, drawing and detection.

    Attributes:
        image: The picture as 8-bit RGB, upright (EXIF orientation applied).
        width: Width of `image` in pixels (after orientation).
        height: Height of `image` in pixels (after orientation).
        format: Pillow's name of the file format: "JPEG", "PNG", "WEBP" or "BMP".
        file_size: Size of the file in bytes.
        sha256: Hex SHA-256 of the file bytes.
        exif_rotated: True when an EXIF orientation tag rotated or flipped the picture.
        notes: Plain-language conversions done, e.g. "converted from CMYK".
    """

    image: Image.Image
    width: int
    height: int
    format: str
    file_size: int
    sha256: str
    exif_rotated: bool = False
    notes: list[str] = field(default_factory=list)


def load_image(
    source: bytes | Path,
    *,
    name: str = "",
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> LoadedImage:
    """Load an image file or upload safely and normalise it to upright 8-bit RGB.

    Args:
        source: The file's bytes, or a path to read.
        name: Name to use in messages (default: the path's file name, or "The file").
        max_bytes: Largest file accepted; default `upload_max_mb` from the settings.
        max_pixels: Most pixels (width × height) accepted; default `max_image_pixels` from the settings.

    Returns:
        The loaded image with its size, format, hash and the conversions done.

    Raises:
        BadInputError: The file is missing, empty, too large, not an accepted format, corrupt or truncated, or
            has more pixels than allowed. The message says what is wrong and what to do.
    """
    settings = get_settings()
    if max_bytes is None:
        max_bytes = settings.upload_max_mb * 1024 * 1024
    if max_pixels is None:
        max_pixels = settings.max_image_pixels

    data, label = _read_source(source, name=name, max_bytes=max_bytes)
    image = _open_checked(data, label=label, max_pixels=max_pixels)
    file_format = image.format or ""
    image, exif_rotated, notes = _normalise(image, label=label)
    return LoadedImage(
        image=image,
        width=image.width,
        height=image.height,
        format=file_format,
        file_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        exif_rotated=exif_rotated,
        notes=notes,
    )


def _read_source(source: bytes | Path, *, name: str, max_bytes: int) -> tuple[bytes, str]:
    """Return the file bytes and the name for messages, refusing missing, empty and oversized files."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "The file"
    else:
        path = Path(source)
        label = name or path.name or str(path)
        if not path.is_file():
            raise BadInputError(f"{label} was not found (looked for {path}). Check the path and try again.")
        size = path.stat().st_size
        _check_size(size, label=label, max_bytes=max_bytes)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInputError(f"{label} could not be read ({exc.strerror or exc}). Check the file.") from exc
    _check_size(len(data), label=label, max_bytes=max_bytes)
    return data, label


def _check_size(size: int, *, label: str, max_bytes: int) -> None:
    """Refuse an empty file or one above `max_bytes`."""
    if size == 0:
        raise BadInputError(f"{label} is empty (0 bytes). Choose a JPEG, PNG, WebP or BMP picture.")
    if size > max_bytes:
        raise BadInputError(
            f"{label} is too large: the file is {_megabytes(size)} MB; the limit is {_megabytes(max_bytes)} MB. "
            "Resize or compress it and try again."
        )


def _megabytes(n_bytes: int) -> str:
    """Format a byte count as megabytes with at most one decimal ("31", "25.3")."""
    text = f"{n_bytes / (1024 * 1024):.1f}"
    return text.removesuffix(".0")


def _open_checked(data: bytes, *, label: str, max_pixels: int) -> Image.Image:
    """Open the header, refuse bombs and unknown formats, then decode everything."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone switched Pillow's global on; a truncated file would load half grey. Refuse to guess.
        raise BadInputError("Image loading is misconfigured (LOAD_TRUNCATED_IMAGES is on); contact the admin.")
    if not _has_accepted_signature(data):
        # Refused before Image.open: ultralytics replaces Image.open with a wrapper that, on an unidentified
        # file, tries to pip-install a HEIF plugin and then fails with ImportError.
        raise BadInputError(_unidentified_message(data, label))
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInputError(
            f"{label} claims far more pixels than the {max_pixels / 1e6:,.1f}-megapixel limit ({exc}). It looks "
            "like a decompression bomb and was not decoded. Resize the picture and try again."
        ) from exc
    except (Image.UnidentifiedImageError, ImportError) as exc:
        raise BadInputError(_unidentified_message(data, label)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadInputError(f"{label} is damaged and cannot be read ({exc}). Export it again and retry.") from exc

    width, height = image.size
    if width <= 0 or height <= 0:
        raise BadInputError(f"{label} has no pixels ({width}×{height}). Export it again and retry.")
    if width * height > max_pixels:
        raise BadInputError(
            f"{label} is {width}×{height} pixels ({width * height / 1e6:,.1f} megapixels); the limit is "
            f"{max_pixels / 1e6:,.1f} megapixels. Resize it and try again."
        )
    try:
        image.load()  # Force a full decode: truncation and corruption show up here, not later.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInputError(f"{label} expands to too many pixels ({exc}) and was not decoded.") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise BadInputError(
            f"{label} is corrupt or truncated ({exc}). Re-export or re-download the picture and try again."
        ) from exc
    return image


def _has_accepted_signature(data: bytes) -> bool:
    """True when the bytes start like a JPEG, PNG, WebP or BMP file."""
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def _unidentified_message(data: bytes, label: str) -> str:
    """Say what an unreadable file is, when its signature is a familiar one."""
    head = data[:16]
    what = next((kind for magic, kind in _KNOWN_SIGNATURES if head.startswith(magic)), "")
    if not what and head[4:8] == b"ftyp":
        what = "a HEIC/AVIF or video file"
    if not what and head.lstrip().lower().startswith((b"<svg", b"<?xml")):
        what = "an SVG/XML file"
    if what:
        return f"{label} is {what}; only {ACCEPTED_FORMATS_TEXT} pictures are accepted. Convert it and try again."
    return f"{label} is not a picture PlateOps can read (or it is damaged). Accepted formats: {ACCEPTED_FORMATS_TEXT}."


def _normalise(image: Image.Image, *, label: str) -> tuple[Image.Image, bool, list[str]]:
    """Apply EXIF orientation and convert any mode to 8-bit RGB, noting each change."""
    notes: list[str] = []
    exif_rotated = False
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError) as exc:
        orientation = 1
        notes.append(f"ignored unreadable EXIF data ({exc})")
    if orientation not in (1, None):
        try:
            image = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"ignored unreadable EXIF orientation ({exc})")
        else:
            exif_rotated = orientation in range(2, 9)
            if exif_rotated:
                notes.append(f"rotated upright from EXIF orientation {orientation}")

    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image, exif_rotated, notes
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _to_8bit(image)
        notes.append(f"scaled from {_bit_depth_text(mode)} to 8-bit")
        return image.convert("RGB"), exif_rotated, notes
    if mode == "CMYK":
        notes.append("converted from CMYK")
        return image.convert("RGB"), exif_rotated, notes
    if mode in ("RGBA", "LA", "RGBa", "La", "PA") or "transparency" in image.info:
        if mode == "P":
            notes.append("converted from a palette")
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        rgb = rgba.convert("RGB")
        lowest_alpha, _highest = cast("tuple[int, int]", alpha.getextrema())  # one band: (min, max)
        if lowest_alpha < 255:
            background = Image.new("RGB", rgba.size, _WHITE)
            background.paste(rgb, mask=alpha)
            rgb = background
            notes.append("transparent areas composited on white")
        else:
            notes.append("dropped an opaque alpha channel")
        return rgb, exif_rotated, notes
    if mode == "P":
        notes.append("converted from a palette")
    elif mode in ("L", "1"):
        notes.append("converted from greyscale")
    else:
        notes.append(f"converted from {mode}")
    try:
        return image.convert("RGB"), exif_rotated, notes
    except ValueError as exc:
        raise BadInputError(f"{label} uses a colour mode ({mode}) that cannot be shown as RGB.") from exc


def _bit_depth_text(mode: str) -> str:
    """Plain name of a high-bit-depth mode."""
    return {"I": "32-bit integer", "F": "32-bit float"}.get(mode, "16-bit")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit grey to 8-bit L, keeping tones (Pillow's own convert clips everything above 255 to white)."""
    values = np.asarray(image)
    if image.mode.startswith("I;16") or (
        image.mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535
    ):
        # A 16-bit range (PNG 16-bit grey opens as "I" in older Pillow): 65535 → 255.
        scaled = (values.astype(np.float32) / 257.0).round()
    else:
        low = float(values.min()) if values.size else 0.0
        span = (float(values.max()) - low) if values.size else 0.0
        scaled = (values.astype(np.float32) - low) * (255.0 / span) if span > 0 else np.zeros_like(values)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))
