"""Safe image loading: accepted formats, every refusal, and normalisation of odd images."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from backend.core.errors import BadInputError
from backend.core.settings import get_settings
from backend.core.vocab import color_for
from backend.imaging.drawing import draw_detections
from backend.imaging.loading import LoadedImage, load_image
from backend.serving.inference import Detection
from tests.utils import images as build


@pytest.fixture(name="upload_limits")
def fixture_upload_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings with the documented default limits (25 MB, 40 megapixels)."""
    monkeypatch.setenv("PLATEOPS_UPLOAD_MAX_MB", "25")
    monkeypatch.setenv("PLATEOPS_MAX_IMAGE_PIXELS", "40000000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("data", "fmt", "size", "color"),
    [
        (build.solid_jpeg((64, 48), (200, 50, 50)), "JPEG", (64, 48), (200, 50, 50)),
        (build.encode(Image.new("RGB", (20, 10), (1, 200, 3)), "PNG"), "PNG", (20, 10), (1, 200, 3)),
        (build.webp_bytes((32, 24), (10, 120, 30)), "WEBP", (32, 24), (10, 120, 30)),
        (build.bmp_bytes((16, 12), (1, 2, 3)), "BMP", (16, 12), (1, 2, 3)),
    ],
)
def test_accepted_formats_load_as_rgb(data: bytes, fmt: str, size: tuple[int, int], color: tuple[int, ...]) -> None:
    loaded = load_image(data, name="x")
    assert isinstance(loaded, LoadedImage)
    assert loaded.image.mode == "RGB"
    assert (loaded.width, loaded.height) == size == loaded.image.size
    assert loaded.format == fmt
    assert loaded.file_size == len(data)
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()
    assert not loaded.exif_rotated
    assert not loaded.notes
    assert _close(loaded.image.getpixel((size[0] // 2, size[1] // 2)), color)


def test_loads_from_path_and_names_it_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "plate.png"
    good.write_bytes(build.noise_png())
    assert load_image(good).file_size == good.stat().st_size
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(build.non_image_bytes())
    with pytest.raises(BadInputError, match=r"^notes\.jpg is not a picture"):
        load_image(bad)
    with pytest.raises(BadInputError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_empty_file_is_refused() -> None:
    with pytest.raises(BadInputError, match=r"empty \(0 bytes\)"):
        load_image(b"", name="blank.jpg")


def test_non_image_names_the_accepted_formats() -> None:
    with pytest.raises(BadInputError) as info:
        load_image(build.non_image_bytes(), name="food.csv")
    assert "JPEG, PNG, WebP or BMP" in str(info.value)


def test_other_image_formats_are_named() -> None:
    with pytest.raises(BadInputError, match="is a GIF image; only JPEG, PNG, WebP or BMP"):
        load_image(build.gif_bytes(), name="anim.gif")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(fmt: str) -> None:
    data = build.encode(build.noise_image((200, 200)), fmt)
    with pytest.raises(BadInputError, match="corrupt or truncated"):
        load_image(build.truncated(data, 0.6), name="cut")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_corrupt_files_are_refused(fmt: str) -> None:
    data = build.encode(build.noise_image((200, 200)), fmt)
    with pytest.raises(BadInputError, match=r"corrupt or truncated|damaged"):
        load_image(build.corrupt(data, start=len(data) // 3, length=300), name="junk")


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    data = build.bomb_png(100_000, 100_000)
    assert len(data) < 200
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(BadInputError, match=r"decompression bomb|megapixels"):
        load_image(data, name="bomb.png")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5_000_000  # a decoded 100000×100000 RGB canvas would be 30 GB


def test_bomb_refused_even_without_pillows_global_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(BadInputError, match=r"100000×100000 pixels .*the limit is 40\.0 megapixels"):
        load_image(build.bomb_png(100_000, 100_000), name="bomb.png", max_pixels=40_000_000)


@pytest.mark.usefixtures("upload_limits")
def test_pixel_limit_uses_settings_and_argument() -> None:
    with pytest.raises(BadInputError, match=r"8000×6000 pixels \(48\.0 megapixels\); the limit is 40\.0"):
        load_image(build.bomb_png(8000, 6000), name="big.png")
    with pytest.raises(BadInputError, match="megapixels"):
        load_image(build.solid_jpeg((64, 48)), max_pixels=64 * 48 - 1)
    assert load_image(build.solid_jpeg((64, 48)), max_pixels=64 * 48).width == 64


@pytest.mark.usefixtures("upload_limits")
def test_over_max_bytes_is_refused_with_sizes(tmp_path: Path) -> None:
    big = tmp_path / "huge.jpg"
    with big.open("wb") as fh:  # sparse: refused from its size, never read
        fh.truncate(31 * 1024 * 1024)
    with pytest.raises(BadInputError, match="the file is 31 MB; the limit is 25 MB"):
        load_image(big)
    with pytest.raises(BadInputError, match=r"the file is 2 MB; the limit is 1 MB"):
        load_image(b"\xff\xd8\xff" + bytes(2 * 1024 * 1024 - 3), name="x.jpg", max_bytes=1024 * 1024)


def test_cmyk_becomes_rgb() -> None:
    loaded = load_image(build.cmyk_jpeg(cmyk=(0, 255, 255, 0)))
    assert loaded.image.mode == "RGB"
    assert _close(loaded.image.getpixel((5, 5)), (255, 0, 0), tol=10)
    assert "converted from CMYK" in loaded.notes


def test_16bit_grey_is_scaled_not_clipped() -> None:
    loaded = load_image(build.gray16_png((64, 32)))
    image = loaded.image
    assert image.mode == "RGB"
    assert image.getpixel((0, 5)) == (0, 0, 0)
    assert image.getpixel((63, 5)) == (255, 255, 255)
    middle = image.getpixel((32, 5))[0]
    assert 110 <= middle <= 145  # a clipping convert would make it 255
    assert any("16-bit" in note for note in loaded.notes)


def test_alpha_is_composited_on_white() -> None:
    loaded = load_image(build.rgba_png((40, 40)))
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((5, 20)) == (0, 0, 255)
    assert loaded.image.getpixel((35, 20)) == (255, 255, 255)  # transparent black shows as white
    assert any("white" in note for note in loaded.notes)
    assert load_image(build.la_png()).image.getpixel((3, 3)) == (255, 255, 255)


def test_palette_and_palette_transparency() -> None:
    plain = load_image(build.palette_png((30, 30)))
    assert plain.image.mode == "RGB"
    assert plain.image.getpixel((15, 5)) == (0, 255, 0)
    assert plain.image.getpixel((15, 25)) == (255, 0, 0)
    clear = load_image(build.palette_png((30, 30), transparent=True))
    assert clear.image.getpixel((15, 5)) == (255, 255, 255)
    assert clear.image.getpixel((15, 25)) == (255, 0, 0)


def test_grayscale_becomes_rgb() -> None:
    loaded = load_image(build.grayscale_jpeg(value=128))
    r, g, b = loaded.image.getpixel((3, 3))
    assert r == g == b and abs(r - 128) <= 2
    assert "converted from greyscale" in loaded.notes


def test_exif_orientation_6_loads_portrait_with_patch_where_a_viewer_shows_it() -> None:
    # Stored 120×60 with a red patch at stored (0..30, 0..20); orientation 6 = rotate 90° clockwise to view.
    loaded = load_image(build.exif_rotated_jpeg((120, 60), orientation=6, patch=(0, 0, 30, 20)))
    assert loaded.exif_rotated
    assert (loaded.width, loaded.height) == (60, 120)
    image = loaded.image
    # Stored (x, y) shows at (H-1-y, x): the patch spans x 40..59, y 0..29 once upright.
    assert _close(image.getpixel((50, 15)), (255, 0, 0), tol=30)
    assert _close(image.getpixel((10, 15)), (255, 255, 255), tol=30)
    assert _close(image.getpixel((50, 60)), (255, 255, 255), tol=30)

    # A box drawn in upright coordinates lands on the patch.
    detection = Detection(class_name="apple", class_id=0, confidence=0.9, box=(41.0, 1.0, 58.0, 28.0))
    drawn = draw_detections(image, [detection], line_width=2)
    outline = tuple(int(color_for("apple")[i : i + 2], 16) for i in (1, 3, 5))
    assert drawn.getpixel((41, 14)) == outline
    assert drawn.getpixel((57, 14)) == outline
    assert _close(drawn.getpixel((50, 18)), (255, 0, 0), tol=30)  # interior still shows the patch


@pytest.mark.parametrize(("orientation", "size"), [(3, (120, 60)), (8, (60, 120)), (1, (120, 60))])
def test_other_orientations(orientation: int, size: tuple[int, int]) -> None:
    loaded = load_image(build.exif_rotated_jpeg((120, 60), orientation=orientation))
    assert loaded.image.size == size
    assert loaded.exif_rotated is (orientation != 1)
    if orientation == 3:  # 180°: stored top-left patch shows at the bottom-right
        assert _close(loaded.image.getpixel((110, 50)), (255, 0, 0), tol=30)
