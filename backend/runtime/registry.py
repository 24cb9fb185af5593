"""The one registry of job kinds: what a job of each kind runs in its worker, and how a crash of it is settled.

A domain registers each of its kinds once, in its `tasks` module::

    @register_task(JobKind.VALIDATE, recover=recover_validation)
    def validate_task(ctx: JobContext) -> dict[str, Any]: ...

`recover` is required: when the runner fails a job whose worker died (killed, out of memory, console restart), the
worker never gets to clean up, so the runner calls the kind's recovery in its own process to settle the domain's
rows and files (a run marked failed, a staging folder removed). A kind with nothing to settle says so with
`recover=nothing_to_recover`.

The runner finds the tasks by importing `backend.console.catalog` (which imports every domain's tasks module) plus
the modules named in `PLATEOPS_TASK_MODULES` (comma-separated; tests use it for their own kinds). Runtime never
imports a domain package itself.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.core.enums import JobKind
from backend.core.errors import NotFoundError
from backend.core.progress import ProgressFn
from backend.core.settings import Settings
from backend.store.records import Job

CATALOG_MODULE = "backend.console.catalog"
TASK_MODULES_ENV = "PLATEOPS_TASK_MODULES"


class JobCancelled(BaseException):
    """Raised inside a worker when the job is cancelled (BaseException so `except Exception` won't swallow it)."""


@dataclass
class JobContext:
    """What a task function gets: its job's id and params, a progress callback and a `live` publisher."""

    job_id: int
    params: dict[str, Any]
    settings: Settings
    progress: ProgressFn
    publish: Callable[[dict[str, Any]], None]
    extra: dict[str, Any] = field(default_factory=dict)


TaskFn = Callable[[JobContext], dict[str, Any] | None]
RecoverFn = Callable[[Job], None]
"""Settles a kind's domain rows and files after its worker died. Gets the job as the runner finished it (status
`failed` or `cancelled`, `error` holding the plain reason). Runs in the runner's process, so it must not take long;
it must be safe to run after a worker that got further than expected (check state, do not assume it)."""


@dataclass(frozen=True)
class TaskSpec:
    """A registered job kind: the function its worker runs and its crash recovery."""

    kind: str
    run: TaskFn
    recover: RecoverFn


_TASKS: dict[str, TaskSpec] = {}


def nothing_to_recover(job: Job) -> None:
    """The recovery of a kind whose crash leaves nothing to settle (it writes no rows or files of its own)."""
    del job


def register_task(kind: JobKind | str, *, recover: RecoverFn) -> Callable[[TaskFn], TaskFn]:
    """Decorator that makes a function runnable as a job of `kind`, with `recover` settling a crashed one.

    Args:
        kind: The job kind (a `JobKind`; tests use plain strings of their own).
        recover: Called by the runner after it failed a job of this kind whose worker died. Required: pass
            `nothing_to_recover` for a kind that leaves nothing behind.

    Raises:
        TypeError: `recover` is not callable (a kind must declare its recovery).
    """
    if not callable(recover):
        raise TypeError(f"Job kind '{kind}' must declare how a crash is settled: register_task(kind, recover=fn).")

    def decorate(fn: TaskFn) -> TaskFn:
        _TASKS[str(kind)] = TaskSpec(kind=str(kind), run=fn, recover=recover)
        return fn

    return decorate


def load_task_modules() -> None:
    """Import the catalog of job kinds plus any module listed in PLATEOPS_TASK_MODULES (each registers its tasks)."""
    extra = [name.strip() for name in os.environ.get(TASK_MODULES_ENV, "").split(",") if name.strip()]
    for name in (CATALOG_MODULE, *extra):
        importlib.import_module(name)


def get_task(kind: str) -> TaskSpec:
    """The registration of `kind` (loads the catalog first).

    Raises:
        NotFoundError: No kind of that name is registered.
    """
    load_task_modules()
    try:
        return _TASKS[str(kind)]
    except KeyError:
        raise NotFoundError(f"No job type called '{kind}'. Known: {', '.join(sorted(_TASKS))}.") from None


def known_kinds() -> list[str]:
    """Every registered job kind, sorted."""
    load_task_modules()
    return sorted(_TASKS)
