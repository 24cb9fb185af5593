"""Builders for ordinary and odd image files, as bytes, for tests of loading, features and detection."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    """Encode a Pillow image into file bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def solid_jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 50, 50)) -> bytes:
    """A plain RGB JPEG."""
    return encode(Image.new("RGB", size, color), "JPEG", quality=95)


def noise_image(size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
    """An RGB image of random pixels (deterministic by seed)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def noise_png(size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    """A PNG of random pixels (large enough that cutting it leaves a truncated stream)."""
    return encode(noise_image(size, seed), "PNG")


def cmyk_jpeg(size: tuple[int, int] = (40, 30), cmyk: tuple[int, int, int, int] = (0, 255, 255, 0)) -> bytes:
    """A CMYK JPEG (default pure red ink: no cyan, full magenta and yellow)."""
    return encode(Image.new("CMYK", size, cmyk), "JPEG", quality=95)


def gray16_png(size: tuple[int, int] = (64, 32)) -> bytes:
    """A 16-bit greyscale PNG with a left-to-right ramp 0..65535 (a clipping convert turns it almost all white)."""
    ramp = np.linspace(0, 65535, size[0]).astype(np.uint16)
    values = np.tile(ramp, (size[1], 1))
    return encode(Image.fromarray(values), "PNG")


def rgba_png(size: tuple[int, int] = (40, 40)) -> bytes:
    """An RGBA PNG: left half opaque blue, right half fully transparent (colour under it black)."""
    pixels = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    pixels[:, : size[0] // 2] = (0, 0, 255, 255)
    pixels[:, size[0] // 2 :] = (0, 0, 0, 0)
    return encode(Image.fromarray(pixels), "PNG")


def la_png(size: tuple[int, int] = (20, 20)) -> bytes:
    """A greyscale+alpha PNG, fully transparent black."""
    return encode(Image.new("LA", size, (0, 0)), "PNG")


def palette_png(size: tuple[int, int] = (30, 30), *, transparent: bool = False) -> bytes:
    """A palette PNG: index 0 green, index 1 red; top half index 0, bottom half index 1.

    With `transparent`, index 0 is marked transparent (tRNS) so the top half should come back white.
    """
    image = Image.new("P", size, 0)
    image.putpalette([0, 255, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (0, size[1] // 2, size[0], size[1]))
    params: dict[str, object] = {"transparency": 0} if transparent else {}
    return encode(image, "PNG", **params)


def grayscale_jpeg(size: tuple[int, int] = (30, 20), value: int = 128) -> bytes:
    """A one-channel (L) JPEG."""
    return encode(Image.new("L", size, value), "JPEG", quality=95)


def exif_rotated_jpeg(
    size: tuple[int, int] = (120, 60),
    *,
    orientation: int = 6,
    patch: tuple[int, int, int, int] = (0, 0, 30, 20),
    patch_color: tuple[int, int, int] = (255, 0, 0),
) -> bytes:
    """A landscape JPEG stored sideways: a coloured patch in the *stored* pixels and an EXIF Orientation tag.

    With orientation 6 (camera turned clockwise) a viewer rotates it 90° clockwise, so a stored (W×H) image shows
    as H×W and the stored top-left patch shows at the top-right.
    """
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(patch_color, patch)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first part of a file, as if a download or upload was cut off."""
    return data[: max(1, int(len(data) * keep))]


def corrupt(data: bytes, start: int = 64, length: int = 64) -> bytes:
    """The file with a run of bytes in its body overwritten with junk (header kept)."""
    junk = bytes((i * 37 + 11) % 256 for i in range(length))
    return data[:start] + junk + data[start + length :]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny valid-looking PNG whose header claims `width`×`height` RGB pixels (a decompression bomb header).

    The IDAT holds only a few compressed rows, so decoding would fail late, after allocating the full canvas.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def gif_bytes(size: tuple[int, int] = (10, 10)) -> bytes:
    """A GIF (a real picture, but not an accepted format)."""
    return encode(Image.new("P", size, 0), "GIF")


def non_image_bytes() -> bytes:
    """Bytes that are no picture at all."""
    return b"name,calories\napple,52\nbanana,89\n" * 4


def webp_bytes(size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = (10, 120, 30)) -> bytes:
    """A lossless WebP."""
    return encode(Image.new("RGB", size, color), "WEBP", lossless=True)


def bmp_bytes(size: tuple[int, int] = (16, 12), color: tuple[int, int, int] = (1, 2, 3)) -> bytes:
    """A BMP."""
    return encode(Image.new("RGB", size, color), "BMP")
