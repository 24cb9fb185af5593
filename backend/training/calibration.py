"""How fast this computer trains, measured: one timed training step of the chosen architecture on random pixels.

The Train page's estimate uses finished runs in the store when there are any; before the first run, this short
calibration (a few seconds, once per console process and architecture, remembered in the workspace) gives the rate
instead of a constant that was measured on someone else's machine.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, cast

from backend.core.settings import get_settings

log = logging.getLogger(__name__)

CALIBRATION_IMGSZ = 128  # pixels of the timed step; the rate scales with pixels like the store's runs do
_BATCH = 2
_FILE = "calibration.json"


def _tensors(value: Any) -> Iterator[Any]:
    """Every tensor in a model output (tensor, list, tuple or dict of them)."""
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)


def _time_one_step(model: str) -> float:
    """Seconds per image of one forward and backward pass at CALIBRATION_IMGSZ (after one warm-up pass)."""
    import torch

    from backend.training.yolo import ultralytics_yolo

    net = cast("torch.nn.Module", ultralytics_yolo()(model).model)  # ultralytics types it `str | None` until loaded
    net.train()
    for param in net.parameters():
        param.requires_grad_(True)
    batch = torch.rand(_BATCH, 3, CALIBRATION_IMGSZ, CALIBRATION_IMGSZ)
    best = float("inf")
    for _ in range(2):  # the first pass pays for allocation; keep the faster
        start = time.perf_counter()
        loss = sum((t.float().sum() for t in _tensors(net(batch))), torch.zeros(()))
        loss.backward()
        best = min(best, time.perf_counter() - start)
    return best / _BATCH


def _key(model: str) -> str:
    return f"{model}|cpus={os.cpu_count()}"


@lru_cache(maxsize=8)
def seconds_per_image_epoch(model: str) -> float:
    """Measured seconds per training image per epoch at 320 px on this computer's CPU for `model`.

    Read from the workspace's calibration file when this computer measured it before, else measured now (a few
    seconds) and written there.
    """
    path = get_settings().home / _FILE
    key = _key(model)
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), int | float):
        return float(known[key])
    rate = _time_one_step(model) * (320 / CALIBRATION_IMGSZ) ** 2
    known[key] = rate
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1))
    except OSError as exc:  # a read-only workspace still gets its estimate
        log.warning("Could not keep the training calibration in %s: %s", path, exc)
    return rate
