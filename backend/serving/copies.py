"""Prediction pictures kept after the answer: a resized copy and a thumbnail per detection, written on one
background thread so the Detect page never waits for JPEG encoding.

Each file is encoded in memory and renamed into place, so a reader never sees half a picture; the prediction row
is stored before its pictures are scheduled, so no picture is ever written without a row pointing at it.
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from PIL import Image

from backend.core.clock import utcnow

logger = logging.getLogger(__name__)

STORED_MAX_SIDE = 1024
THUMB_MAX_SIDE = 256


def copy_paths(root: Path) -> tuple[Path, Path]:
    """Fresh absolute paths for the resized copy and the thumbnail under root/YYYY/MM/DD/ (folder created)."""
    folder = (root / utcnow().strftime("%Y/%m/%d")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stem = uuid.uuid4().hex
    return folder / f"{stem}.jpg", folder / f"{stem}_thumb.jpg"


def _save_copies(image: Image.Image, copy_path: Path, thumb_path: Path) -> None:
    """Write the resized copy and the thumbnail (each atomically)."""
    copy = _fit(image, STORED_MAX_SIDE)
    _write_jpeg(copy, copy_path, quality=88)
    _write_jpeg(_fit(copy, THUMB_MAX_SIDE), thumb_path, quality=80)


class _CopyWriter:
    """Encodes and writes prediction pictures on one background thread (PIL releases the GIL while encoding)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()

    def submit(self, image: Image.Image, copy_path: Path, thumb_path: Path) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plateops-copies")
            future = self._pool.submit(_save_copies, image, copy_path, thumb_path)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        if future.exception() is not None:  # the row stays; readers treat a missing picture as "not kept"
            logger.warning("Could not write a prediction picture: %s", future.exception())

    def wait(self, timeout: float | None) -> None:
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)


_COPIES = _CopyWriter()


def schedule_copies(image: Image.Image, copy_path: Path, thumb_path: Path) -> None:
    """Write the copies after the answer, on the background writer."""
    _COPIES.submit(image, copy_path, thumb_path)


def wait_for_copies(timeout: float | None = 30.0) -> None:
    """Block until every scheduled picture copy is written (tests, benchmarks, shutdown)."""
    _COPIES.wait(timeout)


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    """The image scaled down so its longest side is at most `max_side` (unchanged when already small)."""
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _write_jpeg(image: Image.Image, path: Path, *, quality: int) -> None:
    """Encode in memory, then write and rename, so a reader never sees half a file."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)  # no exif=: metadata (GPS...) is not kept
    tmp = path.with_suffix(".part")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
