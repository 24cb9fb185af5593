"""Repository: The prediction log and end-user feedback. Functions take a keyword-only `session` and return frozen
records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from backend.core.enums import FeedbackKind, ReviewSource
from backend.core.limits import TextKind, cap_text, require_within
from backend.core.params import get_params
from backend.store.engine import get_row
from backend.store.records import (
    Feedback,
    Prediction,
    from_row,
)
from backend.store.rows import (
    FeedbackRow,
    PredictionRow,
    ReviewItemRow,
    utcnow,
)


def add_prediction(*, session: Session, **fields: Any) -> Prediction:
    """Log one prediction (see PredictionRow for the fields)."""
    row = PredictionRow(**fields)
    row.n_detections = len(row.detections or [])
    session.add(row)
    session.flush()
    return from_row(Prediction, row)


def add_predictions_bulk(*, session: Session, records: Sequence[dict[str, Any]]) -> int:
    """Insert many predictions in one statement (batch detection, benchmarks)."""
    if not records:
        return 0
    now = utcnow()
    detect = get_params().detect  # records that do not say which thresholds made them got the serving defaults
    rows = [
        {
            "model_label": "",
            "source": "cli",
            "image_name": "",
            "image_sha256": "",
            "features": {},
            "detections": [],
            "latency_ms": 0.0,
            "conf": detect.conf,
            "iou": detect.iou,
            "created_at": now,
            **r,
            "n_detections": len(r.get("detections") or []),
        }
        for r in records
    ]
    session.execute(cast(Table, PredictionRow.__table__).insert(), rows)  # a declarative row's table is a Table
    return len(rows)


def get_prediction(*, session: Session, prediction_id: int) -> Prediction:
    """Return one prediction or raise NotFoundError."""
    return from_row(Prediction, get_row(session, PredictionRow, prediction_id, "Prediction"))


def list_predictions(
    *,
    session: Session,
    limit: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    model_id: int | None = None,
) -> list[Prediction]:
    """Predictions, newest first."""
    stmt = select(PredictionRow).order_by(PredictionRow.id.desc()).limit(limit)
    if since:
        stmt = stmt.where(PredictionRow.created_at >= since)
    if until:
        stmt = stmt.where(PredictionRow.created_at < until)
    if model_id is not None:
        stmt = stmt.where(PredictionRow.model_id == model_id)
    return [from_row(Prediction, r) for r in session.scalars(stmt)]


def count_predictions(*, session: Session) -> int:
    """Number of logged predictions."""
    return session.scalar(select(func.count()).select_from(PredictionRow)) or 0


def add_feedback(
    *,
    session: Session,
    prediction_id: int,
    kind: str,
    class_name: str = "",
    detection_index: int | None = None,
    correct_class: str | None = None,
    note: str = "",
) -> Feedback:
    """Store end-user feedback on a prediction; wrong and missed items also enter the review queue."""
    if kind not in list(FeedbackKind):
        raise ValueError(f"kind must be one of {', '.join(FeedbackKind)}")
    require_within(TextKind.FEEDBACK_NOTE, note)
    for name in (class_name, correct_class or ""):
        require_within(TextKind.FEEDBACK_CLASS, name)
    prediction = get_row(session, PredictionRow, prediction_id, "Prediction")
    row = FeedbackRow(
        prediction_id=prediction_id,
        kind=kind,
        detection_index=detection_index,
        class_name=class_name,
        correct_class=correct_class,
        note=note,
    )
    session.add(row)
    if kind != FeedbackKind.CORRECT:
        reason = (
            f"User says '{class_name}' is really '{correct_class}'"
            if kind == FeedbackKind.WRONG
            else f"User says the detector missed '{class_name or correct_class or 'an item'}'"
        )
        session.add(
            ReviewItemRow(
                source=ReviewSource.FEEDBACK,
                reason=cap_text(TextKind.REVIEW_REASON, reason),
                file=prediction.image_name,
                prediction_id=prediction_id,
            )
        )
    session.flush()
    return from_row(Feedback, row)


def feedback_counts(*, session: Session) -> dict[str, dict[str, int]]:
    """Feedback counted per class: {class: {"correct": n, "wrong": n, "missed": n}}."""
    rows = session.execute(
        select(FeedbackRow.class_name, FeedbackRow.kind, func.count()).group_by(
            FeedbackRow.class_name, FeedbackRow.kind
        )
    )
    out: dict[str, dict[str, int]] = {}
    for class_name, kind, n in rows:
        out.setdefault(class_name or "(unknown)", dict.fromkeys(FeedbackKind, 0))[kind] = n
    return out
