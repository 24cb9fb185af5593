"""Repository: production traffic as a source of labels — the queue items about logged pictures (the traffic
inbox), the predictions not yet reviewed, their feedback, and the day's picks (active learning's daily cap).

Functions take a keyword-only `session` and return frozen records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core.enums import ReviewStatus
from backend.store.records import Prediction, ReviewItem, from_row
from backend.store.rows import FeedbackRow, PredictionRow, ReviewItemRow


def open_traffic_items(*, session: Session, limit: int = 5000) -> list[ReviewItem]:
    """Open queue items about logged pictures that belong to no dataset version, oldest first."""
    stmt = (
        select(ReviewItemRow)
        .where(
            ReviewItemRow.status == ReviewStatus.OPEN,
            ReviewItemRow.dataset_version_id.is_(None),
            ReviewItemRow.prediction_id.is_not(None),
        )
        .order_by(ReviewItemRow.id)
        .limit(limit)
    )
    return [from_row(ReviewItem, r) for r in session.scalars(stmt)]


def open_items_for_predictions(*, session: Session, prediction_ids: Iterable[int]) -> list[ReviewItem]:
    """Open queue items about any of these predictions."""
    wanted = list(prediction_ids)
    if not wanted:
        return []
    stmt = select(ReviewItemRow).where(
        ReviewItemRow.status == ReviewStatus.OPEN, ReviewItemRow.prediction_id.in_(wanted)
    )
    return [from_row(ReviewItem, r) for r in session.scalars(stmt.order_by(ReviewItemRow.id))]


def unreviewed_predictions(*, session: Session, limit: int) -> list[Prediction]:
    """The newest logged predictions whose picture was kept and that no review has closed (labelled or dismissed)."""
    closed = select(ReviewItemRow.prediction_id).where(
        ReviewItemRow.prediction_id.is_not(None), ReviewItemRow.status != "open"
    )
    stmt = (
        select(PredictionRow)
        .where(PredictionRow.image_path.is_not(None), PredictionRow.id.not_in(closed))
        .order_by(PredictionRow.id.desc())
        .limit(limit)
    )
    return [from_row(Prediction, r) for r in session.scalars(stmt)]


def feedback_kinds(*, session: Session, prediction_ids: Sequence[int]) -> dict[int, list[str]]:
    """End-user feedback kinds ("correct", "wrong", "missed") per prediction, for these predictions."""
    if not prediction_ids:
        return {}
    out: dict[int, list[str]] = {}
    stmt = select(FeedbackRow.prediction_id, FeedbackRow.kind).where(FeedbackRow.prediction_id.in_(prediction_ids))
    for prediction_id, kind in session.execute(stmt.order_by(FeedbackRow.id)):
        out.setdefault(int(prediction_id), []).append(str(kind))
    return out


def count_items_since(*, session: Session, sources: Iterable[str], since: datetime) -> int:
    """Queue items from these sources created at or after `since` (how many pictures were picked today)."""
    stmt = select(func.count()).where(ReviewItemRow.source.in_(list(sources)), ReviewItemRow.created_at >= since)
    return session.scalar(stmt) or 0
