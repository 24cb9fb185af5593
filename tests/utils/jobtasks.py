"""Task kinds used only by the job-runner tests (loaded through PLATEOPS_TASK_MODULES)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError, PlateOpsError
from backend.runtime.registry import JobContext, nothing_to_recover, register_task
from backend.store.records import Job


@register_task("test.add", recover=nothing_to_recover)
def add_task(ctx: JobContext) -> dict[str, Any]:
    """Succeeds with the sum of params a and b."""
    ctx.progress(0.5, "adding")
    return {"sum": ctx.params["a"] + ctx.params["b"]}


def note_recovery(job: Job) -> None:
    """Recovery of the test kinds: writes how the job ended to the file named by its `recovered` param."""
    if target := job.params.get("recovered"):
        Path(target).write_text(f"{job.status} {os.getpid()}")


@register_task("test.fail", recover=note_recovery)
def fail_task(ctx: JobContext) -> dict[str, Any]:
    """Fails with a plain-language message (a BadInputError when params say `code: bad_input`)."""
    error = BadInputError if ctx.params.get("code") == "bad_input" else PlateOpsError
    raise error(ctx.params.get("message", "The dataset has no images."))


@register_task("test.crash", recover=nothing_to_recover)
def crash_task(ctx: JobContext) -> dict[str, Any]:
    """Fails with an unexpected exception."""
    return {"value": 1 / ctx.params.get("zero", 0)}


@register_task("test.sleep", recover=nothing_to_recover)
def sleep_task(ctx: JobContext) -> dict[str, Any]:
    """Runs for `seconds`, reporting progress in steps; touches `marker` when it starts."""
    seconds = float(ctx.params.get("seconds", 30))
    if marker := ctx.params.get("marker"):
        Path(marker).write_text("started")
    steps = max(1, int(seconds / 0.1))
    for i in range(steps):
        time.sleep(seconds / steps)
        ctx.progress((i + 1) / steps, f"step {i + 1} of {steps}")
    return {"slept": seconds}


@register_task("test.hang", recover=note_recovery)
def hang_task(ctx: JobContext) -> dict[str, Any]:
    """Hangs without ever reporting; the heartbeat thread alone keeps it alive."""
    if marker := ctx.params.get("marker"):
        Path(marker).write_text("started")
    time.sleep(float(ctx.params.get("seconds", 120)))
    return {}
