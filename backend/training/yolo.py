"""Importing ultralytics safely: no run-time pip installs, no network, Pillow's own `Image.open` kept, and its
restricted checkpoint loading on (a `.pt` is unpickled with `weights_only=True` against ultralytics' allow-list of
model classes, so a crafted file cannot run code; our own checkpoints, resumable ones included, load unchanged)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from ultralytics import YOLO


SAFE_LOAD_ENV = "ULTRALYTICS_SAFE_LOAD"  # ultralytics reads it once, at import


def enable_safe_loading() -> bool:
    """Switch on ultralytics' restricted (`weights_only`) checkpoint loading in this process, where it exists.

    The flag is read when ultralytics is imported; this also covers an import made before the variable was set.

    Returns:
        True when this ultralytics version has restricted loading (and it is now on).
    """
    os.environ[SAFE_LOAD_ENV] = "1"
    import ultralytics.nn.tasks as ul_tasks
    import ultralytics.utils as ul_utils

    found = False
    for module in (ul_utils, ul_tasks):  # `tasks` holds its own copy of the flag (`from ... import SAFE_LOAD`)
        if hasattr(module, "SAFE_LOAD"):
            setattr(module, "SAFE_LOAD", True)  # noqa: B010 - the flag is not in its type stubs
            found = True
    return found


def ultralytics_yolo() -> type[YOLO]:
    """Import and return ultralytics' `YOLO` class with network access and auto-install switched off.

    Returns:
        The `ultralytics.YOLO` class.
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    os.environ[SAFE_LOAD_ENV] = "1"  # forced: a console must never unpickle arbitrary objects
    # Heavy imports, only when a model is used.
    from ultralytics import YOLO
    from ultralytics.utils import checks, patches

    enable_safe_loading()

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
    """Send ultralytics' log lines to stderr (it logs to stdout), keeping a CLI's stdout for its own output.

    The import itself may already log (it creates its settings file on a first run), so it runs with stdout
    pointed at stderr.
    """
    with contextlib.redirect_stdout(sys.stderr):
        ultralytics_yolo()
    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
