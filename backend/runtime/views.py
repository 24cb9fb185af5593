"""Read-side helpers for showing jobs: list, tail logs, and keep the runner healthy on each poll."""

from __future__ import annotations

import time

from backend.core.enums import ACTIVE_JOB_STATUSES
from backend.runtime import runner
from backend.store import jobs as job_store
from backend.store.engine import session_scope
from backend.store.records import Job

_throttle = {"last_reap": 0.0}  # one throttle per console process


def list_jobs(*, limit: int = 20, kind: str | None = None, active_only: bool = False) -> list[Job]:
    """Newest jobs, optionally of one kind or only the unfinished ones."""
    with session_scope() as session:
        statuses = ACTIVE_JOB_STATUSES if active_only else None
        return job_store.list_jobs(session=session, limit=limit, kind=kind, statuses=statuses)


def get_job(job_id: int) -> Job:
    """One job by id."""
    with session_scope() as session:
        return job_store.get_job(session=session, job_id=job_id)


def keep_runner_healthy(min_interval_s: float = 2.0) -> None:
    """Fail dead workers and start queued jobs; cheap to call on every page poll (throttled per process)."""
    now = time.monotonic()
    if now - _throttle["last_reap"] >= min_interval_s:
        _throttle["last_reap"] = now
        runner.reap()
