"""Repository: the review queue that Annotate reads.

Functions take a keyword-only `session` and return frozen records.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.enums import ReviewStatus
from backend.core.limits import TextKind, cap_text, require_within
from backend.store.engine import get_row
from backend.store.records import (
    ReviewItem,
    from_row,
)
from backend.store.rows import (
    ReviewItemRow,
    utcnow,
)


def add_review_item(
    *,
    session: Session,
    source: str,
    reason: str,
    file: str = "",
    dataset_version_id: int | None = None,
    prediction_id: int | None = None,
    class_name: str = "",
    score: float | None = None,
) -> ReviewItem:
    """Put an image on the review queue (from validation, feedback, drift, label-error suspects or a user)."""
    row = ReviewItemRow(
        source=source,
        reason=cap_text(TextKind.REVIEW_REASON, reason),
        file=file,
        dataset_version_id=dataset_version_id,
        prediction_id=prediction_id,
        class_name=class_name,
        score=score,
    )
    session.add(row)
    session.flush()
    return from_row(ReviewItem, row)


def get_review_item(*, session: Session, item_id: int) -> ReviewItem:
    """One review item, or NotFoundError."""
    return from_row(ReviewItem, get_row(session, ReviewItemRow, item_id, "Review item"))


def list_review_items(
    *,
    session: Session,
    status: ReviewStatus | None = ReviewStatus.OPEN,
    limit: int = 500,
    source: str | None = None,
    dataset_version_ids: Iterable[int] | None = None,
    class_name: str | None = None,
    file: str | None = None,
) -> list[ReviewItem]:
    """Review queue items, oldest first, filtered by status, source, dataset versions, class or file."""
    stmt = select(ReviewItemRow).order_by(ReviewItemRow.id).limit(limit)
    if status:
        stmt = stmt.where(ReviewItemRow.status == status)
    if source:
        stmt = stmt.where(ReviewItemRow.source == source)
    if dataset_version_ids is not None:
        stmt = stmt.where(ReviewItemRow.dataset_version_id.in_(list(dataset_version_ids)))
    if class_name:
        stmt = stmt.where(ReviewItemRow.class_name == class_name)
    if file:
        stmt = stmt.where(ReviewItemRow.file == file)
    return [from_row(ReviewItem, r) for r in session.scalars(stmt)]


def resolve_review_item(
    *,
    session: Session,
    item_id: int,
    status: ReviewStatus = ReviewStatus.DONE,
    resolution: str = "",
    resolved_by: str = "",
) -> ReviewItem:
    """Close a review item as done or dismissed, saying how (e.g. "saved as v5" or why it was dismissed)."""
    row = get_row(session, ReviewItemRow, item_id, "Review item")
    row.status = status
    row.resolved_at = utcnow()
    row.resolution = require_within(TextKind.DISMISS_REASON, resolution)
    row.resolved_by = cap_text(TextKind.ACTOR_NAME, resolved_by)
    session.flush()
    return from_row(ReviewItem, row)


def resolve_open_items_for_files(
    *,
    session: Session,
    dataset_version_ids: Iterable[int],
    files: Iterable[str],
    resolution: str,
    resolved_by: str = "",
) -> int:
    """Mark every open item about these files (in these versions) done; returns how many were closed."""
    wanted = list(files)
    resolution = cap_text(TextKind.REVIEW_REASON, resolution)
    resolved_by = cap_text(TextKind.ACTOR_NAME, resolved_by)
    if not wanted:
        return 0
    stmt = select(ReviewItemRow).where(
        ReviewItemRow.status == ReviewStatus.OPEN,
        ReviewItemRow.dataset_version_id.in_(list(dataset_version_ids)),
        ReviewItemRow.file.in_(wanted),
    )
    rows = list(session.scalars(stmt))
    now = utcnow()
    for row in rows:
        row.status = ReviewStatus.DONE
        row.resolved_at = now
        row.resolution = resolution
        row.resolved_by = resolved_by
    session.flush()
    return len(rows)
