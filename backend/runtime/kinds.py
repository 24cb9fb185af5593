"""The job kinds, each registered once: what a job of each kind takes, what its worker runs, and how a crash of it
is settled.

A domain registers each of its kinds once, in its `tasks` module, with the typed parameters the kind takes::

    class ValidateParams(JobParams):
        version_id: int

    @register_task(JobKind.VALIDATE, params=ValidateParams, recover=recover_validation)
    def validate_task(ctx: JobContext[ValidateParams]) -> dict[str, Any]: ...

`params` is a `JobParams` model (frozen, unknown keys refused): its domain's `start_<kind>()` builds one and hands
it to `runner.submit`, which stores its JSON; the worker validates the stored JSON into the model once, before the
task runs, and the task reads `ctx.params` typed. A row whose params no longer validate (queued by an older version
of PlateOps) fails with a plain message instead of reaching the task.

`recover` is required: when the runner fails a job whose worker died (killed, out of memory, console restart), the
worker never gets to clean up, so the runner calls the kind's recovery in its own process, with the job and its
typed params, to settle the domain's rows and files (a run marked failed, a staging folder removed). A kind with
nothing to settle says so with `recover=nothing_to_recover`.

The runner finds the tasks by importing `backend.console.catalog` (which imports every domain's tasks module) plus
the modules named in `PLATEOPS_TASK_MODULES` (comma-separated; tests use it for their own kinds). Runtime never
imports a domain package itself.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from backend.core.enums import JobKind
from backend.core.errors import BadInputError, NotFoundError, cap_message
from backend.core.progress import ProgressFn
from backend.core.settings import Settings
from backend.store.records import Job

CATALOG_MODULE = "backend.console.catalog"
TASK_MODULES_ENV = "PLATEOPS_TASK_MODULES"
OUTDATED_PARAMS_MESSAGE = (
    "This {kind} job was queued by an older version of PlateOps and its settings no longer fit ({problem}); "
    "start it again."
)


class JobCancelled(BaseException):
    """Raised inside a worker when the job is cancelled (BaseException so `except Exception` won't swallow it)."""


class JobParams(BaseModel):
    """Base of every job kind's parameters: frozen, and a key the kind does not declare is refused.

    A subclass declares each parameter once, typed; `runner.submit` stores `model_dump(mode="json")` and the worker
    validates it back. Keep field names stable: rows already queued are validated against the current model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParams(JobParams):
    """The parameters of a kind that takes none."""


class OutdatedParamsError(BadInputError):
    """A stored job's params do not validate against its kind's model (queued by an older version of PlateOps)."""


P = TypeVar("P", bound=JobParams)


@dataclass(frozen=True)
class JobContext(Generic[P]):
    """What a task function gets: its job's id and typed params, a progress callback and a `live` publisher."""

    job_id: int
    params: P
    settings: Settings
    progress: ProgressFn
    publish: Callable[[dict[str, Any]], None]


TaskFn = Callable[[JobContext[P]], dict[str, Any] | None]
RecoverFn = Callable[[Job, P], None]
"""Settles a kind's domain rows and files after its worker died. Gets the job as the runner finished it (status
`failed` or `cancelled`, `error` holding the plain reason) and its typed params. Runs in the runner's process, so it
must not take long; it must be safe to run after a worker that got further than expected (check state, do not
assume it)."""


@dataclass(frozen=True)
class TaskSpec(Generic[P]):
    """A registered job kind: its parameters model, the function its worker runs and its crash recovery."""

    kind: str
    params: type[P]
    run: TaskFn[P]
    recover: RecoverFn[P]

    def parse_params(self, stored: Mapping[str, Any]) -> P:
        """A job row's stored params as this kind's model.

        Raises:
            OutdatedParamsError: They do not validate (the row was queued by an older version of PlateOps).
        """
        try:
            return self.params.model_validate(stored)
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}" for error in exc.errors()
            )
            message = OUTDATED_PARAMS_MESSAGE.format(kind=self.kind, problem=cap_message(problem, 160))
            raise OutdatedParamsError(message) from None


_TASKS: dict[str, TaskSpec[Any]] = {}


def nothing_to_recover(job: Job, params: JobParams) -> None:
    """The recovery of a kind whose crash leaves nothing to settle (it writes no rows or files of its own)."""
    del job, params


def register_task(kind: JobKind | str, *, params: type[P], recover: RecoverFn[P]) -> Callable[[TaskFn[P]], TaskFn[P]]:
    """Decorator that makes a function runnable as a job of `kind`, taking `params`, with `recover` settling a
    crashed one.

    Args:
        kind: The job kind (a `JobKind`; tests use plain strings of their own).
        params: The kind's `JobParams` model: what `start_<kind>()` builds and the task reads as `ctx.params`.
        recover: Called by the runner after it failed a job of this kind whose worker died. Required: pass
            `nothing_to_recover` for a kind that leaves nothing behind.

    Raises:
        TypeError: `params` is not a `JobParams` model, or `recover` is not callable (a kind must declare both).
    """
    if not (isinstance(params, type) and issubclass(params, JobParams)):
        raise TypeError(f"Job kind '{kind}' must declare its parameters as a JobParams model: params=Model.")
    if not callable(recover):
        raise TypeError(f"Job kind '{kind}' must declare how a crash is settled: register_task(kind, recover=fn).")

    def decorate(fn: TaskFn[P]) -> TaskFn[P]:
        _TASKS[str(kind)] = TaskSpec(kind=str(kind), params=params, run=fn, recover=recover)
        return fn

    return decorate


def load_task_modules() -> None:
    """Import the catalog of job kinds plus any module listed in PLATEOPS_TASK_MODULES (each registers its tasks)."""
    extra = [name.strip() for name in os.environ.get(TASK_MODULES_ENV, "").split(",") if name.strip()]
    for name in (CATALOG_MODULE, *extra):
        importlib.import_module(name)


def get_task(kind: str) -> TaskSpec[Any]:
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
