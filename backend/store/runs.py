"""Repository: Training runs and their metrics. Functions take a keyword-only `session` and return frozen records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.enums import RunStatus
from backend.core.limits import TextKind, require_within
from backend.store.engine import get_row
from backend.store.records import (
    Run,
    from_row,
)
from backend.store.rows import (
    RunRow,
)
from backend.store.updates import UNSET, RowUpdate, Unset


@dataclass(frozen=True, kw_only=True)
class RunUpdate(RowUpdate):
    """The fields of a run one write sets (`update_run`); a field left out is not written."""

    name: str | Unset = UNSET
    job_id: int | Unset | None = UNSET
    dataset_version_id: int | Unset | None = UNSET
    model: str | Unset = UNSET
    preset: str | Unset = UNSET
    params: dict[str, Any] | Unset = UNSET
    status: RunStatus | Unset = UNSET
    run_dir: str | Unset = UNSET
    weights_path: str | Unset | None = UNSET
    metrics: dict[str, Any] | Unset = UNSET
    evaluation: dict[str, Any] | Unset = UNSET
    history: list[dict[str, Any]] | Unset = UNSET
    tracking: dict[str, Any] | Unset = UNSET
    finished_at: datetime | Unset | None = UNSET
    duration_s: float | Unset | None = UNSET


def create_run(
    *,
    session: Session,
    name: str,
    job_id: int | None = None,
    dataset_version_id: int | None = None,
    model: str = "",
    preset: str = "custom",
    params: dict[str, Any] | None = None,
    run_dir: str = "",
    pretrained_model_id: int | None = None,
) -> Run:
    """Record a training run (`pretrained_model_id`: the uploaded base model it starts from, if any)."""
    row = RunRow(
        name=require_within(TextKind.RUN_NAME, name),
        job_id=job_id,
        dataset_version_id=dataset_version_id,
        model=model,
        preset=preset,
        params=params or {},
        run_dir=run_dir,
        status=RunStatus.RUNNING,
        pretrained_model_id=pretrained_model_id,
    )
    session.add(row)
    session.flush()
    return from_row(Run, row)


def update_run(*, session: Session, run_id: int, changes: RunUpdate) -> Run:
    """Write the fields `changes` sets on a run (the others stay as they are); returns the run as updated."""
    row = get_row(session, RunRow, run_id, "Run")
    for key, value in changes.values().items():
        setattr(row, key, value)
    session.flush()
    return from_row(Run, row)


def get_run(*, session: Session, run_id: int) -> Run:
    """Return one run or raise NotFoundError."""
    return from_row(Run, get_row(session, RunRow, run_id, "Run"))


def find_run_by_job(*, session: Session, job_id: int) -> Run | None:
    """The run a training job created, if any."""
    row = session.scalar(select(RunRow).where(RunRow.job_id == job_id).order_by(RunRow.id.desc()))
    return from_row(Run, row) if row else None


def list_runs(*, session: Session, limit: int = 200, status: str | None = None) -> list[Run]:
    """Runs, newest first."""
    stmt = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(RunRow.status == status)
    return [from_row(Run, r) for r in session.scalars(stmt)]
