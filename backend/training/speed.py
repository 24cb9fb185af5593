"""How fast this computer runs a model's training step and validation pass, measured on synthetic pictures.

The cost of an epoch grows with the pixels of an image, but not in proportion: per-layer work and the loss cost
something per image at any size. So a step is timed at two image sizes and each cost is kept as `fixed + per_pixel ×
(imgsz / 320)²` seconds per image (scaling one small timed step by pixels² overstated a 256 px epoch about fourfold).
A timing is taken once per architecture and computer (a few seconds, a real training step: forward, loss, backward,
AdamW update; then a validation forward) and kept in the workspace's `training_speed.json` with the machine's load
at that moment; it is taken again when the machine is much busier or quieter than it was then.

What a step cannot see (reading and augmenting pictures, NMS and scoring in validation, checkpoints, set-up) is the
job of `backend.training.estimate`, which fits it on real runs.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from backend.core.clock import utcnow
from backend.core.settings import get_settings

log = logging.getLogger(__name__)

SPEED_FILE = "training_speed.json"
REFERENCE_IMGSZ = 320  # costs are kept per image at this size; `per_pixel` scales with (imgsz / 320)²
PROBE_SIZES = (128, 256)  # the two image sizes a step is timed at
PROBE_BATCH = 4  # images per timed step (a fraction of a second per step for a nano model on a quiet CPU)
PROBE_REPEATS = 3  # timed steps per size after one warm-up; the median is kept
# Once a timing has taken this long, each remaining size is timed once after its warm-up (a busy machine can make
# a step fifty times slower; the Train page waits for this).
PROBE_BUDGET_S = 20.0
# A timing is taken again when the machine's load (1-minute average, plus one for the timed process) differs
# by more than this factor from the load it was taken at; at most once per RETIME_AFTER_S per architecture.
RETIME_LOAD_FACTOR = 2.0
RETIME_AFTER_S = 600.0


@dataclass(frozen=True)
class StepSpeed:
    """Seconds per image of a training step and of a validation pass for one architecture on this computer.

    Attributes:
        model: The architecture (or weights) timed.
        train_fixed: Seconds per image of a training step that do not grow with the image size.
        train_per_pixel: Seconds per image of a training step at REFERENCE_IMGSZ that grow with its pixels.
        val_fixed: The same for a validation forward pass.
        val_per_pixel: The same for a validation forward pass.
        cpus: CPU cores of the computer.
        load: The 1-minute load average when timed (None where the system does not say).
        measured_at: When it was timed (UTC, ISO 8601).
    """

    model: str
    train_fixed: float
    train_per_pixel: float
    val_fixed: float
    val_per_pixel: float
    cpus: int
    load: float | None
    measured_at: str

    def train_s(self, imgsz: int) -> float:
        """Seconds of one training step per image at `imgsz` pixels."""
        return self.train_fixed + self.train_per_pixel * (imgsz / REFERENCE_IMGSZ) ** 2

    def val_s(self, imgsz: int) -> float:
        """Seconds of one validation forward pass per image at `imgsz` pixels."""
        return self.val_fixed + self.val_per_pixel * (imgsz / REFERENCE_IMGSZ) ** 2

    @property
    def when(self) -> datetime | None:
        """`measured_at` as a datetime (None when unreadable)."""
        try:
            return datetime.fromisoformat(self.measured_at)
        except ValueError:
            return None


def fit_two_sizes(small: tuple[int, float], large: tuple[int, float]) -> tuple[float, float]:
    """(fixed, per_pixel) of `cost = fixed + per_pixel × (imgsz / 320)²` through two (imgsz, seconds) timings.

    Neither part is negative: a timing that would make one so (noise on a busy machine) puts it all in the other.
    """
    (s1, t1), (s2, t2) = small, large
    x1, x2 = (s1 / REFERENCE_IMGSZ) ** 2, (s2 / REFERENCE_IMGSZ) ** 2
    per_pixel = (t2 - t1) / (x2 - x1)
    fixed = t1 - per_pixel * x1
    if per_pixel <= 0:
        return max(t1, t2), 0.0
    if fixed < 0:
        return 0.0, t2 / x2
    return fixed, per_pixel


def current_load() -> float | None:
    """The 1-minute load average (None where the system does not say)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def load_changed(then: float | None, now: float | None) -> bool:
    """True when the machine is much busier or quieter now than when a timing was taken."""
    if then is None or now is None:
        return False
    ratio = (now + 1.0) / (then + 1.0)
    return ratio > RETIME_LOAD_FACTOR or ratio < 1.0 / RETIME_LOAD_FACTOR


def _batch(size: int, images: int, classes: int = 10) -> dict[str, Any]:
    """A synthetic training batch: random pixels and five boxes per picture, of the model's own classes."""
    import torch

    gen = torch.Generator().manual_seed(0)
    boxes = 5 * images
    return {
        "img": torch.rand(images, 3, size, size, generator=gen),
        "cls": torch.randint(0, max(classes, 1), (boxes, 1), generator=gen).float(),
        "bboxes": torch.rand(boxes, 4, generator=gen) * 0.4 + 0.3,
        "batch_idx": torch.arange(images).repeat_interleave(5).float(),
    }


def _median_seconds(step: Any, *, deadline: float) -> float:
    """Median seconds of PROBE_REPEATS calls after a warm-up (one call once past `deadline`)."""
    step()  # the first pass pays for allocation
    times: list[float] = []
    while len(times) < PROBE_REPEATS and (not times or time.perf_counter() < deadline):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_steps(model: str, *, sizes: tuple[int, int] = PROBE_SIZES, batch: int = PROBE_BATCH) -> StepSpeed:
    """Time a training step and a validation pass of `model` now, at two image sizes, on one thread.

    Args:
        model: An architecture .yaml or a weights file.
        sizes: The two image sizes timed (smaller first).
        batch: Synthetic pictures per timed step.
    """
    import torch
    from ultralytics.cfg import get_cfg

    from backend.training.yolo import ultralytics_yolo

    load = current_load()
    net = cast(Any, ultralytics_yolo()(model).model)  # a DetectionModel; ultralytics types it `str | None`
    net.args = get_cfg()  # the loss reads its gains (box, cls, dfl) from here, as in training
    for param in net.parameters():
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    train, val = [], []
    deadline = time.perf_counter() + PROBE_BUDGET_S
    threads = torch.get_num_threads()
    # One thread: on a busy machine a multi-threaded step waits on its descheduled threads. At load 12 on 2 cores
    # it timed 13x slower per image than with one thread, and the one-thread time matched the real epochs.
    torch.set_num_threads(1)
    try:
        for size in sizes:
            data = _batch(size, batch, classes=int(getattr(net.model[-1], "nc", 10)))  # the head's class count

            def train_step(data: dict[str, Any] = data) -> None:  # pylint: disable=dangerous-default-value
                # (the default binds this size's batch to the closure; it is never mutated)
                net.train()
                loss, _ = net.loss(data)
                loss.sum().backward()
                optimizer.step()
                optimizer.zero_grad()

            def val_step(data: dict[str, Any] = data) -> None:  # pylint: disable=dangerous-default-value
                net.eval()
                with torch.no_grad():
                    net(data["img"])

            train.append((size, _median_seconds(train_step, deadline=deadline) / batch))
            val.append((size, _median_seconds(val_step, deadline=deadline) / batch))
    finally:
        torch.set_num_threads(threads)
    train_fixed, train_per_pixel = fit_two_sizes(train[0], train[1])
    val_fixed, val_per_pixel = fit_two_sizes(val[0], val[1])
    return StepSpeed(
        model=model,
        train_fixed=train_fixed,
        train_per_pixel=train_per_pixel,
        val_fixed=val_fixed,
        val_per_pixel=val_per_pixel,
        cpus=os.cpu_count() or 1,
        load=load,
        measured_at=utcnow().isoformat(),
    )


def _key(model: str) -> str:
    return f"{model}|cpus={os.cpu_count()}"


def _read_file() -> dict[str, Any]:
    path = get_settings().home / SPEED_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _from_json(raw: object) -> StepSpeed | None:
    if not isinstance(raw, dict):
        return None
    try:
        return StepSpeed(**raw)
    except TypeError:
        return None  # a file from an older version: time it again


def known_speed(model: str) -> StepSpeed | None:
    """The timing kept in the workspace for `model` on this computer, without timing anything (None if none)."""
    return _from_json(_read_file().get(_key(model)))


def _keep(speed: StepSpeed) -> None:
    path = get_settings().home / SPEED_FILE
    known = _read_file()
    known[_key(speed.model)] = asdict(speed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only workspace still gets its estimate
        log.warning("Could not keep the training speed in %s: %s", path, exc)


@lru_cache(maxsize=8)
def _timed_now(model: str, _slot: int) -> StepSpeed:
    """Time `model` now and keep it; `_slot` (time // RETIME_AFTER_S) lets one process time it again later."""
    speed = time_steps(model)
    _keep(speed)
    return speed


def step_speed(model: str) -> StepSpeed:
    """How fast this computer runs `model`'s training step and validation pass.

    Read from the workspace when this computer timed it before at a similar load, else timed now (a few seconds)
    and kept there.
    """
    kept = known_speed(model)
    if kept is not None and not load_changed(kept.load, current_load()):
        return kept
    slot = int(time.time() // RETIME_AFTER_S)
    fresh = _timed_now(model, slot)
    if kept is not None and kept.measured_at > fresh.measured_at:
        return kept  # another process timed it since
    return fresh
