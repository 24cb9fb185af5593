"""Repository: Jobs: rows for background work, the atomic claim, and how a job ended. Functions take a keyword-only
`session` and return frozen records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from backend.core.enums import ACTIVE_JOB_STATUSES, FailureCode, JobStatus
from backend.core.limits import TextKind, cap_text, relative_to_workspace
from backend.core.settings import get_settings
from backend.store.engine import get_row
from backend.store.records import (
    Job,
    from_row,
)
from backend.store.rows import (
    JobRow,
    utcnow,
)
from backend.store.updates import UNSET, RowUpdate, Unset


@dataclass(frozen=True, kw_only=True)
class JobUpdate(RowUpdate):
    """The fields of a job row one write sets (`update_job`); a field left out is not written.

    How a job ends (status, result, error, failure code, finish time) is `finish_job`'s, which lets only the first
    writer win; these fields are here for the tests and tools that stage a row in a given state.
    """

    title: str | Unset = UNSET
    status: JobStatus | Unset = UNSET
    pid: int | Unset | None = UNSET
    host: str | Unset | None = UNSET
    pid_started: str | Unset | None = UNSET
    started_at: datetime | Unset | None = UNSET
    heartbeat_at: datetime | Unset | None = UNSET
    progress_at: datetime | Unset | None = UNSET
    cancel_requested_at: datetime | Unset | None = UNSET
    finished_at: datetime | Unset | None = UNSET
    progress: float | Unset | None = UNSET
    message: str | Unset = UNSET
    log_path: str | Unset = UNSET
    live: dict[str, Any] | Unset = UNSET
    result: dict[str, Any] | Unset | None = UNSET
    error: str | Unset | None = UNSET
    failure_code: FailureCode | Unset | None = UNSET


def create_job(*, session: Session, kind: str, params: dict[str, Any], title: str = "", log_path: str = "") -> Job:
    """Insert a queued job."""
    row = JobRow(kind=kind, params=params, title=title or kind, status=JobStatus.QUEUED, log_path=log_path)
    session.add(row)
    session.flush()
    return from_row(Job, row)


def get_job(*, session: Session, job_id: int) -> Job:
    """Return one job or raise NotFoundError."""
    return from_row(Job, get_row(session, JobRow, job_id, "Job"))


def list_jobs(
    *,
    session: Session,
    limit: int = 100,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    oldest_first: bool = False,
) -> list[Job]:
    """Jobs, newest first by default."""
    stmt = select(JobRow)
    if statuses:
        stmt = stmt.where(JobRow.status.in_(statuses))
    if kind:
        stmt = stmt.where(JobRow.kind == kind)
    stmt = stmt.order_by(JobRow.id.asc() if oldest_first else JobRow.id.desc()).limit(limit)
    return [from_row(Job, r) for r in session.scalars(stmt)]


def update_job(*, session: Session, job_id: int, changes: JobUpdate) -> None:
    """Write the fields `changes` sets on a job row (the others stay as they are)."""
    values = changes.values()
    if values:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))


def finish_job(
    *,
    session: Session,
    job_id: int,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    failure_code: str | None = None,
) -> bool:
    """Mark an active job finished; returns False when it had already finished (first writer wins).

    `failure_code` (a FailureCode value) says why a failed job failed; it is stored only with status `failed`.
    """
    if error is not None:  # shown to every user: no server folders above the workspace, no unbounded text
        error = cap_text(TextKind.JOB_ERROR, relative_to_workspace(error, get_settings().home))
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "result": result, "error": error}
    values["failure_code"] = failure_code if status == JobStatus.FAILED else None
    if status == JobStatus.SUCCEEDED:
        values["progress"] = 1.0
    active = JobRow.status.in_(ACTIVE_JOB_STATUSES)
    res = cast(CursorResult[Any], session.execute(update(JobRow).where(JobRow.id == job_id, active).values(**values)))
    return res.rowcount == 1


def claim_job(*, session: Session, job_id: int, kind: str, limit: int) -> bool:
    """Atomically move a queued job to `starting` if fewer than `limit` jobs of its kind are active."""
    active = (
        select(func.count())
        .select_from(JobRow)
        .where(JobRow.kind == kind, JobRow.status.in_((JobStatus.STARTING, JobStatus.RUNNING)))
        .scalar_subquery()
    )
    res = cast(
        CursorResult[Any],  # an UPDATE's result is a CursorResult, which has the rowcount
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == JobStatus.QUEUED, active < limit)
            .values(status=JobStatus.STARTING, started_at=utcnow(), heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return res.rowcount == 1
