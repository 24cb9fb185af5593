"""Per-image measurements: decode an image once and record what the image checks need.

`measure_bytes` decodes a file once (so a truncated or damaged file fails) and measures its size, grey-level
spread and percentiles, perceptual hash, sharpness, colour and information content, all from that one decode. A
JPEG is decoded at the smallest DCT scale (1/2, 1/4 or 1/8) that keeps its longest side at least
`SHARPNESS_MAX_SIDE` px: libjpeg still reads every entropy-coded byte, but skips most of the IDCT work, so measuring
costs less than a plain full decode. The measurements depend only on
the file's bytes, so the cache (`cache.py`) keys them by SHA-256; the checks compare them with thresholds later.
`probe_image` is the cheaper variant `prepare` uses to drop files that do not decode.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

# Bump when a measurement changes meaning or a new one is added: old cache rows are then ignored.
MEASUREMENTS_VERSION = 5

# Longest side of the grey copy sharpness is measured on, so the same scene at 4000 or 1000 pixels gets about the
# same figure; smaller than monitoring's 512 so the slight softness of many good photos does not count as blur.
SHARPNESS_MAX_SIDE = 256
# Longest side of the small colour copy the colour spread is measured on.
COLOUR_MAX_SIDE = 64
# Coarsest DCT scale libjpeg offers for a reduced decode.
_MAX_JPEG_SCALE = 8

# Errors Pillow raises on damaged or hostile files (plugins differ in what they raise).
_PLUGIN_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, ZeroDivisionError)
DECODE_ERRORS: tuple[type[BaseException], ...] = (*_PLUGIN_ERRORS, struct.error, Image.DecompressionBombError)

_EXIF_ORIENTATION = 0x0112
_GREY_MODES = frozenset({"1", "L", "LA", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"})


@dataclass(frozen=True)
class Measurements:
    """What one decode of an image file tells the checks.

    Attributes:
        format: Pillow's name for the real format ("JPEG", "PNG", ...), None when not recognised.
        width: Width as shown (EXIF orientation applied), None when unknown.
        height: Height as shown, None when unknown.
        error: Why the file does not decode, None when it does.
        too_large: More pixels than the limit, so it was not decoded (the measurements below are None).
        std: Standard deviation of the grey levels (0-255). This and the grey percentiles, hash and entropy are
            measured on the decoded copy: full size, or for a JPEG the reduced decode described above.
        phash: 64-bit perceptual hash as 16 hex digits.
        grey_p5: 5th percentile of the grey levels (0-255): the level the darkest 5 % of pixels are under.
        grey_p95: 95th percentile of the grey levels (0-255): the level the brightest 5 % of pixels are over.
        sharpness: Variance of the Laplacian of the grey levels on a copy at most `SHARPNESS_MAX_SIDE` px long,
            its levels stretched so the 1st to 99th percentiles span 0-255 (a dim or hazy photo is not "blurry").
        colour: 99th percentile over pixels of (largest - smallest RGB channel), 0 for a grey picture (0-255).
        entropy: Shannon entropy of the grey-level histogram in bits (0-8).
    """

    format: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    too_large: bool = False
    std: float | None = None
    phash: str | None = None
    grey_p5: float | None = None
    grey_p95: float | None = None
    sharpness: float | None = None
    colour: float | None = None
    entropy: float | None = None


def _dct_matrix(size: int = 32, keep: int = 8) -> np.ndarray:
    """Rows of the (unnormalised, scipy type-II) DCT matrix, as imagehash.phash uses it."""
    n = np.arange(size)
    k = np.arange(keep)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT8 = _dct_matrix()


def phash_of(gray: Image.Image) -> int:
    """64-bit perceptual hash of a greyscale image, the `imagehash.phash` algorithm (hash_size 8).

    Args:
        gray: A mode "L" image.

    Returns:
        The hash as an unsigned 64-bit int (bit 63 = first DCT coefficient).
    """
    # reducing_gap: a box pre-reduction first; 6x faster on photos, a bit or two from imagehash at most.
    small = gray.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(small, dtype=np.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _grey(im: Image.Image) -> Image.Image:
    """A mode "L" view of any image (16-bit and float images scaled to 0-255)."""
    if im.mode == "L":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8))
    return im.convert("L")


@dataclass(frozen=True)
class GreyStatistics:
    """What a grey-level histogram tells: spread, 5th and 95th percentiles, entropy in bits."""

    std: float
    p5: float
    p95: float
    entropy: float


def grey_statistics(gray: Image.Image) -> GreyStatistics:
    """Standard deviation, 5th and 95th percentiles and entropy of a mode "L" image's grey levels (its histogram)."""
    hist = np.asarray(gray.histogram()[:256], dtype=np.float64)
    total = hist.sum()
    if total <= 0:
        return GreyStatistics(0.0, 0.0, 0.0, 0.0)
    levels = np.arange(256, dtype=np.float64)
    mean = float((hist * levels).sum() / total)
    var = float((hist * levels * levels).sum() / total) - mean * mean
    cumulative = np.cumsum(hist) / total
    p5, p95 = (float(np.searchsorted(cumulative, q)) for q in (0.05, 0.95))
    share = hist[hist > 0] / total
    entropy = max(float(-(share * np.log2(share)).sum()), 0.0)
    return GreyStatistics(math.sqrt(max(var, 0.0)), p5, p95, entropy)


def _percentiles_u8(values: np.ndarray, quantiles: tuple[float, ...]) -> list[int]:
    """Lower percentiles of uint8 values from their histogram (no sort): the least level with that share at or under."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return [int(np.searchsorted(cumulative, q * cumulative[-1])) for q in quantiles]


def sharpness_of(gray: Image.Image, *, source_side: int | None = None) -> float:
    """Edge strength: variance of the 4-neighbour Laplacian on a contrast-stretched copy (near 0 is blurry).

    The copy is box-reduced to at most `SHARPNESS_MAX_SIDE` px long and its 1st to 99th grey percentiles are
    stretched to 0-255, so the figure measures blur, not exposure or contrast.

    Args:
        gray: A mode "L" image: the picture, or a reduced decode of it.
        source_side: The longest side of the picture at full size when `gray` is a reduced decode, so the copy
            gets the size a box reduction of the full picture would give; None when `gray` is full size.
    """
    full_side = source_side or max(gray.size)
    factor = math.ceil(full_side / SHARPNESS_MAX_SIDE)
    if full_side == max(gray.size):
        if factor > 1:
            gray = gray.reduce(factor)
    else:
        target = math.ceil(full_side / factor)
        if max(gray.size) > target:
            ratio = target / max(gray.size)
            size = (max(1, round(gray.width * ratio)), max(1, round(gray.height * ratio)))
            gray = gray.resize(size, Image.Resampling.BOX)
    levels = np.asarray(gray, dtype=np.uint8)
    if levels.shape[0] < 3 or levels.shape[1] < 3:
        return 0.0
    low, high = _percentiles_u8(levels, (0.01, 0.99))
    pixels = levels.astype(np.float32) * (255.0 / max(high - low, 1))
    lap = pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:] - 4.0 * pixels[1:-1, 1:-1]
    return float(lap.var())


def colour_spread(im: Image.Image) -> float:
    """99th percentile over pixels of (largest - smallest RGB channel) on a small copy; 0 for a grey picture."""
    if im.mode in _GREY_MODES:
        return 0.0
    factor = max(im.size) // COLOUR_MAX_SIDE
    small = im.reduce(factor) if factor > 1 and im.mode in ("RGB", "RGBA", "CMYK", "YCbCr") else im
    rgb = np.asarray(small.convert("RGB"), dtype=np.uint8)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # channel by channel: numpy's max/min over a last axis of 3 is several times slower
    spread = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    return float(_percentiles_u8(spread, (0.99,))[0])


def _draft_reduced(im: Image.Image) -> None:
    """Ask libjpeg for the smallest DCT scale that keeps the longest side at least `SHARPNESS_MAX_SIDE` px."""
    long_side, short_side = max(im.size), min(im.size)
    scale = 1
    while scale < _MAX_JPEG_SCALE and long_side // (scale * 2) >= SHARPNESS_MAX_SIDE and short_side // (scale * 2) >= 1:
        scale *= 2
    if scale > 1:
        # Pillow picks the largest scale with size[i] * scale <= the picture's size[i]: floor keeps it at `scale`
        im.draft(None, (im.width // scale, im.height // scale))


def decode_error_text(exc: BaseException) -> str:
    """A short, stable description of why an image did not decode (no file paths or object addresses)."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image format"
    if isinstance(exc, Image.DecompressionBombError):
        return "too many pixels (decompression bomb guard)"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def display_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as shown: swapped when the EXIF orientation turns the picture by 90 degrees.

    Ultralytics (and every viewer) applies the EXIF orientation, so labels are relative to this size.
    """
    width, height = im.size
    if im.format in ("JPEG", "MPO", "TIFF", "WEBP", "PNG"):
        try:
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
        except DECODE_ERRORS:
            orientation = 1
        if orientation in (5, 6, 7, 8):
            return height, width
    return width, height


def measure_bytes(data: bytes, *, max_pixels: int) -> Measurements:
    """Decode an image fully and measure it.

    Args:
        data: The file's bytes.
        max_pixels: Images with more pixels are not decoded (decompression-bomb guard).

    Returns:
        The measurements; `error` is None when the image decodes, and the pixel measurements are None when it
        does not or when it is over `max_pixels`.
    """
    fmt: str | None = None
    width = height = None
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, whatever another library set
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            width, height = display_size(im)
            if im.width * im.height > max_pixels:
                return Measurements(format=fmt, width=width, height=height, too_large=True)
            full_side = max(im.size)
            if im.format in ("JPEG", "MPO"):
                # Reduced decode: every entropy-coded byte is still read (truncation is caught), most IDCT work
                # is skipped; everything below is measured on this one decoded copy.
                _draft_reduced(im)
            im.load()
            gray = _grey(im)
            grey = grey_statistics(gray)
            colour = colour_spread(im)
            return Measurements(
                format=fmt,
                width=width,
                height=height,
                std=round(grey.std, 3),
                phash=f"{phash_of(gray):016x}",
                grey_p5=grey.p5,
                grey_p95=grey.p95,
                sharpness=round(sharpness_of(gray, source_side=full_side), 3),
                colour=round(colour, 3),
                entropy=round(grey.entropy, 4),
            )
    except DECODE_ERRORS as exc:
        return Measurements(format=fmt, width=width, height=height, error=decode_error_text(exc))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def measure_file(task: tuple[str, int]) -> Measurements:
    """Read one file and measure it (a process-pool entry: takes (path, max_pixels))."""
    path, max_pixels = task
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Measurements(error=f"cannot read the file: {exc.strerror or exc}")
    return measure_bytes(data, max_pixels=max_pixels)


def hash_file(path: Path | str) -> tuple[str, int]:
    """(SHA-256 hex digest, size in bytes) of a file, or ("", 0) when it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        return "", 0
    return digest.hexdigest(), size


@dataclass(frozen=True)
class ImageProbe:
    """Cheap facts about an image file: header size and whether it decodes."""

    format: str | None
    width: int | None
    height: int | None
    error: str | None


def probe_image(path: Path, *, max_pixels: int) -> ImageProbe:
    """Read an image's real size and check that it decodes, cheaply.

    JPEGs are decoded at thumbnail scale (`draft`), which still walks the whole entropy-coded stream, so a
    truncated file fails; other formats are decoded fully. Images over `max_pixels` are not decoded (validation
    reports them as too_large).

    Args:
        path: The image file.
        max_pixels: Decompression-bomb guard.

    Returns:
        An ImageProbe; `error` is None when the image decodes.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    fmt = width = height = None
    try:
        with Image.open(path) as im:
            fmt, (width, height) = im.format, display_size(im)
            if width * height > max_pixels:
                return ImageProbe(fmt, width, height, None)
            if im.format in ("JPEG", "MPO"):
                im.draft("RGB", (64, 64))
            im.load()
    except DECODE_ERRORS as exc:
        return ImageProbe(fmt, width, height, decode_error_text(exc))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return ImageProbe(fmt, width, height, None)


def _probe_task(task: tuple[str, int]) -> ImageProbe:
    """Process-pool entry for `probe_image`."""
    return probe_image(Path(task[0]), max_pixels=task[1])


def probe_images(paths: list[Path], *, max_pixels: int, workers: int | None = None) -> Iterator[ImageProbe]:
    """`probe_image` over many files, in parallel when there are enough of them (results in input order)."""
    tasks = [(str(p), max_pixels) for p in paths]
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tasks) < 48:
        yield from map(_probe_task, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_probe_task, tasks, chunksize=max(1, min(64, len(tasks) // (workers * 8))))
