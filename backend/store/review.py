"""Repository: the review queue that Annotate reads.

Functions take a keyword-only `session` and return frozen records.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
) -> ReviewItem:
    """Put an image on the review queue (from validation, feedback, drift or a user)."""
    row = ReviewItemRow(
        source=source, reason=reason, file=file, dataset_version_id=dataset_version_id, prediction_id=prediction_id
    )
    session.add(row)
    session.flush()
    return from_row(ReviewItem, row)


def list_review_items(*, session: Session, status: str | None = "open", limit: int = 500) -> list[ReviewItem]:
    """Review queue items, oldest first."""
    stmt = select(ReviewItemRow).order_by(ReviewItemRow.id).limit(limit)
    if status:
        stmt = stmt.where(ReviewItemRow.status == status)
    return [from_row(ReviewItem, r) for r in session.scalars(stmt)]


def resolve_review_item(*, session: Session, item_id: int, status: str = "done") -> ReviewItem:
    """Close a review item as done or dismissed."""
    row = get_row(session, ReviewItemRow, item_id, "Review item")
    row.status = status
    row.resolved_at = utcnow()
    session.flush()
    return from_row(ReviewItem, row)
