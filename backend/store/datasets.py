"""Repository: Datasets, their versions and validation issues. Functions take a keyword-only `session` and return
frozen records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from backend.core.enums import ValidationStatus
from backend.core.limits import TextKind, cap_text, require_within
from backend.store.engine import get_row
from backend.store.records import (
    Dataset,
    DatasetVersion,
    ValidationIssue,
    from_row,
)
from backend.store.rows import (
    DatasetRow,
    DatasetVersionRow,
    ValidationIssueRow,
)


def create_dataset(*, session: Session, name: str, source: str, description: str = "") -> Dataset:
    """Create a dataset (a named series of versions)."""
    row = DatasetRow(
        name=require_within(TextKind.DATASET_NAME, name),
        source=source,
        description=require_within(TextKind.DATASET_DESCRIPTION, description),
    )
    session.add(row)
    session.flush()
    return from_row(Dataset, row)


def get_dataset(*, session: Session, dataset_id: int) -> Dataset:
    """Return one dataset or raise NotFoundError."""
    return from_row(Dataset, get_row(session, DatasetRow, dataset_id, "Dataset"))


def find_dataset(*, session: Session, name: str) -> Dataset | None:
    """Return the dataset called `name`, if any."""
    row = session.scalar(select(DatasetRow).where(DatasetRow.name == name))
    return from_row(Dataset, row) if row else None


def list_datasets(*, session: Session) -> list[Dataset]:
    """All datasets, newest first."""
    rows = session.scalars(select(DatasetRow).order_by(DatasetRow.created_at.desc(), DatasetRow.id.desc()))
    return [from_row(Dataset, r) for r in rows]


def create_version(
    *,
    session: Session,
    dataset_id: int,
    path: str,
    author: str = "",
    message: str = "",
    parent_id: int | None = None,
    stats: dict[str, Any] | None = None,
    changelog: list[Any] | None = None,
    content_hash: str | None = None,
    number: int | None = None,
) -> DatasetVersion:
    """Record a new immutable version of a dataset; its number is `number` (the folder already frozen under it),
    else one above the dataset's latest."""
    get_row(session, DatasetRow, dataset_id, "Dataset")
    latest = session.scalar(
        select(func.max(DatasetVersionRow.number)).where(DatasetVersionRow.dataset_id == dataset_id)
    )
    row = DatasetVersionRow(
        dataset_id=dataset_id,
        number=number if number is not None else (latest or 0) + 1,
        parent_id=parent_id,
        author=cap_text(TextKind.VERSION_AUTHOR, author),
        message=require_within(TextKind.VERSION_MESSAGE, message),
        path=path,
        content_hash=content_hash,
        stats=stats or {},
        changelog=changelog or [],
    )
    session.add(row)
    session.flush()
    return from_row(DatasetVersion, row)


def get_version(*, session: Session, version_id: int) -> DatasetVersion:
    """Return one dataset version or raise NotFoundError."""
    return from_row(DatasetVersion, get_row(session, DatasetVersionRow, version_id, "Dataset version"))


def list_versions(*, session: Session, dataset_id: int | None = None) -> list[DatasetVersion]:
    """Versions (of one dataset, or all), newest first."""
    stmt = select(DatasetVersionRow).order_by(DatasetVersionRow.created_at.desc(), DatasetVersionRow.id.desc())
    if dataset_id is not None:
        stmt = stmt.where(DatasetVersionRow.dataset_id == dataset_id)
    return [from_row(DatasetVersion, r) for r in session.scalars(stmt)]


def set_validation(
    *,
    session: Session,
    version_id: int,
    status: ValidationStatus,
    summary: dict[str, Any],
    issues: Iterable[dict[str, Any]],
) -> int:
    """Replace a version's validation result; returns the number of issues stored (ValueError for an unknown status)."""
    row = get_row(session, DatasetVersionRow, version_id, "Dataset version")
    row.validation_status = ValidationStatus(status)
    row.validation_summary = summary
    session.query(ValidationIssueRow).filter(ValidationIssueRow.version_id == version_id).delete()
    records = [
        {
            "version_id": version_id,
            "file": str(i["file"]),
            "check": str(i["check"]),
            "severity": str(i["severity"]),
            "message": str(i.get("message", "")),
        }
        for i in issues
    ]
    if records:
        session.execute(cast(Table, ValidationIssueRow.__table__).insert(), records)  # a declarative row's table
    session.flush()
    return len(records)


def list_issues(
    *,
    session: Session,
    version_id: int,
    check: str | None = None,
    severity: str | None = None,
    file: str | None = None,
    limit: int | None = None,
) -> list[ValidationIssue]:
    """Validation issues of a version, filtered."""
    stmt = select(ValidationIssueRow).where(ValidationIssueRow.version_id == version_id)
    if check:
        stmt = stmt.where(ValidationIssueRow.check == check)
    if severity:
        stmt = stmt.where(ValidationIssueRow.severity == severity)
    if file:
        stmt = stmt.where(ValidationIssueRow.file == file)
    stmt = stmt.order_by(ValidationIssueRow.id)
    if limit:
        stmt = stmt.limit(limit)
    return [from_row(ValidationIssue, r) for r in session.scalars(stmt)]


def delete_version(*, session: Session, version_id: int) -> None:
    """Forget a version whose files could not be frozen (its row only; callers remove the folder)."""
    session.delete(get_row(session, DatasetVersionRow, version_id, "Dataset version"))
    session.flush()
