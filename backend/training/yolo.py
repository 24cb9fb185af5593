"""Importing ultralytics safely: no run-time pip installs, no network, Pillow's own `Image.open` kept."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from ultralytics import YOLO


def ultralytics_yolo() -> type[YOLO]:
    """Import and return ultralytics' `YOLO` class with network access and auto-install switched off.

    Returns:
        The `ultralytics.YOLO` class.
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    # Heavy imports, only when a model is used.
    from ultralytics import YOLO
    from ultralytics.utils import checks, patches

    # Imported earlier by someone who did not set the variable: never pip-install at run time.
    checks.AUTOINSTALL = False
    # ultralytics replaces PIL's Image.open process-wide with a wrapper that, on any file Pillow cannot identify,
    # tries to pip-install a HEIF plugin and then raises ImportError instead of UnidentifiedImageError. We accept
    # no HEIF, so put Pillow's own function back (guarded: the private name may change between versions).
    original_open = getattr(patches, "_image_open", None)
    if original_open is not None and Image.open is getattr(patches, "image_open", None):
        Image.open = original_open
    return YOLO


def ultralytics_logs_to_stderr() -> None:
    """Send ultralytics' log lines to stderr (it logs to stdout), keeping a CLI's stdout for its own output."""
    ultralytics_yolo()
    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
