"""Task kinds used only by the job-runner tests (loaded through PLATEOPS_TASK_MODULES), each with its typed params."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError, PlateOpsError
from backend.runtime.kinds import JobContext, JobParams, NoParams, nothing_to_recover, register_task
from backend.store.records import Job


class AddParams(JobParams):
    """`test.add`: the two numbers."""

    a: int
    b: int


class FailParams(JobParams):
    """`test.fail`: the message, `bad_input` to fail with a BadInputError, and where recovery notes how it ended."""

    message: str = "The dataset has no images."
    code: str = ""
    recovered: str = ""


class SleepParams(JobParams):
    """`test.sleep` and `test.hang`: how long, a file touched at the start, and where recovery notes the end."""

    seconds: float = 30
    marker: str = ""
    recovered: str = ""


@register_task("test.add", params=AddParams, recover=nothing_to_recover)
def add_task(ctx: JobContext[AddParams]) -> dict[str, Any]:
    """Succeeds with the sum of params a and b."""
    ctx.progress(0.5, "adding")
    return {"sum": ctx.params.a + ctx.params.b}


def note_recovery(job: Job, params: FailParams | SleepParams) -> None:
    """Recovery of the test kinds: writes how the job ended to the file named by its `recovered` param."""
    if params.recovered:
        Path(params.recovered).write_text(f"{job.status} {os.getpid()}")


@register_task("test.fail", params=FailParams, recover=note_recovery)
def fail_task(ctx: JobContext[FailParams]) -> dict[str, Any]:
    """Fails with a plain-language message (a BadInputError when params say `code: bad_input`)."""
    error = BadInputError if ctx.params.code == "bad_input" else PlateOpsError
    raise error(ctx.params.message)


@register_task("test.crash", params=NoParams, recover=nothing_to_recover)
def crash_task(ctx: JobContext[NoParams]) -> dict[str, Any]:
    """Fails with an unexpected exception."""
    zero = len(ctx.params.model_dump())
    return {"value": 1 / zero}


@register_task("test.sleep", params=SleepParams, recover=nothing_to_recover)
def sleep_task(ctx: JobContext[SleepParams]) -> dict[str, Any]:
    """Runs for `seconds`, reporting progress in steps; touches `marker` when it starts."""
    seconds = ctx.params.seconds
    if ctx.params.marker:
        Path(ctx.params.marker).write_text("started")
    steps = max(1, int(seconds / 0.1))
    for i in range(steps):
        time.sleep(seconds / steps)
        ctx.progress((i + 1) / steps, f"step {i + 1} of {steps}")
    return {"slept": seconds}


@register_task("test.hang", params=SleepParams, recover=note_recovery)
def hang_task(ctx: JobContext[SleepParams]) -> dict[str, Any]:
    """Hangs without ever reporting; the heartbeat thread alone keeps it alive."""
    if ctx.params.marker:
        Path(ctx.params.marker).write_text("started")
    time.sleep(ctx.params.seconds)
    return {}
